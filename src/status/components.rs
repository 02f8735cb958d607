//! The rows of the status report: a catalog component from its container, its readiness probe,
//! its version and the supervisor's view of it; a listener of the daemon from the daemon's own
//! answer and its probe. Each detail says what is true: why a component is not healthy, or
//! what to do.

use std::net::SocketAddr;

use super::{ComponentStatus, Health};
use crate::catalog::{ComponentDef, ListenerDef, OPS};
use crate::daemon::control::DaemonStatus;
use crate::docker::{ContainerState, ContainerStatus};
use crate::httpc::HttpClient;
use crate::stack::readiness;
use crate::stack::record::StackRecord;
use crate::supervise::SupervisorSnapshot;

/// What was found about one catalog component.
pub(super) struct ComponentFacts {
    def: &'static ComponentDef,
    container: Option<ContainerStatus>,
    /// `up` ran the stack without it.
    disabled: bool,
    /// The name of a container of its name that is not the project's.
    foreign: Option<String>,
    /// Why it has no image, from stack.json.
    missing: Option<String>,
    configured_image: Option<String>,
    /// None when it was not probed (not running, or no published port).
    probe: Option<Result<(), String>>,
    version: Option<String>,
}

impl ComponentFacts {
    /// Probes the component (and asks its version) if its container runs. A container of its
    /// name that is not `project`'s is not the component, and is named as a conflict.
    pub(super) async fn gather(
        client: &HttpClient,
        project: &str,
        def: &'static ComponentDef,
        container: Option<ContainerStatus>,
        record: Option<&StackRecord>,
    ) -> Self {
        let recorded = record.and_then(|record| record.component(def.name));
        // Switched off, a same-named container of someone else's is no concern of the stack's.
        let switched_off = record.is_some() && recorded.is_none();
        let (container, foreign) = match container {
            Some(status) if status.project() != Some(project) => {
                (None, (!switched_off).then_some(status.name))
            }
            other => (other, None),
        };
        let address = container
            .as_ref()
            .filter(|status| status.is_running())
            .and_then(|status| status.host_address(def.container_port));
        let (probe, version) = match address {
            Some(address) => tokio::join!(
                async { Some(readiness::check(client, address, &def.readiness).await) },
                super::probe::version(client, address, def.version),
            ),
            None => (None, None),
        };
        Self {
            def,
            disabled: container.is_none() && switched_off,
            foreign,
            missing: recorded
                .and_then(|recorded| recorded.missing.as_ref())
                .map(|missing| format!("{} — {}", missing.reason, missing.fix)),
            configured_image: recorded.map(|recorded| recorded.configured_image.clone()),
            container,
            probe,
            version,
        }
    }
}

/// The row of a catalog component.
pub(super) fn container_component(
    facts: ComponentFacts,
    snapshot: Option<&SupervisorSnapshot>,
) -> ComponentStatus {
    let def = facts.def;
    let mut row = ComponentStatus {
        name: def.name,
        state: String::new(),
        health: Health::Unknown,
        docker_health: None,
        uptime_seconds: None,
        restarts: None,
        supervisor_restarts: None,
        crash_looping: false,
        url: None,
        image: facts.configured_image,
        version: facts.version,
        pid: None,
        detail: None,
    };
    let Some(status) = facts.container else {
        (row.state, row.detail) = if let Some(name) = facts.foreign {
            (
                "conflict".to_owned(),
                Some(format!(
                    "a container named {name} exists that monibox did not create; monibox \
                     leaves it alone: rename it (`docker rename {name} {name}-own`) or remove it \
                     if it is disposable, then run `monibox up`"
                )),
            )
        } else if facts.disabled {
            (
                "disabled".to_owned(),
                Some(format!("switched off (components.{} = false)", def.name)),
            )
        } else if let Some(missing) = facts.missing {
            ("missing".to_owned(), Some(missing))
        } else {
            (
                "absent".to_owned(),
                Some("no container; `monibox up` creates it".to_owned()),
            )
        };
        if !facts.disabled {
            apply_supervision(&mut row, snapshot);
        }
        return row;
    };
    let state = format!("{:?}", status.state).to_lowercase();
    row.docker_health = status.health;
    row.uptime_seconds = status.uptime().map(|uptime| uptime.as_secs_f64());
    row.restarts = Some(status.restart_count);
    row.url = status
        .host_address(def.container_port)
        .map(|address| format!("http://{address}"));
    row.image = Some(status.image.clone());
    (row.health, row.detail) = match (status.state, facts.probe) {
        (ContainerState::Running, Some(Ok(()))) => (Health::Healthy, None),
        (ContainerState::Running, Some(Err(error))) => (Health::Unhealthy, Some(error)),
        (ContainerState::Running, None) => (
            Health::Unhealthy,
            Some("no published port to probe".to_owned()),
        ),
        (ContainerState::Paused, _) => (
            Health::Unknown,
            Some(format!(
                "paused (`docker unpause {}` resumes it)",
                status.name
            )),
        ),
        (_, _) => (
            Health::Unknown,
            Some(match status.exit_code {
                Some(code) => format!("{state}, exit code {code}"),
                None => state.clone(),
            }),
        ),
    };
    row.state = state;
    apply_supervision(&mut row, snapshot);
    row
}

/// The supervisor's view of a container component: its restart count and, when it keeps failing,
/// a detail saying how, ahead of what the probes found.
fn apply_supervision(row: &mut ComponentStatus, snapshot: Option<&SupervisorSnapshot>) {
    let Some(snapshot) = snapshot else {
        return;
    };
    let Some(supervised) = snapshot.component(row.name) else {
        return;
    };
    row.supervisor_restarts = Some(supervised.restarts_total);
    if row.state == "conflict" {
        // The conflict's own detail says what is wrong and what to do.
        row.crash_looping = supervised.crash_looping;
        return;
    }
    let mut detail = if supervised.crash_looping {
        row.crash_looping = true;
        if supervised.restarts_total == 0 {
            format!(
                "cannot be started: {} attempts failed",
                supervised.failed_attempts_total
            )
        } else {
            format!(
                "crash-looping: restarted {} (last: {})",
                times(supervised.restarts_total),
                supervised.last_reason.as_deref().unwrap_or("exited")
            )
        }
    } else if supervised.last_error.is_some() {
        "the supervisor could not restart it".to_owned()
    } else {
        return;
    };
    if let Some(error) = &supervised.last_error {
        detail.push_str(&format!("; the last attempt failed: {error}"));
    }
    if let Some(seconds) = supervised.next_attempt_in_seconds {
        detail.push_str(&format!("; next attempt in {seconds:.1}s"));
    }
    if let Some(found) = &row.detail {
        detail.push_str(&format!("; {found}"));
    }
    row.detail = Some(detail);
}

/// `1 time`, `5 times`.
fn times(count: u64) -> String {
    if count == 1 {
        "1 time".to_owned()
    } else {
        format!("{count} times")
    }
}

/// Where the daemon's listeners are reached on this machine.
pub(super) struct ListenerAddresses {
    pub(super) ops: Option<SocketAddr>,
    pub(super) demo: Option<SocketAddr>,
}

/// The listeners' loopback addresses: from the running daemon, else from the record.
pub(super) fn listener_addresses(
    daemon: Option<&DaemonStatus>,
    record: Option<&StackRecord>,
) -> ListenerAddresses {
    let loopback = |addrs: &[SocketAddr]| addrs.iter().copied().find(|a| a.ip().is_loopback());
    match daemon {
        Some(status) => ListenerAddresses {
            ops: loopback(&status.ops_listen),
            demo: loopback(&status.app_listen),
        },
        None => ListenerAddresses {
            ops: record.and_then(|record| loopback(&record.daemon.ops_listen)),
            demo: record.and_then(|record| loopback(&record.daemon.app_listen)),
        },
    }
}

/// Runs a listener's readiness probe once, if it has an address.
pub(super) async fn probe_listener(
    client: &HttpClient,
    def: &ListenerDef,
    address: Option<SocketAddr>,
) -> (Option<SocketAddr>, Option<Result<(), String>>) {
    match address {
        Some(address) => (
            Some(address),
            Some(readiness::check(client, address, &def.readiness).await),
        ),
        None => (None, None),
    }
}

/// The row of a daemon listener: `daemon` (the process, through its ops listener) or `demo`.
pub(super) fn listener_component(
    def: &ListenerDef,
    daemon: Option<&DaemonStatus>,
    pid_from_file: Option<u32>,
    (address, probe): (Option<SocketAddr>, Option<Result<(), String>>),
) -> ComponentStatus {
    let is_process = std::ptr::eq(def, &OPS);
    let running = daemon.is_some() || (is_process && pid_from_file.is_some());
    let (health, detail) = match (daemon, probe) {
        (Some(_), Some(Ok(()))) => (Health::Healthy, None),
        (Some(_), Some(Err(error))) => (Health::Unhealthy, Some(error)),
        (Some(_), None) => (Health::Unhealthy, Some("no listener address".to_owned())),
        (None, _) if running => (
            Health::Unhealthy,
            Some("the process runs but its control socket does not answer".to_owned()),
        ),
        (None, _) if is_process => (
            Health::Unknown,
            Some(
                "not running, so nothing restarts failed containers; `monibox up` starts a new \
                 daemon, which adopts the running containers (the old one's log is daemon.log)"
                    .to_owned(),
            ),
        ),
        (None, _) => (Health::Unknown, Some("runs in the daemon".to_owned())),
    };
    ComponentStatus {
        name: def.name,
        state: if running { "running" } else { "stopped" }.to_owned(),
        health,
        docker_health: None,
        uptime_seconds: daemon.map(|status| status.uptime_seconds),
        restarts: None,
        supervisor_restarts: None,
        crash_looping: false,
        url: address
            .filter(|_| running)
            .map(|address| format!("http://{address}")),
        image: None,
        version: daemon.map(|status| status.version.clone()),
        pid: daemon
            .map(|status| status.pid)
            .or(pid_from_file.filter(|_| is_process)),
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
            version: None,
            pid: None,
            detail: Some("http://127.0.0.1:9090/-/ready: connection refused".to_owned()),
        }
    }

    fn snapshot(component: SupervisedComponent) -> SupervisorSnapshot {
        SupervisorSnapshot {
            engine_reachable: true,
            held: false,
            errors_total: 0,
            timing: None,
            components: vec![component],
        }
    }

    fn supervised(restarts: u64, failed: u64, error: Option<&str>) -> SupervisedComponent {
        SupervisedComponent {
            name: "prometheus".to_owned(),
            state: "crash_looping".to_owned(),
            restarts_total: restarts,
            failed_attempts_total: failed,
            last_error: error.map(str::to_owned),
            last_reason: (restarts > 0).then(|| "exited".to_owned()),
            consecutive_failures: 5,
            next_attempt_in_seconds: Some(8.0),
            crash_looping: true,
        }
    }

    #[test]
    fn a_crash_looping_component_says_so_with_its_count_and_next_attempt() {
        let snapshot = snapshot(supervised(5, 0, None));
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
        let mut alertmanager = running("alertmanager");
        apply_supervision(&mut alertmanager, Some(&snapshot));
        assert_eq!(alertmanager.supervisor_restarts, None, "not supervised");
        assert!(!alertmanager.crash_looping);
        let mut unknown = running("grafana");
        apply_supervision(&mut unknown, None);
        assert_eq!(unknown.supervisor_restarts, None, "no daemon, no count");
    }

    #[test]
    fn a_component_that_never_started_says_why_not_how_often_it_restarted() {
        let error = "a container named monibox-p-prometheus already exists that monibox did not \
                     create";
        let snapshot = snapshot(supervised(0, 4, Some(error)));
        let mut row = running("prometheus");
        row.detail = None;
        apply_supervision(&mut row, Some(&snapshot));
        let detail = row.detail.expect("a detail");
        assert!(
            detail.starts_with(
                "cannot be started: 4 attempts failed; the last attempt failed: a container named"
            ),
            "{detail}"
        );
        assert!(!detail.contains("restarted 0 times"), "{detail}");
        assert!(!detail.contains("unknown"), "{detail}");
    }
}
