//! [`Docker`]: a connected, version-negotiated Docker Engine client. Connecting is bounded in
//! time, so a stopped or unreachable daemon is reported in well under a second or two instead of
//! bollard's two-minute request timeout.

use std::time::Duration;

use bollard::API_DEFAULT_VERSION;

use super::error::{DockerError, classify};

/// The socket used when DOCKER_HOST is not set.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// How long the first contact (version negotiation) may take before the Engine is declared
/// unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Per-request timeout for everything after connecting (seconds; bollard's unit). Long enough for
/// a graceful container stop, short enough that a hung daemon does not hang monibox.
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// A connected Docker Engine. Cheap to clone; all resource operations are methods on it or take
/// it by reference.
#[derive(Debug, Clone)]
pub struct Docker {
    pub(super) engine: bollard::Docker,
    endpoint: String,
    api_version: String,
}

impl Docker {
    /// Connects to `docker_host` (the value of DOCKER_HOST, if set) or the default socket,
    /// negotiates the API version and fails with a clear error if the Engine does not answer
    /// within `timeout`.
    pub async fn connect(
        docker_host: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, DockerError> {
        let endpoint = docker_host
            .filter(|host| !host.is_empty())
            .unwrap_or(DEFAULT_DOCKER_HOST)
            .to_owned();
        let engine = if endpoint.starts_with("unix://") {
            bollard::Docker::connect_with_unix(&endpoint, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
        } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
            bollard::Docker::connect_with_http(&endpoint, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
        } else {
            return Err(DockerError::UnsupportedHost { value: endpoint });
        }
        .map_err(|error| classify(&endpoint, "connect", &endpoint, error))?;

        let engine = match tokio::time::timeout(timeout, engine.negotiate_version()).await {
            Ok(Ok(engine)) => engine,
            Ok(Err(error)) => return Err(classify(&endpoint, "connect", &endpoint, error)),
            Err(_) => return Err(DockerError::ConnectTimeout { endpoint, timeout }),
        };
        let version = engine.client_version();
        let api_version = format!("{}.{}", version.major_version, version.minor_version);
        tracing::debug!(%endpoint, %api_version, "connected to Docker");
        Ok(Self {
            engine,
            endpoint,
            api_version,
        })
    }

    /// Where this client connects, e.g. `unix:///var/run/docker.sock`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The negotiated Engine API version, e.g. `1.41`.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// Classifies a bollard error from `operation` on `target` (see [`classify`]).
    pub(super) fn fail(
        &self,
        operation: &'static str,
        target: impl Into<String>,
        error: bollard::errors::Error,
    ) -> DockerError {
        classify(&self.endpoint, operation, target, error)
    }
}
