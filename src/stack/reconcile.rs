//! Bringing the containers in line with the plan, all components at once: a container that runs
//! with the planned spec hash is kept; one with another hash (or stopped) is replaced; a missing
//! one is created; each is then probed until it is ready. A component switched off loses its
//! container. Kept components whose configuration files changed are reloaded through their
//! lifecycle endpoints.
//!
//! Only the project's own containers (carrying its label) are ever stopped or removed: a
//! same-named container of someone else's is a [`DockerError::NameConflict`], left untouched.
//! [`recreate`] is also how the supervisor brings a component back.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::plan::ComponentPlan;
use super::readiness::{self, Endpoint, ReadinessError, Ready};
use crate::catalog::ComponentDef;
use crate::docker::{ContainerSpec, ContainerStatus, Docker, DockerError};
use crate::httpc::HttpClient;

/// How long a replaced container may take to stop on SIGTERM before it is killed.
const REPLACE_GRACE: Duration = Duration::from_secs(5);
/// Limit of one reload request.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a removal someone else started may take before the name is free again.
const NAME_FREE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a container being removed is looked at.
const NAME_FREE_POLL: Duration = Duration::from_millis(25);

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
    pub def: &'static ComponentDef,
    pub reconciled: Result<Reconciled, DockerError>,
    /// How waiting for readiness went; None when reconciling failed.
    pub ready: Option<Result<Ready, ReadinessError>>,
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
            let reconciled = reconcile_one(docker, spec, &plan.preferred_ports).await;
            let ready = match &reconciled {
                Ok(_) => {
                    let endpoint = Endpoint::Container {
                        docker,
                        name: &plan.container,
                        container_port: plan.def.container_port,
                    };
                    Some(readiness::wait(endpoint, &plan.def.readiness, deadline, cancel).await)
                }
                Err(_) => None,
            };
            ComponentRun {
                def: plan.def,
                reconciled,
                ready,
            }
        })
    });
    join_all(work).await
}

async fn reconcile_one(
    docker: &Docker,
    spec: &ContainerSpec,
    preferred: &BTreeMap<u16, u16>,
) -> Result<Reconciled, DockerError> {
    let wanted = spec.spec_hash();
    let existing = docker.owned_container(&spec.name, &spec.project).await?;
    let action = match &existing {
        Some(existing)
            if existing.spec_hash() == Some(wanted.as_str()) && existing.is_running() =>
        {
            return Ok(Reconciled {
                action: Action::Kept,
                status: existing.clone(),
            });
        }
        Some(existing) if existing.spec_hash() == Some(wanted.as_str()) => Action::Restarted,
        Some(_) => Action::Replaced,
        None => Action::Created,
    };
    let started = std::time::Instant::now();
    let status = recreate(docker, spec, REPLACE_GRACE, preferred).await?;
    tracing::debug!(container = %spec.name, elapsed = ?started.elapsed(), ?action, "container up");
    Ok(Reconciled { action, status })
}

/// Removes the project's container of `spec`'s name if there is one (stopping it with `grace`
/// first; zero kills it), waits until a removal someone else started is done so the name is
/// free, and creates and starts it afresh from `spec` — its `auto` ports on the host ports they
/// had (`preferred`: container port → host port) while those are free, so URLs stay the same.
/// A same-named container that is not the project's is refused, untouched.
pub async fn recreate(
    docker: &Docker,
    spec: &ContainerSpec,
    grace: Duration,
    preferred: &BTreeMap<u16, u16>,
) -> Result<ContainerStatus, DockerError> {
    let name = spec.name.as_str();
    docker
        .remove_owned_container(name, &spec.project, grace)
        .await?;
    let deadline = std::time::Instant::now() + NAME_FREE_TIMEOUT;
    while docker.owned_container(name, &spec.project).await?.is_some() {
        if std::time::Instant::now() >= deadline {
            return Err(DockerError::StillRemoving {
                container: name.to_owned(),
                timeout: NAME_FREE_TIMEOUT,
            });
        }
        tokio::time::sleep(NAME_FREE_POLL).await;
    }
    match docker.run_container_on(spec, preferred).await {
        Err(DockerError::PortTaken { .. }) if !preferred.is_empty() => {
            tracing::debug!(
                container = name,
                "its earlier port is taken; Docker picks one"
            );
            docker.run_container(spec).await
        }
        other => other,
    }
}

/// Removes the containers of components switched off; returns the names of those it removed.
/// Someone else's container of such a name is left alone.
pub async fn remove_disabled(
    docker: &Docker,
    project: &str,
    disabled: &[&'static ComponentDef],
) -> Result<Vec<&'static str>, DockerError> {
    let mut removed = Vec::new();
    for def in disabled {
        let name = def.container_name(project);
        match docker.owned_container(&name, project).await {
            Ok(Some(_)) => {
                docker
                    .remove_owned_container(&name, project, REPLACE_GRACE)
                    .await?;
                removed.push(def.name);
            }
            Ok(None) | Err(DockerError::NameConflict { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(removed)
}

/// Why a reload did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The component answered, refusing the files (it keeps running the previous ones).
    #[error("{0}")]
    Rejected(String),
    /// No answer in time: it may still be applying them (a Prometheus flushing samples to an
    /// unreachable remote-write receiver takes minutes).
    #[error("{0}")]
    NoAnswer(String),
}

/// Asks a running component to reload its configuration files (`POST <base_url><path>`).
pub async fn reload(base_url: &str, path: &str) -> Result<(), ReloadError> {
    let url = format!("{base_url}{path}");
    let response = match HttpClient::new(RELOAD_TIMEOUT)
        .post(&url, "text/plain", Vec::new())
        .await
    {
        Ok(response) => response,
        Err(error @ crate::httpc::HttpError::Timeout { .. }) => {
            return Err(ReloadError::NoAnswer(error.to_string()));
        }
        Err(error) => return Err(ReloadError::Rejected(error.to_string())),
    };
    if response.status.is_success() {
        Ok(())
    } else {
        Err(ReloadError::Rejected(format!(
            "{url} answered HTTP {}: {}",
            response.status,
            response.text().trim()
        )))
    }
}
