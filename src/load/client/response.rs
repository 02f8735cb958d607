//! Reading one HTTP/1.1 response off a byte stream for the load client: the head parsed with
//! httparse, the body's framing followed (`Content-Length`, `chunked`, or until the server
//! closes) without keeping the body, and whether the connection can carry another request.
//! Pure (bytes in, state out), so it is tested and fuzzed without a socket.

/// The largest response head (status line and headers), and the longest chunk-size or trailer
/// line, the client reads; a server sending more gets its response counted as `other_io`.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most headers a response may have.
const MAX_HEADERS: usize = 64;

/// Why a response cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    #[error("the response head is longer than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("the connection closed before the response was complete")]
    Incomplete,
}

/// What [`ResponseReader::feed`] did with the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes used from the front of the input; the caller drops them.
    pub consumed: usize,
    /// The response ended within them (bytes after `consumed` belong to no request).
    pub complete: bool,
}

/// Follows one response from its first byte to its last.
#[derive(Debug, Clone)]
pub struct ResponseReader {
    state: State,
    status: u16,
    keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    /// `Content-Length` bytes still to come.
    Sized {
        remaining: u64,
    },
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Inside a chunk's data.
    ChunkData {
        remaining: u64,
    },
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// After the last (empty) chunk: trailer lines until an empty one.
    Trailers,
    /// No framing: the body runs until the server closes the connection.
    UntilClose,
    Done,
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseReader {
    pub fn new() -> Self {
        Self {
            state: State::Head,
            status: 0,
            keep_alive: false,
        }
    }

    /// The final status code; 0 until the head has been read.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the server lets this connection carry another request (HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`, and a framed body).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Reads as much of the response from `input` as it can: the bytes received and not yet
    /// consumed, in order. Returns how many it used and whether the response is complete.
    pub fn feed(&mut self, input: &[u8]) -> Result<Fed, ResponseError> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            let used = match self.state {
                State::Done => {
                    return Ok(Fed {
                        consumed: at,
                        complete: true,
                    });
                }
                State::Head => self.head(rest)?,
                State::Sized { remaining } => {
                    let take = remaining.min(rest.len() as u64);
                    self.state = match remaining - take {
                        0 => State::Done,
                        remaining => State::Sized { remaining },
                    };
                    Some(take as usize)
                }
                State::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((used, 0))) => {
                        self.state = State::Trailers;
                        Some(used)
                    }
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.state = State::ChunkData { remaining: size };
                        Some(used)
                    }
                    Ok(httparse::Status::Partial) => line_partial(rest)?,
                    Err(_) => return Err(ResponseError::Malformed("bad chunk size")),
                },
                State::ChunkData { remaining } => {
                    let take = remaining.min(rest.len() as u64);
                    self.state = match remaining - take {
                        0 => State::ChunkEnd,
                        remaining => State::ChunkData { remaining },
                    };
                    Some(take as usize)
                }
                State::ChunkEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        self.state = State::ChunkSize;
                        Some(2)
                    }
                    [] | [b'\r'] => None,
                    _ => return Err(ResponseError::Malformed("no CRLF after chunk data")),
                },
                State::Trailers => match rest.windows(2).position(|pair| pair == b"\r\n") {
                    Some(0) => {
                        self.state = State::Done;
                        Some(2)
                    }
                    Some(line) => Some(line + 2),
                    None => line_partial(rest)?,
                },
                State::UntilClose => Some(rest.len()),
            };
            match used {
                Some(used) if used > 0 || self.state == State::Done => at += used,
                // Nothing more can be read from what is here.
                _ => {
                    return Ok(Fed {
                        consumed: at,
                        complete: false,
                    });
                }
            }
        }
    }

    /// The server closed the connection: fine when the body runs until then (or the response
    /// was already complete), else the response is incomplete.
    pub fn finish_at_close(&mut self) -> Result<(), ResponseError> {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                self.keep_alive = false;
                Ok(())
            }
            _ => Err(ResponseError::Incomplete),
        }
    }

    /// Parses the head if `input` holds all of it; `None` while it does not.
    fn head(&mut self, input: &[u8]) -> Result<Option<usize>, ResponseError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let length = match response.parse(input) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) if input.len() >= MAX_HEAD_BYTES => {
                return Err(ResponseError::HeadTooLarge);
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(ResponseError::Malformed("more than 64 headers"));
            }
            Err(_) => return Err(ResponseError::Malformed("bad status line or header")),
        };
        let status = response.code.unwrap_or(0);
        if status == 101 {
            return Err(ResponseError::Malformed("101 Switching Protocols to a GET"));
        }
        if (100..200).contains(&status) {
            // An interim response (100 Continue, 103 Early Hints): the final one follows.
            return Ok(Some(length));
        }
        let http11 = response.version == Some(1);
        let (mut close, mut keep_alive_token) = (false, false);
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        let mut transfer_encoded = false;
        for header in response.headers.iter() {
            let name = header.name;
            if name.eq_ignore_ascii_case("connection") {
                for token in tokens(header.value) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case("content-length") {
                let length = parse_content_length(header.value)?;
                if content_length.is_some_and(|known| known != length) {
                    return Err(ResponseError::Malformed(
                        "conflicting Content-Length headers",
                    ));
                }
                content_length = Some(length);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                transfer_encoded = true;
                // Chunked only when it is the last coding applied (RFC 9112 §6.3).
                chunked = tokens(header.value)
                    .last()
                    .is_some_and(|coding| coding.eq_ignore_ascii_case(b"chunked"));
            }
        }
        self.status = status;
        self.keep_alive = if http11 {
            !close
        } else {
            keep_alive_token && !close
        };
        self.state = if status == 204 || status == 304 {
            State::Done
        } else if transfer_encoded {
            if chunked {
                State::ChunkSize
            } else {
                self.keep_alive = false;
                State::UntilClose
            }
        } else {
            match content_length {
                Some(0) => State::Done,
                Some(remaining) => State::Sized { remaining },
                None => {
                    self.keep_alive = false;
                    State::UntilClose
                }
            }
        };
        Ok(Some(length))
    }
}

/// A line (chunk size, trailer) not complete yet: wait for more, unless it is already too long.
fn line_partial(input: &[u8]) -> Result<Option<usize>, ResponseError> {
    if input.len() >= MAX_HEAD_BYTES {
        Err(ResponseError::HeadTooLarge)
    } else {
        Ok(None)
    }
}

/// The comma-separated tokens of a header value, trimmed.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&byte| byte == b',')
        .map(|token| token.trim_ascii())
        .filter(|token| !token.is_empty())
}

fn parse_content_length(value: &[u8]) -> Result<u64, ResponseError> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ResponseError::Malformed("Content-Length is not a number"));
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(ResponseError::Malformed("Content-Length is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes, as reads would deliver it, keeping what was not
    /// consumed; returns the reader and the bytes left after the response.
    fn read(input: &[u8], step: usize) -> (Result<ResponseReader, ResponseError>, Vec<u8>) {
        let mut reader = ResponseReader::new();
        let mut pending = Vec::new();
        for piece in input.chunks(step) {
            pending.extend_from_slice(piece);
            match reader.feed(&pending) {
                Ok(fed) => {
                    pending.drain(..fed.consumed);
                    if fed.complete {
                        return (Ok(reader), pending);
                    }
                }
                Err(error) => return (Err(error), pending),
            }
        }
        (reader.finish_at_close().map(|()| reader), pending)
    }

    #[test]
    fn sized_chunked_and_close_delimited_bodies_end_where_they_should() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let chunked = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n";
        for step in [1, 3, 1000] {
            let (reader, rest) = read(sized, step);
            let reader = reader.expect("sized");
            assert_eq!((reader.status(), reader.keep_alive()), (200, true));
            assert!(rest.is_empty());
            let (reader, rest) = read(chunked, step);
            let reader = reader.expect("chunked");
            assert_eq!((reader.status(), reader.keep_alive()), (500, true));
            assert!(rest.is_empty(), "{rest:?}");
        }
        let (reader, _) = read(b"HTTP/1.0 200 OK\r\n\r\nall of it until the end", 4);
        let reader = reader.expect("until close");
        assert!(!reader.keep_alive());
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        let check = |head: &str| {
            let (reader, _) = read(head.as_bytes(), 1000);
            reader.expect(head).keep_alive()
        };
        assert!(!check(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!check("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(check(
            "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(check("HTTP/1.1 204 No Content\r\n\r\n"));
    }

    #[test]
    fn interim_responses_are_skipped() {
        let (reader, rest) = read(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
            7,
        );
        assert_eq!(reader.expect("final response").status(), 200);
        assert!(rest.is_empty());
    }

    #[test]
    fn broken_responses_are_errors_not_panics() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            b"SMTP ready\r\n",
            b"",
        ] {
            let (reader, _) = read(bad, 2);
            assert!(reader.is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let endless = vec![b'a'; MAX_HEAD_BYTES + 10];
        let mut head = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        head.extend_from_slice(&endless);
        assert_eq!(read(&head, 4096).0.err(), Some(ResponseError::HeadTooLarge));
    }

    #[test]
    fn bytes_after_the_response_are_left_over() {
        let (reader, rest) = read(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 1000);
        assert!(reader.is_ok());
        assert_eq!(rest, b"EXTRA");
    }
}
