//! Readiness as data: each component declares how it is probed ([`Readiness`]), and
//! [`Docker::wait_ready`] probes it from the host through its published port until it answers,
//! the container stops, the deadline passes or the caller cancels. Probing directly is faster
//! than waiting for Docker's `healthy`, whose first check only runs one interval after start.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Docker;
use super::container::ContainerState;
use super::error::DockerError;
use crate::httpc::HttpClient;

/// Lines of container log quoted when a container stops before it is ready.
const LOG_LINES_ON_FAILURE: usize = 8;
/// How long fetching those log lines may take.
const LOG_FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// How a component tells it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// An HTTP GET through the published port answers 2xx (and contains a substring, if set).
    Http(HttpReadiness),
}

/// An HTTP readiness probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReadiness {
    /// The container port; the probe goes to the host port it is published on.
    pub container_port: u16,
    pub path: String,
    /// A substring the response body must contain.
    pub expect_body: Option<String>,
    /// Pause between attempts.
    pub interval: Duration,
    /// Limit for one attempt.
    pub timeout: Duration,
}

/// How a wait for readiness went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyReport {
    /// Where the probe succeeded.
    pub address: SocketAddr,
    pub elapsed: Duration,
    pub attempts: u32,
}

fn probe_url(address: SocketAddr, path: &str) -> String {
    format!("http://{address}{path}")
}

/// One HTTP probe; the error is a short description of what was wrong.
async fn probe_http(
    client: &HttpClient,
    address: SocketAddr,
    check: &HttpReadiness,
) -> Result<(), String> {
    let response = client
        .get(&probe_url(address, &check.path))
        .await
        .map_err(|error| error.to_string())?;
    if !response.status.is_success() {
        return Err(format!("HTTP {}", response.status));
    }
    match &check.expect_body {
        Some(expected) if !response.text().contains(expected.as_str()) => Err(format!(
            "HTTP {}, but the body lacks {expected:?}",
            response.status
        )),
        _ => Ok(()),
    }
}

impl Docker {
    /// Probes the container until it is ready. Fails early when the container stops (quoting
    /// its last log lines), at `deadline`, or when `cancel` fires.
    pub async fn wait_ready(
        &self,
        container: &str,
        readiness: &Readiness,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<ReadyReport, DockerError> {
        let started = Instant::now();
        let Readiness::Http(check) = readiness;
        let status = self.inspect_container(container).await?.ok_or_else(|| {
            DockerError::NoSuchContainer {
                container: container.to_owned(),
            }
        })?;
        let Some(address) = status.host_address(check.container_port) else {
            // A container that already stopped has no published ports: say that instead.
            self.fail_if_stopped(container).await?;
            return Err(DockerError::PortNotPublished {
                container: container.to_owned(),
                container_port: check.container_port,
            });
        };
        let client = HttpClient::new(check.timeout);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = tokio::select! {
                () = cancel.cancelled() => return Err(DockerError::Cancelled {
                    what: format!("waiting for {container} to be ready"),
                }),
                outcome = probe_http(&client, address, check) => outcome,
            };
            let last = match outcome {
                Ok(()) => {
                    return Ok(ReadyReport {
                        address,
                        elapsed: started.elapsed(),
                        attempts,
                    });
                }
                Err(last) => last,
            };
            // Engine calls have their own long timeout; the deadline bounds them here too.
            let not_ready = |last: String| DockerError::NotReady {
                container: container.to_owned(),
                url: probe_url(address, &check.path),
                timeout: deadline.saturating_duration_since(started),
                last,
            };
            match tokio::time::timeout_at(deadline, self.fail_if_stopped(container)).await {
                Ok(result) => result?,
                Err(_) => return Err(not_ready(last)),
            }
            if Instant::now() + check.interval >= deadline {
                return Err(not_ready(last));
            }
            tokio::select! {
                () = cancel.cancelled() => return Err(DockerError::Cancelled {
                    what: format!("waiting for {container} to be ready"),
                }),
                () = tokio::time::sleep(check.interval) => {}
            }
        }
    }

    /// An error with the container's last log lines if it is no longer starting or running.
    async fn fail_if_stopped(&self, container: &str) -> Result<(), DockerError> {
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
