//! The stack as a whole: where its state lives ([`state`]), who may change it ([`lock`]: one
//! mutating command at a time) and the one owner of `stack.json` ([`store`], [`record`]), which
//! host ports it uses ([`ports`]), which image each component runs ([`images`]), what it runs
//! ([`plan`]: configuration + catalog + resolved ports + network → container specs and the
//! daemon's settings), probing readiness ([`readiness`]), bringing Docker in line with the plan
//! ([`reconcile`]), deciding whether a configuration change can be reloaded in place
//! ([`reload`]), the copies of user targets' credentials ([`secrets`]) and taking it down again
//! ([`teardown`]).
//!
//! The commands in `app` sequence these steps; nothing here prints.

pub mod images;
pub mod lock;
pub mod plan;
pub mod ports;
pub mod readiness;
pub mod reconcile;
pub mod record;
pub mod reload;
pub mod secrets;
pub mod state;
pub mod store;

use std::time::Duration;

use crate::docker::{Docker, DockerError, RemovalReport, RemoveVolumes};
use state::{ProjectDir, StateError};

/// How long containers may take to stop on SIGTERM in `down`; every component stops on SIGTERM
/// within a fraction of that, so it only bounds a hung one.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TeardownError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// Removes the project's containers and network by label (and its volumes with
/// [`RemoveVolumes::Remove`]), then the state files that describe a running stack; with the
/// volumes goes the whole project state directory, Grafana's password included, since it only
/// matters for the data in Grafana's volume. Safe to repeat.
pub async fn teardown(
    docker: &Docker,
    project: &str,
    project_dir: &ProjectDir,
    volumes: RemoveVolumes,
) -> Result<RemovalReport, TeardownError> {
    let report = docker.remove_project(project, STOP_GRACE, volumes).await?;
    match volumes {
        RemoveVolumes::Keep => project_dir.remove_runtime_files()?,
        RemoveVolumes::Remove => project_dir.remove_all()?,
    }
    Ok(report)
}
