//! One mutating command at a time per project. `up`, `down` and `reload` (and `up
//! --foreground`'s teardown) hold the project's lock while they change its containers, network,
//! volumes, bundle or `stack.json`: an exclusive advisory lock the operating system keeps on
//! `<state root>/.locks/<project>.lock` (`flock(2)` through `nix`), released when the holder ends,
//! however it ends. A second command waits, saying once who holds the lock (the holder writes its
//! pid and command line into the file), up to a deadline, then fails with
//! [`LockError::Busy`] (exit 2).
//!
//! The file lives outside the project directory, which `down --volumes` removes while holding
//! it: a lock on a removed file would not exclude a command that creates a new one.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// How often a waiting command tries again.
const RETRY_EVERY: Duration = Duration::from_millis(50);

/// Who holds a lock, as the holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// The holder's command line, e.g. `monibox up --project demo`.
    pub command: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` (pid {})", self.command, self.pid)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "project {project} is busy: {} holds its lock{}; wait for it to finish and try again, \
         or stop it if it hangs{}",
        holder.as_ref().map_or_else(|| "another process".to_owned(), Holder::to_string),
        if waited.is_zero() { String::new() } else { format!(" (waited {})", humantime::format_duration(*waited)) },
        holder.as_ref().map_or_else(String::new, |holder| format!(" (`kill {}`)", holder.pid))
    )]
    Busy {
        project: String,
        holder: Option<Holder>,
        waited: Duration,
    },
    #[error("cannot use the project lock {}: {error} (check the state directory's permissions)", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// A held project lock; dropping it (or [`ProjectLock::release`]) lets the next command in.
#[derive(Debug)]
pub struct ProjectLock {
    _file: Flock<File>,
}

impl ProjectLock {
    /// Takes the lock at `path` for `project`, waiting up to `timeout`; `on_wait` is told once,
    /// with the holder, when the lock is taken by someone else. `command` is what this process
    /// records as the holder.
    pub async fn acquire(
        path: &Path,
        project: &str,
        command: &str,
        timeout: Duration,
        on_wait: impl FnOnce(Option<&Holder>),
    ) -> Result<ProjectLock, LockError> {
        let io_error = |error| LockError::Io {
            path: path.to_owned(),
            error,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_error)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io_error)?;
        let started = Instant::now();
        let mut on_wait = Some(on_wait);
        let mut file = loop {
            file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(locked) => break locked,
                Err((file, Errno::EWOULDBLOCK)) => file,
                Err((_, errno)) => return Err(io_error(errno.into())),
            };
            let holder = read_holder(&mut file);
            if let Some(tell) = on_wait.take() {
                tell(holder.as_ref());
            }
            if started.elapsed() >= timeout {
                return Err(LockError::Busy {
                    project: project.to_owned(),
                    holder,
                    waited: timeout,
                });
            }
            tokio::time::sleep(RETRY_EVERY).await;
        };
        let record = format!("{} {command}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(record.as_bytes()))
            .map_err(io_error)?;
        Ok(ProjectLock { _file: file })
    }

    /// Lets the next command in.
    pub fn release(self) {}
}

/// The holder recorded in the lock file, if it reads as one and that process still lives (a
/// process that took the lock without recording itself leaves an earlier holder's record).
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(4096).read_to_string(&mut text).ok()?;
    let (pid, command) = text.trim().split_once(' ')?;
    let pid: u32 = pid.parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then(|| Holder {
        pid,
        command: command.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_names_the_first_and_gives_up_at_the_deadline() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(".locks/p.lock");
        let first = ProjectLock::acquire(&path, "p", "monibox up", Duration::ZERO, |_| {})
            .await
            .expect("free");
        let mut told = None;
        let error = ProjectLock::acquire(
            &path,
            "p",
            "monibox down",
            Duration::from_millis(120),
            |holder| told = holder.cloned(),
        )
        .await
        .expect_err("held");
        let holder = told.expect("the holder is named");
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.command, "monibox up");
        assert!(error.to_string().contains("`monibox up`"), "{error}");
        first.release();
        ProjectLock::acquire(&path, "p", "monibox down", Duration::ZERO, |_| {})
            .await
            .expect("free again once released");
    }
}
