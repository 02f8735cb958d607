//! The HTTP/1.1 client a worker drives: one keep-alive connection per user (or per open-model
//! slot), reopened when the server closes it, and every failure sorted into a [`Failure`] kind.
//!
//! It is the generator's hot path, so it does only what a GET needs: each mix entry's request is
//! encoded once per worker thread and written with one system call, the answer is read into a
//! buffer the connection keeps and parsed with httparse ([`response`]), and nothing is allocated
//! per request. A request that got no byte of answer on a reused connection (the server closed
//! it while the request was on its way: RFC 9112 §9.3.1) is sent once more on a new connection.

pub mod response;

use std::io;
use std::net::SocketAddr;

use hyper::Uri;
use hyper::header::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use self::response::{MAX_HEAD_BYTES, ResponseError, ResponseReader};
use super::stats::Failure;

/// What a connection's read buffer starts with: room for the demo service's answers many times
/// over. It grows (up to [`MAX_HEAD_BYTES`]) only for a response head that does not fit.
const INITIAL_BUFFER_BYTES: usize = 16 * 1024;

/// A GET request for one mix endpoint, encoded once and written as it is for every request.
pub struct RequestTemplate {
    bytes: Box<[u8]>,
}

impl RequestTemplate {
    /// `path` is the origin-form request target and `authority` the `Host` header; both come from
    /// a validated plan, and the error says which one is unusable otherwise.
    pub fn new(path: &str, authority: &str) -> Result<RequestTemplate, String> {
        // The same checks hyper applies: no spaces, control characters or line breaks.
        Uri::try_from(path).map_err(|error| format!("request path {path:?}: {error}"))?;
        HeaderValue::try_from(authority).map_err(|error| format!("host {authority:?}: {error}"))?;
        let text = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        Ok(RequestTemplate {
            bytes: text.into_bytes().into_boxed_slice(),
        })
    }
}

/// An open connection and what it has read but not used yet.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// `buffer[start..end]` holds bytes received and not consumed.
    start: usize,
    end: usize,
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Response(u16),
    Failed(Failure),
}

/// One request's outcome, and whether it had to be sent again on a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    pub outcome: Outcome,
    pub retried: bool,
}

/// Why one attempt failed, and whether any byte of an answer had arrived.
struct AttemptFailure {
    failure: Failure,
    answered: bool,
}

/// Opens a connection to `addr`.
pub async fn connect(addr: SocketAddr) -> Result<Connection, Failure> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|error| classify_io(&error))?;
    stream
        .set_nodelay(true)
        .map_err(|error| classify_io(&error))?;
    Ok(Connection {
        stream,
        buffer: vec![0; INITIAL_BUFFER_BYTES],
        start: 0,
        end: 0,
    })
}

/// Sends one request on `slot`'s connection, opening one if there is none or the server closed
/// it, and reads the whole answer. On failure the slot is left empty, so the next request starts
/// on a fresh connection. With `retry`, a request that got no byte of answer on a reused
/// connection is sent once more on a new one (the request is a GET, which is idempotent).
pub async fn exchange(
    slot: &mut Option<Connection>,
    addr: SocketAddr,
    template: &RequestTemplate,
    retry: bool,
) -> Exchange {
    let mut retried = false;
    loop {
        let (mut connection, reused) = match slot.take() {
            Some(reused) if reused.is_open() => (reused, true),
            // The server closed it while idle (keep-alive timeout, restart): nothing was sent on
            // it, so a new connection carries the request as a first attempt.
            _ => match connect(addr).await {
                Ok(connection) => (connection, false),
                Err(failure) => {
                    return Exchange {
                        outcome: Outcome::Failed(failure),
                        retried,
                    };
                }
            },
        };
        match connection.round_trip(template).await {
            Ok((status, keep_alive)) => {
                if keep_alive {
                    *slot = Some(connection);
                }
                return Exchange {
                    outcome: Outcome::Response(status),
                    retried,
                };
            }
            Err(attempt) if retry && reused && !retried && !attempt.answered => retried = true,
            Err(attempt) => {
                return Exchange {
                    outcome: Outcome::Failed(attempt.failure),
                    retried,
                };
            }
        }
    }
}

impl Connection {
    /// False when the server has closed the connection (or sent something unasked) while it was
    /// idle. Costs no system call while nothing has arrived.
    fn is_open(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(error) if error.kind() == io::ErrorKind::WouldBlock)
    }

    /// Writes the request and reads its response; the status and whether the connection can be
    /// reused.
    async fn round_trip(
        &mut self,
        template: &RequestTemplate,
    ) -> Result<(u16, bool), AttemptFailure> {
        let unanswered = |failure| AttemptFailure {
            failure,
            answered: false,
        };
        if self.start != self.end {
            // Bytes no request asked for: the connection is out of step.
            return Err(unanswered(Failure::OtherIo));
        }
        self.start = 0;
        self.end = 0;
        self.stream
            .write_all(&template.bytes)
            .await
            .map_err(|error| unanswered(classify_io(&error)))?;
        let mut reader = ResponseReader::new();
        loop {
            if self.end == self.buffer.len() {
                self.make_room()
                    .map_err(|error| answered(classify_response(&error)))?;
            }
            let room = self.buffer.len() - self.end;
            let read = self
                .stream
                .read(&mut self.buffer[self.end..])
                .await
                .map_err(|error| AttemptFailure {
                    failure: classify_io(&error),
                    answered: self.end > 0,
                })?;
            if read == 0 {
                return match reader.finish_at_close() {
                    Ok(()) => Ok((reader.status(), false)),
                    Err(error) => Err(AttemptFailure {
                        failure: classify_response(&error),
                        answered: self.end > 0,
                    }),
                };
            }
            self.end += read;
            let fed = reader
                .feed(&self.buffer[self.start..self.end])
                .map_err(|error| answered(classify_response(&error)))?;
            self.start += fed.consumed;
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            }
            if fed.complete {
                let drained = read < room && self.start == self.end;
                if drained {
                    self.forget_read_readiness();
                }
                return Ok((reader.status(), reader.keep_alive() && drained));
            }
        }
    }

    /// Makes space at the end of the buffer: moves unconsumed bytes to the front, or grows it for
    /// a response head that does not fit.
    fn make_room(&mut self) -> Result<(), ResponseError> {
        if self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        } else if self.buffer.len() < MAX_HEAD_BYTES {
            let grown = (self.buffer.len() * 2).min(MAX_HEAD_BYTES);
            self.buffer.resize(grown, 0);
        } else {
            return Err(ResponseError::HeadTooLarge);
        }
        Ok(())
    }

    /// The last read drained the socket and the response is complete, so nothing more will arrive
    /// until the next request is sent (or the server closes, which is a new readiness event).
    /// Clearing the runtime's cached readiness now lets the next read wait for the event instead
    /// of first trying a `recv` bound to fail with `EAGAIN`: one system call less per request.
    /// The clear applies only to the readiness already seen, so no later event is lost.
    fn forget_read_readiness(&self) {
        let _ = self.stream.try_io(Interest::READABLE, || {
            Err::<(), _>(io::ErrorKind::WouldBlock.into())
        });
    }
}

fn answered(failure: Failure) -> AttemptFailure {
    AttemptFailure {
        failure,
        answered: true,
    }
}

/// Checks that something accepts TCP connections at `addr`, without sending a request (which
/// would show up in the server's counts).
pub async fn probe(addr: SocketAddr) -> io::Result<()> {
    TcpStream::connect(addr).await.map(drop)
}

fn classify_io(error: &io::Error) -> Failure {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Failure::ConnectRefused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => Failure::ConnectionReset,
        io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::OtherIo,
    }
}

fn classify_response(error: &ResponseError) -> Failure {
    match error {
        ResponseError::Incomplete => Failure::ConnectionReset,
        ResponseError::Malformed(_) | ResponseError::HeadTooLarge => Failure::OtherIo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_the_reported_kinds() {
        let kind = |kind| classify_io(&io::Error::from(kind));
        assert_eq!(
            kind(io::ErrorKind::ConnectionRefused),
            Failure::ConnectRefused
        );
        assert_eq!(
            kind(io::ErrorKind::ConnectionReset),
            Failure::ConnectionReset
        );
        assert_eq!(kind(io::ErrorKind::BrokenPipe), Failure::ConnectionReset);
        assert_eq!(kind(io::ErrorKind::TimedOut), Failure::Timeout);
        assert_eq!(kind(io::ErrorKind::AddrNotAvailable), Failure::OtherIo);
    }

    #[test]
    fn templates_refuse_unusable_parts_and_encode_the_request() {
        let template = RequestTemplate::new("/slow?ms=5", "127.0.0.1:5000").expect("valid");
        let text = String::from_utf8(template.bytes.to_vec()).expect("ASCII");
        assert!(
            text.starts_with("GET /slow?ms=5 HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n"), "{text}");
        assert!(RequestTemplate::new("/a b", "127.0.0.1:5000").is_err());
        assert!(RequestTemplate::new("/", "bad\nhost").is_err());
    }
}
