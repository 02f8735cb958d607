//! The summary of a load run: per-endpoint and total requests, rate, errors, retries and latency
//! percentiles, status codes, error kinds, threshold verdicts and, when asked, Prometheus's view
//! of the same window ([`server`]). Serialises as the `--json` document; [`render`] draws it as
//! a short text table.

mod render;
pub mod server;

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

pub use self::render::latency_text;
use self::server::ServerReport;
use super::Finished;
use super::plan::{LoadPlan, Model};
use super::stats::{EndpointStats, Failure, LateStarts};
use super::threshold::{LatencyStatistic, Metric, NoData, Observed, Threshold};

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub target: String,
    pub model: ModelReport,
    /// The time over which requests were started; rates are per second of it.
    pub duration_seconds: f64,
    /// Time after `duration_seconds` spent waiting for requests still in flight.
    pub drain_seconds: f64,
    pub started_at_unix: f64,
    pub interrupted: bool,
    pub totals: EndpointReport,
    pub endpoints: Vec<EndpointReport>,
    pub status_codes: BTreeMap<String, u64>,
    pub errors: ErrorKinds,
    /// Open model only: requests that had to wait for a free connection.
    pub late_starts: Option<LateStartsReport>,
    pub thresholds: Vec<ThresholdReport>,
    pub server: Option<ServerReport>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelReport {
    Closed { users: u32, think_time: String },
    Open { rate: f64, connections: u32 },
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    /// The mix path, or `all` for the totals.
    pub endpoint: String,
    pub requests: u64,
    pub rps: f64,
    /// Requests without a response plus 4xx and 5xx responses.
    pub errors: u64,
    /// `errors / requests`, 0 when there were no requests.
    pub error_rate: f64,
    /// Requests sent a second time on a new connection because the server closed a reused one
    /// before any byte of the answer (each still counts once, by how it ended).
    pub retried: u64,
    /// Requests without a full answer within `--timeout` (also in `errors`); the server may
    /// still have counted them.
    #[serde(skip)]
    pub timeouts: u64,
    /// Over the requests that got a response; `null` when none did.
    pub latency_ms: LatencyReport,
    pub status_codes: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencyReport {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ErrorKinds {
    pub timeout: u64,
    pub connect_refused: u64,
    pub connection_reset: u64,
    pub other_io: u64,
    pub http_4xx: u64,
    pub http_5xx: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct LateStartsReport {
    pub count: u64,
    pub longest_wait_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThresholdReport {
    pub threshold: String,
    /// In `unit`; `None` when there was nothing to measure (see `no_data`).
    pub observed: Option<f64>,
    pub unit: ThresholdUnit,
    pub passed: bool,
    /// Why nothing was observed: `no requests` on the endpoint, or (latency) `no responses`.
    /// A threshold with nothing observed fails.
    pub no_data: Option<NoData>,
}

/// The unit of a threshold's observed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ThresholdUnit {
    #[serde(rename = "ms")]
    Milliseconds,
    /// Errors over requests, 0 to 1.
    #[serde(rename = "fraction")]
    Fraction,
    #[serde(rename = "req/s")]
    RequestsPerSecond,
}

impl LoadReport {
    /// Summarises a finished run (rates per second of `finished.window`) and judges the plan's
    /// thresholds; the server side is attached separately.
    pub fn new(plan: &LoadPlan, finished: &Finished) -> LoadReport {
        let seconds = finished.window.as_secs_f64();
        let endpoints: Vec<EndpointReport> = plan
            .mix
            .entries()
            .iter()
            .zip(finished.stats.endpoints())
            .map(|(entry, stats)| EndpointReport::new(&entry.path, stats, seconds))
            .collect();
        let combined = finished.stats.combined();
        let totals = EndpointReport::new("all", &combined, seconds);
        let errors = ErrorKinds {
            timeout: combined.failures(Failure::Timeout),
            connect_refused: combined.failures(Failure::ConnectRefused),
            connection_reset: combined.failures(Failure::ConnectionReset),
            other_io: combined.failures(Failure::OtherIo),
            http_4xx: combined.status_class(4),
            http_5xx: combined.status_class(5),
        };
        let model = match &plan.model {
            Model::Closed { users, think_time } => ModelReport::Closed {
                users: *users,
                think_time: think_time.to_string(),
            },
            Model::Open { rate, connections } => ModelReport::Open {
                rate: *rate,
                connections: *connections,
            },
        };
        let late_starts = matches!(plan.model, Model::Open { .. }).then(|| {
            let LateStarts {
                count,
                longest_wait,
            } = finished.stats.late_starts();
            LateStartsReport {
                count,
                longest_wait_ms: millis(longest_wait),
            }
        });
        let thresholds = plan
            .thresholds
            .iter()
            .map(|threshold| check(threshold, &totals, &endpoints))
            .collect();
        LoadReport {
            target: plan.target.to_string(),
            model,
            duration_seconds: seconds,
            drain_seconds: finished
                .elapsed
                .saturating_sub(finished.window)
                .as_secs_f64(),
            started_at_unix: finished
                .started_at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
            interrupted: finished.interrupted,
            status_codes: totals.status_codes.clone(),
            totals,
            endpoints,
            errors,
            late_starts,
            thresholds,
            server: None,
        }
    }

    /// True when every threshold holds (and trivially when there are none).
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|threshold| threshold.passed)
    }
}

fn check(
    threshold: &Threshold,
    totals: &EndpointReport,
    endpoints: &[EndpointReport],
) -> ThresholdReport {
    let scope = threshold
        .endpoint()
        .and_then(|endpoint| endpoints.iter().find(|row| row.endpoint == endpoint))
        .unwrap_or(totals);
    let verdict = threshold.check(scope);
    let unit = match threshold.metric() {
        Metric::Latency(_) => ThresholdUnit::Milliseconds,
        Metric::ErrorRate => ThresholdUnit::Fraction,
        Metric::Rps => ThresholdUnit::RequestsPerSecond,
    };
    ThresholdReport {
        threshold: threshold.to_string(),
        observed: verdict.observed,
        unit,
        passed: verdict.passed,
        no_data: verdict.no_data,
    }
}

impl EndpointReport {
    fn new(endpoint: &str, stats: &EndpointStats, seconds: f64) -> EndpointReport {
        let requests = stats.requests();
        let errors = stats.errors();
        let latency = stats.latency_us();
        let answered = !latency.is_empty();
        let at =
            |quantile: f64| answered.then(|| latency.value_at_quantile(quantile) as f64 / 1000.0);
        EndpointReport {
            endpoint: endpoint.to_owned(),
            requests,
            rps: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            errors,
            error_rate: if requests > 0 {
                errors as f64 / requests as f64
            } else {
                0.0
            },
            retried: stats.retried(),
            timeouts: stats.failures(Failure::Timeout),
            latency_ms: LatencyReport {
                p50: at(0.50),
                p90: at(0.90),
                p95: at(0.95),
                p99: at(0.99),
                max: answered.then(|| latency.max() as f64 / 1000.0),
                mean: answered.then(|| latency.mean() / 1000.0),
            },
            status_codes: stats
                .statuses()
                .iter()
                .map(|(code, n)| (code.to_string(), *n))
                .collect(),
        }
    }
}

impl Observed for EndpointReport {
    fn latency_ms(&self, statistic: LatencyStatistic) -> Option<f64> {
        let latency = self.latency_ms;
        match statistic {
            LatencyStatistic::P50 => latency.p50,
            LatencyStatistic::P90 => latency.p90,
            LatencyStatistic::P95 => latency.p95,
            LatencyStatistic::P99 => latency.p99,
            LatencyStatistic::Max => latency.max,
            LatencyStatistic::Mean => latency.mean,
        }
    }

    fn error_rate(&self) -> f64 {
        self.error_rate
    }

    fn rps(&self) -> f64 {
        self.rps
    }

    fn requests(&self) -> u64 {
        self.requests
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::load::plan::{LoadSettings, Target};
    use crate::load::stats::Stats;

    fn plan(settings: LoadSettings) -> LoadPlan {
        let target: Target = "http://127.0.0.1:5000".parse().expect("target");
        LoadPlan::new(target, settings, 1, None).expect("plan")
    }

    fn finished(stats: Stats) -> Finished {
        Finished {
            stats,
            elapsed: Duration::from_secs(2),
            window: Duration::from_secs(2),
            started_at: SystemTime::now(),
            interrupted: false,
        }
    }

    #[test]
    fn report_sums_counts_and_judges_thresholds() {
        let settings = LoadSettings {
            mix: "/=1,/slow?ms=5=1,/error=1".parse().ok(),
            thresholds: ["error_rate<10%", "/slow?ms=5:p95<50ms", "rps>10"]
                .iter()
                .map(|text| text.parse().expect("threshold"))
                .collect(),
            ..LoadSettings::default()
        };
        let plan = plan(settings);
        let mut stats = Stats::new(3);
        for _ in 0..10 {
            stats.record_response(0, 200, Duration::from_millis(1));
            stats.record_response(1, 200, Duration::from_millis(40));
        }
        stats.record_response(2, 500, Duration::from_millis(2));
        stats.record_response(2, 200, Duration::from_millis(2));
        stats.record_failure(2, Failure::ConnectionReset);
        let report = LoadReport::new(&plan, &finished(stats));

        assert_eq!(report.totals.requests, 23);
        assert_eq!(report.totals.errors, 2);
        assert!((report.totals.rps - 11.5).abs() < 1e-9);
        assert_eq!(report.errors.connection_reset, 1);
        assert_eq!(report.errors.http_5xx, 1);
        assert_eq!(report.status_codes.get("200"), Some(&21));
        assert_eq!(report.endpoints[2].errors, 2);
        let verdicts: Vec<bool> = report.thresholds.iter().map(|t| t.passed).collect();
        assert_eq!(verdicts, vec![true, true, true]);
        assert!(report.thresholds_passed());
        assert_eq!(
            report.late_starts.map(|late| late.count),
            None,
            "closed model has no late starts"
        );

        let text = report.render();
        assert!(text.contains("/slow?ms=5"), "{text}");
        assert!(text.contains("connection reset 1, HTTP 5xx 1"), "{text}");
        assert!(
            text.contains("threshold pass: error_rate<10% (observed 8.7%)"),
            "{text}"
        );
    }

    #[test]
    fn a_breached_threshold_fails_the_report() {
        let plan = plan(LoadSettings {
            thresholds: vec!["p99<1ms".parse().expect("threshold")],
            ..LoadSettings::default()
        });
        let mut stats = Stats::new(plan.mix.entries().len());
        stats.record_response(0, 200, Duration::from_millis(5));
        let report = LoadReport::new(&plan, &finished(stats));
        assert!(!report.thresholds_passed());
        assert!(
            report
                .render()
                .contains("threshold FAIL: p99<1ms (observed 5.00ms)")
        );
    }
}
