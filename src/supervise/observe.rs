//! What the supervisor makes of a container it inspected ([`observe`]), and the view of every
//! component it publishes for the control socket (`monibox status`).

use std::time::Instant;

use super::policy::Reason;
use super::runner::Runner;
use super::{ComponentView, View, lock};
use crate::docker::{ContainerState, ContainerStatus, HealthState};

/// What the supervisor last found a container doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Observed {
    Unknown,
    Up,
    /// Created, restarting (Docker's own policy) or paused: nothing to do (yet).
    Transient,
    Down(Reason),
}

/// What a container's inspection means for the supervisor. A container of the name that is not
/// `project`'s counts as the component being gone: its restart then fails, naming the container,
/// and the container is left alone.
pub(super) fn observe(status: Option<&ContainerStatus>, project: &str) -> Observed {
    let Some(status) = status.filter(|status| status.project() == Some(project)) else {
        return Observed::Down(Reason::Removed);
    };
    match status.state {
        ContainerState::Running if status.health == Some(HealthState::Unhealthy) => {
            Observed::Down(Reason::Unhealthy)
        }
        ContainerState::Running => Observed::Up,
        ContainerState::Exited if status.oom_killed => Observed::Down(Reason::Oom),
        ContainerState::Exited => Observed::Down(Reason::Exited),
        // `docker rm -f` marks the container as being removed (then dead) before it is gone.
        ContainerState::Removing | ContainerState::Dead => Observed::Down(Reason::Removed),
        ContainerState::Created
        | ContainerState::Restarting
        | ContainerState::Paused
        | ContainerState::Unknown => Observed::Transient,
    }
}

impl Runner {
    /// Publishes the current view for the control socket.
    pub(super) fn publish(&self) {
        self.publish_with(|_| {});
    }

    /// Publishes the current view for the control socket, adjusted by `adjust`.
    pub(super) fn publish_with(&self, adjust: impl FnOnce(&mut View)) {
        let mut view = View {
            engine_reachable: self.engine_reachable,
            timing: self.timing,
            components: self
                .components
                .iter()
                .map(|s| {
                    let pending = if self.held { None } else { s.tracker.pending() };
                    let now = Instant::now();
                    let state = if s.tracker.crash_looping() {
                        "crash_looping"
                    } else if let Some(pending) = pending {
                        if pending.due > now {
                            "backoff"
                        } else {
                            "restarting"
                        }
                    } else {
                        match s.observed {
                            Observed::Up => "running",
                            Observed::Unknown | Observed::Transient => "starting",
                            Observed::Down(_) if s.restarted => "starting",
                            Observed::Down(_) => "absent",
                        }
                    };
                    ComponentView {
                        name: s.def.name,
                        state,
                        restarts_total: s.tracker.restarts_total(),
                        failed_attempts_total: s.tracker.failed_attempts_total(),
                        last_error: s.last_error.clone(),
                        last_reason: s.tracker.last_reason(),
                        consecutive_failures: s.tracker.attempts_since_stable(),
                        next_attempt: pending.map(|p| p.due),
                        crash_looping: s.tracker.crash_looping(),
                    }
                })
                .collect(),
        };
        adjust(&mut view);
        *lock(&self.shared.view) = view;
    }
}
