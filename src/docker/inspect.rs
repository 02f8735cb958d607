//! A container as the Engine reports it: state, health, exit code, OOM kill, restarts, its main
//! process's pid, start and finish times, labels and published ports ([`ContainerStatus`]).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum, PortBinding,
};
use serde::Serialize;

use super::labels;

/// What the Engine says a container is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Unknown,
}

impl ContainerState {
    /// Every state, in the Engine's order of a container's life.
    pub const ALL: [ContainerState; 8] = [
        Self::Created,
        Self::Running,
        Self::Paused,
        Self::Restarting,
        Self::Removing,
        Self::Exited,
        Self::Dead,
        Self::Unknown,
    ];

    /// The Engine's name for it (`running`, `exited`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Unknown => "unknown",
        }
    }
}

/// Docker's health check verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthState {
    /// Docker's name for it (`starting`, `healthy`, `unhealthy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// A container port as published on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    pub container_port: u16,
    pub host: SocketAddr,
}

/// A container as inspected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: ContainerState,
    /// None when the container has no health check.
    pub health: Option<HealthState>,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub restart_count: u64,
    /// The main process's pid on the host while it runs (None when stopped).
    pub pid: Option<u32>,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    pub labels: BTreeMap<String, String>,
    pub published_ports: Vec<PublishedPort>,
}

impl ContainerStatus {
    pub fn is_running(&self) -> bool {
        self.state == ContainerState::Running
    }

    /// The project it belongs to (its `io.monibox.project` label); None for a container monibox
    /// did not create.
    pub fn project(&self) -> Option<&str> {
        self.labels.get(labels::PROJECT).map(String::as_str)
    }

    /// The spec hash the container was created with.
    pub fn spec_hash(&self) -> Option<&str> {
        self.labels.get(labels::SPEC_HASH).map(String::as_str)
    }

    /// Where the container's TCP port is reachable from the host. A port published on the
    /// unspecified address is reached through loopback.
    pub fn host_address(&self, container_port: u16) -> Option<SocketAddr> {
        self.published_ports
            .iter()
            .find(|port| port.container_port == container_port)
            .map(|port| {
                let mut address = port.host;
                if address.ip().is_unspecified() {
                    address.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
                }
                address
            })
    }

    /// How long the container has been running, if it is.
    pub fn uptime(&self) -> Option<Duration> {
        if !self.is_running() {
            return None;
        }
        SystemTime::now().duration_since(self.started_at?).ok()
    }

    pub(super) fn from_inspect(inspect: ContainerInspectResponse) -> Self {
        let state = inspect.state.unwrap_or_default();
        let config = inspect.config.unwrap_or_default();
        let published_ports = inspect
            .network_settings
            .and_then(|settings| settings.ports)
            .map(|ports| parse_published_ports(&ports))
            .unwrap_or_default();
        Self {
            id: inspect.id.unwrap_or_default(),
            name: inspect
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            image: config.image.unwrap_or_default(),
            state: match state.status {
                Some(ContainerStateStatusEnum::CREATED) => ContainerState::Created,
                Some(ContainerStateStatusEnum::RUNNING) => ContainerState::Running,
                Some(ContainerStateStatusEnum::PAUSED) => ContainerState::Paused,
                Some(ContainerStateStatusEnum::RESTARTING) => ContainerState::Restarting,
                Some(ContainerStateStatusEnum::REMOVING) => ContainerState::Removing,
                Some(ContainerStateStatusEnum::EXITED) => ContainerState::Exited,
                Some(ContainerStateStatusEnum::DEAD) => ContainerState::Dead,
                _ => ContainerState::Unknown,
            },
            health: state
                .health
                .and_then(|health| health.status)
                .and_then(|status| match status {
                    HealthStatusEnum::STARTING => Some(HealthState::Starting),
                    HealthStatusEnum::HEALTHY => Some(HealthState::Healthy),
                    HealthStatusEnum::UNHEALTHY => Some(HealthState::Unhealthy),
                    _ => None,
                }),
            exit_code: state.exit_code,
            oom_killed: state.oom_killed.unwrap_or(false),
            restart_count: inspect
                .restart_count
                .and_then(|count| u64::try_from(count).ok())
                .unwrap_or(0),
            pid: state
                .pid
                .and_then(|pid| u32::try_from(pid).ok())
                .filter(|pid| *pid > 0),
            started_at: state.started_at.as_deref().and_then(parse_engine_time),
            finished_at: state.finished_at.as_deref().and_then(parse_engine_time),
            labels: config.labels.unwrap_or_default().into_iter().collect(),
            published_ports,
        }
    }
}

fn parse_published_ports(ports: &HashMap<String, Option<Vec<PortBinding>>>) -> Vec<PublishedPort> {
    let mut published: Vec<PublishedPort> = ports
        .iter()
        .filter_map(|(key, bindings)| {
            let container_port = key.strip_suffix("/tcp")?.parse().ok()?;
            Some(bindings.iter().flatten().filter_map(move |binding| {
                let ip: IpAddr = binding.host_ip.as_deref()?.parse().ok()?;
                let port: u16 = binding.host_port.as_deref()?.parse().ok()?;
                Some(PublishedPort {
                    container_port,
                    host: SocketAddr::new(ip, port),
                })
            }))
        })
        .flatten()
        .collect();
    published.sort_by_key(|port| (port.container_port, port.host));
    published
}

/// Parses an Engine timestamp: RFC 3339, usually in UTC (`Z`), sometimes with a `+HH:MM` offset.
/// The zero time ("0001-01-01T00:00:00Z", "never") and anything unparsable give None.
pub(crate) fn parse_engine_time(text: &str) -> Option<SystemTime> {
    if let Ok(time) = humantime::parse_rfc3339(text) {
        return Some(time);
    }
    let split = text.len().checked_sub(6)?;
    let (local, offset) = (text.get(..split)?, text.get(split..)?);
    let sign = offset.get(..1)?;
    let hours: u64 = offset.get(1..3)?.parse().ok()?;
    let minutes: u64 = offset.get(4..6)?.parse().ok()?;
    let local = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
    let shift = Duration::from_secs(hours * 3600 + minutes * 60);
    match sign {
        "+" => local.checked_sub(shift),
        "-" => local.checked_add(shift),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_times_parse_with_and_without_offsets() {
        let utc = parse_engine_time("2026-11-26T20:05:54.439337493Z");
        let offset = parse_engine_time("2026-11-26T22:05:54.439337493+02:00");
        assert!(utc.is_some());
        assert_eq!(utc, offset);
        assert_eq!(parse_engine_time("0001-01-01T00:00:00Z"), None);
    }
}
