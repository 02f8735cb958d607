//! A container's output through the Engine's logs endpoint, as whole lines with Docker's own
//! timestamps: stdout and stderr, a tail, following, and `since` (for picking a followed log up
//! again after the container restarted).
//!
//! Docker sends one frame per log entry; an entry longer than its log driver's limit (16 KiB for
//! `json-file`) arrives in several frames, each with a timestamp of its own. Frames are joined
//! into lines here, and a continuation frame's timestamp is dropped, so callers only ever see
//! complete lines.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::SystemTime;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::{Stream, StreamExt};

use super::Docker;
use super::error::{DockerError, classify, status_code};
use super::inspect::parse_engine_time;

/// What to read of a container's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogQuery {
    /// Keep reading until the container stops.
    pub follow: bool,
    /// Only the last this many lines; None for all.
    pub tail: Option<u64>,
    /// Only lines from this second on (a UNIX timestamp); None for no limit.
    pub since_unix_secs: Option<i64>,
}

/// Which output stream a line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// One line of a container's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLogLine {
    pub stream: OutputStream,
    /// Docker's timestamp as it sent it (RFC 3339 with nanoseconds), empty if it sent none.
    pub timestamp: String,
    /// The timestamp parsed; None if Docker's could not be read.
    pub time: Option<SystemTime>,
    /// The line without its newline (invalid UTF-8 replaced).
    pub text: String,
}

type Frames = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// Reads one container's log line by line; see [`Docker::container_logs`].
pub struct ContainerLogs {
    /// The Engine's address, for error messages.
    endpoint: String,
    container: String,
    frames: Frames,
    /// A line begun by a frame without a newline, per stream: its timestamp and bytes so far.
    partial: [Option<(String, Vec<u8>)>; 2],
    ready: VecDeque<ContainerLogLine>,
    ended: bool,
}

impl Docker {
    /// Opens the container's log (stdout and stderr, with timestamps). Nothing is requested until
    /// the first [`ContainerLogs::next_line`].
    pub fn container_logs(&self, container: &str, query: LogQuery) -> ContainerLogs {
        let options = LogsOptions {
            follow: query.follow,
            stdout: true,
            stderr: true,
            since: query
                .since_unix_secs
                .map_or(0, |secs| i32::try_from(secs).unwrap_or(i32::MAX)),
            until: 0,
            timestamps: true,
            tail: query
                .tail
                .map_or_else(|| "all".to_owned(), |lines| lines.to_string()),
        };
        ContainerLogs {
            endpoint: self.endpoint().to_owned(),
            container: container.to_owned(),
            frames: Box::pin(self.engine.logs(container, Some(options))),
            partial: [None, None],
            ready: VecDeque::new(),
            ended: false,
        }
    }
}

impl ContainerLogs {
    /// The next complete line; None when the log ended (without `follow`: everything was read;
    /// with it: the container stopped or was removed). A last line without a newline is
    /// returned at the end.
    pub async fn next_line(&mut self) -> Result<Option<ContainerLogLine>, DockerError> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Ok(Some(line));
            }
            if self.ended {
                return Ok(None);
            }
            match self.frames.next().await {
                Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                    self.take_frame(OutputStream::Stdout, &message);
                }
                Some(Ok(LogOutput::StdErr { message })) => {
                    self.take_frame(OutputStream::Stderr, &message);
                }
                Some(Ok(LogOutput::StdIn { .. })) => {}
                Some(Err(error)) => {
                    let container = self.container.clone();
                    return Err(match status_code(&error) {
                        Some(404) => DockerError::NoSuchContainer { container },
                        // "can not get logs from container which is dead or marked for removal":
                        // a restart by the supervisor or `up` is replacing it.
                        Some(409) => DockerError::ContainerRemoving { container },
                        _ => classify(&self.endpoint, "read logs of", &self.container, error),
                    });
                }
                None => {
                    self.ended = true;
                    for stream in [OutputStream::Stdout, OutputStream::Stderr] {
                        if let Some((timestamp, bytes)) = self.partial[stream as usize].take() {
                            self.ready.push_back(line(stream, timestamp, &bytes));
                        }
                    }
                }
            }
        }
    }

    fn take_frame(&mut self, stream: OutputStream, frame: &[u8]) {
        let (timestamp, mut rest) = split_timestamp(frame);
        let slot = &mut self.partial[stream as usize];
        // A continuation of a long line keeps the timestamp of its first part.
        let (timestamp, mut bytes) = slot.take().unwrap_or((timestamp, Vec::new()));
        while let Some(newline) = rest.iter().position(|&byte| byte == b'\n') {
            bytes.extend_from_slice(&rest[..newline]);
            self.ready
                .push_back(line(stream, timestamp.clone(), &bytes));
            bytes.clear();
            rest = &rest[newline + 1..];
        }
        bytes.extend_from_slice(rest);
        if !bytes.is_empty() {
            *slot = Some((timestamp, bytes));
        }
    }
}

/// Splits `2024-05-01T12:00:00.123456789Z text` into the timestamp and the text.
fn split_timestamp(frame: &[u8]) -> (String, &[u8]) {
    match frame.iter().position(|&byte| byte == b' ') {
        Some(space) if frame.first().is_some_and(u8::is_ascii_digit) => (
            String::from_utf8_lossy(&frame[..space]).into_owned(),
            &frame[space + 1..],
        ),
        _ => (String::new(), frame),
    }
}

fn line(stream: OutputStream, timestamp: String, bytes: &[u8]) -> ContainerLogLine {
    let text = String::from_utf8_lossy(bytes);
    ContainerLogLine {
        stream,
        time: parse_engine_time(&timestamp),
        text: text.strip_suffix('\r').unwrap_or(&text).to_owned(),
        timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> ContainerLogs {
        ContainerLogs {
            endpoint: "unix:///var/run/docker.sock".to_owned(),
            container: "c".to_owned(),
            frames: Box::pin(futures_util::stream::empty()),
            partial: [None, None],
            ready: VecDeque::new(),
            ended: false,
        }
    }

    #[test]
    fn frames_become_lines_and_long_lines_are_joined() {
        let mut logs = reader();
        logs.take_frame(
            OutputStream::Stderr,
            b"2024-05-01T12:00:00.000000001Z first\nsecond\n",
        );
        logs.take_frame(OutputStream::Stdout, b"2024-05-01T12:00:01Z long ");
        logs.take_frame(OutputStream::Stdout, b"2024-05-01T12:00:02Z line\r\n");
        let lines: Vec<_> = logs.ready.drain(..).collect();
        assert_eq!(
            lines
                .iter()
                .map(|line| (line.stream, line.text.as_str(), line.timestamp.as_str()))
                .collect::<Vec<_>>(),
            [
                (
                    OutputStream::Stderr,
                    "first",
                    "2024-05-01T12:00:00.000000001Z"
                ),
                (
                    OutputStream::Stderr,
                    "second",
                    "2024-05-01T12:00:00.000000001Z"
                ),
                (OutputStream::Stdout, "long line", "2024-05-01T12:00:01Z"),
            ]
        );
        assert!(lines[0].time.is_some());
        assert!(lines[0].time < lines[2].time);
    }

    #[tokio::test]
    async fn a_container_being_removed_is_told_apart_from_other_errors() {
        let mut logs = reader();
        logs.frames = Box::pin(futures_util::stream::iter([Err(
            bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message: "can not get logs from container which is dead or marked for removal"
                    .to_owned(),
            },
        )]));
        assert!(matches!(
            logs.next_line().await,
            Err(DockerError::ContainerRemoving { .. })
        ));
    }

    #[tokio::test]
    async fn an_unfinished_last_line_is_returned_at_the_end() {
        let mut logs = reader();
        logs.take_frame(OutputStream::Stdout, b"2024-05-01T12:00:00Z no newline");
        let line = logs.next_line().await.expect("ok").expect("a line");
        assert_eq!(line.text, "no newline");
        assert_eq!(logs.next_line().await.expect("ok"), None);
    }
}
