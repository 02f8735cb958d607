//! `monibox status`: what runs and whether it works, measured, not assumed. Docker says which
//! containers exist and since when; the catalog's readiness probes, run by the same runner `up`
//! uses, say whether each component and each of the daemon's listeners answers; Prometheus says
//! which targets it scrapes and which alerts are active; the daemon says what its supervisor and
//! its webhook know. [`collect`] gathers all of it concurrently into a [`StatusReport`];
//! [`report`] renders it for people (the JSON form is the report serialised).

mod components;
pub mod probe;
pub mod report;

use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;

use crate::catalog::{self, ComponentDef, prometheus};
use crate::daemon::alerts::AlertsView;
use crate::daemon::client::DaemonClient;
use crate::docker::{Docker, DockerError, HealthState};
use crate::httpc::HttpClient;
use crate::promapi::{ActiveAlert, PrometheusApi, TargetStatus};
use crate::stack::record::StackRecord;
use crate::stack::state::ProjectDir;
use components::{ComponentFacts, container_component, listener_component};

/// Limit of each probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The stack's overall state, which is also the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// Every component that should run runs and answers, every scrape target is up (exit 0).
    Healthy,
    /// Something is missing, down or unhealthy (exit 1).
    Degraded,
    /// Nothing of the project exists (exit 2).
    NotRunning,
}

/// Whether a component answered its probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Unhealthy,
    /// Not probed: it does not run (or is switched off).
    Unknown,
}

/// One component: a container of the catalog, or a listener of the daemon (`daemon` for the
/// process and its ops listener, `demo` for the demo service).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentStatus {
    pub name: &'static str,
    /// Docker's state (`running`, `exited`, …); `running`/`stopped` for the daemon; `absent`
    /// when there is no such container; `missing` when no image could be had; `disabled` when
    /// the configuration switched it off; `conflict` when a container of its name exists that
    /// monibox did not create.
    pub state: String,
    pub health: Health,
    /// Docker's own health check verdict, for containers that have one.
    pub docker_health: Option<HealthState>,
    pub uptime_seconds: Option<f64>,
    /// Restarts counted by Docker.
    pub restarts: Option<u64>,
    /// Restarts done by monibox's supervisor (containers only); None when the daemon is down.
    pub supervisor_restarts: Option<u64>,
    /// The supervisor restarted it repeatedly without it staying up (see `detail`).
    pub crash_looping: bool,
    pub url: Option<String>,
    pub image: Option<String>,
    /// The version it reports running.
    pub version: Option<String>,
    pub pid: Option<u32>,
    /// Why it is not healthy, or what to do (for a missing image, the fix).
    pub detail: Option<String>,
}

impl ComponentStatus {
    /// Whether it counts for the verdict: a component switched off does not.
    pub fn is_expected(&self) -> bool {
        self.state != "disabled"
    }
}

/// Everything `status` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    pub project: String,
    pub state: Overall,
    pub state_dir: String,
    pub components: Vec<ComponentStatus>,
    /// Prometheus's scrape targets; None when Prometheus could not be asked.
    pub targets: Option<Vec<TargetStatus>>,
    /// Alerts Prometheus has pending or firing; None when it could not be asked.
    pub alerts: Option<Vec<ActiveAlert>>,
    /// What the daemon's webhook received from Alertmanager; None when the daemon is down.
    pub alerts_received: Option<AlertsView>,
    /// The daemon's supervisor; None when the daemon is down.
    pub supervisor: Option<SupervisorSummary>,
    /// The `monibox up` command (with the flags that name this project) that starts it.
    #[serde(skip)]
    pub up_hint: String,
}

/// The supervisor as a whole (its components are in [`StatusReport::components`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SupervisorSummary {
    pub engine_reachable: bool,
    /// The timing profile whose check interval and backoff it applies.
    pub timing: Option<crate::config::Timing>,
    /// Restarts are held while `up` or `reload` changes the stack.
    pub held: bool,
    /// Docker operations of the supervisor that failed.
    pub errors_total: u64,
}

impl StatusReport {
    pub fn component(&self, name: &str) -> Option<&ComponentStatus> {
        self.components
            .iter()
            .find(|component| component.name == name)
    }
}

/// Gathers the status of `project`: its containers from Docker, the daemon over its control
/// socket, and every probe, concurrently.
pub async fn collect(
    docker: &Docker,
    project: &str,
    project_dir: &ProjectDir,
    record: Option<&StackRecord>,
    up_hint: String,
) -> Result<StatusReport, DockerError> {
    let client = HttpClient::new(PROBE_TIMEOUT);
    let daemon_client = DaemonClient::new(project_dir, project);
    let names: Vec<String> = catalog::CATALOG
        .iter()
        .map(|def| def.container_name(project))
        .collect();
    let (resources, containers, daemon) = tokio::join!(
        docker.project_resources(project),
        futures_util::future::try_join_all(names.iter().map(|name| docker.inspect_container(name))),
        daemon_client.status(),
    );
    let (resources, containers) = (resources?, containers?);
    let daemon = daemon.ok();
    let pid_file_pid = daemon_client.running_pid();

    let facts: Vec<ComponentFacts> = join_all(
        catalog::CATALOG
            .iter()
            .zip(containers)
            .map(|(def, container)| {
                ComponentFacts::gather(&client, project, def, container, record)
            }),
    )
    .await;
    let snapshot = daemon.as_ref().map(|status| &status.supervisor);
    let mut components: Vec<ComponentStatus> = facts
        .into_iter()
        .map(|facts| container_component(facts, snapshot))
        .collect();

    let prometheus_url = running_url(&components, &prometheus::DEF);
    let api = prometheus_url.map(|url| PrometheusApi::new(&url, PROBE_TIMEOUT));
    let listeners = components::listener_addresses(daemon.as_ref(), record);
    let (targets, alerts, ops, demo, received) = tokio::join!(
        async {
            match &api {
                Some(api) => api.targets().await.ok(),
                None => None,
            }
        },
        async {
            match &api {
                Some(api) => api.alerts().await.ok(),
                None => None,
            }
        },
        components::probe_listener(&client, &catalog::OPS, listeners.ops),
        components::probe_listener(&client, &catalog::DEMO, listeners.demo),
        async {
            match (daemon.is_some(), listeners.ops) {
                (true, Some(ops)) => probe::received_alerts(&client, &format!("http://{ops}"))
                    .await
                    .ok(),
                _ => None,
            }
        },
    );
    components.push(listener_component(
        &catalog::OPS,
        daemon.as_ref(),
        pid_file_pid,
        ops,
    ));
    components.push(listener_component(
        &catalog::DEMO,
        daemon.as_ref(),
        None,
        demo,
    ));

    let nothing_exists = resources.containers.is_empty()
        && resources.networks.is_empty()
        && daemon.is_none()
        && pid_file_pid.is_none();
    let prometheus_expected = components
        .iter()
        .any(|c| c.name == prometheus::DEF.name && c.is_expected());
    let state = if nothing_exists {
        Overall::NotRunning
    } else if components
        .iter()
        .filter(|c| c.is_expected())
        .all(|c| c.health == Health::Healthy && !c.crash_looping)
        && match &targets {
            Some(targets) => targets.iter().all(|t| t.health != "down"),
            None => !prometheus_expected,
        }
    {
        Overall::Healthy
    } else {
        Overall::Degraded
    };
    Ok(StatusReport {
        project: project.to_owned(),
        state,
        state_dir: project_dir.path().display().to_string(),
        components,
        targets,
        alerts,
        alerts_received: received,
        up_hint,
        supervisor: snapshot.map(|snapshot| SupervisorSummary {
            engine_reachable: snapshot.engine_reachable,
            timing: snapshot.timing,
            held: snapshot.held,
            errors_total: snapshot.errors_total,
        }),
    })
}

/// The URL of `def`'s component if it runs.
fn running_url(components: &[ComponentStatus], def: &ComponentDef) -> Option<String> {
    components
        .iter()
        .find(|component| component.name == def.name && component.state == "running")
        .and_then(|component| component.url.clone())
}
