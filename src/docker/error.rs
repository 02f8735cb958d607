//! [`DockerError`]: what can go wrong talking to the Docker Engine, with the operation and object
//! it concerned and, in the message, what the user can do about it.
//!
//! Engine errors are classified once, in [`classify`], so that "Docker is not running" reads the
//! same whether it happens on the first ping or in the middle of `up`.

use std::path::PathBuf;
use std::time::Duration;

/// Everything the Docker layer can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "DOCKER_HOST={value:?} is not supported: use unix:///path/to/docker.sock or tcp://HOST:PORT"
    )]
    UnsupportedHost { value: String },

    #[error(
        "cannot reach Docker at {endpoint} ({detail}). Is the Docker daemon running? \
         Start it (`sudo systemctl start docker`) or point DOCKER_HOST at a running Engine"
    )]
    Unreachable { endpoint: String, detail: String },

    #[error(
        "Docker at {endpoint} did not answer within {timeout:?}. Is the daemon running and \
         healthy? Check `systemctl status docker`, or point DOCKER_HOST at a running Engine"
    )]
    ConnectTimeout { endpoint: String, timeout: Duration },

    #[error(
        "permission denied on the Docker socket {endpoint}: add your user to the `docker` group \
         (`sudo usermod -aG docker $USER`, then log in again) or run monibox as root"
    )]
    PermissionDenied { endpoint: String },

    #[error("image {image} is not available locally: {fix}")]
    ImageMissing { image: String, fix: String },

    #[error(
        "pulling {image} failed: {detail}. Without registry access, build local images with \
         `monibox images build --from-host` or load the image with `docker load`"
    )]
    PullFailed { image: String, detail: String },

    #[error("pulling {image} did not finish within {timeout:?}: is the registry reachable?")]
    PullTimeout { image: String, timeout: Duration },

    #[error("building image {tag} failed: {detail}")]
    BuildFailed { tag: String, detail: String },

    #[error("building image {tag} did not finish within {timeout:?}")]
    BuildTimeout { tag: String, timeout: Duration },

    #[error(
        "{path} is missing: install the Debian package `{package}` (`sudo apt-get install {package}`)"
    )]
    HostFileMissing {
        path: PathBuf,
        package: &'static str,
    },

    #[error(
        "{path} is not statically linked: install the Debian package `{package}`, which provides a static one"
    )]
    HostFileNotStatic {
        path: PathBuf,
        package: &'static str,
    },

    #[error("reading {path} for a host image: {error}")]
    HostFileRead {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("running `{command}` failed: {detail}")]
    HostCommand { command: String, detail: String },

    #[error(
        "container {container} cannot publish {ports}: the port is already in use. \
         Free it or choose another port in the config"
    )]
    PortTaken { container: String, ports: String },

    #[error(
        "a {kind} named {name} already exists that monibox did not create for project \
         {project} (it lacks the label io.monibox.project={project}), so monibox leaves it \
         alone: {fix}, or use another project name (--project)"
    )]
    NameConflict {
        kind: &'static str,
        name: String,
        project: String,
        /// What the user can do with it, e.g. rename or remove it (commands included).
        fix: String,
    },

    #[error(
        "Docker has no free address range for network {network}: remove unused networks \
         (`docker network prune`) and try again"
    )]
    AddressPoolsExhausted { network: String },

    #[error(
        "{count} networks named {name} belong to project {project} and more than one has \
         containers (left by two `monibox up`s of an older version that ran at once): run \
         `monibox down --project {project}`, then `monibox up --project {project}` (data volumes \
         are kept)"
    )]
    DuplicateNetworks {
        name: String,
        count: usize,
        project: String,
    },

    #[error("network {network} has no IPv4 gateway in its IPAM config")]
    NoGateway { network: String },

    #[error("container {container} stopped before it was ready ({state}){logs}")]
    ContainerStopped {
        container: String,
        state: String,
        /// The last lines of the container's log, already prefixed for display.
        logs: String,
    },

    #[error(
        "container {container} publishes no host port for {container_port}/tcp, so it cannot be probed"
    )]
    PortNotPublished {
        container: String,
        container_port: u16,
    },

    #[error("no such container: {container}")]
    NoSuchContainer { container: String },

    /// The Engine refuses to read the log of a container that is being removed (or is dead).
    #[error("container {container} is being removed")]
    ContainerRemoving { container: String },

    #[error("interrupted while {what}")]
    Interrupted { what: String },

    #[error(
        "container {container} was still being removed after {timeout:?}: is the daemon \
         overloaded?"
    )]
    StillRemoving {
        container: String,
        timeout: Duration,
    },

    #[error("Docker did not answer {operation} {target} in time: is the daemon overloaded?")]
    Timeout {
        operation: &'static str,
        target: String,
    },

    #[error("Docker {operation} {target} failed: {error}")]
    Api {
        operation: &'static str,
        target: String,
        error: bollard::errors::Error,
    },
}

impl DockerError {
    /// A container named like one of `project`'s that does not carry the project's label.
    pub(crate) fn foreign_container(name: &str, project: &str) -> Self {
        DockerError::NameConflict {
            kind: "container",
            name: name.to_owned(),
            project: project.to_owned(),
            fix: format!(
                "rename it (`docker rename {name} {name}-own`) or, if it is disposable, remove \
                 it (`docker rm -f {name}`)"
            ),
        }
    }

    /// A volume named like one of `project`'s that does not carry the project's label.
    pub(crate) fn foreign_volume(name: &str, project: &str) -> Self {
        DockerError::NameConflict {
            kind: "volume",
            name: name.to_owned(),
            project: project.to_owned(),
            fix: format!("if its data is disposable, remove it (`docker volume rm {name}`)"),
        }
    }

    /// A network named like `project`'s that does not carry the project's label.
    pub(crate) fn foreign_network(name: &str, project: &str) -> Self {
        DockerError::NameConflict {
            kind: "network",
            name: name.to_owned(),
            project: project.to_owned(),
            fix: format!("if nothing uses it, remove it (`docker network rm {name}`)"),
        }
    }

    /// Whether the Engine itself could not be reached (refused or reset connection, missing
    /// socket, no answer in time), as opposed to the Engine answering with an error. A
    /// supervisor waits for an unreachable Engine instead of counting each call as a failure.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            DockerError::Unreachable { .. }
                | DockerError::ConnectTimeout { .. }
                | DockerError::Timeout { .. }
        ) || matches!(
            self,
            DockerError::Api { error, .. } if is_connection_error(error)
        )
    }
}

/// A bollard error that broke the connection itself (the Engine went away mid-stream).
fn is_connection_error(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::HyperResponseError { .. } | bollard::errors::Error::IOError { .. }
    )
}

/// The HTTP status of an Engine error response, if the error is one.
pub(crate) fn status_code(error: &bollard::errors::Error) -> Option<u16> {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The message of an Engine error response (or the error's text otherwise).
pub(crate) fn engine_message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// Turns a bollard error into a [`DockerError`]: connection-level failures become
/// [`DockerError::Unreachable`] / [`DockerError::PermissionDenied`] whatever the operation,
/// everything else keeps its operation and target.
pub(crate) fn classify(
    endpoint: &str,
    operation: &'static str,
    target: impl Into<String>,
    error: bollard::errors::Error,
) -> DockerError {
    if let bollard::errors::Error::SocketNotFoundError(path) = &error {
        return DockerError::Unreachable {
            endpoint: endpoint.to_owned(),
            detail: format!("no socket at {path}"),
        };
    }
    if let bollard::errors::Error::RequestTimeoutError = error {
        return DockerError::Timeout {
            operation,
            target: target.into(),
        };
    }
    if let Some(io) = io_cause(&error) {
        use std::io::ErrorKind;
        match io.kind() {
            ErrorKind::PermissionDenied => {
                return DockerError::PermissionDenied {
                    endpoint: endpoint.to_owned(),
                };
            }
            ErrorKind::ConnectionRefused
            | ErrorKind::NotFound
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::AddrNotAvailable
            | ErrorKind::TimedOut => {
                return DockerError::Unreachable {
                    endpoint: endpoint.to_owned(),
                    detail: io.to_string(),
                };
            }
            _ => {}
        }
    }
    DockerError::Api {
        operation,
        target: target.into(),
        error,
    }
}

/// The first `std::io::Error` in an error's source chain: where hyper keeps "connection refused"
/// and "permission denied".
fn io_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = error.source();
    }
    None
}

/// `call` within `limit`; running out of time is the Engine not answering.
pub async fn timed<T>(
    limit: Duration,
    operation: &'static str,
    target: &str,
    call: impl Future<Output = Result<T, DockerError>>,
) -> Result<T, DockerError> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(DockerError::Timeout {
            operation,
            target: target.to_owned(),
        })
    })
}
