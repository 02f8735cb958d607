//! `monibox daemon --project P --state-dir D [--held]` (hidden): the process `up` launches in the
//! background. It starts from the project's `stack.json`, writes its pid file once everything is
//! bound, serves until SIGTERM or a `shutdown` on the control socket, then removes its pid file.
//! Its stdout and stderr are `daemon.log` in the project's state directory. Its supervisor talks
//! to the Engine named by the DOCKER_HOST it inherited; `--held` starts it held until `up`
//! resumes it.

use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::cli::DaemonArgs;
use crate::config::ProjectName;
use crate::daemon::{Daemon, DaemonSettings, process};
use crate::stack::state::{StateRoot, remove_file_if_present};
use crate::stack::store::StackStore;
use crate::supervise::SupervisorSettings;

pub async fn run(args: DaemonArgs) -> anyhow::Result<ExitCode> {
    let project = ProjectName::try_from(args.project).map_err(anyhow::Error::msg)?;
    let root = StateRoot::resolve(Some(&args.state_dir), None, None)?;
    let project_dir = root.project(project.as_str());
    let record = StackStore::new(&project_dir, project.as_str())
        .read()?
        .with_context(|| {
            format!(
                "{} is missing: the daemon is started by `monibox up`",
                project_dir.stack_file().display()
            )
        })?;
    let supervision = SupervisorSettings {
        project: project.as_str().to_owned(),
        project_dir: project_dir.clone(),
        docker_host: std::env::var("DOCKER_HOST").ok(),
        start_held: args.held,
    };
    let settings = DaemonSettings::from_record(
        project.as_str(),
        &record.daemon,
        project_dir.control_socket(),
        supervision,
    );
    let daemon = Daemon::bind(settings).await?;
    let pid = std::process::id();
    process::write_pid_file(&project_dir.pid_file(), pid)?;
    tracing::info!(
        pid,
        project = %project,
        app = ?daemon.app_addrs(),
        ops = ?daemon.ops_addrs(),
        "monibox daemon running"
    );

    let shutdown = CancellationToken::new();
    super::cancel_on_signal(shutdown.clone());
    tokio::spawn(ignore_hangups());
    daemon.run(shutdown).await;

    // Another daemon may have replaced this one's pid file meanwhile; only remove our own.
    if process::read_pid_file(&project_dir.pid_file()) == Some(pid) {
        remove_file_if_present(&project_dir.pid_file())?;
    }
    tracing::info!(pid, "monibox daemon stopped");
    Ok(ExitCode::SUCCESS)
}

/// The daemon outlives the terminal that ran `up`: a hangup is logged, not fatal.
async fn ignore_hangups() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("hangup received; the daemon keeps running (`monibox down` stops it)");
    }
}
