//! `monibox status`: what runs and whether it works, measured, not assumed. Docker says which
//! containers exist and since when; monibox's own probes say whether each component answers;
//! Prometheus says which targets it scrapes and which alerts are active; the daemon says what
//! its webhook received. [`collect`] gathers all of it concurrently into a [`StatusReport`];
//! [`report`] renders it for people (the JSON form is the report serialized).

pub mod probe;
pub mod report;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::daemon::alerts::AlertsView;
use crate::daemon::control::{self, ControlRequest, ControlResponse, DaemonStatus};
use crate::daemon::process;
use crate::docker::images::Component;
use crate::docker::{ContainerState, ContainerStatus, Docker, DockerError, HealthState};
use crate::httpc::HttpClient;
use crate::stack::plan::container_name;
use crate::stack::record::StackRecord;
use crate::stack::state::ProjectDir;
use crate::supervise::SupervisorSnapshot;
use probe::{ActiveAlert, GrafanaHealth, TargetStatus};

/// Limit of each probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Limit of the control-socket status request.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(1);

/// The stack's overall state, which is also the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// Every component runs and answers, every scrape target is up (exit 0).
    Healthy,
    /// Something is missing, down or unhealthy (exit 1).
    Degraded,
    /// Nothing of the project exists (exit 2).
    NotRunning,
}

/// Whether a component answered monibox's probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Unhealthy,
    /// Not probed: it does not run.
    Unknown,
}

/// One component: a container (`prometheus`, `alertmanager`, `grafana`) or a part of the daemon
/// (`daemon` for the process and its ops listener, `demo` for the demo service).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentStatus {
    pub name: &'static str,
    /// Docker's state (`running`, `exited`, ...), `running`/`stopped` for the daemon, `absent`
    /// when there is no such container, `missing` when no image could be had.
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
    pub pid: Option<u32>,
    /// Why it is not healthy, or what to do (for a missing image, the fix).
    pub detail: Option<String>,
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
    /// Grafana's `/api/health`; None when it did not answer.
    pub grafana: Option<GrafanaHealth>,
    /// The daemon's supervisor; None when the daemon is down.
    pub supervisor: Option<SupervisorSummary>,
}

/// The supervisor as a whole (its components are in [`StatusReport::components`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SupervisorSummary {
    pub engine_reachable: bool,
    /// Restarts are held while `up` changes the containers.
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
) -> Result<StatusReport, DockerError> {
    let client = HttpClient::new(PROBE_TIMEOUT);
    let resources = docker.project_resources(project);
    let names: Vec<String> = Component::ALL
        .iter()
        .map(|&component| container_name(project, component))
        .collect();
    let containers =
        futures_util::future::try_join_all(names.iter().map(|name| docker.inspect_container(name)));
    let daemon = daemon_status(project_dir);
    let (resources, containers, daemon) = tokio::join!(resources, containers, daemon);
    let (resources, containers) = (resources?, containers?);

    let mut components: Vec<ComponentStatus> = Component::ALL
        .iter()
        .zip(containers)
        .map(|(&component, container)| container_component(component, container, record))
        .collect();
    let url_of = |name: &str| {
        components
            .iter()
            .find(|component| component.name == name && component.state == "running")
            .and_then(|component| component.url.clone())
    };
    let (prometheus_url, alertmanager_url, grafana_url) = (
        url_of("prometheus"),
        url_of("alertmanager"),
        url_of("grafana"),
    );
    let (ops_url, app_url) = daemon_urls(daemon.as_ref().ok(), record);

    let ready = |url: Option<String>, path: &'static str| {
        let client = client.clone();
        async move {
            match url {
                Some(url) => Some(probe::get_ok(&client, &format!("{url}{path}")).await),
                None => None,
            }
        }
    };
    let optional = |url: Option<String>| url.ok_or_else(|| "not running".to_owned());
    let (
        prometheus_ready,
        alertmanager_ready,
        grafana,
        targets,
        alerts,
        ops_healthy,
        app_healthy,
        received,
    ) = tokio::join!(
        ready(prometheus_url.clone(), "/-/ready"),
        ready(alertmanager_url, "/-/ready"),
        async {
            match &grafana_url {
                Some(url) => Some(probe::grafana_health(&client, url).await),
                None => None,
            }
        },
        async {
            match optional(prometheus_url.clone()) {
                Ok(url) => probe::prometheus_targets(&client, &url).await,
                Err(error) => Err(error),
            }
        },
        async {
            match optional(prometheus_url.clone()) {
                Ok(url) => probe::prometheus_alerts(&client, &url).await,
                Err(error) => Err(error),
            }
        },
        ready(ops_url.clone(), "/-/healthy"),
        ready(app_url.clone(), "/"),
        async {
            match &ops_url {
                Some(url) => Some(probe::received_alerts(&client, url).await),
                None => None,
            }
        },
    );

    apply_probe(&mut components, "prometheus", prometheus_ready);
    apply_probe(&mut components, "alertmanager", alertmanager_ready);
    apply_probe(
        &mut components,
        "grafana",
        grafana.clone().map(|result| result.map(|_| String::new())),
    );
    let snapshot = daemon.as_ref().ok().map(|status| &status.supervisor);
    for component in &mut components {
        apply_supervision(component, snapshot);
    }
    let pid_file_pid = process::read_pid_file(&project_dir.pid_file())
        .filter(|&pid| process::is_alive(pid) && process::is_project_daemon(pid, project));
    components.push(daemon_component(
        daemon.as_ref().ok(),
        pid_file_pid,
        ops_url,
        ops_healthy,
        daemon.as_ref().err(),
    ));
    components.push(demo_component(daemon.as_ref().ok(), app_url, app_healthy));

    let targets = targets.ok();
    let nothing_exists = resources.containers.is_empty()
        && resources.networks.is_empty()
        && daemon.is_err()
        && pid_file_pid.is_none();
    let state = if nothing_exists {
        Overall::NotRunning
    } else if components
        .iter()
        .all(|c| c.health == Health::Healthy && !c.crash_looping)
        && targets
            .as_ref()
            .is_some_and(|targets| targets.iter().all(|t| t.health != "down"))
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
        alerts: alerts.ok(),
        alerts_received: received.and_then(Result::ok),
        grafana: grafana.and_then(Result::ok),
        supervisor: snapshot.map(|snapshot| SupervisorSummary {
            engine_reachable: snapshot.engine_reachable,
            held: snapshot.held,
            errors_total: snapshot.errors_total,
        }),
    })
}

/// The supervisor's view of a container component: its restart count and, when it is
/// crash-looping, a detail saying so ahead of what the probes found.
fn apply_supervision(component: &mut ComponentStatus, snapshot: Option<&SupervisorSnapshot>) {
    let Some(snapshot) = snapshot else {
        return;
    };
    let supervised = snapshot.component(component.name);
    component.supervisor_restarts = Some(supervised.map_or(0, |s| s.restarts_total));
    let Some(supervised) = supervised.filter(|s| s.crash_looping) else {
        return;
    };
    component.crash_looping = true;
    let mut detail = format!(
        "crash-looping: restarted {} times (last: {})",
        supervised.restarts_total,
        supervised.last_reason.as_deref().unwrap_or("unknown")
    );
    if let Some(seconds) = supervised.next_attempt_in_seconds {
        detail.push_str(&format!("; next attempt in {seconds:.1}s"));
    }
    if let Some(found) = &component.detail {
        detail.push_str(&format!("; {found}"));
    }
    component.detail = Some(detail);
}

async fn daemon_status(project_dir: &ProjectDir) -> Result<DaemonStatus, String> {
    match control::request(
        &project_dir.control_socket(),
        ControlRequest::Status,
        CONTROL_TIMEOUT,
    )
    .await
    {
        Ok(ControlResponse::Status(status)) => Ok(status),
        Ok(other) => Err(format!("unexpected answer {other:?}")),
        Err(error) => Err(error.to_string()),
    }
}

/// The ops and demo URLs on 127.0.0.1: from the running daemon, else from the record.
fn daemon_urls(
    daemon: Option<&DaemonStatus>,
    record: Option<&StackRecord>,
) -> (Option<String>, Option<String>) {
    let loopback = |addrs: &[SocketAddr]| {
        addrs
            .iter()
            .find(|addr| addr.ip().is_loopback())
            .map(|addr| format!("http://{addr}"))
    };
    match daemon {
        Some(status) => (loopback(&status.ops_listen), loopback(&status.app_listen)),
        None => (
            record.and_then(|record| record.daemon.ops_url()),
            record.and_then(|record| record.daemon.app_url()),
        ),
    }
}

fn container_component(
    component: Component,
    container: Option<ContainerStatus>,
    record: Option<&StackRecord>,
) -> ComponentStatus {
    let recorded = record.and_then(|record| record.component(component.as_str()));
    let port = match component {
        Component::Prometheus => 9090,
        Component::Alertmanager => 9093,
        Component::Grafana => 3000,
    };
    match container {
        Some(status) => {
            let state = format!("{:?}", status.state).to_lowercase();
            let running = status.state == ContainerState::Running;
            ComponentStatus {
                name: component.as_str(),
                health: if running {
                    Health::Healthy
                } else {
                    Health::Unknown
                },
                docker_health: status.health,
                uptime_seconds: status.uptime().map(|uptime| uptime.as_secs_f64()),
                restarts: Some(status.restart_count),
                supervisor_restarts: None,
                crash_looping: false,
                url: status
                    .host_address(port)
                    .map(|address| format!("http://{address}")),
                image: Some(status.image.clone()),
                pid: None,
                detail: (!running).then(|| match status.exit_code {
                    Some(code) => format!("{state}, exit code {code}"),
                    None => state.clone(),
                }),
                state,
            }
        }
        None => {
            let missing = recorded.and_then(|recorded| recorded.missing.as_ref());
            ComponentStatus {
                name: component.as_str(),
                state: if missing.is_some() {
                    "missing"
                } else {
                    "absent"
                }
                .to_owned(),
                health: Health::Unknown,
                docker_health: None,
                uptime_seconds: None,
                restarts: None,
                supervisor_restarts: None,
                crash_looping: false,
                url: None,
                image: recorded.map(|recorded| recorded.configured_image.clone()),
                pid: None,
                detail: Some(match missing {
                    Some(missing) => format!("{} — {}", missing.reason, missing.fix),
                    None => "no container; `monibox up` creates it".to_owned(),
                }),
            }
        }
    }
}

/// Marks a running component unhealthy when its probe failed.
fn apply_probe(
    components: &mut [ComponentStatus],
    name: &str,
    probe: Option<Result<String, String>>,
) {
    let Some(component) = components.iter_mut().find(|c| c.name == name) else {
        return;
    };
    match probe {
        Some(Ok(_)) => component.health = Health::Healthy,
        Some(Err(error)) => {
            component.health = Health::Unhealthy;
            component.detail = Some(error);
        }
        None if component.state == "running" => {
            component.health = Health::Unhealthy;
            component.detail = Some("no published port to probe".to_owned());
        }
        None => component.health = Health::Unknown,
    }
}

fn daemon_component(
    status: Option<&DaemonStatus>,
    pid_from_file: Option<u32>,
    ops_url: Option<String>,
    ops_healthy: Option<Result<String, String>>,
    control_error: Option<&String>,
) -> ComponentStatus {
    let running = status.is_some() || pid_from_file.is_some();
    let (health, detail) = match (status, ops_healthy) {
        (Some(_), Some(Ok(_))) => (Health::Healthy, None),
        (Some(_), Some(Err(error))) => (Health::Unhealthy, Some(error)),
        (Some(_), None) => (
            Health::Unhealthy,
            Some("no ops listener address".to_owned()),
        ),
        (None, _) if running => (
            Health::Unhealthy,
            Some(format!(
                "the process runs but its control socket does not answer: {}",
                control_error.map_or("", String::as_str)
            )),
        ),
        (None, _) => (
            Health::Unknown,
            Some(
                "not running, so nothing restarts failed containers; `monibox up` starts a new \
                 daemon, which adopts the running containers (the old one's log is daemon.log)"
                    .to_owned(),
            ),
        ),
    };
    ComponentStatus {
        name: "daemon",
        state: if running { "running" } else { "stopped" }.to_owned(),
        health,
        docker_health: None,
        uptime_seconds: status.map(|status| status.uptime_seconds),
        restarts: None,
        supervisor_restarts: None,
        crash_looping: false,
        url: ops_url.filter(|_| running),
        image: None,
        pid: status.map(|status| status.pid).or(pid_from_file),
        detail,
    }
}

fn demo_component(
    status: Option<&DaemonStatus>,
    app_url: Option<String>,
    app_healthy: Option<Result<String, String>>,
) -> ComponentStatus {
    let (health, detail) = match (status, app_healthy) {
        (Some(_), Some(Ok(_))) => (Health::Healthy, None),
        (Some(_), Some(Err(error))) => (Health::Unhealthy, Some(error)),
        (Some(_), None) => (Health::Unhealthy, Some("no listener address".to_owned())),
        (None, _) => (Health::Unknown, Some("runs in the daemon".to_owned())),
    };
    ComponentStatus {
        name: "demo",
        state: if status.is_some() {
            "running"
        } else {
            "stopped"
        }
        .to_owned(),
        health,
        docker_health: None,
        uptime_seconds: status.map(|status| status.uptime_seconds),
        restarts: None,
        supervisor_restarts: None,
        crash_looping: false,
        url: app_url.filter(|_| status.is_some()),
        image: None,
        pid: status.map(|status| status.pid),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervise::SupervisedComponent;

    fn running(name: &'static str) -> ComponentStatus {
        ComponentStatus {
            name,
            state: "running".to_owned(),
            health: Health::Unhealthy,
            docker_health: None,
            uptime_seconds: Some(1.0),
            restarts: Some(0),
            supervisor_restarts: None,
            crash_looping: false,
            url: None,
            image: None,
            pid: None,
            detail: Some("http://127.0.0.1:9090/-/ready: connection refused".to_owned()),
        }
    }

    #[test]
    fn a_crash_looping_component_says_so_with_its_count_and_next_attempt() {
        let snapshot = SupervisorSnapshot {
            engine_reachable: true,
            held: false,
            errors_total: 0,
            components: vec![SupervisedComponent {
                name: "prometheus".to_owned(),
                state: "crash_looping".to_owned(),
                restarts_total: 5,
                last_reason: Some("exited".to_owned()),
                consecutive_failures: 5,
                next_attempt_in_seconds: Some(8.0),
                crash_looping: true,
            }],
        };
        let mut prometheus = running("prometheus");
        apply_supervision(&mut prometheus, Some(&snapshot));
        assert!(prometheus.crash_looping);
        assert_eq!(prometheus.supervisor_restarts, Some(5));
        assert_eq!(
            prometheus.detail.as_deref(),
            Some(
                "crash-looping: restarted 5 times (last: exited); next attempt in 8.0s; \
                 http://127.0.0.1:9090/-/ready: connection refused"
            )
        );
        let line = report::render(&StatusReport {
            project: "p".to_owned(),
            state: Overall::Degraded,
            state_dir: "/s/p".to_owned(),
            components: vec![prometheus],
            targets: None,
            alerts: None,
            alerts_received: None,
            grafana: None,
            supervisor: None,
        });
        assert!(line.contains("crash-looping"), "{line}");

        let mut alertmanager = running("alertmanager");
        apply_supervision(&mut alertmanager, Some(&snapshot));
        assert_eq!(
            alertmanager.supervisor_restarts,
            Some(0),
            "supervised, never restarted"
        );
        assert!(!alertmanager.crash_looping);
        let mut unknown = running("grafana");
        apply_supervision(&mut unknown, None);
        assert_eq!(unknown.supervisor_restarts, None, "no daemon, no count");
    }
}
