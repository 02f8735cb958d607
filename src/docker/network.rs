//! The project network `monibox-<project>`: looked up before it is created (API 1.41 accepts
//! duplicate names, after which the name is ambiguous), referred to by id, and its IPAM gateway
//! read back so containers can reach the host as `host.docker.internal` through it.

use std::net::Ipv4Addr;

use bollard::models::{Ipam, Network, NetworkCreateRequest};
use bollard::query_parameters::ListNetworksOptions;

use super::error::{DockerError, engine_message, status_code};
use super::{Docker, labels};

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
    /// Empty duplicates of the project's network (left by two `up`s of an older monibox that
    /// raced) this call removed.
    pub duplicates_removed: usize,
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
            duplicates_removed: 0,
        })
    }

    /// Removes the project's network (by id); false when it was already gone. An Engine that
    /// refuses because containers still use it says so in the error.
    pub async fn remove_network(&self, network: &ProjectNetwork) -> Result<bool, DockerError> {
        match self.engine.remove_network(&network.id).await {
            Ok(()) => Ok(true),
            Err(error) if status_code(&error) == Some(404) => Ok(false),
            Err(error) => Err(self.fail("remove network", &network.name, error)),
        }
    }

    /// Finds the project's network by exact name and project label. A same-named network that
    /// is not the project's is a conflict. Several of the project's (two `up`s of an older monibox
    /// that raced left them, and the name became ambiguous) are repaired: the one containers use,
    /// else the oldest, is kept and the empty others are removed; if more than one is in use,
    /// [`DockerError::DuplicateNetworks`] says how to start afresh.
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
        if same_name.is_empty() {
            return Err(DockerError::foreign_network(&name, project));
        }
        // RFC 3339 timestamps from one daemon sort chronologically as text.
        same_name.sort_by(|a, b| a.created.cmp(&b.created));
        let mut in_use = Vec::new();
        for network in &same_name {
            let id = network.id.clone().unwrap_or_default();
            let inspected = self
                .engine
                .inspect_network(&id, None)
                .await
                .map_err(|error| self.fail("inspect network", &name, error))?;
            in_use.push(
                inspected
                    .containers
                    .is_some_and(|containers| !containers.is_empty()),
            );
        }
        if in_use.iter().filter(|used| **used).count() > 1 {
            return Err(DockerError::DuplicateNetworks {
                name,
                count: same_name.len(),
                project: project.to_owned(),
            });
        }
        let keep = in_use.iter().position(|used| *used).unwrap_or(0);
        let mut duplicates_removed = 0;
        for (index, network) in same_name.iter().enumerate() {
            if index == keep {
                continue;
            }
            let id = network.id.clone().unwrap_or_default();
            match self.engine.remove_network(&id).await {
                Ok(()) => duplicates_removed += 1,
                Err(error) if status_code(&error) == Some(404) => {}
                Err(error) => return Err(self.fail("remove network", &name, error)),
            }
        }
        if duplicates_removed > 0 {
            tracing::warn!(
                network = %name,
                duplicates_removed,
                "removed empty duplicates of the project's network (left by an older monibox)"
            );
        }
        let network = same_name.swap_remove(keep);
        Ok(Some(ProjectNetwork {
            gateway: ipv4_gateway(network.ipam.as_ref()).ok_or_else(|| DockerError::NoGateway {
                network: name.clone(),
            })?,
            id: network.id.unwrap_or_default(),
            name,
            created: false,
            duplicates_removed,
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
