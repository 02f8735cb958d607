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
    /// The data volumes kept (without `--volumes`).
    volumes_kept: Vec<String>,
    state_dir: String,
    /// `--volumes` removed the project's state directory (Grafana's password included).
    state_dir_removed: bool,
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
        let removed = self.containers_removed + self.networks_removed + self.volumes_removed;
        if removed == 0
            && self.daemon == DaemonStop::NotRunning
            && self.volumes_kept.is_empty()
            && !self.state_dir_removed
        {
            return format!(
                "nothing of project {} exists; nothing to do\n",
                self.project
            );
        }
        let mut text = format!(
            "{daemon}\nremoved {} container(s), {} network(s), {} volume(s)\n",
            self.containers_removed, self.networks_removed, self.volumes_removed
        );
        if !self.volumes_kept.is_empty() {
            text.push_str(&format!(
                "kept the data volumes {} and the Grafana password; `monibox down --volumes` \
                 removes them\n",
                self.volumes_kept.join(", ")
            ));
        }
        if self.state_dir_removed {
            text.push_str(&format!("removed the state directory {}\n", self.state_dir));
        }
        text
    }
}

pub async fn run(args: DownArgs) -> anyhow::Result<ExitCode> {
    let project = ProjectContext::load(&args.config, &args.state)?;
    let _lock = project.lock("down", &args.lock).await?;
    // Docker first: stopping the daemon of a stack whose containers cannot then be removed
    // would leave them running unsupervised.
    let docker = super::connect_docker().await?;
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
    let volumes = if args.volumes {
        RemoveVolumes::Remove
    } else {
        RemoveVolumes::Keep
    };
    let volumes_kept = match volumes {
        RemoveVolumes::Keep => docker
            .project_resources(project.project())
            .await?
            .volumes
            .into_iter()
            .map(|volume| volume.name)
            .collect(),
        RemoveVolumes::Remove => Vec::new(),
    };
    let state_dir_existed = project.dir.exists();
    let removed = teardown(&docker, project.project(), &project.dir, volumes).await?;
    let report = DownReport {
        project: project.project().to_owned(),
        daemon,
        daemon_pid,
        containers_removed: removed.containers,
        networks_removed: removed.networks,
        volumes_removed: removed.volumes,
        volumes_kept,
        state_dir: project.dir.path().display().to_string(),
        state_dir_removed: args.volumes && state_dir_existed,
    };
    emit(&report, Format::from_json_flag(args.output.json))?;
    Ok(ExitCode::SUCCESS)
}
