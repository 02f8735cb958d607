//! Named data volumes (Prometheus TSDB, Alertmanager state, Grafana data): created with the
//! project's labels when missing, reused otherwise, so data survives `down` + `up`.

use bollard::models::VolumeCreateRequest;

use super::Docker;
use super::error::{DockerError, status_code};
use super::labels;

impl Docker {
    /// Makes sure the named volume exists; returns whether this call created it. A same-named
    /// volume of another project (or not made by monibox) is a conflict, not silently shared.
    pub async fn ensure_volume(
        &self,
        name: &str,
        project: &str,
        component: &str,
    ) -> Result<bool, DockerError> {
        match self.engine.inspect_volume(name).await {
            Ok(volume) => {
                return if volume.labels.get(labels::PROJECT).map(String::as_str) == Some(project) {
                    Ok(false)
                } else {
                    Err(DockerError::foreign_volume(name, project))
                };
            }
            Err(error) if status_code(&error) == Some(404) => {}
            Err(error) => return Err(self.fail("inspect volume", name, error)),
        }
        let request = VolumeCreateRequest {
            name: Some(name.to_owned()),
            labels: Some(
                labels::resource_labels(project, component)
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        };
        self.engine
            .create_volume(request)
            .await
            .map_err(|error| self.fail("create volume", name, error))?;
        Ok(true)
    }

    /// Whether a volume of that name exists that is not `project`'s: checked before anything is
    /// created, so `up` stops with nothing to undo.
    pub async fn check_volume(&self, name: &str, project: &str) -> Result<(), DockerError> {
        match self.engine.inspect_volume(name).await {
            Ok(volume)
                if volume.labels.get(labels::PROJECT).map(String::as_str) == Some(project) =>
            {
                Ok(())
            }
            Ok(_) => Err(DockerError::foreign_volume(name, project)),
            Err(error) if status_code(&error) == Some(404) => Ok(()),
            Err(error) => Err(self.fail("inspect volume", name, error)),
        }
    }

    /// Removes a volume this project created (by name); false when it was already gone.
    pub async fn remove_volume(&self, name: &str) -> Result<bool, DockerError> {
        match self
            .engine
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
        {
            Ok(()) => Ok(true),
            Err(error) if status_code(&error) == Some(404) => Ok(false),
            Err(error) => Err(self.fail("remove volume", name, error)),
        }
    }
}
