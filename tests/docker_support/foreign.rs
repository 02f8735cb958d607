//! Objects monibox did not create: a container or volume named like one of a test project's
//! but without its labels, as a user's own would be. monibox never makes such objects, so they
//! are made through bollard directly. Each is a guard that removes exactly what it made (by id),
//! explicitly or when dropped, also when the test fails.

use std::time::Duration;

use bollard::models::{ContainerCreateBody, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, RemoveVolumeOptions,
};

/// Limit of one Engine call made here.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn engine() -> bollard::Docker {
    bollard::Docker::connect_with_local_defaults().expect("a Docker Engine client")
}

/// A running container without any monibox label.
pub struct ForeignContainer {
    pub name: String,
    pub id: String,
    removed: bool,
}

impl ForeignContainer {
    /// Creates and starts `name` from `image` (its own command), with no labels.
    pub async fn start(name: &str, image: &str) -> Self {
        Self::start_labelled(name, image, &[], None).await
    }

    /// Creates and starts `name` from `image` with `labels` (none of monibox's), on `network`
    /// (the default bridge when None).
    pub async fn start_labelled(
        name: &str,
        image: &str,
        labels: &[(&str, &str)],
        network: Option<&str>,
    ) -> Self {
        let engine = engine();
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                    .collect(),
            ),
            host_config: network.map(|network| bollard::models::HostConfig {
                network_mode: Some(network.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        let created =
            tokio::time::timeout(CALL_TIMEOUT, engine.create_container(Some(options), body))
                .await
                .expect("creating in time")
                .expect("creating the foreign container");
        tokio::time::timeout(CALL_TIMEOUT, engine.start_container(&created.id, None))
            .await
            .expect("starting in time")
            .expect("starting the foreign container");
        Self {
            name: name.to_owned(),
            id: created.id,
            removed: false,
        }
    }

    /// The container's id and whether it runs, as the Engine says now (None: it is gone).
    pub async fn state(&self) -> Option<(String, bool)> {
        let inspected = engine().inspect_container(&self.id, None).await.ok()?;
        let running = inspected
            .state
            .and_then(|state| state.running)
            .unwrap_or(false);
        Some((inspected.id.unwrap_or_default(), running))
    }

    pub async fn remove(mut self) {
        remove_container(&self.id).await;
        self.removed = true;
    }

    /// Stops it (one second's grace), keeping it.
    pub async fn stop(&self) {
        let options = bollard::query_parameters::StopContainerOptions {
            t: Some(1),
            ..Default::default()
        };
        tokio::time::timeout(
            CALL_TIMEOUT,
            engine().stop_container(&self.id, Some(options)),
        )
        .await
        .expect("stopping in time")
        .expect("stopping the foreign container");
    }
}

async fn remove_container(id: &str) {
    let options = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    let _ = tokio::time::timeout(CALL_TIMEOUT, engine().remove_container(id, Some(options))).await;
}

impl Drop for ForeignContainer {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let id = self.id.clone();
        super::clean_up_on_a_fresh_runtime(async move { remove_container(&id).await });
    }
}

/// A volume without any monibox label.
pub struct ForeignVolume {
    pub name: String,
    removed: bool,
}

impl ForeignVolume {
    pub async fn create(name: &str) -> Self {
        let request = VolumeCreateRequest {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        tokio::time::timeout(CALL_TIMEOUT, engine().create_volume(request))
            .await
            .expect("creating in time")
            .expect("creating the foreign volume");
        Self {
            name: name.to_owned(),
            removed: false,
        }
    }

    pub async fn exists(&self) -> bool {
        engine().inspect_volume(&self.name).await.is_ok()
    }

    pub async fn remove(mut self) {
        remove_volume(&self.name).await;
        self.removed = true;
    }
}

async fn remove_volume(name: &str) {
    let _ = tokio::time::timeout(
        CALL_TIMEOUT,
        engine().remove_volume(name, None::<RemoveVolumeOptions>),
    )
    .await;
}

impl Drop for ForeignVolume {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let name = self.name.clone();
        super::clean_up_on_a_fresh_runtime(async move { remove_volume(&name).await });
    }
}

/// A bridge network without any monibox label.
pub struct ForeignNetwork {
    pub name: String,
    removed: bool,
}

impl ForeignNetwork {
    pub async fn create(name: &str) -> Self {
        let request = bollard::models::NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".to_owned()),
            ..Default::default()
        };
        tokio::time::timeout(CALL_TIMEOUT, engine().create_network(request))
            .await
            .expect("creating in time")
            .expect("creating the foreign network");
        Self {
            name: name.to_owned(),
            removed: false,
        }
    }

    pub async fn remove(mut self) {
        remove_network(&self.name).await;
        self.removed = true;
    }
}

async fn remove_network(name: &str) {
    let _ = tokio::time::timeout(CALL_TIMEOUT, engine().remove_network(name)).await;
}

impl Drop for ForeignNetwork {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let name = self.name.clone();
        super::clean_up_on_a_fresh_runtime(async move { remove_network(&name).await });
    }
}
