//! Everything monibox does with the Docker Engine, and the only place that uses bollard.
//!
//! - [`client`]: connecting (DOCKER_HOST or the default socket), version negotiation, a bounded
//!   first contact.
//! - [`error`]: [`DockerError`], one variant per thing that can go wrong, each saying what to do.
//! - [`labels`]: the `io.monibox.*` labels that mark what monibox created.
//! - [`network`], [`volume`], [`container`]: the project's resources, created idempotently and
//!   referred to by id; containers are described as data ([`ContainerSpec`]).
//! - [`logs`]: a container's output as timestamped lines, tailed or followed.
//! - [`cleanup`]: listing and removing a project's resources by label.
//! - [`events`]: the Engine's event stream for a project's containers, for the supervisor.
//! - [`readiness`]: how a component is probed from the host, and waiting for it with a deadline.
//! - [`images`]: which image each component uses, pulling, and building `FROM scratch` images
//!   from the host's own Prometheus and Alertmanager binaries.
//!
//! Nothing here prints: long operations report progress through callbacks, results are values.

pub mod cleanup;
pub mod client;
pub mod container;
pub mod error;
pub mod events;
pub mod images;
pub mod labels;
pub mod logs;
pub mod network;
pub mod readiness;
pub mod volume;

mod build;

pub use cleanup::{ProjectResources, RemovalReport, RemoveVolumes};
pub use client::Docker;
pub use container::{
    ContainerSpec, ContainerState, ContainerStatus, ExtraHost, HealthCheck, HealthState, Mount,
    NetworkAttachment, PortPublish, PublishedPort,
};
pub use error::DockerError;
pub use events::{ContainerEvent, ContainerEventKind};
pub use logs::{ContainerLogLine, ContainerLogs, LogQuery, OutputStream};
pub use network::ProjectNetwork;
pub use readiness::{HttpReadiness, Readiness, ReadyReport};
