//! The daemon's log file as a source: its last lines, then (following) what is appended, polled,
//! surviving truncation (read again from the start) and rotation (the old file is read to its
//! end, then the new one from its start). Runs on a blocking thread: plain file reads and a
//! sleep between polls, stopping on the cancellation token or when the daemon is gone.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{LogEvent, LogLine, LogsError, Reading};

/// How often a followed file is checked for new lines.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long the daemon may be gone (say, while `up` replaces it) before following ends.
const DAEMON_GONE_GRACE: Duration = Duration::from_secs(5);
/// Bytes read at a time when looking for the start of the last lines.
const BACKWARD_CHUNK: usize = 64 * 1024;

/// Answers whether the project's daemon runs now.
pub type DaemonAlive = Arc<dyn Fn() -> bool + Send + Sync>;

/// Reads the last `reading.tail` lines (all with None) into `backlog`, then, following and while
/// the daemon runs, new lines into `live`.
pub(super) fn run(
    source: usize,
    path: &Path,
    daemon_alive: &DaemonAlive,
    reading: Reading,
    backlog: mpsc::Sender<LogLine>,
    live: &mpsc::Sender<LogEvent>,
    cancel: &CancellationToken,
) -> Result<(), LogsError> {
    let io_error = |error| LogsError::File {
        path: path.to_owned(),
        error,
    };
    let mut file = File::open(path).map_err(io_error)?;
    let mut inode = file.metadata().map_err(io_error)?.ino();
    let end = file.metadata().map_err(io_error)?.len();
    let start = match reading.tail {
        Some(lines) => start_of_last_lines(&mut file, end, lines).map_err(io_error)?,
        None => 0,
    };
    let mut lines = Lines::new(source);
    file.seek(SeekFrom::Start(start)).map_err(io_error)?;
    let mut reader = BufReader::new(file);
    let mut offset = start;
    offset += lines
        .read(&mut reader, end - start, |line| {
            backlog.blocking_send(line).is_ok()
        })
        .map_err(io_error)?;
    if !reading.follow {
        if let Some(line) = lines.unfinished() {
            let _ = backlog.blocking_send(line);
        }
        return Ok(());
    }
    drop(backlog);
    if !daemon_alive() {
        let _ = live.blocking_send(LogEvent::Note {
            source,
            message: "the daemon is not running; not following its log".to_owned(),
        });
        return Ok(());
    }

    let mut gone_since: Option<Instant> = None;
    let send = |line| live.blocking_send(LogEvent::Line(line)).is_ok();
    loop {
        offset += lines.read(&mut reader, u64::MAX, send).map_err(io_error)?;
        match std::fs::metadata(path) {
            // Rotated: the old file was read to its end above; go on with the new one.
            Ok(meta) if meta.ino() != inode => {
                let file = File::open(path).map_err(io_error)?;
                inode = meta.ino();
                reader = BufReader::new(file);
                offset = 0;
                continue;
            }
            Ok(meta) if meta.len() < offset => {
                reader.seek(SeekFrom::Start(0)).map_err(io_error)?;
                offset = 0;
                let _ = live.blocking_send(LogEvent::Note {
                    source,
                    message: format!(
                        "{} was truncated; reading it from the start",
                        path.display()
                    ),
                });
                continue;
            }
            _ => {}
        }
        if daemon_alive() {
            gone_since = None;
        } else if gone_since.get_or_insert_with(Instant::now).elapsed() >= DAEMON_GONE_GRACE {
            let _ = live.blocking_send(LogEvent::Note {
                source,
                message: "the daemon stopped; no longer following its log".to_owned(),
            });
            return Ok(());
        }
        if cancel.is_cancelled() || live.is_closed() {
            return Ok(());
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Where the last `lines` complete-or-not lines before `end` begin.
fn start_of_last_lines(file: &mut File, end: u64, lines: u64) -> std::io::Result<u64> {
    if lines == 0 {
        return Ok(end);
    }
    let mut position = end;
    let mut newlines = 0;
    let mut chunk = vec![0; BACKWARD_CHUNK];
    // A newline ending the file ends the last line; it does not start another.
    let mut skip_final_newline = true;
    while position > 0 {
        let size = usize::try_from(position.min(BACKWARD_CHUNK as u64)).unwrap_or(BACKWARD_CHUNK);
        position -= size as u64;
        file.seek(SeekFrom::Start(position))?;
        file.read_exact(&mut chunk[..size])?;
        for (index, &byte) in chunk[..size].iter().enumerate().rev() {
            if byte != b'\n' {
                skip_final_newline = false;
                continue;
            }
            if std::mem::take(&mut skip_final_newline) {
                continue;
            }
            newlines += 1;
            if newlines == lines {
                return Ok(position + index as u64 + 1);
            }
        }
    }
    Ok(0)
}

/// Splits what is read into lines, holding an unfinished last line until its newline arrives,
/// and gives each line a time: its own leading RFC 3339 timestamp (as the daemon's log lines
/// have), else the previous line's.
struct Lines {
    source: usize,
    unfinished: Vec<u8>,
    last_time: SystemTime,
}

impl Lines {
    fn new(source: usize) -> Self {
        Self {
            source,
            unfinished: Vec::new(),
            last_time: SystemTime::UNIX_EPOCH,
        }
    }

    /// Reads up to `limit` bytes, calling `emit` per complete line until it returns false.
    /// Returns the bytes read.
    fn read(
        &mut self,
        reader: &mut impl BufRead,
        limit: u64,
        mut emit: impl FnMut(LogLine) -> bool,
    ) -> std::io::Result<u64> {
        let mut limited = reader.take(limit);
        let mut total = 0;
        loop {
            let read = limited.read_until(b'\n', &mut self.unfinished)?;
            if read == 0 {
                return Ok(total);
            }
            total += read as u64;
            if self.unfinished.last() != Some(&b'\n') {
                return Ok(total);
            }
            self.unfinished.pop();
            let bytes = std::mem::take(&mut self.unfinished);
            if !emit(self.line(&bytes)) {
                return Ok(total);
            }
        }
    }

    /// The last line if it has no newline yet.
    fn unfinished(&mut self) -> Option<LogLine> {
        let bytes = std::mem::take(&mut self.unfinished);
        (!bytes.is_empty()).then(|| self.line(&bytes))
    }

    fn line(&mut self, bytes: &[u8]) -> LogLine {
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text).to_owned();
        if let Some(time) = text
            .split_whitespace()
            .next()
            .and_then(|first| humantime::parse_rfc3339(first).ok())
        {
            self.last_time = time;
        }
        LogLine {
            source: self.source,
            time: self.last_time,
            timestamp: None,
            text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn last_lines(contents: &str, lines: u64) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        std::fs::write(&path, contents).expect("write");
        let mut file = File::open(path).expect("open");
        let start = start_of_last_lines(&mut file, contents.len() as u64, lines).expect("tail");
        contents[usize::try_from(start).expect("small")..].to_owned()
    }

    #[test]
    fn the_last_lines_are_found_from_the_end() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
        assert_eq!(last_lines("a\nb\nc\n", 5), "a\nb\nc\n");
        assert_eq!(last_lines("a\nb\nc\n", 0), "");
        assert_eq!(last_lines("", 3), "");
        assert_eq!(last_lines("a\n\n\n", 2), "\n\n");
        let long: String = (0..50_000).map(|n| format!("line {n}\n")).collect();
        assert_eq!(last_lines(&long, 2), "line 49998\nline 49999\n");
    }

    #[test]
    fn lines_take_their_timestamp_or_the_previous_one() {
        let mut lines = Lines::new(3);
        let mut seen = Vec::new();
        let text = b"2026-01-02T03:04:05.123456Z  INFO monibox: up\n  continued\r\nhalf";
        let read = lines
            .read(&mut &text[..], u64::MAX, |line| {
                seen.push(line);
                true
            })
            .expect("read");
        assert_eq!(read, text.len() as u64);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].text, "  continued");
        assert_eq!(seen[0].time, seen[1].time);
        assert!(seen[0].time > SystemTime::UNIX_EPOCH);
        assert_eq!(seen[0].source, 3);
        assert_eq!(
            lines.unfinished().map(|line| line.text).as_deref(),
            Some("half")
        );
        assert!(lines.unfinished().is_none());
    }

    #[test]
    fn a_followed_file_survives_truncation_and_rotation() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("daemon.log");
        std::fs::write(&path, "old 1\nold 2\n").expect("write");
        let alive: DaemonAlive = Arc::new(|| true);
        let (backlog_tx, mut backlog_rx) = mpsc::channel(16);
        let (live_tx, mut live_rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let thread = {
            let cancel = cancel.clone();
            let path = path.clone();
            std::thread::spawn(move || {
                run(
                    0,
                    &path,
                    &alive,
                    Reading {
                        tail: Some(1),
                        follow: true,
                    },
                    backlog_tx,
                    &live_tx,
                    &cancel,
                )
            })
        };
        assert_eq!(
            backlog_rx.blocking_recv().map(|line| line.text).as_deref(),
            Some("old 2")
        );
        assert!(backlog_rx.blocking_recv().is_none());
        let mut next_text = || loop {
            match live_rx.blocking_recv() {
                Some(LogEvent::Line(line)) => return line.text,
                Some(_) => continue,
                None => panic!("the follower ended"),
            }
        };
        let append = |text: &str| {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("open");
            file.write_all(text.as_bytes()).expect("append");
        };
        append("new 1\n");
        assert_eq!(next_text(), "new 1");
        std::fs::write(&path, "cut\n").expect("truncate");
        assert_eq!(next_text(), "cut");
        std::fs::rename(&path, dir.path().join("daemon.log.1")).expect("rotate");
        std::fs::write(&path, "rotated\n").expect("new file");
        assert_eq!(next_text(), "rotated");
        cancel.cancel();
        thread.join().expect("joins").expect("no error");
    }
}
