//! Restarting the components whose restart is due: recreating each from its spec (all at
//! once, each bounded in time), counting it, and recording the host port Docker picked for an
//! `auto` port.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use super::observe::Observed;
use super::runner::{Interrupted, Runner};
use crate::docker::error::timed;
use crate::docker::{ContainerSpec, ContainerStatus, Docker, DockerError};
use crate::stack::reconcile;

/// Limit of recreating one container (removing the old one, creating and starting the new).
const RECREATE_TIMEOUT: Duration = Duration::from_secs(45);

impl Runner {
    /// Restarts every component whose restart is due, concurrently.
    pub(super) async fn restart_due(
        &mut self,
        docker: &Docker,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let shared = self.shared.clone();
        let _restarting = shared.restarting.lock().await;
        // A hold that arrived while waiting for the lock wins.
        self.apply_control(Instant::now());
        if self.held {
            return Ok(());
        }
        let now = Instant::now();
        let due: Vec<(usize, ContainerSpec, BTreeMap<u16, u16>)> = self
            .components
            .iter()
            .enumerate()
            .filter(|(_, s)| s.tracker.due(now).is_some())
            .map(|(index, s)| (index, s.spec.clone(), s.preferred_ports.clone()))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        self.publish_with(|view| {
            for (index, _, _) in &due {
                if let Some(component) = view.components.get_mut(*index) {
                    component.state = "restarting";
                }
            }
        });
        let work = join_all(
            due.iter()
                .map(|(_, spec, preferred)| recreate(docker, spec, preferred)),
        );
        let results = tokio::select! {
            () = shutdown.cancelled() => return Err(Interrupted::Shutdown),
            results = work => results,
        };
        let mut lost = false;
        let mut moved_ports = Vec::new();
        for ((index, spec, _), result) in due.iter().zip(results) {
            let done = Instant::now();
            match result {
                Ok(status) => {
                    let supervised = &mut self.components[*index];
                    // An `auto` port keeps its host port while that is free; if Docker had to
                    // pick another, stack.json and the next recreate follow it.
                    for publish in spec.ports.iter().filter(|p| p.host_port == 0) {
                        if let Some(address) = status.host_address(publish.container_port) {
                            supervised
                                .preferred_ports
                                .insert(publish.container_port, address.port());
                            moved_ports.push((
                                spec.component.clone(),
                                publish.container_port,
                                address.port(),
                            ));
                        }
                    }
                    let was_looping = supervised.tracker.crash_looping();
                    let reason = supervised.tracker.restarted(done);
                    supervised.restarted = true;
                    supervised.last_error = None;
                    supervised.observed = Observed::Unknown;
                    let component = supervised.def.name;
                    let (total, looping) = (
                        supervised.tracker.restarts_total(),
                        supervised.tracker.crash_looping(),
                    );
                    self.metrics().count_restart(component, reason);
                    tracing::info!(
                        component,
                        reason = reason.as_str(),
                        restarts = total,
                        "restarted"
                    );
                    if looping && !was_looping {
                        tracing::warn!(
                            component,
                            "crash-looping: restarted {total} times without staying up; \
                             restarts go on with a growing wait"
                        );
                    }
                }
                Err(error) => {
                    lost |= error.is_unreachable();
                    self.metrics().count_error();
                    let supervised = &mut self.components[*index];
                    supervised.tracker.restart_failed(done);
                    supervised.last_error = Some(error.to_string());
                    tracing::warn!(container = %spec.name, %error, "restarting failed; trying again later");
                }
            }
        }
        if !moved_ports.is_empty() {
            self.record_ports(&moved_ports);
        }
        if lost {
            return Err(Interrupted::EngineLost);
        }
        Ok(())
    }

    /// Writes the host ports Docker picked for recreated containers into stack.json, so `status`,
    /// `load` and the URLs `up` printed follow them: a read-modify-write of just those ports
    /// (see `stack::store`), never while held.
    fn record_ports(&self, ports: &[(String, u16, u16)]) {
        let updated = self.store().update(|record| {
            for (name, container_port, host_port) in ports {
                for component in &mut record.components {
                    if &component.name == name && component.container_port == *container_port {
                        component.host_port = Some(*host_port);
                    }
                }
            }
        });
        if let Err(error) = updated {
            tracing::warn!(%error, "cannot update the ports in stack.json");
        }
    }
}

/// Recreates the component's container from its spec (killing one that still runs, such as an
/// unhealthy one), within [`RECREATE_TIMEOUT`]; a container of that name that is not the
/// project's is refused and left alone.
async fn recreate(
    docker: &Docker,
    spec: &ContainerSpec,
    preferred: &BTreeMap<u16, u16>,
) -> Result<ContainerStatus, DockerError> {
    timed(
        RECREATE_TIMEOUT,
        "recreate container",
        &spec.name,
        reconcile::recreate(docker, spec, Duration::ZERO, preferred),
    )
    .await
}
