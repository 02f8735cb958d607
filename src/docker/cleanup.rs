//! Finding and removing a project's resources by label. Removal is idempotent: whatever is
//! already gone is skipped, so `down` can run any number of times, also after a crash.
//!
//! Order matters: containers first (a network with endpoints cannot be removed), then the
//! network, then — only when asked — the data volumes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveVolumeOptions,
};
use futures_util::future::join_all;

use super::Docker;
use super::error::{DockerError, status_code};
use super::inspect::parse_engine_time;
use super::labels;

/// Whether removing a project also removes its data volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveVolumes {
    Keep,
    Remove,
}

/// One labelled resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledResource {
    /// Engine id (for volumes, the name).
    pub id: String,
    pub name: String,
    pub component: Option<String>,
    pub created: Option<SystemTime>,
}

/// Everything that carries a project's label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectResources {
    pub containers: Vec<LabelledResource>,
    pub networks: Vec<LabelledResource>,
    pub volumes: Vec<LabelledResource>,
}

impl ProjectResources {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }
}

/// What a removal removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovalReport {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

impl Docker {
    /// Lists the project's containers (running or not), networks and volumes.
    pub async fn project_resources(&self, project: &str) -> Result<ProjectResources, DockerError> {
        let filter = labels::project_filter(project);
        let mut all = self.labelled_resources(filter).await?;
        Ok(all.remove(project).unwrap_or_default())
    }

    /// Removes the project's containers (SIGTERM, SIGKILL after `grace`), then its networks,
    /// then its volumes if asked. Safe to call when some or all of it is already gone.
    pub async fn remove_project(
        &self,
        project: &str,
        grace: Duration,
        volumes: RemoveVolumes,
    ) -> Result<RemovalReport, DockerError> {
        let resources = self.project_resources(project).await?;
        self.remove_resources(&resources, grace, volumes).await
    }

    /// Removes every project whose name starts with `prefix` and whose newest resource is older
    /// than `older_than`, volumes included; returns the names of the projects removed. Meant for
    /// test runs, which must not leak bridge networks (Docker has only about 30).
    pub async fn remove_stale_projects(
        &self,
        prefix: &str,
        older_than: Duration,
    ) -> Result<Vec<String>, DockerError> {
        let all = self
            .labelled_resources(labels::any_project_filter())
            .await?;
        let now = SystemTime::now();
        let mut removed = Vec::new();
        for (project, resources) in all {
            if !project.starts_with(prefix) {
                continue;
            }
            let newest = resources
                .containers
                .iter()
                .chain(&resources.networks)
                .chain(&resources.volumes)
                .filter_map(|resource| resource.created)
                .max();
            let stale = newest
                .and_then(|created| now.duration_since(created).ok())
                .is_some_and(|age| age > older_than);
            if stale {
                self.remove_resources(&resources, Duration::ZERO, RemoveVolumes::Remove)
                    .await?;
                removed.push(project);
            }
        }
        Ok(removed)
    }

    async fn remove_resources(
        &self,
        resources: &ProjectResources,
        grace: Duration,
        volumes: RemoveVolumes,
    ) -> Result<RemovalReport, DockerError> {
        let mut report = RemovalReport::default();
        if !grace.is_zero() {
            let stops = resources
                .containers
                .iter()
                .map(|container| self.stop_container(&container.id, grace));
            for result in join_all(stops).await {
                result?;
            }
        }
        let removals = resources
            .containers
            .iter()
            .map(|container| self.remove_container(&container.id));
        for result in join_all(removals).await {
            result?;
            report.containers += 1;
        }
        for network in &resources.networks {
            match self.engine.remove_network(&network.id).await {
                Ok(()) => report.networks += 1,
                Err(error) if status_code(&error) == Some(404) => {}
                Err(error) => return Err(self.fail("remove network", &network.name, error)),
            }
        }
        if volumes == RemoveVolumes::Remove {
            for volume in &resources.volumes {
                match self
                    .engine
                    .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
                    .await
                {
                    Ok(()) => report.volumes += 1,
                    Err(error) if status_code(&error) == Some(404) => {}
                    Err(error) => return Err(self.fail("remove volume", &volume.name, error)),
                }
            }
        }
        Ok(report)
    }

    /// All resources matching `filter`, grouped by their project label.
    async fn labelled_resources(
        &self,
        filter: HashMap<String, Vec<String>>,
    ) -> Result<BTreeMap<String, ProjectResources>, DockerError> {
        let since_epoch = |secs: i64| {
            u64::try_from(secs)
                .ok()
                .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        };
        let containers = self
            .engine
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filter.clone()),
                ..Default::default()
            }))
            .await
            .map_err(|error| self.fail("list containers", "by label", error))?
            .into_iter()
            .map(|container| Listed {
                id: container.id.unwrap_or_default(),
                name: container
                    .names
                    .and_then(|names| names.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_owned(),
                labels: container.labels.unwrap_or_default(),
                created: container.created.and_then(since_epoch),
            });
        let networks = self
            .engine
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filter.clone()),
            }))
            .await
            .map_err(|error| self.fail("list networks", "by label", error))?
            .into_iter()
            .map(|network| Listed {
                id: network.id.unwrap_or_default(),
                name: network.name.unwrap_or_default(),
                labels: network.labels.unwrap_or_default(),
                created: network.created.as_deref().and_then(parse_engine_time),
            });
        let volumes = self
            .engine
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filter),
            }))
            .await
            .map_err(|error| self.fail("list volumes", "by label", error))?
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|volume| Listed {
                id: volume.name.clone(),
                name: volume.name,
                labels: volume.labels,
                created: volume.created_at.as_deref().and_then(parse_engine_time),
            });
        let mut grouped: BTreeMap<String, ProjectResources> = BTreeMap::new();
        let mut add =
            |listed: Listed, pick: fn(&mut ProjectResources) -> &mut Vec<LabelledResource>| {
                if let Some(project) = listed.labels.get(labels::PROJECT) {
                    let resources = grouped.entry(project.clone()).or_default();
                    pick(resources).push(LabelledResource {
                        component: listed.labels.get(labels::COMPONENT).cloned(),
                        id: listed.id,
                        name: listed.name,
                        created: listed.created,
                    });
                }
            };
        containers.for_each(|listed| add(listed, |r| &mut r.containers));
        networks.for_each(|listed| add(listed, |r| &mut r.networks));
        volumes.for_each(|listed| add(listed, |r| &mut r.volumes));
        Ok(grouped)
    }
}

/// A container, network or volume as the Engine lists it.
struct Listed {
    id: String,
    name: String,
    labels: HashMap<String, String>,
    created: Option<SystemTime>,
}
