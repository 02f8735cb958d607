//! Named data volumes (Prometheus TSDB, Alertmanager state, Grafana data): created with the
//! project's labels when missing, reused otherwise, so data survives `down` + `up`.

use bollard::models::VolumeCreateRequest;

use super::Docker;
use super::error::{DockerError, status_code};
use super::labels;

/// The name of a project's data volume for a component.
pub fn volume_name(project: &str, component: &str) -> String {
    format!("monibox-{project}-{component}-data")
}

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
                    Err(DockerError::NameConflict {
                        kind: "volume",
                        name: name.to_owned(),
                        remove_with: format!("docker volume rm {name}"),
                    })
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
}
