//! The supervisor: the daemon task that keeps the project's containers running.
//!
//! It reads each component's container spec from `stack.json` (at start and on `resume`),
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
mod observe;
pub mod policy;
mod restart;
mod runner;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Timing;
use crate::stack::state::ProjectDir;
use metrics::SupervisorMetrics;
use policy::Reason;
use runner::{Interrupted, Runner};

/// A hold not followed by `resume` ends by itself after this long (an `up` that died).
pub const HOLD_EXPIRY: Duration = Duration::from_secs(120);
/// Longest wait between two attempts to reach the Engine.
pub const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(5);
/// First wait after the Engine could not be reached.
const FIRST_RECONNECT_WAIT: Duration = Duration::from_millis(250);
/// How long `hold` waits for a restart in flight to finish before answering.
const HOLD_WAIT: Duration = Duration::from_secs(30);

/// What the supervisor needs to start.
#[derive(Debug, Clone)]
pub struct SupervisorSettings {
    pub project: String,
    /// The project's state directory, whose `stack.json` it supervises.
    pub project_dir: ProjectDir,
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
    /// The timing profile it applies (check interval, backoff), from `stack.json`.
    #[serde(default)]
    pub timing: Option<Timing>,
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
    /// Restart attempts that failed (the container could not be created or started).
    #[serde(default)]
    pub failed_attempts_total: u64,
    /// Why the last failed attempt failed, while the component is still down.
    #[serde(default)]
    pub last_error: Option<String>,
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
    timing: Option<Timing>,
    components: Vec<ComponentView>,
}

#[derive(Debug)]
struct ComponentView {
    name: &'static str,
    state: &'static str,
    restarts_total: u64,
    failed_attempts_total: u64,
    last_error: Option<String>,
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
            timing: view.timing,
            components: view
                .components
                .iter()
                .map(|component| SupervisedComponent {
                    name: component.name.to_owned(),
                    state: component.state.to_owned(),
                    restarts_total: component.restarts_total,
                    failed_attempts_total: component.failed_attempts_total,
                    last_error: component.last_error.clone(),
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
