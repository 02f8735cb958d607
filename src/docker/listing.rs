//! The running containers of the whole Engine, not only the project's, as one list call returns
//! them ([`RunningContainer`]): what Docker service discovery (and anything else that looks at
//! every container on the machine) needs, without one inspect per container; and every
//! container, running or not, as ids and states ([`ListedContainer`]), which container metrics
//! follow.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use bollard::models::{
    ContainerSummary, ContainerSummaryStateEnum, NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::ListContainersOptions;

use super::error::{DockerError, status_code};
use super::{ContainerState, Docker, labels};

/// One of the networks a container is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkEndpoint {
    /// The network's name, e.g. `shop_default` for a compose project `shop`.
    pub name: String,
    pub network_id: String,
    /// The container's IPv4 address there; None while it has none (network mode `none`).
    pub ip: Option<Ipv4Addr>,
}

/// A running container as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningContainer {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// `bridge`, `host`, `none`, `container:<id>` or a network name.
    pub network_mode: String,
    pub networks: Vec<NetworkEndpoint>,
    /// The container's exposed TCP ports (published or not), ascending.
    pub tcp_ports: Vec<u16>,
}

impl RunningContainer {
    fn from_summary(summary: ContainerSummary) -> Option<Self> {
        let id = summary.id?;
        let name = summary
            .names
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|name| name.trim_start_matches('/').to_owned())
            .unwrap_or_else(|| id.chars().take(12).collect());
        let mut networks: Vec<NetworkEndpoint> = summary
            .network_settings
            .and_then(|settings| settings.networks)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, endpoint)| NetworkEndpoint {
                name,
                network_id: endpoint.network_id.unwrap_or_default(),
                ip: endpoint
                    .ip_address
                    .as_deref()
                    .and_then(|ip| ip.parse().ok()),
            })
            .collect();
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        let mut tcp_ports: Vec<u16> = summary
            .ports
            .unwrap_or_default()
            .into_iter()
            .filter(|port| port.typ.is_none_or(|typ| typ.as_ref() == "tcp"))
            .map(|port| port.private_port)
            .collect();
        tcp_ports.sort_unstable();
        tcp_ports.dedup();
        Some(Self {
            id,
            name,
            image: summary.image.unwrap_or_default(),
            labels: summary.labels.unwrap_or_default().into_iter().collect(),
            network_mode: summary
                .host_config
                .and_then(|config| config.network_mode)
                .unwrap_or_default(),
            networks,
            tcp_ports,
        })
    }

    /// Whether monibox created it (for any project).
    pub fn is_monibox(&self) -> bool {
        self.labels.contains_key(labels::PROJECT)
    }

    /// The value of one of its labels.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// Any container, running or not, as listed: its id and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedContainer {
    pub id: String,
    pub state: ContainerState,
}

fn listed_state(state: Option<ContainerSummaryStateEnum>) -> ContainerState {
    match state {
        Some(ContainerSummaryStateEnum::CREATED) => ContainerState::Created,
        Some(ContainerSummaryStateEnum::RUNNING) => ContainerState::Running,
        Some(ContainerSummaryStateEnum::PAUSED) => ContainerState::Paused,
        Some(ContainerSummaryStateEnum::RESTARTING) => ContainerState::Restarting,
        Some(ContainerSummaryStateEnum::REMOVING) => ContainerState::Removing,
        Some(ContainerSummaryStateEnum::EXITED) => ContainerState::Exited,
        Some(ContainerSummaryStateEnum::DEAD) => ContainerState::Dead,
        _ => ContainerState::Unknown,
    }
}

impl Docker {
    /// Every container on the Engine, running or not, that has `label` (`key` or `key=value`;
    /// all of them when None): ids and states only, in one list call.
    pub async fn all_containers(
        &self,
        label: Option<&str>,
    ) -> Result<Vec<ListedContainer>, DockerError> {
        let options = ListContainersOptions {
            all: true,
            filters: label
                .map(|label| HashMap::from([("label".to_owned(), vec![label.to_owned()])])),
            ..Default::default()
        };
        let listed = self
            .engine
            .list_containers(Some(options))
            .await
            .map_err(|error| self.fail("list containers", label.unwrap_or("all"), error))?;
        Ok(listed
            .into_iter()
            .filter_map(|summary| {
                Some(ListedContainer {
                    id: summary.id?,
                    state: listed_state(summary.state),
                })
            })
            .collect())
    }

    /// The Engine's running containers that have every one of `labels` (each `key` or
    /// `key=value`, the Engine's label filter); all of them when `labels` is empty.
    pub async fn running_containers(
        &self,
        labels: &[String],
    ) -> Result<Vec<RunningContainer>, DockerError> {
        let filters =
            (!labels.is_empty()).then(|| HashMap::from([("label".to_owned(), labels.to_vec())]));
        let options = ListContainersOptions {
            filters,
            ..Default::default()
        };
        let listed = self
            .engine
            .list_containers(Some(options))
            .await
            .map_err(|error| self.fail("list containers", labels.join(","), error))?;
        Ok(listed
            .into_iter()
            .filter_map(RunningContainer::from_summary)
            .collect())
    }

    /// Attaches a container to a network; already attached is success.
    pub async fn connect_network(&self, network: &str, container: &str) -> Result<(), DockerError> {
        let request = NetworkConnectRequest {
            container: container.to_owned(),
            endpoint_config: None,
        };
        match self.engine.connect_network(network, request).await {
            Ok(()) => Ok(()),
            // 403: "endpoint with name … already exists in network …".
            Err(error) if status_code(&error) == Some(403) => Ok(()),
            Err(error) => Err(self.fail("connect to network", network, error)),
        }
    }

    /// Detaches a container from a network; not attached (or either gone) is success.
    pub async fn disconnect_network(
        &self,
        network: &str,
        container: &str,
    ) -> Result<(), DockerError> {
        let request = NetworkDisconnectRequest {
            container: container.to_owned(),
            force: Some(true),
        };
        match self.engine.disconnect_network(network, request).await {
            Ok(()) => Ok(()),
            Err(error) if matches!(status_code(&error), Some(403 | 404)) => Ok(()),
            Err(error) => Err(self.fail("disconnect from network", network, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::{
        ContainerSummaryHostConfig, ContainerSummaryNetworkSettings, EndpointSettings, PortSummary,
        PortSummaryTypeEnum,
    };

    use super::*;

    #[test]
    fn a_summary_becomes_a_running_container() {
        let summary = ContainerSummary {
            id: Some("0123456789abcdef".to_owned()),
            names: Some(vec!["/shop-web-1".to_owned()]),
            image: Some("shop:latest".to_owned()),
            labels: Some(HashMap::from([(
                "prometheus.io/scrape".to_owned(),
                "true".to_owned(),
            )])),
            host_config: Some(ContainerSummaryHostConfig {
                network_mode: Some("shop_default".to_owned()),
                ..Default::default()
            }),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: Some(HashMap::from([(
                    "shop_default".to_owned(),
                    EndpointSettings {
                        network_id: Some("n1".to_owned()),
                        ip_address: Some("172.20.0.3".to_owned()),
                        ..Default::default()
                    },
                )])),
            }),
            ports: Some(vec![
                PortSummary {
                    private_port: 9100,
                    typ: Some(PortSummaryTypeEnum::TCP),
                    ..Default::default()
                },
                PortSummary {
                    private_port: 9100,
                    public_port: Some(32768),
                    typ: Some(PortSummaryTypeEnum::TCP),
                    ..Default::default()
                },
                PortSummary {
                    private_port: 53,
                    typ: Some(PortSummaryTypeEnum::UDP),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let container = RunningContainer::from_summary(summary).expect("an id");
        assert_eq!(container.name, "shop-web-1");
        assert_eq!(container.tcp_ports, vec![9100]);
        assert_eq!(container.network_mode, "shop_default");
        assert_eq!(
            container.networks,
            vec![NetworkEndpoint {
                name: "shop_default".to_owned(),
                network_id: "n1".to_owned(),
                ip: Some(Ipv4Addr::new(172, 20, 0, 3)),
            }]
        );
        assert!(!container.is_monibox());
        assert_eq!(container.label("prometheus.io/scrape"), Some("true"));
    }
}
