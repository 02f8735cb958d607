//! The summary of a load run: per-endpoint and total requests, rate, errors and latency
//! percentiles, status codes, error kinds, threshold verdicts and, when asked, Prometheus's view
//! of the same window. Serialises as the `--json` document and renders as a short text table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::Finished;
use super::plan::{LoadPlan, Model};
use super::prometheus::ServerSide;
use super::stats::{EndpointStats, Failure, LateStarts};
use super::threshold::{LatencyStatistic, Metric, Observed, Threshold};

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
    /// In `unit`; `None` for a latency when nothing was answered.
    pub observed: Option<f64>,
    pub unit: ThresholdUnit,
    pub passed: bool,
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

/// Prometheus's count and p95 for the run's window next to the client's, per endpoint label.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    pub prometheus: String,
    pub window_seconds: u64,
    /// Whether Prometheus had scraped the target after the run ended (else its numbers may miss
    /// the end of the run).
    pub scraped_after_run: bool,
    pub endpoints: Vec<ServerEndpointReport>,
    /// Why the server side could not be read, when it could not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerEndpointReport {
    /// The server's `endpoint` label: the mix path without its query.
    pub endpoint: String,
    pub client_requests: u64,
    pub server_requests: Option<f64>,
    pub client_p95_ms: Option<f64>,
    pub server_p95_ms: Option<f64>,
}

impl LoadReport {
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

    /// Adds Prometheus's numbers (or why there are none), matched to the mix by endpoint label.
    pub fn attach_server_side(&mut self, prometheus: &str, server: Result<ServerSide, String>) {
        let window_seconds = (self.duration_seconds + self.drain_seconds).ceil() as u64;
        let (side, error) = match server {
            Ok(side) => (Some(side), None),
            Err(error) => (None, Some(error)),
        };
        let mut labels: Vec<String> = Vec::new();
        for endpoint in &self.endpoints {
            let label = endpoint_label(&endpoint.endpoint);
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        let endpoints = labels
            .into_iter()
            .map(|label| {
                let rows = self
                    .endpoints
                    .iter()
                    .filter(|row| endpoint_label(&row.endpoint) == label);
                let client_requests = rows.clone().map(|row| row.requests).sum();
                // With one mix entry per label the client p95 is exact; with several (e.g.
                // /slow?ms=10 and /slow?ms=500) their p95s cannot be combined, so none is shown.
                let client_p95_ms = match rows.collect::<Vec<_>>().as_slice() {
                    [only] => only.latency_ms.p95,
                    _ => None,
                };
                ServerEndpointReport {
                    server_requests: side
                        .as_ref()
                        .and_then(|side| side.requests.get(&label).copied()),
                    server_p95_ms: side.as_ref().and_then(|side| {
                        side.p95_seconds.get(&label).map(|seconds| seconds * 1000.0)
                    }),
                    endpoint: label,
                    client_requests,
                    client_p95_ms,
                }
            })
            .collect();
        self.server = Some(ServerReport {
            prometheus: prometheus.to_owned(),
            window_seconds: side
                .as_ref()
                .map_or(window_seconds, |side| side.window.as_secs()),
            scraped_after_run: side.as_ref().is_some_and(|side| side.scraped_after_run),
            endpoints,
            error,
        });
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let model = match &self.model {
            ModelReport::Closed { users, think_time } => {
                format!("{users} users, think time {think_time}")
            }
            ModelReport::Open { rate, connections } => {
                format!(
                    "open model, {} req/s asked, up to {connections} connections",
                    number(*rate)
                )
            }
        };
        let interrupted = if self.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        let drain = if self.drain_seconds >= 0.05 {
            format!(" (+{:.1}s for requests in flight)", self.drain_seconds)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{}: {model}, {:.1}s{drain}{interrupted}",
            self.target, self.duration_seconds
        );
        let width = column_width(self.endpoints.iter().map(|row| row.endpoint.as_str()));
        let _ = writeln!(
            out,
            "{:<width$} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "endpoint", "requests", "req/s", "errors", "p50", "p90", "p95", "p99", "max"
        );
        for row in self.endpoints.iter().chain(std::iter::once(&self.totals)) {
            let latency = row.latency_ms;
            let _ = writeln!(
                out,
                "{:<width$} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
                row.endpoint,
                count(row.requests),
                number(row.rps),
                percent(row.error_rate),
                latency_text(latency.p50),
                latency_text(latency.p90),
                latency_text(latency.p95),
                latency_text(latency.p99),
                latency_text(latency.max),
            );
        }
        let codes: Vec<String> = self
            .status_codes
            .iter()
            .map(|(code, n)| format!("{code} × {}", count(*n)))
            .collect();
        let _ = writeln!(
            out,
            "status codes: {}",
            if codes.is_empty() {
                "none".to_owned()
            } else {
                codes.join(", ")
            }
        );
        let e = self.errors;
        let kinds: Vec<String> = [
            ("timeout", e.timeout),
            ("connect refused", e.connect_refused),
            ("connection reset", e.connection_reset),
            ("other I/O", e.other_io),
            ("HTTP 4xx", e.http_4xx),
            ("HTTP 5xx", e.http_5xx),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| format!("{kind} {}", count(n)))
        .collect();
        let _ = writeln!(
            out,
            "errors: {}",
            if kinds.is_empty() {
                "none".to_owned()
            } else {
                kinds.join(", ")
            }
        );
        if let ModelReport::Open { rate, .. } = self.model {
            let _ = writeln!(
                out,
                "rate: {} req/s asked, {} req/s achieved",
                number(rate),
                number(self.totals.rps)
            );
        }
        if let Some(late) = self.late_starts.filter(|late| late.count > 0) {
            let _ = writeln!(
                out,
                "saturated: {} requests waited up to {} for a free connection (their latency includes the wait); raise --connections or lower --rate",
                count(late.count),
                latency_text(Some(late.longest_wait_ms)),
            );
        }
        if let Some(server) = &self.server {
            render_server(&mut out, server);
        }
        for threshold in &self.thresholds {
            let verdict = if threshold.passed { "pass" } else { "FAIL" };
            let _ = writeln!(
                out,
                "threshold {verdict}: {} (observed {})",
                threshold.threshold,
                observed_text(threshold)
            );
        }
        out
    }
}

fn render_server(out: &mut String, server: &ServerReport) {
    if let Some(error) = &server.error {
        let _ = writeln!(
            out,
            "server side ({}): unavailable: {error}",
            server.prometheus
        );
        return;
    }
    let note = if server.scraped_after_run {
        ""
    } else {
        "; not scraped since the run ended, may miss its end"
    };
    let _ = writeln!(
        out,
        "server side (Prometheus {}, last {}s{note}):",
        server.prometheus, server.window_seconds
    );
    let width = column_width(server.endpoints.iter().map(|row| row.endpoint.as_str()));
    let _ = writeln!(
        out,
        "{:<width$} {:>15} {:>15} {:>11} {:>11}",
        "endpoint", "client requests", "server requests", "client p95", "server p95"
    );
    for row in &server.endpoints {
        let _ = writeln!(
            out,
            "{:<width$} {:>15} {:>15} {:>11} {:>11}",
            row.endpoint,
            count(row.client_requests),
            row.server_requests
                .map_or_else(|| "-".to_owned(), |n| count(n.round() as u64)),
            latency_text(row.client_p95_ms),
            latency_text(row.server_p95_ms),
        );
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
    let (observed, passed) = threshold.check(scope);
    let unit = match threshold.metric() {
        Metric::Latency(_) => ThresholdUnit::Milliseconds,
        Metric::ErrorRate => ThresholdUnit::Fraction,
        Metric::Rps => ThresholdUnit::RequestsPerSecond,
    };
    ThresholdReport {
        threshold: threshold.to_string(),
        observed,
        unit,
        passed,
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
}

/// The demo service's `endpoint` label for a mix path: the path without its query.
fn endpoint_label(path: &str) -> String {
    path.split('?').next().unwrap_or(path).to_owned()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn observed_text(threshold: &ThresholdReport) -> String {
    let Some(value) = threshold.observed else {
        return "no responses".to_owned();
    };
    match threshold.unit {
        ThresholdUnit::Milliseconds => latency_text(Some(value)),
        ThresholdUnit::Fraction => percent(value),
        ThresholdUnit::RequestsPerSecond => format!("{} req/s", number(value)),
    }
}

/// Width of the endpoint column: the longest name, at least as wide as its heading.
fn column_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(str::len).max().unwrap_or(0).max("endpoint".len())
}

/// Milliseconds as a short latency: 0.42ms, 12.3ms, 1.25s.
pub fn latency_text(ms: Option<f64>) -> String {
    match ms {
        None => "-".to_owned(),
        Some(ms) if ms < 10.0 => format!("{ms:.2}ms"),
        Some(ms) if ms < 1000.0 => format!("{ms:.1}ms"),
        Some(ms) => format!("{:.2}s", ms / 1000.0),
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

fn number(value: f64) -> String {
    if value >= 100.0 {
        count(value.round() as u64)
    } else {
        format!("{value:.1}")
    }
}

/// A count with thousands separators: 12,345.
fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
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
    fn numbers_are_readable() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(latency_text(Some(0.421)), "0.42ms");
        assert_eq!(latency_text(Some(123.44)), "123.4ms");
        assert_eq!(latency_text(Some(1250.0)), "1.25s");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(1234.4), "1,234");
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

    #[test]
    fn server_side_rows_follow_endpoint_labels() {
        let plan = plan(LoadSettings {
            mix: "/=1,/slow?ms=5=1,/slow?ms=50=1".parse().ok(),
            ..LoadSettings::default()
        });
        let mut stats = Stats::new(3);
        stats.record_response(0, 200, Duration::from_millis(1));
        stats.record_response(1, 200, Duration::from_millis(5));
        stats.record_response(2, 200, Duration::from_millis(50));
        let mut report = LoadReport::new(&plan, &finished(stats));
        let side = ServerSide {
            requests: BTreeMap::from([("/".to_owned(), 1.0), ("/slow".to_owned(), 2.0)]),
            p95_seconds: BTreeMap::from([("/".to_owned(), 0.001)]),
            window: Duration::from_secs(3),
            scraped_after_run: true,
        };
        report.attach_server_side("http://127.0.0.1:9090", Ok(side));
        let server = report.server.as_ref().expect("attached");
        let rows: Vec<(&str, u64, Option<f64>)> = server
            .endpoints
            .iter()
            .map(|row| {
                (
                    row.endpoint.as_str(),
                    row.client_requests,
                    row.server_requests,
                )
            })
            .collect();
        assert_eq!(rows, vec![("/", 1, Some(1.0)), ("/slow", 2, Some(2.0))]);
        assert_eq!(server.endpoints[0].server_p95_ms, Some(1.0));
        assert_eq!(
            server.endpoints[1].client_p95_ms, None,
            "two mix entries share the label"
        );
        assert!(
            report
                .render()
                .contains("server side (Prometheus http://127.0.0.1:9090, last 3s):")
        );
    }
}
