//! The daemon's side of `up`: keeping a daemon that runs the planned settings, replacing one that
//! does not (or a hung one found by its pid file), launching it in the background or running it
//! in this process (`--foreground`), and waiting until both its listeners answer their
//! readiness probes (the catalog's [`DEMO`] and [`OPS`] entries, run by the same runner as the
//! containers').

use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::DAEMON_STOP_GRACE;
use crate::app::context::ProjectContext;
use crate::catalog::{DEMO, ListenerDef, OPS};
use crate::daemon::client::Stopped;
use crate::daemon::control::DaemonStatus;
use crate::daemon::{Daemon, DaemonSettings, process};
use crate::stack::readiness::{self, Endpoint, ReadinessError};
use crate::stack::record::StackRecord;
use crate::supervise::SupervisorSettings;

/// How long a freshly launched daemon may take to bind and answer on its control socket.
const DAEMON_START_DEADLINE: Duration = Duration::from_secs(10);
/// How often a launched daemon is asked whether it answers.
const START_POLL: Duration = Duration::from_millis(10);
/// Lines of daemon.log quoted when the daemon fails to start.
const LOG_LINES_ON_FAILURE: usize = 20;

/// The daemon after `up`: a background process, or a task of this one (`--foreground`).
pub(super) enum DaemonHandle {
    Detached {
        pid: u32,
        action: DaemonAction,
    },
    InProcess {
        task: JoinHandle<()>,
        shutdown: CancellationToken,
    },
}

/// What `up` did about the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum DaemonAction {
    Kept,
    Started,
    /// Restarted because its settings changed.
    Restarted,
    /// Runs in this process (`--foreground`).
    Foreground,
}

/// Keeps a live daemon that runs the planned settings; otherwise stops it (or a hung one found
/// by its pid file) and launches a new one in the background, waiting until it answers.
pub(super) async fn ensure_detached(
    context: &ProjectContext,
    record: &StackRecord,
    live: Option<&DaemonStatus>,
) -> anyhow::Result<DaemonHandle> {
    let wanted = &record.daemon.settings_digest;
    if let Some(status) = live.filter(|status| &status.settings_digest == wanted) {
        return Ok(DaemonHandle::Detached {
            pid: status.pid,
            action: DaemonAction::Kept,
        });
    }
    let client = context.daemon();
    let action = match client.stop(DAEMON_STOP_GRACE).await {
        Stopped::NotRunning => DaemonAction::Started,
        _ => DaemonAction::Restarted,
    };
    let exe =
        std::env::current_exe().context("cannot find the monibox binary to start the daemon")?;
    let log_file = context.dir.log_file();
    let log_start = std::fs::metadata(&log_file).map_or(0, |meta| meta.len());
    let mut child = process::launch(&exe, context.project(), context.root.path(), &log_file)
        .with_context(|| format!("cannot start the daemon ({})", exe.display()))?;
    let deadline = Instant::now() + DAEMON_START_DEADLINE;
    loop {
        if let Ok(Some(exit)) = child.try_wait() {
            anyhow::bail!(
                "the daemon exited during start-up ({exit}); {}:\n{}",
                log_file.display(),
                log_tail(&log_file, log_start)
            );
        }
        if let Ok(status) = client.status().await {
            if &status.settings_digest == wanted {
                return Ok(DaemonHandle::Detached {
                    pid: status.pid,
                    action,
                });
            }
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the daemon did not answer within {DAEMON_START_DEADLINE:?}; {}:\n{}",
                log_file.display(),
                log_tail(&log_file, log_start)
            );
        }
        tokio::time::sleep(START_POLL).await;
    }
}

/// Runs the daemon in this process (`--foreground`), after stopping a background one.
pub(super) async fn start_in_process(
    context: &ProjectContext,
    record: &StackRecord,
    live: Option<&DaemonStatus>,
    docker_host: Option<String>,
    cancel: &CancellationToken,
) -> anyhow::Result<DaemonHandle> {
    if live.is_some() || context.dir.pid_file().exists() {
        context.daemon().stop(DAEMON_STOP_GRACE).await;
    }
    let supervision = SupervisorSettings {
        project: context.project().to_owned(),
        project_dir: context.dir.clone(),
        docker_host,
        // Resumed like a launched daemon, once the containers are in place.
        start_held: true,
    };
    let settings = DaemonSettings::from_record(
        context.project(),
        &record.daemon,
        context.dir.control_socket(),
        supervision,
    );
    let daemon = Daemon::bind(settings).await?;
    process::write_pid_file(&context.dir.pid_file(), std::process::id())?;
    let shutdown = cancel.child_token();
    let task = tokio::spawn(daemon.run(shutdown.clone()));
    Ok(DaemonHandle::InProcess { task, shutdown })
}

/// Probes both listeners of the daemon until they answer.
pub(super) async fn wait_ready(
    record: &StackRecord,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<(), ReadinessError> {
    let wait = |def: &'static ListenerDef, listen: &[SocketAddr]| {
        let address = listen.iter().copied().find(|a| a.ip().is_loopback());
        async move {
            let address = address.ok_or_else(|| ReadinessError::Timeout {
                url: format!("the {} listener", def.name),
                waited: Duration::ZERO,
                last: "no address on 127.0.0.1 in stack.json".to_owned(),
            })?;
            readiness::wait(Endpoint::Address(address), &def.readiness, deadline, cancel).await
        }
    };
    let (demo, ops) = tokio::join!(
        wait(&DEMO, &record.daemon.app_listen),
        wait(&OPS, &record.daemon.ops_listen)
    );
    demo.and(ops).map(drop)
}

/// The last lines `path` gained after byte `from`.
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        if file.seek(SeekFrom::Start(from)).is_ok() {
            let _ = file.take(256 * 1024).read_to_string(&mut text);
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_LINES_ON_FAILURE)..];
    if tail.is_empty() {
        "  (the log is empty)".to_owned()
    } else {
        tail.iter()
            .map(|line| format!("  {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
