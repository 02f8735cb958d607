//! Containers as data: a [`ContainerSpec`] says everything about how a container runs (image,
//! command, mounts, ports, limits, hardening, health check) and becomes the Engine's create
//! request. Its hash is stored in the `io.monibox.spec-hash` label, so a later `up` can tell
//! whether an existing container still matches what it would create.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, MountType, NetworkingConfig,
    PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// A directory of the host system itself (`/proc`, `/sys`, `/`), mounted read-only with the
    /// Engine's default propagation (`rprivate`): unlike [`Mount::ReadOnlyBind`], it stays an
    /// absolute host path wherever the spec goes (a Compose export).
    HostReadOnly { source: PathBuf, target: String },
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

/// The name a project's containers reach the host by: an `/etc/hosts` entry for the project
/// network's gateway, as Docker Desktop names it.
pub const HOST_ALIAS: &str = "host.docker.internal";

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

    /// The Engine's create request. An `auto` port (host port 0) whose container port is in
    /// `preferred` asks for that host port instead (the one it had before a recreate, so URLs
    /// stay the same); the spec, and so its hash label, are unchanged.
    pub(super) fn to_create_body(&self, preferred: &BTreeMap<u16, u16>) -> ContainerCreateBody {
        let port_key = |port: u16| format!("{port}/tcp");
        let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for publish in &self.ports {
            let host_port = match publish.host_port {
                0 => preferred.get(&publish.container_port).copied().unwrap_or(0),
                fixed => fixed,
            };
            port_bindings
                .entry(port_key(publish.container_port))
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(publish.host_ip.to_string()),
                    host_port: Some(host_port.to_string()),
                });
        }
        // Without exposed ports the Engine silently publishes nothing.
        let mut exposed: Vec<String> = port_bindings.keys().cloned().collect();
        exposed.sort();

        let mounts =
            self.mounts
                .iter()
                .map(|mount| match mount {
                    Mount::ReadOnlyBind { source, target }
                    | Mount::HostReadOnly { source, target } => bollard::models::Mount {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

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
        let body = spec().to_create_body(&BTreeMap::new());
        assert_eq!(body.exposed_ports, Some(vec!["9090/tcp".to_owned()]));
        let bindings = body.host_config.and_then(|host| host.port_bindings);
        let binding = &bindings
            .as_ref()
            .and_then(|b| b["9090/tcp"].clone())
            .unwrap_or_default()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(binding.host_port.as_deref(), Some("0"));
        let again = spec().to_create_body(&BTreeMap::from([(9090, 41000)]));
        let bindings = again.host_config.and_then(|host| host.port_bindings);
        let binding = &bindings
            .as_ref()
            .and_then(|b| b["9090/tcp"].clone())
            .unwrap_or_default()[0];
        assert_eq!(
            binding.host_port.as_deref(),
            Some("41000"),
            "the port it had"
        );
        assert_eq!(
            again.labels.as_ref().map(|l| l[labels::SPEC_HASH].clone()),
            Some(spec().spec_hash()),
            "the same spec"
        );
    }
}
