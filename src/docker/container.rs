//! Containers as data: a [`ContainerSpec`] says everything about how a component runs (image,
//! command, mounts, ports, limits, hardening, health check); [`Docker`] turns it into an Engine
//! container and reads the result back as a [`ContainerStatus`].
//!
//! The spec's hash is stored in the `io.monibox.spec-hash` label, so a later `up` can tell
//! whether an existing container still matches what it would create.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EndpointSettings,
    HealthConfig, HealthStatusEnum, HostConfig, MountType, NetworkingConfig, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Docker;
use super::error::{DockerError, engine_message, status_code};
use super::labels;

/// How a component's container is to be created. Build one with [`ContainerSpec::new`], which
/// starts from the hardened defaults (read-only root filesystem, all capabilities dropped, an init
/// process, no restart policy), then adjust the fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    pub project: String,
    pub component: String,
    pub image: String,
    /// Replaces the image's entrypoint when set.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's command when set.
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    /// Labels beyond the project, component and spec-hash labels, which are always added.
    pub labels: BTreeMap<String, String>,
    pub mounts: Vec<Mount>,
    pub ports: Vec<PortPublish>,
    pub memory_limit_bytes: Option<u64>,
    /// `uid[:gid]`; the image's user when unset.
    pub user: Option<String>,
    pub read_only_rootfs: bool,
    pub cap_drop_all: bool,
    /// Runs Docker's init as PID 1 so the process gets SIGTERM forwarded and stops promptly
    /// (busybox httpd as PID 1 ignores SIGTERM).
    pub init: bool,
    pub extra_hosts: Vec<ExtraHost>,
    pub network: Option<NetworkAttachment>,
    pub health_check: Option<HealthCheck>,
}

/// A filesystem mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mount {
    /// A host directory or file, mounted read-only (rendered configs).
    ReadOnlyBind { source: PathBuf, target: String },
    /// A named volume, read-write (data).
    Volume { name: String, target: String },
    /// A private in-memory filesystem, for scratch files under a read-only root filesystem.
    Tmpfs { target: String, size_bytes: u64 },
}

/// A container TCP port published on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortPublish {
    pub container_port: u16,
    pub host_ip: IpAddr,
    /// 0 lets Docker pick a free port; read it back from [`ContainerStatus::published_ports`].
    pub host_port: u16,
}

/// An `/etc/hosts` entry in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraHost {
    pub hostname: String,
    pub address: IpAddr,
}

/// Which network the container joins, and the names it answers to there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    pub network_id: String,
    pub aliases: Vec<String>,
}

/// A Docker health check in exec form (no shell needed in the image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// The program and its arguments.
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

impl ContainerSpec {
    /// A spec with the hardened defaults and nothing else.
    pub fn new(project: &str, component: &str, name: &str, image: &str) -> Self {
        Self {
            name: name.to_owned(),
            project: project.to_owned(),
            component: component.to_owned(),
            image: image.to_owned(),
            entrypoint: None,
            cmd: None,
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            mounts: Vec::new(),
            ports: Vec::new(),
            memory_limit_bytes: None,
            user: None,
            read_only_rootfs: true,
            cap_drop_all: true,
            init: true,
            extra_hosts: Vec::new(),
            network: None,
            health_check: None,
        }
    }

    /// A stable hash of everything in the spec (hex, 32 characters).
    pub fn spec_hash(&self) -> String {
        // Serializing plain structs, ordered maps and strings cannot fail.
        let encoded = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&encoded);
        digest[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// Every label the container gets: the extra ones, project, component and spec hash.
    pub fn all_labels(&self) -> BTreeMap<String, String> {
        let mut all = self.labels.clone();
        all.extend(labels::resource_labels(&self.project, &self.component));
        all.insert(labels::SPEC_HASH.to_owned(), self.spec_hash());
        all
    }

    fn to_create_body(&self) -> ContainerCreateBody {
        let port_key = |port: u16| format!("{port}/tcp");
        let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for publish in &self.ports {
            port_bindings
                .entry(port_key(publish.container_port))
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(publish.host_ip.to_string()),
                    host_port: Some(publish.host_port.to_string()),
                });
        }
        // Without exposed ports the Engine silently publishes nothing.
        let mut exposed: Vec<String> = port_bindings.keys().cloned().collect();
        exposed.sort();

        let mounts = self
            .mounts
            .iter()
            .map(|mount| match mount {
                Mount::ReadOnlyBind { source, target } => bollard::models::Mount {
                    typ: Some(MountType::BIND),
                    source: Some(source.display().to_string()),
                    target: Some(target.clone()),
                    read_only: Some(true),
                    ..Default::default()
                },
                Mount::Volume { name, target } => bollard::models::Mount {
                    typ: Some(MountType::VOLUME),
                    source: Some(name.clone()),
                    target: Some(target.clone()),
                    read_only: Some(false),
                    ..Default::default()
                },
                Mount::Tmpfs { target, size_bytes } => bollard::models::Mount {
                    typ: Some(MountType::TMPFS),
                    target: Some(target.clone()),
                    tmpfs_options: Some(bollard::models::MountTmpfsOptions {
                        size_bytes: Some(i64::try_from(*size_bytes).unwrap_or(i64::MAX)),
                        // Like /tmp: everyone may write, only owners delete.
                        mode: Some(0o1777),
                        options: None,
                    }),
                    ..Default::default()
                },
            })
            .collect();

        let memory = self
            .memory_limit_bytes
            .map(|bytes| i64::try_from(bytes).unwrap_or(i64::MAX));
        let host_config = HostConfig {
            mounts: Some(mounts),
            port_bindings: Some(port_bindings),
            memory,
            // Same as memory: no swap on top, so the limit is the limit.
            memory_swap: memory,
            readonly_rootfs: Some(self.read_only_rootfs),
            cap_drop: self.cap_drop_all.then(|| vec!["ALL".to_owned()]),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            init: Some(self.init),
            extra_hosts: Some(
                self.extra_hosts
                    .iter()
                    .map(|host| format!("{}:{}", host.hostname, host.address))
                    .collect(),
            ),
            network_mode: self.network.as_ref().map(|n| n.network_id.clone()),
            // monibox's supervisor restarts components; Docker's policy would not even cover a
            // `docker kill`.
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            ..Default::default()
        };
        let networking_config = self.network.as_ref().map(|network| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.network_id.clone(),
                EndpointSettings {
                    aliases: Some(network.aliases.clone()),
                    ..Default::default()
                },
            )])),
        });
        let nanos = |duration: Duration| i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
        let healthcheck = self.health_check.as_ref().map(|check| HealthConfig {
            test: Some(
                std::iter::once("CMD".to_owned())
                    .chain(check.command.iter().cloned())
                    .collect(),
            ),
            interval: Some(nanos(check.interval)),
            timeout: Some(nanos(check.timeout)),
            retries: Some(i64::from(check.retries)),
            start_period: Some(nanos(check.start_period)),
            start_interval: None,
        });
        ContainerCreateBody {
            image: Some(self.image.clone()),
            entrypoint: self.entrypoint.clone(),
            cmd: self.cmd.clone(),
            env: Some(
                self.env
                    .iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect(),
            ),
            labels: Some(self.all_labels().into_iter().collect()),
            user: self.user.clone(),
            exposed_ports: Some(exposed),
            healthcheck,
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        }
    }
}

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

/// Docker's health check verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    Starting,
    Healthy,
    Unhealthy,
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
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    pub labels: BTreeMap<String, String>,
    pub published_ports: Vec<PublishedPort>,
}

impl ContainerStatus {
    pub fn is_running(&self) -> bool {
        self.state == ContainerState::Running
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

    fn from_inspect(inspect: ContainerInspectResponse) -> Self {
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
pub(super) fn parse_engine_time(text: &str) -> Option<SystemTime> {
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

/// The host addresses named in a "port is already allocated" / "address already in use" error.
fn taken_ports(message: &str) -> Option<String> {
    let between = |start: &str, end: &str| {
        let rest = &message[message.find(start)? + start.len()..];
        Some(rest[..rest.find(end)?].to_owned())
    };
    between("Bind for ", " failed").or_else(|| between("listen tcp4 ", ": bind"))
}

impl Docker {
    /// Creates the container (not started) and returns its id.
    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        match self
            .engine
            .create_container(Some(options), spec.to_create_body())
            .await
        {
            Ok(created) => {
                for warning in created.warnings {
                    tracing::debug!(container = %spec.name, %warning, "Docker warning on create");
                }
                Ok(created.id)
            }
            Err(error) => Err(match status_code(&error) {
                Some(409) => DockerError::NameConflict {
                    kind: "container",
                    name: spec.name.clone(),
                    remove_with: format!("docker rm -f {}", spec.name),
                },
                Some(404) if engine_message(&error).contains("image") => {
                    DockerError::ImageMissing {
                        image: spec.image.clone(),
                        fix: super::images::GENERIC_IMAGE_FIX.to_owned(),
                    }
                }
                _ => self.fail("create container", &spec.name, error),
            }),
        }
    }

    /// Starts a created container. A port conflict becomes [`DockerError::PortTaken`].
    pub async fn start_container(&self, name: &str) -> Result<(), DockerError> {
        self.engine
            .start_container(name, None)
            .await
            .map_err(|error| {
                let message = engine_message(&error);
                if message.contains("port is already allocated")
                    || message.contains("address already in use")
                {
                    DockerError::PortTaken {
                        container: name.to_owned(),
                        ports: taken_ports(&message).unwrap_or(message),
                    }
                } else if status_code(&error) == Some(404) {
                    DockerError::NoSuchContainer {
                        container: name.to_owned(),
                    }
                } else {
                    self.fail("start container", name, error)
                }
            })
    }

    /// Creates and starts the container, then inspects it (to read back ephemeral ports). When
    /// the start fails, the created container is removed again so nothing is left behind.
    pub async fn run_container(
        &self,
        spec: &ContainerSpec,
    ) -> Result<ContainerStatus, DockerError> {
        self.create_container(spec).await?;
        tracing::trace!(container = %spec.name, "created");
        if let Err(error) = self.start_container(&spec.name).await {
            if let Err(cleanup) = self.remove_container(&spec.name).await {
                tracing::warn!(container = %spec.name, %cleanup, "could not remove the container after a failed start");
            }
            return Err(error);
        }
        self.inspect_container(&spec.name)
            .await?
            .ok_or_else(|| DockerError::NoSuchContainer {
                container: spec.name.clone(),
            })
    }

    /// The container's current status, or None if there is no such container.
    pub async fn inspect_container(
        &self,
        name: &str,
    ) -> Result<Option<ContainerStatus>, DockerError> {
        match self.engine.inspect_container(name, None).await {
            Ok(inspect) => Ok(Some(ContainerStatus::from_inspect(inspect))),
            Err(error) if status_code(&error) == Some(404) => Ok(None),
            Err(error) => Err(self.fail("inspect container", name, error)),
        }
    }

    /// Stops the container with SIGTERM, then SIGKILL after `grace`. Already stopped or absent
    /// containers are fine.
    pub async fn stop_container(&self, name: &str, grace: Duration) -> Result<(), DockerError> {
        let options = StopContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
            signal: None,
        };
        match self.engine.stop_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(error) if matches!(status_code(&error), Some(304 | 404)) => Ok(()),
            Err(error) => Err(self.fail("stop container", name, error)),
        }
    }

    /// Removes the container (killing it if it runs) but never its volumes. Absent is fine.
    pub async fn remove_container(&self, name: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptions {
            force: true,
            v: false,
            link: false,
        };
        match self.engine.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(error) if status_code(&error) == Some(404) => Ok(()),
            // 409: removal already in progress, which is what we want.
            Err(error) if status_code(&error) == Some(409) => Ok(()),
            Err(error) => Err(self.fail("remove container", name, error)),
        }
    }

    /// The last `lines` lines of the container's output (stdout and stderr), for error reports.
    pub async fn logs_tail(&self, name: &str, lines: usize) -> Result<String, DockerError> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let mut stream = self.engine.logs(name, Some(options));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| self.fail("read logs of", name, error))?;
            text.push_str(&chunk.to_string());
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        let mut spec = ContainerSpec::new("demo", "prometheus", "monibox-demo-prometheus", "x:1");
        spec.ports.push(PortPublish {
            container_port: 9090,
            host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            host_port: 0,
        });
        spec
    }

    #[test]
    fn spec_hash_is_stable_and_follows_every_change() {
        assert_eq!(spec().spec_hash(), spec().spec_hash());
        let mut changed = spec();
        changed.env.insert("A".to_owned(), "1".to_owned());
        assert_ne!(changed.spec_hash(), spec().spec_hash());
        let mut relabelled = spec();
        relabelled
            .labels
            .insert("io.monibox.config-hash".to_owned(), "abc".to_owned());
        assert_ne!(relabelled.spec_hash(), spec().spec_hash());
    }

    #[test]
    fn labels_carry_project_component_and_hash() {
        let labels = spec().all_labels();
        assert_eq!(labels[labels::PROJECT], "demo");
        assert_eq!(labels[labels::COMPONENT], "prometheus");
        assert_eq!(labels[labels::SPEC_HASH], spec().spec_hash());
    }

    #[test]
    fn published_ports_are_also_exposed() {
        let body = spec().to_create_body();
        assert_eq!(body.exposed_ports, Some(vec!["9090/tcp".to_owned()]));
        let bindings = body.host_config.and_then(|host| host.port_bindings);
        let binding = &bindings
            .as_ref()
            .and_then(|b| b["9090/tcp"].clone())
            .unwrap_or_default()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(binding.host_port.as_deref(), Some("0"));
    }

    #[test]
    fn engine_times_parse_with_and_without_offsets() {
        let utc = parse_engine_time("2026-11-26T20:05:54.439337493Z");
        let offset = parse_engine_time("2026-11-26T22:05:54.439337493+02:00");
        assert!(utc.is_some());
        assert_eq!(utc, offset);
        assert_eq!(parse_engine_time("0001-01-01T00:00:00Z"), None);
    }

    #[test]
    fn taken_ports_are_named() {
        let message = "driver failed programming external connectivity on endpoint x (abc): \
                       Bind for 127.0.0.1:9090 failed: port is already allocated";
        assert_eq!(taken_ports(message).as_deref(), Some("127.0.0.1:9090"));
        let userland = "Error starting userland proxy: listen tcp4 127.0.0.1:5000: bind: \
                        address already in use";
        assert_eq!(taken_ports(userland).as_deref(), Some("127.0.0.1:5000"));
    }
}
