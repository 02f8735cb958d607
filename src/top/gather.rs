//! Gathering one [`Snapshot`]: the status report (`crate::status::collect`: Docker, the daemon,
//! the probes, Prometheus's targets and alerts) and, concurrently, the Prometheus queries of the
//! dashboards (Service overview, Load test): per job and endpoint the request rate, error ratio
//! and p50/p95/p99 over the last minute with a range query for the sparklines, cAdvisor's
//! containers, SLO budgets and `monibox load`'s pushed figures. Each panel keeps the values of
//! its last success and says since when, and why, its source no longer answers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::model::{
    ContainerUsage, EndpointHistory, EndpointStats, LoadFigures, Panel, SloBudget, Snapshot,
};
use crate::docker::Docker;
use crate::promapi::{PromApiError, PrometheusApi};
use crate::stack::state::ProjectDir;
use crate::stack::store::StackStore;
use crate::status;

/// Limit of each request to Prometheus.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// The sparklines' window and step.
pub const HISTORY_WINDOW: Duration = Duration::from_secs(300);
pub const HISTORY_STEP: Duration = Duration::from_secs(5);
/// Received alerts kept in a snapshot.
const NOTIFICATIONS_KEPT: usize = 20;
/// Containers kept, the most CPU first.
const CONTAINERS_KEPT: usize = 10;

/// The demo service's requests, without Prometheus's own scrapes of `/metrics`.
const REQUESTS: &str = r#"app_request_count_total{endpoint!="/metrics"}"#;
const LATENCY_BUCKETS: &str = r#"app_request_latency_seconds_bucket{endpoint!="/metrics"}"#;
const BY_ENDPOINT: [&str; 2] = ["job", "endpoint"];

fn rate_expr() -> String {
    format!("sum by (job, endpoint) (rate({REQUESTS}[1m]))")
}

/// 5xx over all; 0 (not absent) for an endpoint without errors, NaN without requests.
fn error_ratio_expr() -> String {
    let errors = REQUESTS.replace('}', r#",status=~"5.."}"#);
    format!(
        "(sum by (job, endpoint) (rate({errors}[1m])) or {rate} * 0) / {rate}",
        rate = rate_expr()
    )
}

fn quantile_expr(quantile: f64) -> String {
    format!(
        "histogram_quantile({quantile}, sum by (job, endpoint, le) (rate({LATENCY_BUCKETS}[1m])))"
    )
}

const LOAD_RUNS: &str = "sum(monibox_load_runs)";
const LOAD_USERS: &str = "sum(monibox_load_users)";
const LOAD_ASKED: &str = "sum(monibox_load_asked_rate_requests_per_second)";
const LOAD_RATE: &str = "sum(rate(monibox_load_requests_total[1m]))";
const LOAD_ERRORS: &str = r#"sum(rate(monibox_load_requests_total{outcome!="ok"}[1m])) / sum(rate(monibox_load_requests_total[1m]))"#;
const LOAD_P95: &str = "histogram_quantile(0.95, sum by (le) (rate(monibox_load_request_duration_seconds_bucket[1m])))";
const CONTAINER_CPU: &str =
    r#"sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[1m]))"#;
const CONTAINER_MEMORY: &str = r#"sum by (name) (container_memory_working_set_bytes{name!=""})"#;
const SLO_BUDGET: &str = "slo:period_error_budget_remaining:ratio";

/// One panel's last values and their freshness.
#[derive(Debug)]
struct Tracker<T> {
    values: Option<T>,
    succeeded_at: Option<Instant>,
    error: Option<String>,
}

impl<T: Clone> Tracker<T> {
    fn new() -> Self {
        Self {
            values: None,
            succeeded_at: None,
            error: None,
        }
    }

    fn update(&mut self, result: Result<T, String>, now: Instant) -> Panel<T> {
        match result {
            Ok(values) => {
                self.values = Some(values);
                self.succeeded_at = Some(now);
                self.error = None;
            }
            Err(error) => self.error = Some(error),
        }
        Panel {
            values: self.values.clone(),
            age_seconds: self
                .succeeded_at
                .map(|at| now.duration_since(at).as_secs_f64()),
            error: self.error.clone(),
        }
    }
}

/// Where a project's figures come from.
pub struct Source<'a> {
    pub docker: &'a Docker,
    pub project: &'a str,
    pub dir: &'a ProjectDir,
    pub store: &'a StackStore,
    /// The `monibox up` command that starts the project (for the status report).
    pub up_hint: String,
}

/// Gathers snapshots one after the other, remembering each panel's last success.
pub struct Gatherer<'a> {
    source: Source<'a>,
    interval: Duration,
    components: Tracker<Vec<status::ComponentStatus>>,
    endpoints: Tracker<Vec<EndpointStats>>,
    targets_down: Tracker<Vec<crate::promapi::TargetStatus>>,
    alerts: Tracker<Vec<crate::promapi::ActiveAlert>>,
    notifications: Tracker<Vec<crate::daemon::alerts::ReceivedAlert>>,
    containers: Tracker<Vec<ContainerUsage>>,
    slos: Tracker<Vec<SloBudget>>,
    load: Tracker<Option<LoadFigures>>,
}

const PROMETHEUS_SILENT: &str = "Prometheus not answering";

impl<'a> Gatherer<'a> {
    pub fn new(source: Source<'a>, interval: Duration) -> Self {
        Self {
            source,
            interval,
            components: Tracker::new(),
            endpoints: Tracker::new(),
            targets_down: Tracker::new(),
            alerts: Tracker::new(),
            notifications: Tracker::new(),
            containers: Tracker::new(),
            slos: Tracker::new(),
            load: Tracker::new(),
        }
    }

    /// One snapshot: everything gathered concurrently, each source bounded by its timeout.
    pub async fn gather(&mut self) -> Snapshot {
        let source = &self.source;
        let record = source.store.read().ok().flatten();
        let api = record
            .as_ref()
            .and_then(|record| record.prometheus_url())
            .map(|url| PrometheusApi::new(&url, QUERY_TIMEOUT));
        let now_unix = unix_now();
        let (report, queried) = tokio::join!(
            status::collect(
                source.docker,
                source.project,
                source.dir,
                record.as_ref(),
                source.up_hint.clone(),
            ),
            async {
                match &api {
                    Some(api) => Some(tokio::join!(
                        endpoints(api, now_unix),
                        containers(api),
                        slos(api),
                        load(api),
                    )),
                    None => None,
                }
            },
        );
        let now = Instant::now();
        let (components, targets, alerts, received) = match report {
            Ok(report) => (
                Ok(report.components),
                report
                    .targets
                    .ok_or_else(|| prometheus_missing(api.is_some())),
                report
                    .alerts
                    .ok_or_else(|| prometheus_missing(api.is_some())),
                report
                    .alerts_received
                    .ok_or_else(|| "the daemon does not answer".to_owned()),
            ),
            Err(error) => {
                let error = format!("Docker: {error}");
                (
                    Err(error.clone()),
                    Err(error.clone()),
                    Err(error.clone()),
                    Err(error),
                )
            }
        };
        let (endpoints, containers, slos, load) = match queried {
            Some((endpoints, containers, slos, load)) => (
                endpoints.map_err(silent),
                containers.map_err(silent),
                slos.map_err(silent),
                load.map_err(silent),
            ),
            None => {
                let none = || prometheus_missing(false);
                (Err(none()), Err(none()), Err(none()), Err(none()))
            }
        };
        Snapshot {
            project: source.project.to_owned(),
            running: record.is_some(),
            taken_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            interval_seconds: self.interval.as_secs_f64(),
            components: self.components.update(components, now),
            endpoints: self.endpoints.update(endpoints, now),
            targets_down: self.targets_down.update(
                targets.map(|targets| {
                    targets
                        .into_iter()
                        .filter(|target| target.health == "down")
                        .collect()
                }),
                now,
            ),
            alerts: self.alerts.update(alerts, now),
            notifications: self.notifications.update(
                received.map(|view| view.recent.into_iter().take(NOTIFICATIONS_KEPT).collect()),
                now,
            ),
            containers: self.containers.update(containers, now),
            slos: self.slos.update(slos, now),
            load: self.load.update(load, now),
        }
    }
}

fn silent(error: PromApiError) -> String {
    format!("{PROMETHEUS_SILENT}: {}", error.reason())
}

/// Why there is no answer from Prometheus: it did not answer, or the stack record names none
/// (no stack is up, or it runs without Prometheus).
fn prometheus_missing(recorded: bool) -> String {
    if recorded {
        PROMETHEUS_SILENT.to_owned()
    } else {
        format!("{PROMETHEUS_SILENT}: the stack is not up")
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// The label values of `keys` of a series.
type Key = Vec<String>;

fn key(labels: &BTreeMap<String, String>, keys: &[&str]) -> Key {
    keys.iter()
        .map(|key| labels.get(*key).cloned().unwrap_or_default())
        .collect()
}

/// An instant query's values by the label values of `keys`; NaN (no data) left out.
async fn by_labels(
    api: &PrometheusApi,
    expr: &str,
    keys: &[&str],
) -> Result<BTreeMap<Key, f64>, PromApiError> {
    Ok(api
        .query(expr, None)
        .await?
        .into_iter()
        .filter(|sample| sample.value.is_finite())
        .map(|sample| (key(&sample.labels, keys), sample.value))
        .collect())
}

/// An instant query's single value; None when it has no finite one.
async fn scalar(api: &PrometheusApi, expr: &str) -> Result<Option<f64>, PromApiError> {
    Ok(by_labels(api, expr, &[]).await?.into_values().next())
}

/// A range query over the history window up to `now`, by the label values of `keys`; NaN
/// steps left out.
async fn history(
    api: &PrometheusApi,
    expr: &str,
    now: f64,
) -> Result<BTreeMap<Key, Vec<f64>>, PromApiError> {
    let series = api
        .query_range(expr, now - HISTORY_WINDOW.as_secs_f64(), now, HISTORY_STEP)
        .await?;
    Ok(series
        .into_iter()
        .map(|series| {
            let values = series
                .samples
                .into_iter()
                .map(|(_, value)| value)
                .filter(|value| value.is_finite())
                .collect();
            (key(&series.labels, &BY_ENDPOINT), values)
        })
        .collect())
}

async fn endpoints(api: &PrometheusApi, now: f64) -> Result<Vec<EndpointStats>, PromApiError> {
    let (rate, errors, p50, p95, p99) = (
        rate_expr(),
        error_ratio_expr(),
        quantile_expr(0.5),
        quantile_expr(0.95),
        quantile_expr(0.99),
    );
    let (rates, ratios, p50s, p95s, p99s, rate_history, ratio_history, p95_history) = tokio::join!(
        by_labels(api, &rate, &BY_ENDPOINT),
        by_labels(api, &errors, &BY_ENDPOINT),
        by_labels(api, &p50, &BY_ENDPOINT),
        by_labels(api, &p95, &BY_ENDPOINT),
        by_labels(api, &p99, &BY_ENDPOINT),
        history(api, &rate, now),
        history(api, &errors, now),
        history(api, &p95, now),
    );
    let (ratios, p50s, p95s, p99s) = (ratios?, p50s?, p95s?, p99s?);
    let (mut rate_history, mut ratio_history, mut p95_history) =
        (rate_history?, ratio_history?, p95_history?);
    Ok(rates?
        .into_iter()
        .map(|(key, rate)| EndpointStats {
            requests_per_second: Some(rate),
            error_ratio: ratios.get(&key).copied(),
            p50_seconds: p50s.get(&key).copied(),
            p95_seconds: p95s.get(&key).copied(),
            p99_seconds: p99s.get(&key).copied(),
            history: EndpointHistory {
                step_seconds: HISTORY_STEP.as_secs_f64(),
                requests_per_second: rate_history.remove(&key).unwrap_or_default(),
                error_ratio: ratio_history.remove(&key).unwrap_or_default(),
                p95_seconds: p95_history.remove(&key).unwrap_or_default(),
            },
            job: key[0].clone(),
            endpoint: key[1].clone(),
        })
        .collect())
}

async fn containers(api: &PrometheusApi) -> Result<Vec<ContainerUsage>, PromApiError> {
    let (cpu, memory) = tokio::join!(
        by_labels(api, CONTAINER_CPU, &["name"]),
        by_labels(api, CONTAINER_MEMORY, &["name"]),
    );
    let (cpu, mut memory) = (cpu?, memory?);
    let mut containers: Vec<ContainerUsage> = cpu
        .iter()
        .map(|(key, cores)| ContainerUsage {
            name: key[0].clone(),
            cpu_cores: Some(*cores),
            memory_working_set_bytes: memory.remove(key),
        })
        .collect();
    containers.extend(memory.into_iter().map(|(key, bytes)| ContainerUsage {
        name: key[0].clone(),
        cpu_cores: None,
        memory_working_set_bytes: Some(bytes),
    }));
    containers.sort_by(|a, b| {
        b.cpu_cores
            .unwrap_or(0.0)
            .total_cmp(&a.cpu_cores.unwrap_or(0.0))
            .then_with(|| a.name.cmp(&b.name))
    });
    containers.truncate(CONTAINERS_KEPT);
    Ok(containers)
}

async fn slos(api: &PrometheusApi) -> Result<Vec<SloBudget>, PromApiError> {
    Ok(by_labels(api, SLO_BUDGET, &["slo"])
        .await?
        .into_iter()
        .map(|(key, ratio)| SloBudget {
            slo: key[0].clone(),
            error_budget_remaining_ratio: ratio,
        })
        .collect())
}

async fn load(api: &PrometheusApi) -> Result<Option<LoadFigures>, PromApiError> {
    let (runs, users, asked, rate, errors, p95) = tokio::join!(
        scalar(api, LOAD_RUNS),
        scalar(api, LOAD_USERS),
        scalar(api, LOAD_ASKED),
        scalar(api, LOAD_RATE),
        scalar(api, LOAD_ERRORS),
        scalar(api, LOAD_P95),
    );
    let runs = runs?.unwrap_or(0.0);
    let (users, asked, rate, errors, p95) = (users?, asked?, rate?, errors?, p95?);
    if runs <= 0.0 {
        return Ok(None);
    }
    // Gauges of whole numbers, summed: rounding only drops float noise.
    let count = |value: f64| value.round().max(0.0) as u64;
    Ok(Some(LoadFigures {
        runs: count(runs),
        users: users.map_or(0, count),
        asked_rate_per_second: asked.filter(|rate| *rate > 0.0),
        requests_per_second: rate,
        error_ratio: errors,
        p95_seconds: p95,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_ratio_keeps_endpoints_without_errors_at_zero() {
        let expr = error_ratio_expr();
        assert!(
            expr.contains(r#"app_request_count_total{endpoint!="/metrics",status=~"5.."}"#),
            "{expr}"
        );
        assert!(expr.contains(" or sum by (job, endpoint) (rate("), "{expr}");
    }

    #[test]
    fn a_failed_gathering_keeps_the_values_and_says_how_old_they_are() {
        let mut tracker = Tracker::new();
        let start = Instant::now();
        let first = tracker.update(Ok(vec![1]), start);
        assert_eq!((first.error, first.values), (None, Some(vec![1])));
        assert_eq!(first.age_seconds, Some(0.0));
        let later = tracker.update(
            Err("Prometheus not answering".to_owned()),
            start + Duration::from_secs(12),
        );
        assert_eq!(later.error.as_deref(), Some("Prometheus not answering"));
        assert_eq!(later.values, Some(vec![1]));
        assert_eq!(later.age_seconds, Some(12.0));
        let never: Panel<Vec<u8>> = Tracker::new().update(Err("down".to_owned()), start);
        assert_eq!((never.values, never.age_seconds), (None, None));
    }
}
