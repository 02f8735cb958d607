//! Container operations on the Engine: create and start from a [`ContainerSpec`], inspect into a
//! [`ContainerStatus`], stop, remove — by name only when the container carries the project's
//! label, so nothing monibox did not create is ever stopped or removed — and read a container's
//! last log lines for error reports.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;

use super::Docker;
use super::error::{DockerError, engine_message, status_code};
use super::inspect::{ContainerState, ContainerStatus};
use super::spec::ContainerSpec;

/// Lines of container log quoted when a container stops before it is ready.
const LOG_LINES_ON_FAILURE: usize = 8;
/// How long fetching those log lines may take.
const LOG_FETCH_TIMEOUT: Duration = Duration::from_secs(2);

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
    pub async fn create_container(
        &self,
        spec: &ContainerSpec,
        preferred_ports: &BTreeMap<u16, u16>,
    ) -> Result<String, DockerError> {
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        match self
            .engine
            .create_container(Some(options), spec.to_create_body(preferred_ports))
            .await
        {
            Ok(created) => {
                for warning in created.warnings {
                    tracing::debug!(container = %spec.name, %warning, "Docker warning on create");
                }
                Ok(created.id)
            }
            Err(error) => Err(match status_code(&error) {
                Some(409) => DockerError::foreign_container(&spec.name, &spec.project),
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
        self.run_container_on(spec, &BTreeMap::new()).await
    }

    /// [`Docker::run_container`], asking for `preferred_ports` (container port → host port) for
    /// the spec's `auto` ports; the caller retries without them if one is taken by now.
    pub async fn run_container_on(
        &self,
        spec: &ContainerSpec,
        preferred_ports: &BTreeMap<u16, u16>,
    ) -> Result<ContainerStatus, DockerError> {
        self.create_container(spec, preferred_ports).await?;
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

impl Docker {
    /// The container named `name` if it is `project`'s (carries its `io.monibox.project`
    /// label); `Ok(None)` when there is none. A container of that name without the label is
    /// someone else's: [`DockerError::NameConflict`], and the caller must leave it alone.
    pub async fn owned_container(
        &self,
        name: &str,
        project: &str,
    ) -> Result<Option<ContainerStatus>, DockerError> {
        match self.inspect_container(name).await? {
            Some(status) if status.project() == Some(project) => Ok(Some(status)),
            Some(_) => Err(DockerError::foreign_container(name, project)),
            None => Ok(None),
        }
    }

    /// Stops (SIGTERM, SIGKILL after `grace`; zero skips it) and removes `project`'s container
    /// named `name`, if there is one; someone else's is refused, untouched.
    pub async fn remove_owned_container(
        &self,
        name: &str,
        project: &str,
        grace: Duration,
    ) -> Result<(), DockerError> {
        let Some(existing) = self.owned_container(name, project).await? else {
            return Ok(());
        };
        if existing.is_running() && !grace.is_zero() {
            self.stop_container(&existing.id, grace).await?;
        }
        self.remove_container(&existing.id).await
    }

    /// An error with the container's last log lines if it is no longer starting or running.
    pub async fn fail_if_stopped(&self, container: &str) -> Result<(), DockerError> {
        let status = self.inspect_container(container).await?.ok_or_else(|| {
            DockerError::NoSuchContainer {
                container: container.to_owned(),
            }
        })?;
        if matches!(
            status.state,
            ContainerState::Running | ContainerState::Created | ContainerState::Restarting
        ) {
            return Ok(());
        }
        let state = match status.exit_code {
            Some(code) => format!("{:?}, exit code {code}", status.state).to_lowercase(),
            None => format!("{:?}", status.state).to_lowercase(),
        };
        let logs = tokio::time::timeout(
            LOG_FETCH_TIMEOUT,
            self.logs_tail(container, LOG_LINES_ON_FAILURE),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .map(|text| {
            let lines: Vec<&str> = text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .collect();
            if lines.is_empty() {
                String::new()
            } else {
                format!("; its last log lines:\n  {}", lines.join("\n  "))
            }
        })
        .unwrap_or_default();
        Err(DockerError::ContainerStopped {
            container: container.to_owned(),
            state,
            logs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
