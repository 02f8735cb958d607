//! The one runner of readiness probes ([`crate::catalog::Probe`]): a container through the host
//! port its container port is published on, or a daemon listener at its address. [`check`] probes
//! once (what `status` does); [`wait`] probes until it answers, the container stops (quoting its
//! last log lines), the deadline passes or the caller cancels (what `up` does). Probing directly
//! is faster than waiting for Docker's `healthy`, whose first check only runs one interval after
//! start.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::catalog::Probe;
use crate::docker::{Docker, DockerError};
use crate::httpc::HttpClient;

/// Pause between two attempts while waiting.
pub const INTERVAL: Duration = Duration::from_millis(25);
/// Limit of one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// What is probed.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    /// A container, through the host port its `container_port` is published on.
    Container {
        docker: &'a Docker,
        name: &'a str,
        container_port: u16,
    },
    /// A listener on this machine (the daemon's).
    Address(SocketAddr),
}

/// How a wait for readiness went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// Where the probe succeeded.
    pub address: SocketAddr,
    pub elapsed: Duration,
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("{url} did not answer within {waited:?}: the last probe said {last}")]
    Timeout {
        url: String,
        waited: Duration,
        last: String,
    },
    #[error("interrupted while waiting for {url}")]
    Interrupted { url: String },
}

fn url(address: SocketAddr, probe: &Probe) -> String {
    format!("http://{address}{}", probe.path)
}

/// One probe of `address`; the error says briefly what was wrong.
pub async fn check(client: &HttpClient, address: SocketAddr, probe: &Probe) -> Result<(), String> {
    let url = url(address, probe);
    let response = client.get(&url).await.map_err(|error| error.to_string())?;
    if !response.status.is_success() {
        return Err(format!("{url} answered HTTP {}", response.status));
    }
    match probe.expect_body {
        Some(expected) if !response.text().contains(expected) => Err(format!(
            "{url} answered HTTP {}, but the body lacks {expected:?}",
            response.status
        )),
        _ => Ok(()),
    }
}

/// Probes `endpoint` until it is ready. A container that stops fails at once, with its last log
/// lines.
pub async fn wait(
    endpoint: Endpoint<'_>,
    probe: &Probe,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<Ready, ReadinessError> {
    let started = Instant::now();
    let address = match endpoint {
        Endpoint::Address(address) => address,
        Endpoint::Container {
            docker,
            name,
            container_port,
        } => published(docker, name, container_port).await?,
    };
    let client = HttpClient::new(ATTEMPT_TIMEOUT);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = tokio::select! {
            () = cancel.cancelled() => return Err(ReadinessError::Interrupted { url: url(address, probe) }),
            outcome = check(&client, address, probe) => match outcome {
                Ok(()) => return Ok(Ready { address, elapsed: started.elapsed(), attempts }),
                Err(last) => last,
            },
        };
        let timed_out = || ReadinessError::Timeout {
            url: url(address, probe),
            waited: deadline.saturating_duration_since(started),
            last: last.clone(),
        };
        if let Endpoint::Container { docker, name, .. } = endpoint {
            // Engine calls have their own long timeout; the deadline bounds them here too.
            match tokio::time::timeout_at(deadline, docker.fail_if_stopped(name)).await {
                Ok(result) => result?,
                Err(_) => return Err(timed_out()),
            }
        }
        if Instant::now() + INTERVAL >= deadline {
            return Err(timed_out());
        }
        tokio::select! {
            () = cancel.cancelled() => return Err(ReadinessError::Interrupted { url: url(address, probe) }),
            () = tokio::time::sleep(INTERVAL) => {}
        }
    }
}

/// Where the container's port is reachable from this machine.
async fn published(
    docker: &Docker,
    name: &str,
    container_port: u16,
) -> Result<SocketAddr, DockerError> {
    let status =
        docker
            .inspect_container(name)
            .await?
            .ok_or_else(|| DockerError::NoSuchContainer {
                container: name.to_owned(),
            })?;
    match status.host_address(container_port) {
        Some(address) => Ok(address),
        None => {
            // A container that already stopped has no published ports: say that instead.
            docker.fail_if_stopped(name).await?;
            Err(DockerError::PortNotPublished {
                container: name.to_owned(),
                container_port,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listener_that_never_answers_times_out_and_one_that_answers_is_ready() {
        let refusing = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = refusing.local_addr().expect("addr");
        drop(refusing);
        let probe = Probe {
            path: "/-/healthy",
            expect_body: None,
        };
        let deadline = Instant::now() + Duration::from_millis(200);
        let error = wait(
            Endpoint::Address(address),
            &probe,
            deadline,
            &CancellationToken::new(),
        )
        .await
        .expect_err("nothing listens");
        assert!(
            matches!(&error, ReadinessError::Timeout { url, .. } if url.ends_with("/-/healthy")),
            "{error}"
        );
        let cancel = CancellationToken::new();
        cancel.cancel();
        let error = wait(
            Endpoint::Address(address),
            &probe,
            Instant::now() + Duration::from_secs(5),
            &cancel,
        )
        .await
        .expect_err("cancelled");
        assert!(
            matches!(error, ReadinessError::Interrupted { .. }),
            "{error}"
        );
    }
}
