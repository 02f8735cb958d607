//! `monibox down [--volumes] [--json]`: stops the project's daemon (asked on the control socket,
//! else signalled by pid after checking it is this project's monibox), then removes the
//! containers and the network by label — also when the daemon is already gone — and with
//! `--volumes` the data volumes and the project's state directory. Holds the project's lock;
//! idempotent; reports what it removed.

use std::process::ExitCode;

use serde::Serialize;

use super::context::ProjectContext;
use crate::cli::DownArgs;
use crate::daemon::client::Stopped;
use crate::daemon::process::Termination;
use crate::docker::RemoveVolumes;
use crate::output::{Format, Render, emit};
use crate::stack::{STOP_GRACE, teardown};

/// What became of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum DaemonStop {
    NotRunning,
    /// It shut down when asked on the control socket.
    Stopped,
    /// It did not answer and exited on SIGTERM.
    Signalled,
    /// It ignored SIGTERM and was killed.
    Killed,
}

/// What `down` did.
#[derive(Debug, Serialize)]
struct DownReport {
    project: String,
    daemon: DaemonStop,
    daemon_pid: Option<u32>,
    containers_removed: usize,
    networks_removed: usize,
    volumes_removed: usize,
    /// Whether the data volumes and the state directory (Grafana's password) were kept.
    data_kept: bool,
    state_dir: String,
}

impl Render for DownReport {
    fn render_text(&self) -> String {
        let pid = self
            .daemon_pid
            .map_or_else(String::new, |pid| format!(" (pid {pid})"));
        let daemon = match self.daemon {
            DaemonStop::NotRunning => "daemon: not running".to_owned(),
            DaemonStop::Stopped => format!("daemon: stopped{pid}"),
            DaemonStop::Signalled => format!("daemon: stopped by SIGTERM{pid}"),
            DaemonStop::Killed => format!("daemon: killed after ignoring SIGTERM{pid}"),
        };
        let kept = if self.data_kept {
            format!(
                "data volumes are kept (monibox-{}-*-data) with the Grafana password; \
                 `monibox down --volumes` removes them",
                self.project
            )
        } else {
            format!("removed the state directory {}", self.state_dir)
        };
        format!(
            "{daemon}\nremoved {} container(s), {} network(s), {} volume(s)\n{kept}\n",
            self.containers_removed, self.networks_removed, self.volumes_removed
        )
    }
}

pub async fn run(args: DownArgs) -> anyhow::Result<ExitCode> {
    let project = ProjectContext::load(&args.config, &args.state)?;
    let _lock = project.lock("down", &args.lock).await?;
    let (daemon, daemon_pid) = match project.daemon().stop(STOP_GRACE).await {
        Stopped::NotRunning => (DaemonStop::NotRunning, None),
        Stopped::ShutDown { pid } => (DaemonStop::Stopped, pid),
        Stopped::Signalled { pid, how } => (
            match how {
                Termination::AlreadyGone => DaemonStop::NotRunning,
                Termination::Exited => DaemonStop::Signalled,
                Termination::Killed => DaemonStop::Killed,
            },
            Some(pid),
        ),
    };
    let docker = super::connect_docker().await?;
    let volumes = if args.volumes {
        RemoveVolumes::Remove
    } else {
        RemoveVolumes::Keep
    };
    let removed = teardown(&docker, project.project(), &project.dir, volumes).await?;
    let report = DownReport {
        project: project.project().to_owned(),
        daemon,
        daemon_pid,
        containers_removed: removed.containers,
        networks_removed: removed.networks,
        volumes_removed: removed.volumes,
        data_kept: !args.volumes,
        state_dir: project.dir.path().display().to_string(),
    };
    emit(&report, Format::from_json_flag(args.output.json))?;
    Ok(ExitCode::SUCCESS)
}
