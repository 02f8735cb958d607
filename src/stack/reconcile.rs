//! Bringing the containers in line with the plan, all components at once: a container that runs
//! with the planned spec hash is kept; one with another hash (or stopped) is replaced; a missing
//! one is created; each is then probed until it is ready. Kept components whose configuration
//! files changed are reloaded through their lifecycle endpoints.

use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::plan::ComponentPlan;
use crate::docker::images::Component;
use crate::docker::{ContainerStatus, Docker, DockerError, ReadyReport};
use crate::httpc::HttpClient;

/// How long a replaced container may take to stop on SIGTERM before it is killed.
const REPLACE_GRACE: Duration = Duration::from_secs(5);
/// Limit of one reload request.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What reconciling did to one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Kept,
    /// Replaced because its spec changed.
    Replaced,
    /// Replaced because it was not running.
    Restarted,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Kept => "kept",
            Action::Replaced => "replaced (configuration changed)",
            Action::Restarted => "recreated (was stopped)",
        }
    }
}

/// A component's container after reconciling.
#[derive(Debug, Clone)]
pub struct Reconciled {
    pub action: Action,
    pub status: ContainerStatus,
}

/// One component after [`bring_up`].
#[derive(Debug)]
pub struct ComponentRun {
    pub component: Component,
    pub reconciled: Result<Reconciled, DockerError>,
    /// How waiting for readiness went; None when reconciling failed.
    pub ready: Option<Result<ReadyReport, DockerError>>,
}

/// Reconciles every component that has a spec and waits for each to answer its readiness
/// probe, all concurrently: a component is probed as soon as its own container runs, not when
/// the slowest one does. Components without an image are left alone (and absent from the
/// result).
pub async fn bring_up(
    docker: &Docker,
    plans: &[ComponentPlan],
    deadline: Instant,
    cancel: &CancellationToken,
) -> Vec<ComponentRun> {
    let work = plans.iter().filter_map(|plan| {
        let spec = plan.spec.as_ref()?;
        Some(async move {
            let reconciled = reconcile_one(docker, spec).await;
            let ready = match &reconciled {
                Ok(_) => Some(
                    docker
                        .wait_ready(&plan.container, &plan.readiness, deadline, cancel)
                        .await,
                ),
                Err(_) => None,
            };
            ComponentRun {
                component: plan.component,
                reconciled,
                ready,
            }
        })
    });
    join_all(work).await
}

async fn reconcile_one(
    docker: &Docker,
    spec: &crate::docker::ContainerSpec,
) -> Result<Reconciled, DockerError> {
    let wanted = spec.spec_hash();
    let action = match docker.inspect_container(&spec.name).await? {
        Some(existing)
            if existing.spec_hash() == Some(wanted.as_str()) && existing.is_running() =>
        {
            return Ok(Reconciled {
                action: Action::Kept,
                status: existing,
            });
        }
        Some(existing) => {
            let action = if existing.spec_hash() == Some(wanted.as_str()) {
                Action::Restarted
            } else {
                Action::Replaced
            };
            if existing.is_running() {
                docker.stop_container(&spec.name, REPLACE_GRACE).await?;
            }
            docker.remove_container(&spec.name).await?;
            action
        }
        None => Action::Created,
    };
    let started = std::time::Instant::now();
    let status = docker.run_container(spec).await?;
    tracing::debug!(container = %spec.name, elapsed = ?started.elapsed(), "container created and started");
    Ok(Reconciled { action, status })
}

/// Asks a running component to reload its configuration files (`POST <base_url><path>`).
pub async fn reload(base_url: &str, path: &str) -> Result<(), String> {
    let url = format!("{base_url}{path}");
    let response = HttpClient::new(RELOAD_TIMEOUT)
        .post(&url, "text/plain", Vec::new())
        .await
        .map_err(|error| error.to_string())?;
    if response.status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "{url} answered HTTP {}: {}",
            response.status,
            response.text().trim()
        ))
    }
}
