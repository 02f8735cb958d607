//! `monibox down [--volumes]`: stops the project's daemon (asked on the control socket, else
//! signalled by pid after checking it is this project's monibox), then removes the containers
//! and the network by label — also when the daemon is already gone — and with `--volumes` the
//! data volumes and the project's state directory. Idempotent; prints what it removed.

use std::process::ExitCode;

use super::state_root;
use crate::cli::DownArgs;
use crate::daemon::process::{self, Stopped, Termination};
use crate::docker::RemoveVolumes;
use crate::stack::{STOP_GRACE, teardown};

pub async fn run(args: DownArgs) -> anyhow::Result<ExitCode> {
    let config = super::config::load(&args.config)?.config;
    let project = config.project.as_str();
    let project_dir = state_root(&args.state)?.project(project);

    let stopped = process::stop(
        &project_dir.control_socket(),
        &project_dir.pid_file(),
        project,
        STOP_GRACE,
    )
    .await;
    let daemon = match stopped {
        Stopped::NotRunning => "daemon: not running".to_owned(),
        Stopped::ShutDown { pid: Some(pid) } => format!("daemon: stopped (pid {pid})"),
        Stopped::ShutDown { pid: None } => "daemon: stopped".to_owned(),
        Stopped::Signalled { pid, how } => match how {
            Termination::AlreadyGone => format!("daemon: pid {pid} had already exited"),
            Termination::Exited => format!("daemon: stopped by SIGTERM (pid {pid})"),
            Termination::Killed => format!("daemon: killed after ignoring SIGTERM (pid {pid})"),
        },
    };
    outln!("{daemon}")?;

    let docker = super::connect_docker().await?;
    let volumes = if args.volumes {
        RemoveVolumes::Remove
    } else {
        RemoveVolumes::Keep
    };
    let removed = teardown(&docker, project, &project_dir, volumes).await?;
    outln!(
        "removed {} container(s), {} network(s), {} volume(s)",
        removed.containers,
        removed.networks,
        removed.volumes
    )?;
    if args.volumes {
        outln!(
            "removed the state directory {}",
            project_dir.path().display()
        )?;
    } else {
        outln!(
            "data volumes are kept (monibox-{project}-*-data) with the Grafana password; \
             `monibox down --volumes` removes them"
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
