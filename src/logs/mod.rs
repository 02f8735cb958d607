//! The stack's logs for `monibox logs`: each component is a source — a container's output
//! through the Engine ([`crate::docker::logs`]) or the daemon's log file ([`file`]) — running as
//! a task of its own. A [`LogSession`] hands out what they read: first every source's last lines
//! merged in time order, then (following) new lines as they arrive, until every source ended or
//! the session is cancelled.
//!
//! A followed container that stops or is replaced (a restart, `up` recreating it, the
//! supervisor) is picked up again when it runs again, after the last line already shown, so
//! nothing is shown twice; it ends when it does not come back within a grace period, at once if
//! no daemon runs to bring it back. Nothing here prints.

pub mod file;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::docker::{ContainerLogLine, Docker, DockerError, LogQuery};
pub use file::DaemonAlive;

/// Lines a source may read ahead of the printer.
const CHANNEL_CAPACITY: usize = 256;
/// How long a followed container may be stopped or missing before following it ends: longer
/// than the supervisor's longest wait between restarts (standard timing), so following a
/// crash-looping component goes on through its backoff.
const REATTACH_GRACE: Duration = Duration::from_secs(75);
/// How often a stopped followed container is checked.
const REATTACH_POLL: Duration = Duration::from_millis(250);

/// One line of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Index of the source in the list given to [`LogSession::open`].
    pub source: usize,
    /// When it was written, for merging: Docker's timestamp, or the daemon log line's own (the
    /// previous line's if it has none).
    pub time: SystemTime,
    /// Docker's timestamp as sent (RFC 3339, nanoseconds); None for the daemon's log, whose
    /// lines carry their own.
    pub timestamp: Option<String>,
    pub text: String,
}

/// What a session hands out besides lines: why a source stopped early.
#[derive(Debug)]
pub enum LogEvent {
    Line(LogLine),
    /// Something worth telling the reader (on stderr): a source stopped being followed.
    Note {
        source: usize,
        message: String,
    },
    /// A source could not be read; the others go on.
    Failed {
        source: usize,
        error: LogsError,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// The cause is in the message only (not a `#[source]`), so `{:#}` says it once.
    #[error("cannot read {}: {error}", path.display())]
    File {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
}

/// Where a source reads from.
#[derive(Debug, Clone)]
pub enum SourceKind {
    /// A container, by name; `running` says whether it ran when the session opened (a
    /// stopped one is only read, not followed).
    Container {
        docker: Docker,
        name: String,
        running: bool,
    },
    /// The daemon's log file.
    DaemonLog { path: std::path::PathBuf },
}

/// Reading several sources as one.
pub struct LogSession {
    backlogs: Vec<Option<mpsc::Receiver<LogLine>>>,
    heads: Vec<Option<LogLine>>,
    live: mpsc::Receiver<LogEvent>,
    tasks: Vec<JoinHandle<()>>,
}

/// How much to read: the last `tail` lines of each source (None: all), and whether to follow.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub tail: Option<u64>,
    pub follow: bool,
}

impl LogSession {
    /// Starts a task per source. `daemon_alive` tells whether the project's daemon runs (it
    /// brings stopped containers back, so while it runs a stopped container is waited for).
    pub fn open(
        sources: Vec<SourceKind>,
        reading: Reading,
        daemon_alive: &DaemonAlive,
        cancel: &CancellationToken,
    ) -> LogSession {
        let (live_tx, live) = mpsc::channel(CHANNEL_CAPACITY);
        let mut backlogs = Vec::new();
        let mut tasks = Vec::new();
        for (source, kind) in sources.into_iter().enumerate() {
            let (backlog_tx, backlog_rx) = mpsc::channel(CHANNEL_CAPACITY);
            backlogs.push(Some(backlog_rx));
            let live_tx = live_tx.clone();
            let cancel = cancel.clone();
            tasks.push(match kind {
                SourceKind::Container {
                    docker,
                    name,
                    running,
                } => {
                    let follower = ContainerFollower {
                        docker,
                        source,
                        name,
                        follow: reading.follow && running,
                        daemon_alive: daemon_alive.clone(),
                    };
                    tokio::spawn(async move {
                        let result = tokio::select! {
                            () = cancel.cancelled() => Ok(()),
                            result = follower.run(reading.tail, backlog_tx, &live_tx) => result,
                        };
                        if let Err(error) = result {
                            let _ = live_tx.send(LogEvent::Failed { source, error }).await;
                        }
                    })
                }
                SourceKind::DaemonLog { path } => {
                    let daemon_alive = daemon_alive.clone();
                    tokio::task::spawn_blocking(move || {
                        let result = file::run(
                            source,
                            &path,
                            &daemon_alive,
                            reading,
                            backlog_tx,
                            &live_tx,
                            &cancel,
                        );
                        if let Err(error) = result {
                            let _ = live_tx.blocking_send(LogEvent::Failed { source, error });
                        }
                    })
                }
            });
        }
        let heads = vec![None; backlogs.len()];
        LogSession {
            backlogs,
            heads,
            live,
            tasks,
        }
    }

    /// The next event: the sources' last lines in time order first (ties keep the sources'
    /// order), then what the followed sources send as it comes. None when every source ended.
    pub async fn next(&mut self) -> Option<LogEvent> {
        if let Some(line) = self.next_backlog_line().await {
            return Some(LogEvent::Line(line));
        }
        self.live.recv().await
    }

    async fn next_backlog_line(&mut self) -> Option<LogLine> {
        for (backlog, head) in self.backlogs.iter_mut().zip(&mut self.heads) {
            if head.is_some() {
                continue;
            }
            if let Some(receiver) = backlog {
                *head = receiver.recv().await;
                if head.is_none() {
                    *backlog = None;
                }
            }
        }
        let earliest = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(index, head)| Some((head.as_ref()?.time, index)))
            .min()?
            .1;
        self.heads[earliest].take()
    }

    /// Stops every source and waits for them (a blocking file reader notices within its poll
    /// interval). The receivers go first: a file reader blocked on a full channel only notices
    /// that nobody reads any more when its send fails.
    pub async fn close(self, cancel: &CancellationToken) {
        cancel.cancel();
        let LogSession {
            backlogs,
            live,
            tasks,
            ..
        } = self;
        drop(backlogs);
        drop(live);
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// The position after the last line shown: lines before `time` were shown, and of those at
/// exactly `time`, the first `shown_at_time`. Docker's `since` has a resolution of seconds, so
/// lines from the same second are read again and skipped here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    time: SystemTime,
    shown_at_time: u32,
}

impl Cursor {
    /// Whether `line` is new; if so the cursor moves past it.
    fn advance(&mut self, time: Option<SystemTime>, skip_seen: &mut u32) -> bool {
        let Some(time) = time else {
            return true;
        };
        if time < self.time {
            return false;
        }
        if time == self.time {
            if *skip_seen > 0 {
                *skip_seen -= 1;
                return false;
            }
            self.shown_at_time += 1;
            return true;
        }
        self.time = time;
        self.shown_at_time = 1;
        *skip_seen = 0;
        true
    }

    fn since_unix_secs(&self) -> i64 {
        self.time.duration_since(UNIX_EPOCH).map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
    }
}

struct ContainerFollower {
    docker: Docker,
    source: usize,
    name: String,
    follow: bool,
    daemon_alive: DaemonAlive,
}

impl ContainerFollower {
    async fn run(
        &self,
        tail: Option<u64>,
        backlog: mpsc::Sender<LogLine>,
        live: &mpsc::Sender<LogEvent>,
    ) -> Result<(), LogsError> {
        // Taken before reading: whatever is logged from now on is new.
        let mut cursor = Cursor {
            time: SystemTime::now(),
            shown_at_time: 0,
        };
        if tail != Some(0) {
            let mut logs = self.docker.container_logs(
                &self.name,
                LogQuery {
                    follow: false,
                    tail,
                    since_unix_secs: None,
                },
            );
            while let Some(line) = logs.next_line().await? {
                cursor.advance(line.time, &mut 0);
                if backlog.send(self.line(line)).await.is_err() {
                    return Ok(());
                }
            }
        }
        drop(backlog);
        if !self.follow {
            return Ok(());
        }
        // An error mid-stream is usually the container being stopped or replaced under the
        // stream (the supervisor recreates it): read on from the container that runs now. The
        // same error twice with no line between is reported.
        let mut failed_before = false;
        loop {
            let mut skip_seen = cursor.shown_at_time;
            let mut logs = self.docker.container_logs(
                &self.name,
                LogQuery {
                    follow: true,
                    tail: None,
                    since_unix_secs: Some(cursor.since_unix_secs()),
                },
            );
            loop {
                match logs.next_line().await {
                    Ok(Some(line)) => {
                        failed_before = false;
                        if cursor.advance(line.time, &mut skip_seen)
                            && live.send(LogEvent::Line(self.line(line))).await.is_err()
                        {
                            return Ok(());
                        }
                    }
                    // Gone or going: wait for the container that replaces it.
                    Ok(None)
                    | Err(
                        DockerError::NoSuchContainer { .. } | DockerError::ContainerRemoving { .. },
                    ) => break,
                    Err(error) if failed_before => return Err(error.into()),
                    Err(error) => {
                        tracing::debug!(%error, container = %self.name, "log stream broke; re-attaching");
                        failed_before = true;
                        break;
                    }
                }
            }
            if let Some(gone) = self.wait_until_running().await? {
                let _ = live
                    .send(LogEvent::Note {
                        source: self.source,
                        message: gone,
                    })
                    .await;
                return Ok(());
            }
        }
    }

    /// Waits for the container to run again; Some(why not) when following should end.
    async fn wait_until_running(&self) -> Result<Option<String>, DockerError> {
        let deadline = Instant::now() + REATTACH_GRACE;
        loop {
            let state = self.docker.inspect_container(&self.name).await?;
            if state.as_ref().is_some_and(|status| status.is_running()) {
                return Ok(None);
            }
            let what = if state.is_some() {
                "stopped"
            } else {
                "was removed"
            };
            if !(self.daemon_alive)() {
                return Ok(Some(format!(
                    "its container {what} and no daemon runs to bring it back; no longer \
                     following it"
                )));
            }
            if Instant::now() >= deadline {
                return Ok(Some(format!(
                    "its container {what} and did not come back within {} s; no longer \
                     following it",
                    REATTACH_GRACE.as_secs()
                )));
            }
            tokio::time::sleep(REATTACH_POLL).await;
        }
    }

    fn line(&self, line: ContainerLogLine) -> LogLine {
        LogLine {
            source: self.source,
            time: line.time.unwrap_or(UNIX_EPOCH),
            timestamp: Some(line.timestamp),
            text: line.text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closing_ends_a_source_blocked_on_a_backlog_nobody_reads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("daemon.log");
        let log: String = (0..CHANNEL_CAPACITY * 4)
            .map(|n| format!("line {n}\n"))
            .collect();
        std::fs::write(&path, log).expect("write");
        let alive: DaemonAlive = std::sync::Arc::new(|| false);
        let cancel = CancellationToken::new();
        let mut session = LogSession::open(
            vec![SourceKind::DaemonLog { path }],
            Reading {
                tail: None,
                follow: false,
            },
            &alive,
            &cancel,
        );
        // The reader stops after one line (say, `| head -1`), with the backlog still full.
        assert!(matches!(session.next().await, Some(LogEvent::Line(_))));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let closed = tokio::time::timeout(Duration::from_secs(5), session.close(&cancel)).await;
        assert!(
            closed.is_ok(),
            "close waited for a source that cannot go on"
        );
    }

    #[test]
    fn a_file_error_names_its_cause_once() {
        let error = anyhow::Error::new(LogsError::File {
            path: "/state/daemon.log".into(),
            error: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
        let shown = format!("{error:#}");
        assert_eq!(shown.matches("permission denied").count(), 1, "{shown}");
    }

    #[test]
    fn the_cursor_skips_what_was_shown_and_nothing_else() {
        let at = |nanos: u64| Some(UNIX_EPOCH + Duration::from_nanos(nanos));
        let mut cursor = Cursor {
            time: UNIX_EPOCH,
            shown_at_time: 0,
        };
        // Shown: two lines at 5 ns.
        assert!(cursor.advance(at(5), &mut 0));
        assert!(cursor.advance(at(5), &mut 0));
        assert_eq!(cursor.shown_at_time, 2);
        // Read again from the same second: the lines before and the two at 5 ns are skipped,
        // a third at 5 ns and later lines are new.
        let mut skip = cursor.shown_at_time;
        assert!(!cursor.advance(at(3), &mut skip));
        assert!(!cursor.advance(at(5), &mut skip));
        assert!(!cursor.advance(at(5), &mut skip));
        assert!(cursor.advance(at(5), &mut skip));
        assert!(cursor.advance(at(9), &mut skip));
        assert!(
            cursor.advance(None, &mut skip),
            "a line without time is shown"
        );
    }
}
