//! [`DaemonClient`]: how every other command talks to a project's daemon — `status`, `hold`,
//! `resume` and `shutdown` over the control socket, each bounded in time and typed, plus the
//! outside view of the process (is it running, by its pid file; stop it, asking first and then
//! signalling). mini-redis's `Client` is the model.

use std::path::PathBuf;
use std::time::Duration;

use super::control::{self, ControlError, ControlRequest, ControlResponse, DaemonStatus};
use super::process::{self, Termination};
use crate::stack::state::ProjectDir;

/// Limit of a quick request (`status`, `resume`, `shutdown`).
const QUICK: Duration = Duration::from_secs(1);
/// Limit of `hold`, which waits for a restart under way to finish.
const HOLD_TIMEOUT: Duration = Duration::from_secs(35);
/// How long a daemon that was asked to stop may take before it is signalled.
const SIGNAL_GRACE: Duration = Duration::from_secs(2);

/// A project's daemon, as seen by the other commands.
#[derive(Debug, Clone)]
pub struct DaemonClient {
    socket: PathBuf,
    pid_file: PathBuf,
    /// The state root its daemon was started with (`--state-dir`).
    state_root: PathBuf,
    project: String,
}

/// How stopping a project's daemon went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// No daemon of the project was running.
    NotRunning,
    /// It shut down when asked on the control socket.
    ShutDown { pid: Option<u32> },
    /// It did not answer on the control socket (or did not exit) and was stopped by signal.
    Signalled { pid: u32, how: Termination },
}

impl DaemonClient {
    pub fn new(project_dir: &ProjectDir, project: &str) -> Self {
        Self {
            socket: project_dir.control_socket(),
            pid_file: project_dir.pid_file(),
            state_root: project_dir
                .path()
                .parent()
                .map(PathBuf::from)
                .unwrap_or_default(),
            project: project.to_owned(),
        }
    }

    /// What the daemon says about itself; an error when none answers (or another project's
    /// does).
    pub async fn status(&self) -> Result<DaemonStatus, ControlError> {
        match self.request(ControlRequest::Status, QUICK).await? {
            ControlResponse::Status(status) if status.project == self.project => Ok(*status),
            ControlResponse::Status(status) => Err(self.unexpected(format!(
                "it runs project {:?}, not {:?}",
                status.project, self.project
            ))),
            other => Err(self.unexpected(format!("{other:?}"))),
        }
    }

    /// The daemon, if one answers.
    pub async fn live(&self) -> Option<DaemonStatus> {
        self.status().await.ok()
    }

    /// Holds the supervisor's restarts (see `supervise`); answers once none is under way, with
    /// when the hold expires by itself.
    pub async fn hold(&self) -> Result<Duration, ControlError> {
        match self.request(ControlRequest::Hold, HOLD_TIMEOUT).await? {
            ControlResponse::Held { expires_in_seconds } => Ok(Duration::from_secs_f64(
                expires_in_seconds.clamp(0.0, 86_400.0),
            )),
            other => Err(self.unexpected(format!("{other:?}"))),
        }
    }

    /// Ends a hold: the supervisor re-reads stack.json and checks every component at once.
    pub async fn resume(&self) -> Result<(), ControlError> {
        match self.request(ControlRequest::Resume, QUICK).await? {
            ControlResponse::Resumed => Ok(()),
            other => Err(self.unexpected(format!("{other:?}"))),
        }
    }

    /// Asks the daemon to shut down (it answers before it does).
    pub async fn shutdown(&self) -> Result<(), ControlError> {
        match self.request(ControlRequest::Shutdown, QUICK).await? {
            ControlResponse::ShuttingDown => Ok(()),
            other => Err(self.unexpected(format!("{other:?}"))),
        }
    }

    /// The pid of this project's daemon by its pid file, if that process is alive and is this
    /// project's monibox (a stale pid file may name a pid since given to something else); else
    /// a daemon of the project found in `/proc` (its pid file may have been deleted under it).
    pub fn running_pid(&self) -> Option<u32> {
        process::read_pid_file(&self.pid_file)
            .filter(|&pid| process::is_alive(pid) && process::is_project_daemon(pid, &self.project))
            .or_else(|| {
                process::find_daemons(&self.project, &self.state_root)
                    .into_iter()
                    .next()
            })
    }

    /// Stops the daemon: asks it on the control socket and waits up to `grace` for it to exit;
    /// if it does not answer (or does not exit), signals the pid from the pid file — only if
    /// that pid is still this project's monibox.
    pub async fn stop(&self, grace: Duration) -> Stopped {
        let stopped = self.stop_one(grace).await;
        // Daemons of the project that lost their pid file and socket (their state directory was
        // deleted under them) are found in /proc, and stopped too.
        for orphan in process::find_daemons(&self.project, &self.state_root) {
            tracing::warn!(pid = orphan, "stopping an orphaned daemon of the project");
            process::terminate(orphan, SIGNAL_GRACE).await;
        }
        stopped
    }

    async fn stop_one(&self, grace: Duration) -> Stopped {
        let pid = match self.status().await {
            Ok(status) => Some(status.pid),
            Err(_) => self.running_pid(),
        };
        let asked = self.shutdown().await.is_ok();
        let signal = |pid| async move {
            Stopped::Signalled {
                pid,
                how: process::terminate(pid, SIGNAL_GRACE).await,
            }
        };
        match pid {
            Some(pid) if asked => {
                if process::wait_for_exit(pid, grace).await
                    || !process::is_project_daemon(pid, &self.project)
                {
                    Stopped::ShutDown { pid: Some(pid) }
                } else {
                    signal(pid).await
                }
            }
            None if asked => Stopped::ShutDown { pid: None },
            Some(pid)
                if process::is_alive(pid) && process::is_project_daemon(pid, &self.project) =>
            {
                signal(pid).await
            }
            _ => Stopped::NotRunning,
        }
    }

    async fn request(
        &self,
        request: ControlRequest,
        timeout: Duration,
    ) -> Result<ControlResponse, ControlError> {
        match control::request(&self.socket, request, timeout).await? {
            ControlResponse::Error { message } => Err(self.unexpected(message)),
            response => Ok(response),
        }
    }

    fn unexpected(&self, message: String) -> ControlError {
        ControlError::Protocol {
            path: self.socket.clone(),
            message,
        }
    }
}
