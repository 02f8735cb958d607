//! Everything monibox does with the Docker Engine, and the only place that uses bollard.
//!
//! - [`client`]: connecting (DOCKER_HOST or the default socket), version negotiation, a bounded
//!   first contact.
//! - [`error`]: [`DockerError`], one variant per thing that can go wrong, each saying what to do.
//! - [`labels`]: the `io.monibox.*` labels that mark what monibox created.
//! - [`network`], [`volume`], [`container`]: the project's resources, created idempotently and
//!   referred to by id; a container is described as data ([`spec`]: [`ContainerSpec`]) and
//!   read back as data ([`inspect`]: [`ContainerStatus`]). Nothing without the project's label
//!   is ever stopped or removed.
//! - [`logs`]: a container's output as timestamped lines, tailed or followed.
//! - [`cleanup`]: listing and removing a project's resources by label.
//! - [`events`]: the Engine's event stream for a project's containers (the supervisor) or all
//!   of them (Docker discovery).
//! - [`listing`]: every running container on the Engine in one call, and attaching a container
//!   to another network.
//! - [`images`]: local images, pulling, and building `FROM scratch` images from host files as a
//!   [`images::HostRecipe`] describes.
//!
//! This module knows no component: it receives plain values (specs, recipes, names) and returns
//! plain values. Nothing here prints: long operations report progress through callbacks.

pub mod cleanup;
pub mod client;
pub mod container;
pub mod error;
pub mod events;
pub mod images;
pub mod inspect;
pub mod labels;
pub mod listing;
pub mod logs;
pub mod network;
pub mod spec;
pub mod volume;

mod build;

pub use cleanup::{ProjectResources, RemovalReport, RemoveVolumes};
pub use client::Docker;
pub use error::DockerError;
pub use events::{ContainerEvent, ContainerEventKind, EventScope};
pub use inspect::{ContainerState, ContainerStatus, HealthState, PublishedPort};
pub use listing::{ListedContainer, NetworkEndpoint, RunningContainer};
pub use logs::{ContainerLogLine, ContainerLogs, LogQuery, OutputStream};
pub use network::ProjectNetwork;
pub use spec::{
    ContainerSpec, ExtraHost, HOST_ALIAS, HealthCheck, Mount, NetworkAttachment, PortPublish,
};
