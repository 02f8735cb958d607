//! The project network `monibox-<project>`: looked up before it is created (API 1.41 accepts
//! duplicate names, after which the name is ambiguous), referred to by id, and its IPAM gateway
//! read back so containers can reach the host as `host.docker.internal` through it.

use std::net::Ipv4Addr;

use bollard::models::{Ipam, Network, NetworkCreateRequest};
use bollard::query_parameters::ListNetworksOptions;

use super::error::DockerError;
use super::labels;
use super::{Docker, error::engine_message};

/// Label value used as the component of the project network itself.
const NETWORK_COMPONENT: &str = "network";

/// A project's bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectNetwork {
    pub id: String,
    pub name: String,
    /// The host's address on this network: what `host.docker.internal` must resolve to.
    pub gateway: Ipv4Addr,
    /// Whether this call created the network (false: it already existed).
    pub created: bool,
}

/// The name of a project's network.
pub fn network_name(project: &str) -> String {
    format!("monibox-{project}")
}

impl Docker {
    /// Returns the project's network, creating it if it does not exist yet. Calling it again
    /// returns the same network.
    pub async fn ensure_network(&self, project: &str) -> Result<ProjectNetwork, DockerError> {
        let name = network_name(project);
        if let Some(existing) = self.find_network(project).await? {
            return Ok(existing);
        }
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".to_owned()),
            labels: Some(
                labels::resource_labels(project, NETWORK_COMPONENT)
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        };
        let created = self.engine.create_network(request).await.map_err(|error| {
            if engine_message(&error).contains("non-overlapping IPv4 address pool") {
                DockerError::AddressPoolsExhausted {
                    network: name.clone(),
                }
            } else {
                self.fail("create network", &name, error)
            }
        })?;
        tracing::debug!(network = %name, id = %created.id, "created network");
        let inspected = self
            .engine
            .inspect_network(&created.id, None)
            .await
            .map_err(|error| self.fail("inspect network", &name, error))?;
        Ok(ProjectNetwork {
            gateway: ipv4_gateway(inspected.ipam.as_ref()).ok_or_else(|| {
                DockerError::NoGateway {
                    network: name.clone(),
                }
            })?,
            id: created.id,
            name,
            created: true,
        })
    }

    /// Finds the project's network by exact name and project label. A same-named network that
    /// is not the project's is a conflict; several of the project's (left by a race) resolve to
    /// the oldest, and label-based cleanup removes them all.
    pub async fn find_network(&self, project: &str) -> Result<Option<ProjectNetwork>, DockerError> {
        let name = network_name(project);
        let options = ListNetworksOptions {
            filters: Some(
                [("name".to_owned(), vec![name.clone()])]
                    .into_iter()
                    .collect(),
            ),
        };
        // The name filter matches substrings, so keep exact matches only.
        let mut same_name: Vec<Network> = self
            .engine
            .list_networks(Some(options))
            .await
            .map_err(|error| self.fail("list networks", &name, error))?
            .into_iter()
            .filter(|network| network.name.as_deref() == Some(name.as_str()))
            .collect();
        if same_name.is_empty() {
            return Ok(None);
        }
        same_name.retain(|network| {
            network
                .labels
                .as_ref()
                .and_then(|labels| labels.get(labels::PROJECT))
                .is_some_and(|value| value == project)
        });
        // RFC 3339 timestamps from one daemon sort chronologically as text.
        same_name.sort_by(|a, b| a.created.cmp(&b.created));
        let Some(network) = same_name.into_iter().next() else {
            return Err(DockerError::NameConflict {
                kind: "network",
                remove_with: format!("docker network rm {name}"),
                name,
            });
        };
        let id = network.id.unwrap_or_default();
        Ok(Some(ProjectNetwork {
            gateway: ipv4_gateway(network.ipam.as_ref()).ok_or_else(|| DockerError::NoGateway {
                network: name.clone(),
            })?,
            id,
            name,
            created: false,
        }))
    }
}

fn ipv4_gateway(ipam: Option<&Ipam>) -> Option<Ipv4Addr> {
    ipam?
        .config
        .as_ref()?
        .iter()
        .filter_map(|config| config.gateway.as_deref())
        .find_map(|gateway| gateway.parse::<Ipv4Addr>().ok())
}
