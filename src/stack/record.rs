//! `stack.json`: what `up` resolved for a project — the network, the daemon's listeners and demo
//! settings, each component's image, container spec, published port and config digest, and the
//! URLs.
//! `up` writes it and reads the previous one to reconcile; the daemon starts from it and its
//! supervisor recreates containers from it; `status`, `load` and `logs` read it. Every read and
//! write goes through [`super::store::StackStore`]. Docker stays the truth about containers: the
//! record says what was intended and where to look. It lists the components `up` ran; the
//! catalog's others were switched off.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::images::MissingImage;
use super::state::{StateError, write_atomic};
use crate::config::{Demo, Timing};
use crate::docker::ContainerSpec;

/// Bumped when the layout changes incompatibly; an unknown format is treated as no record.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackRecord {
    pub format: u32,
    pub project: String,
    pub timing: Timing,
    pub network: NetworkRecord,
    pub daemon: DaemonRecord,
    pub components: Vec<ComponentRecord>,
    /// User targets on this machine's loopback that the daemon relays from the gateway.
    #[serde(default)]
    pub relays: Vec<Relay>,
    /// Whether, and which, labelled containers the daemon's Docker discovery serves.
    #[serde(default)]
    pub discovery: crate::config::Discovery,
    /// Whose containers the daemon reports container metrics for.
    #[serde(default)]
    pub containers: crate::config::Containers,
}

/// A user target on this machine's loopback, relayed from the project network's gateway at
/// the same port (see `daemon::relay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay {
    pub port: u16,
    /// The loopback address the target listens on (`127.0.0.1` or `::1`).
    pub host: std::net::IpAddr,
}

impl Relay {
    /// A target on 127.0.0.1.
    pub fn loopback(port: u16) -> Self {
        Self {
            port,
            host: std::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    /// Where the relay forwards to.
    pub fn to_address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The relays the configuration needs: one per loopback port of a target or a remote-write
    /// receiver.
    pub fn for_config(config: &crate::config::Config) -> Vec<Relay> {
        let relay = |host: &str, port: u16| Relay {
            port,
            host: match host.parse::<std::net::IpAddr>() {
                Ok(ip) => ip,
                // `localhost`
                Err(_) => std::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
            },
        };
        let mut relays: Vec<Relay> = config
            .targets
            .iter()
            .filter(|target| target.address.is_loopback())
            .map(|target| relay(&target.address.host, target.address.port))
            .chain(
                config
                    .remote_write
                    .iter()
                    .filter(|remote| remote.url.is_loopback())
                    .filter_map(|remote| remote.url.host_port())
                    .map(|(host, port)| relay(host, port)),
            )
            .collect();
        relays.sort_by_key(|relay| relay.port);
        relays.dedup_by_key(|relay| relay.port);
        relays
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub gateway: Ipv4Addr,
}

/// How the daemon runs: everything it needs to start, so it reads no configuration itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonRecord {
    /// The demo service's listeners: 127.0.0.1 and the network gateway, one port.
    pub app_listen: Vec<SocketAddr>,
    /// The ops listener's (self-metrics, webhook, runbooks): the same two addresses.
    pub ops_listen: Vec<SocketAddr>,
    pub demo: Demo,
    /// A digest of the fields above: a running daemon started with another digest is restarted.
    pub settings_digest: String,
}

impl DaemonRecord {
    pub fn app_port(&self) -> Option<u16> {
        self.app_listen.first().map(SocketAddr::port)
    }

    pub fn ops_port(&self) -> Option<u16> {
        self.ops_listen.first().map(SocketAddr::port)
    }

    /// The demo service as reached from this machine.
    pub fn app_url(&self) -> Option<String> {
        self.app_port()
            .map(|port| format!("http://127.0.0.1:{port}"))
    }

    /// The ops listener as reached from this machine.
    pub fn ops_url(&self) -> Option<String> {
        self.ops_port()
            .map(|port| format!("http://127.0.0.1:{port}"))
    }
}

/// One containerised component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentRecord {
    /// The component's catalog name (`prometheus`, ...).
    pub name: String,
    pub container: String,
    /// The image as configured.
    pub configured_image: String,
    /// The image that runs; None when none could be had (see `missing`).
    pub image: Option<String>,
    /// Why there is no image and what to do about it.
    pub missing: Option<MissingImage>,
    pub spec_hash: Option<String>,
    /// Digest of the component's part of the bundle as last applied.
    pub config_digest: String,
    /// The port inside the container and where it is published on 127.0.0.1 (None until read
    /// back from the Engine).
    pub container_port: u16,
    pub host_port: Option<u16>,
    /// How the container is created: the daemon's supervisor recreates it from this when it
    /// exits or disappears. None when there is no image (and in records from before it was
    /// kept, which read as "not supervised" until the next `up`).
    #[serde(default)]
    pub spec: Option<ContainerSpec>,
}

impl ComponentRecord {
    pub fn url(&self) -> Option<String> {
        self.host_port
            .map(|port| format!("http://127.0.0.1:{port}"))
    }
}

impl StackRecord {
    pub fn component(&self, name: &str) -> Option<&ComponentRecord> {
        self.components
            .iter()
            .find(|component| component.name == name)
    }

    /// Prometheus's URL on this machine, once it is published.
    pub fn prometheus_url(&self) -> Option<String> {
        self.component("prometheus").and_then(ComponentRecord::url)
    }

    /// Reads the record; `Ok(None)` when there is none or it is from an incompatible version.
    pub(super) fn read(path: &Path) -> Result<Option<StackRecord>, RecordError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(RecordError::Read {
                    path: path.to_owned(),
                    error,
                });
            }
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|error| RecordError::Parse {
                path: path.to_owned(),
                message: error.to_string(),
            })?;
        if value.get("format").and_then(serde_json::Value::as_u64) != Some(u64::from(FORMAT)) {
            return Ok(None);
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|error| RecordError::Parse {
                path: path.to_owned(),
                message: error.to_string(),
            })
    }

    /// Writes the record atomically (readers see the old or the new one).
    pub(super) fn write(&self, path: &Path) -> Result<(), RecordError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|error| RecordError::Parse {
            path: path.to_owned(),
            message: error.to_string(),
        })?;
        text.push('\n');
        write_atomic(path, text.as_bytes(), 0o600).map_err(RecordError::Write)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{} is damaged ({message}); `monibox down` and `monibox up` rewrite it",
        path.display()
    )]
    Parse {
        path: std::path::PathBuf,
        message: String,
    },
    #[error(transparent)]
    Write(StateError),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record of project `p` with Prometheus and its spec, for tests.
    pub(crate) fn record() -> StackRecord {
        StackRecord {
            format: FORMAT,
            project: "p".to_owned(),
            timing: Timing::Fast,
            network: NetworkRecord {
                id: "abc".to_owned(),
                name: "monibox-p".to_owned(),
                gateway: Ipv4Addr::new(172, 18, 0, 1),
            },
            daemon: DaemonRecord {
                app_listen: vec!["127.0.0.1:5000".parse().expect("addr")],
                ops_listen: vec!["127.0.0.1:5001".parse().expect("addr")],
                demo: Demo::default(),
                settings_digest: "d".to_owned(),
            },
            components: vec![ComponentRecord {
                name: "prometheus".to_owned(),
                container: "monibox-p-prometheus".to_owned(),
                configured_image: "prom/prometheus:v3.5.0".to_owned(),
                image: Some("monibox-local/prometheus:2.42.0".to_owned()),
                missing: None,
                spec_hash: Some("h".to_owned()),
                config_digest: "c".to_owned(),
                container_port: 9090,
                host_port: Some(9090),
                spec: Some(ContainerSpec::new(
                    "p",
                    "prometheus",
                    "monibox-p-prometheus",
                    "monibox-local/prometheus:2.42.0",
                )),
            }],
            relays: Vec::new(),
            discovery: crate::config::Discovery::default(),
            containers: crate::config::Containers::default(),
        }
    }

    #[test]
    fn round_trips_and_ignores_other_formats() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("stack.json");
        assert_eq!(StackRecord::read(&path).expect("absent is fine"), None);
        record().write(&path).expect("write");
        assert_eq!(
            StackRecord::read(&path).expect("read"),
            Some(record()),
            "round trip"
        );
        assert_eq!(
            record().prometheus_url().as_deref(),
            Some("http://127.0.0.1:9090")
        );
        // A record written before components carried their spec still reads, unsupervised.
        let mut value = serde_json::to_value(record()).expect("to JSON");
        value["components"][0]
            .as_object_mut()
            .expect("a component")
            .remove("spec");
        std::fs::write(&path, value.to_string()).expect("write");
        let older = StackRecord::read(&path).expect("read").expect("a record");
        assert_eq!(older.components[0].spec, None);
        std::fs::write(&path, r#"{"format": 99}"#).expect("write");
        assert_eq!(StackRecord::read(&path).expect("other format"), None);
        std::fs::write(&path, "{").expect("write");
        assert!(matches!(
            StackRecord::read(&path),
            Err(RecordError::Parse { .. })
        ));
    }
}
