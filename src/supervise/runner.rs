//! The supervisor's loop: connecting to the Engine (with backoff while it is away), following
//! the project's container events, checking every component periodically, applying hold and
//! resume, and publishing what it found for the control socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::metrics::SupervisorMetrics;
use super::observe::{Observed, observe};
use super::policy::{Policy, Tracker};
use super::{FIRST_RECONNECT_WAIT, MAX_RECONNECT_WAIT, Shared, SupervisorSettings, lock};
use crate::catalog::{self, ComponentDef};
use crate::config::Timing;
use crate::docker::client::DEFAULT_DOCKER_HOST;
use crate::docker::error::timed;
use crate::docker::{ContainerSpec, Docker, DockerError, EventScope};
use crate::stack::store::StackStore;

/// Limit of connecting (version negotiation).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Limit of one inspect call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Supervised {
    pub(super) def: &'static ComponentDef,
    pub(super) spec: ContainerSpec,
    pub(super) tracker: Tracker,
    pub(super) observed: Observed,
    /// Restarted, and not yet seen running since.
    pub(super) restarted: bool,
    /// Why the last restart attempt failed, until the component is seen up again.
    pub(super) last_error: Option<String>,
    /// The host ports its `auto` ports had (container port → host port), asked for again when
    /// it is recreated, so its URLs stay the same.
    pub(super) preferred_ports: std::collections::BTreeMap<u16, u16>,
}

pub(super) struct Runner {
    settings: SupervisorSettings,
    pub(super) shared: Arc<Shared>,
    policy: Policy,
    pub(super) timing: Option<Timing>,
    check_every: Duration,
    pub(super) components: Vec<Supervised>,
    pub(super) held: bool,
    pub(super) engine_reachable: bool,
    /// The outage warning was logged (once per outage).
    warned_unreachable: bool,
}

/// Why supervising with one connection ended.
pub(super) enum Interrupted {
    Shutdown,
    EngineLost,
}

impl Runner {
    pub(super) fn new(settings: SupervisorSettings, shared: Arc<Shared>) -> Self {
        let held = lock(&shared.control)
            .held_until
            .is_some_and(|until| until > Instant::now());
        Self {
            settings,
            shared,
            policy: Policy::for_timing(Timing::Standard),
            timing: None,
            check_every: check_interval(Timing::Standard),
            components: Vec::new(),
            held,
            engine_reachable: false,
            warned_unreachable: false,
        }
    }

    pub(super) fn metrics(&self) -> &SupervisorMetrics {
        &self.shared.metrics
    }

    pub(super) fn store(&self) -> StackStore {
        StackStore::new(&self.settings.project_dir, &self.settings.project)
    }

    /// (Re-)reads stack.json: the components to supervise and the timing. Components whose spec
    /// changed (`up` replaced them) start a fresh failure history.
    pub(super) fn load_record(&mut self) {
        let store = self.store();
        let record = match store.read() {
            Ok(Some(record)) => record,
            Ok(None) => {
                tracing::warn!(
                    file = %store.path().display(),
                    "no stack.json for this project; nothing to supervise until `monibox up`"
                );
                self.components.clear();
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read stack.json; keeping what is supervised");
                return;
            }
        };
        self.policy = Policy::for_timing(record.timing);
        self.timing = Some(record.timing);
        self.check_every = check_interval(record.timing);
        let now = Instant::now();
        let mut previous = std::mem::take(&mut self.components);
        for recorded in &record.components {
            let Some(def) = catalog::get(&recorded.name) else {
                continue;
            };
            let Some(spec) = recorded.spec.clone() else {
                continue;
            };
            let preferred_ports = recorded
                .host_port
                .map(|port| std::collections::BTreeMap::from([(recorded.container_port, port)]))
                .unwrap_or_default();
            let supervised = match previous.iter().position(|s| s.def.name == def.name) {
                Some(index) => {
                    let mut kept = previous.swap_remove(index);
                    kept.tracker.set_policy(self.policy);
                    if kept.spec.spec_hash() != spec.spec_hash() {
                        kept.tracker.reset_failures(now);
                        kept.spec = spec;
                    }
                    kept.preferred_ports = preferred_ports;
                    kept
                }
                None => Supervised {
                    def,
                    spec,
                    tracker: Tracker::new(self.policy, now),
                    observed: Observed::Unknown,
                    restarted: false,
                    last_error: None,
                    preferred_ports,
                },
            };
            self.components.push(supervised);
        }
        for name in catalog::names() {
            if !self.components.iter().any(|s| s.def.name == name) {
                self.metrics().forget_container_up(name);
            }
        }
        tracing::info!(
            components = %self
                .components
                .iter()
                .map(|s| s.def.name)
                .collect::<Vec<_>>()
                .join(","),
            held = self.held,
            "supervising"
        );
    }

    fn set_engine_reachable(&mut self, reachable: bool) {
        self.engine_reachable = reachable;
        self.metrics().set_engine_up(reachable);
        self.publish();
    }

    /// Connects to the Engine, retrying with backoff; None once `shutdown` is cancelled.
    pub(super) async fn connect(&mut self, shutdown: &CancellationToken) -> Option<Docker> {
        let mut wait = FIRST_RECONNECT_WAIT;
        loop {
            if shutdown.is_cancelled() {
                return None;
            }
            let connected = tokio::select! {
                () = shutdown.cancelled() => return None,
                connected = Docker::connect(self.settings.docker_host.as_deref(), CONNECT_TIMEOUT) => connected,
            };
            match connected {
                Ok(docker) => {
                    if self.warned_unreachable {
                        tracing::info!("Docker Engine reachable again; resuming supervision");
                        self.warned_unreachable = false;
                    }
                    self.set_engine_reachable(true);
                    return Some(docker);
                }
                Err(error) => {
                    self.metrics().count_error();
                    if !self.warned_unreachable {
                        let endpoint = self
                            .settings
                            .docker_host
                            .as_deref()
                            .filter(|host| !host.is_empty())
                            .unwrap_or(DEFAULT_DOCKER_HOST);
                        tracing::warn!(
                            "Docker Engine unreachable at {endpoint}: {error}; retrying with backoff"
                        );
                        self.warned_unreachable = true;
                    }
                    self.set_engine_reachable(false);
                }
            }
            let retry_at = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    () = tokio::time::sleep_until(retry_at) => break,
                    () = self.shared.wake.notified() => {
                        // Hold and resume still apply while the Engine is away.
                        self.apply_control(Instant::now());
                        self.publish();
                    }
                }
            }
            wait = (wait * 2).min(MAX_RECONNECT_WAIT);
        }
    }

    /// Supervises through one connection until it breaks or `shutdown` is cancelled.
    pub(super) async fn supervise(
        &mut self,
        docker: &Docker,
        shutdown: &CancellationToken,
    ) -> Interrupted {
        let mut events = docker.container_events(EventScope::Project(&self.settings.project));
        if let Err(lost) = self.check_all(docker).await {
            return lost;
        }
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + self.check_every,
            self.check_every,
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.publish();
            let now = Instant::now();
            let next_due = if self.held {
                None
            } else {
                self.components
                    .iter()
                    .filter_map(|s| s.tracker.pending().map(|p| p.due))
                    .min()
            };
            let hold_ends = lock(&self.shared.control).held_until.filter(|_| self.held);
            let far = now + Duration::from_secs(3600);
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return Interrupted::Shutdown,
                () = self.shared.wake.notified() => {
                    let resumed = self.apply_control(Instant::now());
                    if resumed { self.check_all(docker).await } else { Ok(()) }
                }
                () = sleep_until(hold_ends.unwrap_or(far)), if hold_ends.is_some() => {
                    tracing::warn!("the hold expired without a resume; supervising again");
                    self.apply_control(Instant::now());
                    self.check_all(docker).await
                }
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        let index = self.components.iter().position(|s| {
                            Some(s.def.name) == event.component.as_deref()
                        });
                        tracing::debug!(?event, "container event");
                        match index {
                            Some(index) => self.check(docker, index).await,
                            None => Ok(()),
                        }
                    }
                    Some(Err(error)) => {
                        self.metrics().count_error();
                        tracing::debug!(%error, "the event stream broke; reconnecting");
                        Err(Interrupted::EngineLost)
                    }
                    None => {
                        tracing::debug!("the event stream ended; reconnecting");
                        Err(Interrupted::EngineLost)
                    }
                },
                _ = tick.tick() => self.check_all(docker).await,
                () = sleep_until(next_due.unwrap_or(far)), if next_due.is_some() => {
                    self.restart_due(docker, shutdown).await
                }
            };
            if let Err(interrupted) = outcome {
                return interrupted;
            }
        }
    }

    /// Applies hold and resume; true when a resume asks for a fresh look at everything.
    pub(super) fn apply_control(&mut self, now: Instant) -> bool {
        let mut control = lock(&self.shared.control);
        let held = control.held_until.is_some_and(|until| until > now);
        if !held {
            control.held_until = None;
        }
        let resumed = std::mem::take(&mut control.resume_requested);
        drop(control);
        if held && !self.held {
            tracing::info!(
                "held: no restarts until the command that holds it (up or reload) resumes supervision"
            );
            for supervised in &mut self.components {
                supervised.tracker.cancel_pending();
            }
        }
        let expired = self.held && !held && !resumed;
        self.held = held;
        if resumed {
            tracing::info!("resumed; re-reading stack.json");
        }
        // An `up` that held and then died may still have replaced containers: it wrote their
        // specs to stack.json before holding, so an expired hold re-reads it like a resume.
        if resumed || expired {
            self.load_record();
        }
        resumed || expired
    }

    async fn check_all(&mut self, docker: &Docker) -> Result<(), Interrupted> {
        for index in 0..self.components.len() {
            self.check(docker, index).await?;
        }
        Ok(())
    }

    /// Inspects one component and feeds what it finds to its tracker.
    async fn check(&mut self, docker: &Docker, index: usize) -> Result<(), Interrupted> {
        let Some(name) = self.components.get(index).map(|s| s.spec.name.clone()) else {
            return Ok(());
        };
        let inspected = match timed(
            CALL_TIMEOUT,
            "inspect container",
            &name,
            docker.inspect_container(&name),
        )
        .await
        {
            Ok(inspected) => inspected,
            Err(error) => return self.docker_failed(&name, &error),
        };
        let observed = observe(inspected.as_ref(), &self.settings.project);
        let held = self.held;
        let metrics = self.shared.metrics.clone();
        let supervised = &mut self.components[index];
        supervised.observed = observed;
        let now = Instant::now();
        metrics.set_container_up(supervised.def.name, observed == Observed::Up);
        match observed {
            Observed::Up => {
                supervised.restarted = false;
                supervised.last_error = None;
                supervised.tracker.observe_up(now);
            }
            Observed::Down(reason) if !held => {
                if supervised.tracker.pending().is_none() {
                    tracing::info!(
                        component = supervised.def.name,
                        reason = reason.as_str(),
                        "component down"
                    );
                }
                supervised.tracker.observe_failure(reason, now);
            }
            Observed::Down(_) | Observed::Transient | Observed::Unknown => {}
        }
        Ok(())
    }

    /// Counts a failed Docker call; an unreachable Engine interrupts supervision, any other
    /// failure is retried at the next check.
    pub(super) fn docker_failed(
        &self,
        target: &str,
        error: &DockerError,
    ) -> Result<(), Interrupted> {
        self.metrics().count_error();
        if error.is_unreachable() {
            tracing::debug!(%error, "the Engine went away");
            Err(Interrupted::EngineLost)
        } else {
            tracing::warn!(container = target, %error, "Docker call failed");
            Ok(())
        }
    }
}
fn check_interval(timing: Timing) -> Duration {
    match timing {
        Timing::Fast => Duration::from_secs(1),
        Timing::Standard => Duration::from_secs(5),
    }
}

pub(super) async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
}

#[cfg(test)]
mod tests {
    use super::super::policy::Reason;
    use super::super::{HOLD_EXPIRY, Supervisor};
    use super::*;
    use crate::stack::record::StackRecord;
    use crate::stack::record::tests::record;
    use crate::stack::state::StateRoot;

    /// A supervisor (not running) and its runner, having read `stack` from `store`.
    fn supervising(stack: &StackRecord, dir: &std::path::Path) -> (Supervisor, Runner, StackStore) {
        let project_dir = StateRoot::resolve(Some(dir), None, None)
            .expect("root")
            .project(&stack.project);
        project_dir.create().expect("create");
        let store = StackStore::new(&project_dir, &stack.project);
        store.replace(stack).expect("write");
        let settings = SupervisorSettings {
            project: stack.project.clone(),
            project_dir,
            docker_host: None,
            start_held: false,
        };
        let supervisor = Supervisor::new(settings.clone(), SupervisorMetrics::default());
        let mut runner = Runner::new(settings, supervisor.shared.clone());
        runner.load_record();
        (supervisor, runner, store)
    }

    #[test]
    fn a_resume_applies_a_changed_timing_to_the_components_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut stack = record();
        stack.timing = Timing::Fast;
        let (supervisor, mut runner, store) = supervising(&stack, dir.path());
        assert_eq!(
            supervisor.handle().snapshot().timing,
            None,
            "not published yet"
        );
        runner.publish();
        assert_eq!(supervisor.handle().snapshot().timing, Some(Timing::Fast));

        stack.timing = Timing::Standard;
        store.replace(&stack).expect("write");
        supervisor.handle().resume();
        assert!(runner.apply_control(Instant::now()));
        runner.publish();
        assert_eq!(
            supervisor.handle().snapshot().timing,
            Some(Timing::Standard)
        );
        let standard = Policy::for_timing(Timing::Standard);
        let tracker = &mut runner.components.first_mut().expect("prometheus").tracker;
        let at = Instant::now();
        tracker.observe_failure(Reason::Exited, at);
        tracker.restarted(at);
        assert_eq!(
            tracker.observe_failure(Reason::Exited, at),
            at + standard.first_wait,
            "the second restart waits as the new timing says"
        );
    }

    #[test]
    fn an_expired_hold_supervises_the_specs_up_recorded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut stack = record();
        let (supervisor, mut runner, store) = supervising(&stack, dir.path());

        // `up` holds, records a changed spec, and dies before it resumes.
        let handle = supervisor.handle();
        lock(&handle.shared.control).held_until = Some(Instant::now() + HOLD_EXPIRY);
        assert!(
            !runner.apply_control(Instant::now()),
            "held: nothing to look at"
        );
        let spec = stack.components[0].spec.as_mut().expect("a spec");
        spec.image = "monibox-local/prometheus:changed".to_owned();
        store.replace(&stack).expect("write");

        let after_expiry = Instant::now() + HOLD_EXPIRY + Duration::from_secs(1);
        assert!(
            runner.apply_control(after_expiry),
            "expired: look at everything"
        );
        assert!(!runner.held);
        assert_eq!(
            runner.components.first().map(|s| s.spec.image.as_str()),
            Some("monibox-local/prometheus:changed")
        );
    }
}
