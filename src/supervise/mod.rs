//! The supervisor: the daemon task that keeps the project's containers running.
//!
//! It reads each component's [`ContainerSpec`] from `stack.json` (at start and on `resume`),
//! follows the Engine's events for the project's containers and checks every component
//! periodically (fast timing: every second; standard: every 5 s). A component whose container
//! exited, turned unhealthy or is gone is removed if present and recreated from its spec (its
//! data volume is kept), with the backoff and crash-loop rules of [`policy`]; its restarts are
//! counted in the self-metrics ([`metrics`]) and shown by `status` through
//! [`SupervisorHandle::snapshot`].
//!
//! - `hold` (sent by `up` before it reconciles the containers) stops all restarts until
//!   `resume` or [`HOLD_EXPIRY`], either of which re-reads stack.json; it answers once no
//!   restart is in flight. A daemon launched by
//!   `up` starts held, so it never races `up` creating the containers.
//! - When the Engine is unreachable the supervisor logs one warning, retries with backoff (capped
//!   at [`MAX_RECONNECT_WAIT`]) and, once the Engine answers again, checks every component at
//!   once. The daemon's other tasks keep serving meanwhile.
//!
//! Every Docker call has a timeout and every wait ends on the shutdown token.

pub mod metrics;
pub mod policy;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Timing;
use crate::docker::client::DEFAULT_DOCKER_HOST;
use crate::docker::images::Component;
use crate::docker::{
    ContainerSpec, ContainerState, ContainerStatus, Docker, DockerError, HealthState,
};
use crate::stack::record::StackRecord;
use metrics::SupervisorMetrics;
use policy::{Policy, Reason, Tracker};

/// A hold not followed by `resume` ends by itself after this long (an `up` that died).
pub const HOLD_EXPIRY: Duration = Duration::from_secs(120);
/// Longest wait between two attempts to reach the Engine.
pub const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(5);
/// First wait after the Engine could not be reached.
const FIRST_RECONNECT_WAIT: Duration = Duration::from_millis(250);
/// Limit of connecting (version negotiation).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Limit of one inspect or remove call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Limit of creating and starting a container.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a removal someone else started may take before the name is free again.
const NAME_FREE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a container being removed is looked at.
const NAME_FREE_POLL: Duration = Duration::from_millis(25);
/// How long `hold` waits for a restart in flight to finish before answering.
const HOLD_WAIT: Duration = Duration::from_secs(30);

/// What the supervisor needs to start.
#[derive(Debug, Clone)]
pub struct SupervisorSettings {
    pub project: String,
    /// The project's `stack.json`.
    pub stack_file: PathBuf,
    /// DOCKER_HOST as the daemon inherited it from `up`; None for the default socket.
    pub docker_host: Option<String>,
    /// Start held (see [`SupervisorHandle::hold`]): `up` launched the daemon and resumes it once
    /// the containers are in place.
    pub start_held: bool,
}

/// The supervisor as the control socket reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SupervisorSnapshot {
    pub engine_reachable: bool,
    pub held: bool,
    pub errors_total: u64,
    pub components: Vec<SupervisedComponent>,
}

impl SupervisorSnapshot {
    pub fn component(&self, name: &str) -> Option<&SupervisedComponent> {
        self.components
            .iter()
            .find(|component| component.name == name)
    }
}

/// One supervised component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisedComponent {
    pub name: String,
    /// `running`; `starting` (just restarted, or created and not yet running); `restarting`
    /// (a restart is due or under way); `backoff` (a restart waits for its backoff);
    /// `crash_looping`; `absent` (down, and nothing scheduled: held, or the Engine is away).
    pub state: String,
    /// Restarts done by this daemon.
    pub restarts_total: u64,
    /// `exited`, `oom`, `unhealthy` or `removed`.
    pub last_reason: Option<String>,
    /// Restarts since the component last stayed up for the stable period.
    pub consecutive_failures: u32,
    pub next_attempt_in_seconds: Option<f64>,
    pub crash_looping: bool,
}

/// Where the control socket reaches the supervisor: hold, resume and the snapshot.
#[derive(Debug, Clone)]
pub struct SupervisorHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    control: Mutex<ControlState>,
    /// Wakes the supervisor after a change of `control`.
    wake: Notify,
    /// Held by the supervisor while it restarts containers, so `hold` can wait them out.
    restarting: tokio::sync::Mutex<()>,
    view: Mutex<View>,
    metrics: SupervisorMetrics,
}

#[derive(Debug, Default)]
struct ControlState {
    held_until: Option<Instant>,
    resume_requested: bool,
}

/// What the supervisor last published about itself.
#[derive(Debug, Default)]
struct View {
    engine_reachable: bool,
    components: Vec<ComponentView>,
}

#[derive(Debug)]
struct ComponentView {
    name: &'static str,
    state: &'static str,
    restarts_total: u64,
    last_reason: Option<Reason>,
    consecutive_failures: u32,
    next_attempt: Option<Instant>,
    crash_looping: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl SupervisorHandle {
    /// Stops restarts until [`resume`](Self::resume) or [`HOLD_EXPIRY`], and returns once no
    /// restart is under way (or after a bounded wait); the hold's expiry is returned.
    pub async fn hold(&self) -> Duration {
        lock(&self.shared.control).held_until = Some(Instant::now() + HOLD_EXPIRY);
        self.shared.wake.notify_one();
        if tokio::time::timeout(HOLD_WAIT, self.shared.restarting.lock())
            .await
            .is_err()
        {
            tracing::warn!("a restart still runs after {HOLD_WAIT:?}; holding anyway");
        }
        HOLD_EXPIRY
    }

    /// Ends a hold; the supervisor re-reads stack.json and checks every component at once.
    pub fn resume(&self) {
        let mut control = lock(&self.shared.control);
        control.held_until = None;
        control.resume_requested = true;
        drop(control);
        self.shared.wake.notify_one();
    }

    pub fn snapshot(&self) -> SupervisorSnapshot {
        let now = Instant::now();
        let held = lock(&self.shared.control)
            .held_until
            .is_some_and(|until| until > now);
        let view = lock(&self.shared.view);
        SupervisorSnapshot {
            engine_reachable: view.engine_reachable,
            held,
            errors_total: self.shared.metrics.errors_total(),
            components: view
                .components
                .iter()
                .map(|component| SupervisedComponent {
                    name: component.name.to_owned(),
                    state: component.state.to_owned(),
                    restarts_total: component.restarts_total,
                    last_reason: component.last_reason.map(|r| r.as_str().to_owned()),
                    consecutive_failures: component.consecutive_failures,
                    next_attempt_in_seconds: component
                        .next_attempt
                        .map(|due| due.saturating_duration_since(now).as_secs_f64()),
                    crash_looping: component.crash_looping,
                })
                .collect(),
        }
    }
}

/// The supervisor, ready to run.
#[derive(Debug)]
pub struct Supervisor {
    settings: SupervisorSettings,
    shared: Arc<Shared>,
}

impl Supervisor {
    pub fn new(settings: SupervisorSettings, metrics: SupervisorMetrics) -> Self {
        let control = ControlState {
            held_until: settings.start_held.then(|| Instant::now() + HOLD_EXPIRY),
            resume_requested: false,
        };
        Self {
            settings,
            shared: Arc::new(Shared {
                control: Mutex::new(control),
                wake: Notify::new(),
                restarting: tokio::sync::Mutex::new(()),
                view: Mutex::new(View::default()),
                metrics,
            }),
        }
    }

    pub fn handle(&self) -> SupervisorHandle {
        SupervisorHandle {
            shared: self.shared.clone(),
        }
    }

    /// Supervises until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut runner = Runner::new(self.settings, self.shared);
        runner.load_record();
        runner.publish();
        while let Some(docker) = runner.connect(&shutdown).await {
            match runner.supervise(&docker, &shutdown).await {
                Interrupted::Shutdown => break,
                // Reconnecting tells a broken stream from an Engine that is gone.
                Interrupted::EngineLost => {}
            }
            // Not in a tight loop should the Engine end every stream at once.
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(FIRST_RECONNECT_WAIT) => {}
            }
        }
    }
}

/// What the supervisor last found a container doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Observed {
    Unknown,
    Up,
    /// Created, restarting (Docker's own policy) or paused: nothing to do (yet).
    Transient,
    Down(Reason),
}

/// What a container's inspection means for the supervisor.
fn observe(status: Option<&ContainerStatus>) -> Observed {
    let Some(status) = status else {
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

struct Supervised {
    component: Component,
    spec: ContainerSpec,
    tracker: Tracker,
    observed: Observed,
    /// Restarted, and not yet seen running since.
    restarted: bool,
}

struct Runner {
    settings: SupervisorSettings,
    shared: Arc<Shared>,
    policy: Policy,
    check_every: Duration,
    components: Vec<Supervised>,
    held: bool,
    engine_reachable: bool,
    /// The outage warning was logged (once per outage).
    warned_unreachable: bool,
}

/// Why supervising with one connection ended.
enum Interrupted {
    Shutdown,
    EngineLost,
}

impl Runner {
    fn new(settings: SupervisorSettings, shared: Arc<Shared>) -> Self {
        let held = lock(&shared.control)
            .held_until
            .is_some_and(|until| until > Instant::now());
        Self {
            settings,
            shared,
            policy: Policy::for_timing(Timing::Standard),
            check_every: check_interval(Timing::Standard),
            components: Vec::new(),
            held,
            engine_reachable: false,
            warned_unreachable: false,
        }
    }

    fn metrics(&self) -> &SupervisorMetrics {
        &self.shared.metrics
    }

    /// (Re-)reads stack.json: the components to supervise and the timing. Components whose spec
    /// changed (`up` replaced them) start a fresh failure history.
    fn load_record(&mut self) {
        let record = match StackRecord::read(&self.settings.stack_file) {
            Ok(Some(record)) if record.project == self.settings.project => record,
            Ok(_) => {
                tracing::warn!(
                    file = %self.settings.stack_file.display(),
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
        self.check_every = check_interval(record.timing);
        let now = Instant::now();
        let mut previous = std::mem::take(&mut self.components);
        for recorded in &record.components {
            let Some(component) = Component::ALL
                .into_iter()
                .find(|component| component.as_str() == recorded.name)
            else {
                continue;
            };
            let Some(spec) = recorded.spec.clone() else {
                continue;
            };
            let supervised = match previous.iter().position(|s| s.component == component) {
                Some(index) => {
                    let mut kept = previous.swap_remove(index);
                    kept.tracker.set_policy(self.policy);
                    if kept.spec.spec_hash() != spec.spec_hash() {
                        kept.tracker.reset_failures(now);
                        kept.spec = spec;
                    }
                    kept
                }
                None => Supervised {
                    component,
                    spec,
                    tracker: Tracker::new(self.policy, now),
                    observed: Observed::Unknown,
                    restarted: false,
                },
            };
            self.components.push(supervised);
        }
        for dropped in previous {
            self.metrics().set_container_up(dropped.component, false);
        }
        tracing::info!(
            components = %self
                .components
                .iter()
                .map(|s| s.component.as_str())
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
    async fn connect(&mut self, shutdown: &CancellationToken) -> Option<Docker> {
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
    async fn supervise(&mut self, docker: &Docker, shutdown: &CancellationToken) -> Interrupted {
        let mut events = docker.container_events(&self.settings.project);
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
                            Some(s.component.as_str()) == event.component.as_deref()
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
    fn apply_control(&mut self, now: Instant) -> bool {
        let mut control = lock(&self.shared.control);
        let held = control.held_until.is_some_and(|until| until > now);
        if !held {
            control.held_until = None;
        }
        let resumed = std::mem::take(&mut control.resume_requested);
        drop(control);
        if held && !self.held {
            tracing::info!("held: no restarts until `up` resumes supervision");
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
        let observed = observe(inspected.as_ref());
        let held = self.held;
        let metrics = self.shared.metrics.clone();
        let supervised = &mut self.components[index];
        supervised.observed = observed;
        let now = Instant::now();
        metrics.set_container_up(supervised.component, observed == Observed::Up);
        match observed {
            Observed::Up => {
                supervised.restarted = false;
                supervised.tracker.observe_up(now);
            }
            Observed::Down(reason) if !held => {
                if supervised.tracker.pending().is_none() {
                    tracing::info!(
                        component = supervised.component.as_str(),
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

    /// Restarts every component whose restart is due, concurrently.
    async fn restart_due(
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
        let due: Vec<(usize, ContainerSpec)> = self
            .components
            .iter()
            .enumerate()
            .filter(|(_, s)| s.tracker.due(now).is_some())
            .map(|(index, s)| (index, s.spec.clone()))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        self.publish_with(|view| {
            for (index, _) in &due {
                if let Some(component) = view.components.get_mut(*index) {
                    component.state = "restarting";
                }
            }
        });
        let work = join_all(due.iter().map(|(_, spec)| recreate(docker, spec)));
        let results = tokio::select! {
            () = shutdown.cancelled() => return Err(Interrupted::Shutdown),
            results = work => results,
        };
        let mut lost = false;
        let mut moved_ports = Vec::new();
        for ((index, spec), result) in due.iter().zip(results) {
            let done = Instant::now();
            match result {
                Ok(status) => {
                    // An `auto` port is picked afresh by Docker for the new container.
                    for publish in spec.ports.iter().filter(|p| p.host_port == 0) {
                        if let Some(address) = status.host_address(publish.container_port) {
                            moved_ports.push((
                                spec.component.clone(),
                                publish.container_port,
                                address.port(),
                            ));
                        }
                    }
                    let supervised = &mut self.components[*index];
                    let was_looping = supervised.tracker.crash_looping();
                    let reason = supervised.tracker.restarted(done);
                    supervised.restarted = true;
                    supervised.observed = Observed::Unknown;
                    let component = supervised.component;
                    let (total, looping) = (
                        supervised.tracker.restarts_total(),
                        supervised.tracker.crash_looping(),
                    );
                    self.metrics().count_restart(component, reason);
                    tracing::info!(
                        component = component.as_str(),
                        reason = reason.as_str(),
                        restarts = total,
                        "restarted"
                    );
                    if looping && !was_looping {
                        tracing::warn!(
                            component = component.as_str(),
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
    /// `load` and the URLs `up` printed follow them. (`up` holds the supervisor before it writes
    /// the record, so the two never write it at once.)
    fn record_ports(&self, ports: &[(String, u16, u16)]) {
        let path = &self.settings.stack_file;
        let mut record = match StackRecord::read(path) {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot update the ports in stack.json");
                return;
            }
        };
        let mut changed = false;
        for (name, container_port, host_port) in ports {
            for component in &mut record.components {
                if &component.name == name
                    && component.container_port == *container_port
                    && component.host_port != Some(*host_port)
                {
                    component.host_port = Some(*host_port);
                    changed = true;
                }
            }
        }
        if changed {
            if let Err(error) = record.write(path) {
                tracing::warn!(%error, "cannot update the ports in stack.json");
            }
        }
    }

    /// Counts a failed Docker call; an unreachable Engine interrupts supervision, any other
    /// failure is retried at the next check.
    fn docker_failed(&self, target: &str, error: &DockerError) -> Result<(), Interrupted> {
        self.metrics().count_error();
        if error.is_unreachable() {
            tracing::debug!(%error, "the Engine went away");
            Err(Interrupted::EngineLost)
        } else {
            tracing::warn!(container = target, %error, "Docker call failed");
            Ok(())
        }
    }

    fn publish(&self) {
        self.publish_with(|_| {});
    }

    /// Publishes the current view for the control socket, adjusted by `adjust`.
    fn publish_with(&self, adjust: impl FnOnce(&mut View)) {
        let mut view = View {
            engine_reachable: self.engine_reachable,
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
                        name: s.component.as_str(),
                        state,
                        restarts_total: s.tracker.restarts_total(),
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

fn check_interval(timing: Timing) -> Duration {
    match timing {
        Timing::Fast => Duration::from_secs(1),
        Timing::Standard => Duration::from_secs(5),
    }
}

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
}

/// `call` within `limit`; running out of time is the Engine not answering.
async fn timed<T>(
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

/// A removal that does not finish: the Engine answers (it is not unreachable), so supervision
/// goes on and the restart is retried after its backoff.
fn still_removing(name: &str) -> DockerError {
    DockerError::StillRemoving {
        container: name.to_owned(),
        timeout: NAME_FREE_TIMEOUT,
    }
}

/// Removes the component's container if there is one (waiting until a removal someone else
/// started is done, so the name is free) and creates it afresh from its spec.
async fn recreate(docker: &Docker, spec: &ContainerSpec) -> Result<ContainerStatus, DockerError> {
    let name = spec.name.as_str();
    timed(
        CALL_TIMEOUT,
        "remove container",
        name,
        docker.remove_container(name),
    )
    .await?;
    let deadline = Instant::now() + NAME_FREE_TIMEOUT;
    while timed(
        CALL_TIMEOUT,
        "inspect container",
        name,
        docker.inspect_container(name),
    )
    .await?
    .is_some()
    {
        if Instant::now() >= deadline {
            return Err(still_removing(name));
        }
        tokio::time::sleep(NAME_FREE_POLL).await;
    }
    timed(
        RUN_TIMEOUT,
        "create and start container",
        name,
        docker.run_container(spec),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::record::tests::record;

    /// A supervisor (not running) and its runner, having read `stack_file` (holding `stack`).
    fn supervising(stack: &StackRecord, stack_file: &std::path::Path) -> (Supervisor, Runner) {
        let settings = SupervisorSettings {
            project: stack.project.clone(),
            stack_file: stack_file.to_owned(),
            docker_host: None,
            start_held: false,
        };
        let supervisor = Supervisor::new(settings.clone(), SupervisorMetrics::default());
        let mut runner = Runner::new(settings, supervisor.shared.clone());
        runner.load_record();
        (supervisor, runner)
    }

    #[test]
    fn a_resume_applies_a_changed_timing_to_the_components_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stack_file = dir.path().join("stack.json");
        let mut stack = record();
        stack.timing = Timing::Fast;
        stack.write(&stack_file).expect("write");
        let (supervisor, mut runner) = supervising(&stack, &stack_file);

        stack.timing = Timing::Standard;
        stack.write(&stack_file).expect("write");
        supervisor.handle().resume();
        assert!(runner.apply_control(Instant::now()));
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
    fn a_removal_that_does_not_finish_is_not_an_engine_outage() {
        let error = still_removing("monibox-p-prometheus");
        assert!(!error.is_unreachable(), "{error}");
    }

    #[test]
    fn an_expired_hold_supervises_the_specs_up_recorded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stack_file = dir.path().join("stack.json");
        let mut stack = record();
        stack.write(&stack_file).expect("write");
        let (supervisor, mut runner) = supervising(&stack, &stack_file);

        // `up` holds, records a changed spec, and dies before it resumes.
        let handle = supervisor.handle();
        lock(&handle.shared.control).held_until = Some(Instant::now() + HOLD_EXPIRY);
        assert!(
            !runner.apply_control(Instant::now()),
            "held: nothing to look at"
        );
        let spec = stack.components[0].spec.as_mut().expect("a spec");
        spec.image = "monibox-local/prometheus:changed".to_owned();
        stack.write(&stack_file).expect("write");

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
