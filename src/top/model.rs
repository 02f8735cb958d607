//! What one frame of `monibox top` shows: a [`Snapshot`] of panels, each holding the values of
//! its last successful gathering together with how old they are and why the latest gathering
//! failed, so a screen never shows a stale value as current. The `--json` form is this
//! serialised.

use serde::Serialize;

use crate::daemon::alerts::ReceivedAlert;
use crate::promapi::{ActiveAlert, TargetStatus};
use crate::status::ComponentStatus;

/// Everything one frame shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub project: String,
    /// Whether the project has a stack record (`monibox up` ran and no `down` since); when
    /// false every panel says why it has nothing.
    pub running: bool,
    /// When this was gathered, RFC 3339 (UTC).
    pub taken_at: String,
    /// The refresh interval, in seconds.
    pub interval_seconds: f64,
    /// The components as `monibox status` sees them (Docker, the daemon, the probes).
    pub components: Panel<Vec<ComponentStatus>>,
    /// Per job and endpoint of the demo service's instrumentation (`app_request_*`).
    pub endpoints: Panel<Vec<EndpointStats>>,
    /// Scrape targets whose health is `down`, with their last error.
    pub targets_down: Panel<Vec<TargetStatus>>,
    /// Alerts pending or firing in Prometheus, firing first.
    pub alerts: Panel<Vec<ActiveAlert>>,
    /// The latest alerts the daemon's webhook received from Alertmanager, newest first.
    pub notifications: Panel<Vec<ReceivedAlert>>,
    /// cAdvisor's containers (`container_cpu_usage_seconds_total`,
    /// `container_memory_working_set_bytes`) by CPU, when Prometheus has them; else empty.
    pub containers: Panel<Vec<ContainerUsage>>,
    /// `slo:period_error_budget_remaining:ratio` by `slo`, when Prometheus has it; else empty.
    pub slos: Panel<Vec<SloBudget>>,
    /// The client side of running `monibox load` runs (`monibox_load_*`); None when none runs.
    pub load: Panel<Option<LoadFigures>>,
}

/// One panel's values and their freshness.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Panel<T> {
    /// The values of the last successful gathering; None before the first one.
    pub values: Option<T>,
    /// How old `values` are, in seconds (0 when the latest gathering succeeded); None without
    /// values.
    pub age_seconds: Option<f64>,
    /// Why the latest gathering failed (its source does not answer); None when it succeeded.
    pub error: Option<String>,
}

/// Request figures of one endpoint label of one job, over the last minute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointStats {
    pub job: String,
    pub endpoint: String,
    /// `sum(rate(app_request_count_total[1m]))`, requests per second.
    pub requests_per_second: Option<f64>,
    /// The share of 5xx answers among all, 0 to 1; None without requests.
    pub error_ratio: Option<f64>,
    /// Latency quantiles from `app_request_latency_seconds_bucket`, in seconds; None without
    /// requests.
    pub p50_seconds: Option<f64>,
    pub p95_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
    /// The last minutes of the same figures, oldest first, one value per step.
    pub history: EndpointHistory,
}

/// Sparkline data of an endpoint: one value per step of the history window (absent steps
/// are left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EndpointHistory {
    /// The step between two values, in seconds.
    pub step_seconds: f64,
    pub requests_per_second: Vec<f64>,
    pub error_ratio: Vec<f64>,
    pub p95_seconds: Vec<f64>,
}

/// One container as cAdvisor reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerUsage {
    /// cAdvisor's `name` label.
    pub name: String,
    /// CPU used, in cores (`rate(container_cpu_usage_seconds_total[1m])`).
    pub cpu_cores: Option<f64>,
    /// `container_memory_working_set_bytes`, in bytes.
    pub memory_working_set_bytes: Option<f64>,
}

/// The error budget left of one SLO over its period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloBudget {
    pub slo: String,
    /// 1 is the whole budget left, 0 none, below 0 overspent.
    pub error_budget_remaining_ratio: f64,
}

/// The client-side figures `monibox load` pushes to the daemon, summed over running runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadFigures {
    /// `monibox_load_runs`: runs pushing now.
    pub runs: u64,
    /// `monibox_load_users`: closed-model users.
    pub users: u64,
    /// `monibox_load_asked_rate_requests_per_second`: the open model's asked rate; None when
    /// every run is closed-model (it asks no rate).
    pub asked_rate_per_second: Option<f64>,
    /// Requests answered or failed per second, over the last minute.
    pub requests_per_second: Option<f64>,
    /// The share of requests whose outcome is not `ok`, 0 to 1.
    pub error_ratio: Option<f64>,
    /// The client's p95 latency, in seconds.
    pub p95_seconds: Option<f64>,
}
