//! The Engine's event stream for one project's containers, or for every container on the
//! Engine ([`EventScope`]), as monibox's own [`ContainerEvent`]s: the supervisor's trigger to look
//! at a component now instead of at its next periodic check, and Docker discovery's to look at the
//! labelled containers again.
//!
//! The stream is filtered on the Engine's side by type, action and (for a project) label: without
//! the action filter every health check would add `exec_create`/`exec_start`/`exec_die` noise.

use std::collections::{BTreeMap, HashMap};

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptions;
use futures_util::{Stream, StreamExt};

use super::Docker;
use super::error::DockerError;
use super::inspect::HealthState;
use super::labels;

/// The container actions followed (the supervisor, discovery and the container metrics react
/// to them). `health_status` matches every `health_status: <verdict>` action (the Engine
/// matches that one by prefix).
const ACTIONS: [&str; 7] = [
    "start",
    "die",
    "oom",
    "destroy",
    "health_status",
    "pause",
    "unpause",
];

/// What happened to a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerEventKind {
    Started,
    Died {
        exit_code: Option<i64>,
    },
    OutOfMemory,
    Destroyed,
    Health(HealthState),
    /// `docker pause`: its processes are frozen.
    Paused,
    Unpaused,
}

/// Whose containers' events to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventScope<'a> {
    /// The containers labelled with this project.
    Project(&'a str),
    /// Every container on the Engine.
    Engine,
}

/// One event about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// The `io.monibox.component` label, if the container has one.
    pub component: Option<String>,
    /// The container's name.
    pub container: String,
    /// The container's id.
    pub id: String,
    pub kind: ContainerEventKind,
    /// The container's labels, with the Engine's `name`, `image` and `exitCode` attributes.
    pub attributes: BTreeMap<String, String>,
}

impl ContainerEvent {
    /// None for actions monibox does not follow (the filter should not let them through).
    fn from_message(message: EventMessage) -> Option<Self> {
        let action = message.action?;
        let actor = message.actor?;
        let id = actor.id.unwrap_or_default();
        let attributes = actor.attributes?;
        let kind = match action.as_str() {
            "start" => ContainerEventKind::Started,
            "die" => ContainerEventKind::Died {
                exit_code: attributes
                    .get("exitCode")
                    .and_then(|code| code.parse().ok()),
            },
            "oom" => ContainerEventKind::OutOfMemory,
            "destroy" => ContainerEventKind::Destroyed,
            "pause" => ContainerEventKind::Paused,
            "unpause" => ContainerEventKind::Unpaused,
            other => match other.strip_prefix("health_status:").map(str::trim) {
                Some("healthy") => ContainerEventKind::Health(HealthState::Healthy),
                Some("unhealthy") => ContainerEventKind::Health(HealthState::Unhealthy),
                Some("starting") => ContainerEventKind::Health(HealthState::Starting),
                _ => return None,
            },
        };
        Some(Self {
            component: attributes.get(labels::COMPONENT).cloned(),
            container: attributes.get("name").cloned().unwrap_or_default(),
            id,
            kind,
            attributes: attributes.into_iter().collect(),
        })
    }
}

impl Docker {
    /// Follows the events of the containers in `scope` from now on. The stream ends (or yields
    /// an error) when the connection to the Engine breaks; the caller reconnects.
    pub fn container_events(
        &self,
        scope: EventScope<'_>,
    ) -> impl Stream<Item = Result<ContainerEvent, DockerError>> + Send + Unpin + 'static {
        let mut filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            (
                "event".to_owned(),
                ACTIONS.iter().map(|action| (*action).to_owned()).collect(),
            ),
        ]);
        let target = match scope {
            EventScope::Project(project) => {
                filters.insert(
                    "label".to_owned(),
                    vec![format!("{}={project}", labels::PROJECT)],
                );
                format!("of project {project}")
            }
            EventScope::Engine => "of all containers".to_owned(),
        };
        let options = EventsOptions {
            filters: Some(filters),
            ..Default::default()
        };
        let client = self.clone();
        Box::pin(self.engine.events(Some(options)).filter_map(move |item| {
            let mapped = match item {
                Ok(message) => ContainerEvent::from_message(message).map(Ok),
                Err(error) => Some(Err(client.fail("follow events", target.clone(), error))),
            };
            std::future::ready(mapped)
        }))
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::EventActor;

    use super::*;

    fn message(action: &str, attributes: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            action: Some(action.to_owned()),
            actor: Some(EventActor {
                id: Some("abc".to_owned()),
                attributes: Some(
                    attributes
                        .iter()
                        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                        .collect(),
                ),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn engine_actions_map_to_events_with_their_component() {
        let labelled = [
            ("name", "monibox-p-prometheus"),
            (labels::COMPONENT, "prometheus"),
            ("exitCode", "137"),
        ];
        let died = ContainerEvent::from_message(message("die", &labelled)).expect("die");
        assert_eq!(died.component.as_deref(), Some("prometheus"));
        assert_eq!(died.container, "monibox-p-prometheus");
        assert_eq!(died.id, "abc");
        assert_eq!(
            died.kind,
            ContainerEventKind::Died {
                exit_code: Some(137)
            }
        );
        let paused = ContainerEvent::from_message(message("pause", &labelled));
        assert_eq!(
            paused.map(|event| event.kind),
            Some(ContainerEventKind::Paused)
        );
        let unhealthy =
            ContainerEvent::from_message(message("health_status: unhealthy", &labelled));
        assert_eq!(
            unhealthy.map(|event| event.kind),
            Some(ContainerEventKind::Health(HealthState::Unhealthy))
        );
        assert_eq!(
            ContainerEvent::from_message(message("destroy", &labelled)).map(|event| event.kind),
            Some(ContainerEventKind::Destroyed)
        );
        assert_eq!(
            ContainerEvent::from_message(message("exec_start: wget", &labelled)),
            None
        );
    }
}
