//! The instrumented demo service: a hyper server with `/` (health), `/slow`, `/error`,
//! `/cpu-intensive` and `/metrics`, its typed metrics and the system collector. It is what the
//! monitoring stack watches, and what `monibox load` drives.

mod exposition;
mod labels;
mod metrics;
mod routes;
mod system;
mod work;

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use exposition::ExpositionFormat;
pub use labels::{Endpoint, ErrorType, Method};
pub use metrics::DemoMetrics;
pub use system::SystemCollector;

use crate::httpd::{self, BindError, Bound, Limits};

/// Longest delay `/slow?ms=` may ask for.
pub const MAX_SLOW_MS: u64 = 10_000;
/// Most iterations `/cpu-intensive?n=` may ask for (about a second of work on one core).
pub const MAX_CPU_ITERATIONS: u64 = 500_000_000;

/// How the demo endpoints behave when a request does not say otherwise.
#[derive(Debug, Clone)]
pub struct DemoSettings {
    /// `/slow` waits a uniformly random time in this range, in milliseconds.
    pub slow_ms: RangeInclusive<u64>,
    /// Probability that `/error` fails, in [0, 1].
    pub error_rate: f64,
    /// `/cpu-intensive` does a uniformly random number of iterations in this range.
    pub cpu_iterations: RangeInclusive<u64>,
    /// Record metrics for each request. Off only for the benchmark that measures what the
    /// instrumentation costs.
    pub instrumented: bool,
    pub limits: Limits,
}

impl Default for DemoSettings {
    fn default() -> Self {
        Self {
            slow_ms: 100..=500,
            error_rate: 0.3,
            cpu_iterations: work::DEFAULT_ITERATIONS,
            instrumented: true,
            limits: Limits::default(),
        }
    }
}

/// Why the demo service could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("invalid demo setting: {0}")]
    Settings(String),
}

impl DemoSettings {
    /// Checks the settings a person or a config file chose.
    pub fn validate(&self) -> Result<(), DemoError> {
        if self.slow_ms.is_empty() || *self.slow_ms.end() > MAX_SLOW_MS {
            return Err(DemoError::Settings(format!(
                "the /slow delay range {}..{} ms must be ascending and at most {MAX_SLOW_MS} ms \
                 (serve: --slow-min-ms, --slow-max-ms; config: demo.slow_min_ms, demo.slow_max_ms)",
                self.slow_ms.start(),
                self.slow_ms.end()
            )));
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(DemoError::Settings(format!(
                "the /error rate {} must be between 0 and 1 (serve: --error-rate; config: \
                 demo.error_rate)",
                self.error_rate
            )));
        }
        if self.cpu_iterations.is_empty() || *self.cpu_iterations.end() > MAX_CPU_ITERATIONS {
            return Err(DemoError::Settings(format!(
                "the /cpu-intensive range {}..{} must be ascending and at most {MAX_CPU_ITERATIONS}",
                self.cpu_iterations.start(),
                self.cpu_iterations.end()
            )));
        }
        Ok(())
    }
}

/// What every request handler shares.
#[derive(Debug)]
struct DemoState {
    settings: DemoSettings,
    metrics: DemoMetrics,
    started: Instant,
    /// Bounds `/cpu-intensive` work running at once to the number of cores, so a flood of CPU
    /// requests queues instead of starving the blocking pool and every other request.
    cpu_slots: Arc<Semaphore>,
}

/// The demo service with its listeners bound, not yet serving.
#[derive(Debug)]
pub struct DemoService {
    bound: Bound,
    state: Arc<DemoState>,
}

impl DemoService {
    /// Binds every address (port 0 picks a free port). A taken port fails here, before anything
    /// is served.
    pub async fn bind(addrs: &[SocketAddr], settings: DemoSettings) -> Result<Self, DemoError> {
        settings.validate()?;
        let bound = Bound::bind(addrs).await?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let state = DemoState {
            metrics: DemoMetrics::new(env!("CARGO_PKG_VERSION"), SystemCollector::new()),
            settings,
            started: Instant::now(),
            cpu_slots: Arc::new(Semaphore::new(cores)),
        };
        Ok(Self {
            bound,
            state: Arc::new(state),
        })
    }

    /// The addresses being listened on, with the real ports.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.bound.local_addrs()
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests (bounded by the
    /// settings' drain timeout).
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), DemoError> {
        let limits = self.state.settings.limits.clone();
        httpd::serve(self.bound, self.state, limits, shutdown).await;
        Ok(())
    }
}

impl DemoState {
    fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}
