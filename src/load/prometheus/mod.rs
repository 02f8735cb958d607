//! The server's side of a load run, read from Prometheus's HTTP query API: per `endpoint` label,
//! the demo service's exact request count (`app_request_count_total`) and p95 latency
//! (`app_request_latency_seconds`) over the run's window. The window runs from the last scrape
//! that finished before the run started to the first scrape that began after it ended (the run
//! waits for that one), and the figures come from Prometheus's raw samples at those two scrapes
//! ([`window`]), not from `increase()`, which extrapolates. When no exact figure can be had, the
//! error says why.

pub mod window;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use self::window::{Increase, Scrape, Series};
use super::plan::Target;
use crate::promapi::{PromApiError, PrometheusApi};

/// How often to ask whether Prometheus has scraped the target since the run ended.
const SCRAPE_POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How far before the run to look for the scrape that opens the window: longer than any sensible
/// scrape interval.
const LOOKBACK: Duration = Duration::from_secs(15 * 60);
const REQUESTS: &str = "app_request_count_total";
const LATENCY_BUCKETS: &str = "app_request_latency_seconds_bucket";

/// Why Prometheus's side of the run cannot be had exactly.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// Prometheus could not be asked, or its answer was not a result.
    #[error(transparent)]
    Api(#[from] PromApiError),
    #[error("Prometheus has no {REQUESTS} series; is it scraping the target?")]
    NoSeries,
    #[error(
        "Prometheus scrapes {REQUESTS} from several targets ({instances}) and none of them has \
         the target's port {port}"
    )]
    AmbiguousTarget { instances: String, port: u16 },
    #[error(
        "Prometheus did not scrape {instance} successfully within {waited:?} after the run \
         ended, so the run's end is not in its data (is the scrape interval longer?)"
    )]
    NoScrapeAfter { instance: String, waited: Duration },
    #[error(
        "Prometheus had not finished a scrape of {instance} before the run started (it may have \
         started scraping it during the run), so the run's start is not in its data"
    )]
    NoScrapeBefore { instance: String },
}

/// Prometheus's exact view of the run, per `endpoint` label.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSide {
    /// The `job` and `instance` labels of the target that was read.
    pub job: String,
    pub instance: String,
    /// The scrapes bounding the window (Unix seconds, Prometheus's timestamps).
    pub window_start_unix: f64,
    pub window_end_unix: f64,
    pub endpoints: BTreeMap<String, ServerEndpoint>,
}

/// One endpoint label's requests and p95 over the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerEndpoint {
    pub requests: u64,
    /// The counter went down in the window (the service restarted), so `requests` misses what it
    /// counted between its last scrape before the restart and the restart.
    pub reset: bool,
    /// `None` without observations in the window.
    pub p95_seconds: Option<f64>,
}

/// The run as the client saw it: when it started and ended (wall clock), and the target's port
/// (to tell the target apart when Prometheus scrapes several demo services).
#[derive(Debug, Clone, Copy)]
pub struct RunWindow {
    pub started_at: SystemTime,
    pub ended_at: SystemTime,
    pub target_port: u16,
}

/// Waits (at most `scrape_wait`) until Prometheus has scraped the target after the run ended,
/// then reads the exact counts and p95 between that scrape and the last one finished before the
/// run started.
pub async fn server_side(
    prometheus: &Target,
    run: RunWindow,
    scrape_wait: Duration,
    request_timeout: Duration,
) -> Result<ServerSide, PrometheusError> {
    let base_url = format!(
        "http://{}{}",
        prometheus.authority(),
        prometheus.request_path("")
    );
    let api = Api {
        prometheus: PrometheusApi::new(&base_url, request_timeout),
    };
    let (job, instance) = api.target(run.target_port).await?;
    let selector = format!(
        "{{job=\"{}\",instance=\"{}\"}}",
        escape_label(&job),
        escape_label(&instance)
    );
    let (run_start, run_end) = (unix_seconds(run.started_at), unix_seconds(run.ended_at));
    let give_up = tokio::time::Instant::now() + scrape_wait;
    let (scrapes, end) = loop {
        let now = unix_seconds(SystemTime::now());
        let range = (now - run_start).max(0.0) + LOOKBACK.as_secs_f64();
        let up = api.single(&format!("up{selector}"), range, now).await?;
        let durations = api
            .single(&format!("scrape_duration_seconds{selector}"), range, now)
            .await?;
        let scrapes = window::scrapes(&up, &durations);
        if let Some(end) = window::scrape_after(&scrapes, run_end) {
            break (scrapes, end);
        }
        if tokio::time::Instant::now() + SCRAPE_POLL_INTERVAL > give_up {
            return Err(PrometheusError::NoScrapeAfter {
                instance,
                waited: scrape_wait,
            });
        }
        tokio::time::sleep(SCRAPE_POLL_INTERVAL).await;
    };
    let start: Scrape = window::scrape_before(&scrapes, run_start).ok_or_else(|| {
        PrometheusError::NoScrapeBefore {
            instance: instance.clone(),
        }
    })?;
    let range = end.at - start.at;
    let requests = api
        .matrix(&format!("{REQUESTS}{selector}"), range, end.at)
        .await?;
    let buckets = api
        .matrix(&format!("{LATENCY_BUCKETS}{selector}"), range, end.at)
        .await?;
    let counts = window::increases_by(&requests, "endpoint", start.at, end.at);
    let p95 = window::quantiles_by_endpoint(&buckets, 0.95, start.at, end.at);
    let endpoints = counts
        .into_iter()
        .map(|(endpoint, Increase { value, reset })| {
            let p95_seconds = p95.get(&endpoint).copied().flatten();
            let counted = ServerEndpoint {
                requests: value.round() as u64,
                reset,
                p95_seconds,
            };
            (endpoint, counted)
        })
        .collect();
    Ok(ServerSide {
        job,
        instance,
        window_start_unix: start.at,
        window_end_unix: end.at,
        endpoints,
    })
}

struct Api {
    prometheus: PrometheusApi,
}

impl Api {
    /// The `job` and `instance` of the target Prometheus scrapes `app_request_count_total` from:
    /// the only one, or the one whose instance has the target's port.
    async fn target(&self, port: u16) -> Result<(String, String), PrometheusError> {
        let query = format!("count by (job, instance) ({REQUESTS})");
        let now = unix_seconds(SystemTime::now());
        let targets: Vec<(String, String)> = self
            .prometheus
            .query(&query, Some(now))
            .await?
            .into_iter()
            .map(|sample| {
                let label = |name: &str| sample.labels.get(name).cloned().unwrap_or_default();
                (label("job"), label("instance"))
            })
            .collect();
        let suffix = format!(":{port}");
        match targets.as_slice() {
            [] => Err(PrometheusError::NoSeries),
            [only] => Ok(only.clone()),
            several => {
                let by_port: Vec<&(String, String)> = several
                    .iter()
                    .filter(|(_, instance)| instance.ends_with(&suffix))
                    .collect();
                match by_port.as_slice() {
                    [only] => Ok((*only).clone()),
                    _ => Err(PrometheusError::AmbiguousTarget {
                        instances: several
                            .iter()
                            .map(|(_, instance)| instance.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        port,
                    }),
                }
            }
        }
    }

    /// The raw samples of one series over the `range` seconds before `time` (empty if none).
    async fn single(
        &self,
        selector: &str,
        range: f64,
        time: f64,
    ) -> Result<Vec<(f64, f64)>, PrometheusError> {
        Ok(self
            .matrix(selector, range, time)
            .await?
            .into_iter()
            .next()
            .map(|series| series.samples)
            .unwrap_or_default())
    }

    /// The raw samples of every series of `selector` from `time - range` to `time` (seconds;
    /// both ends included: the range is widened by a millisecond, as Prometheus 3 leaves its
    /// start out).
    async fn matrix(
        &self,
        selector: &str,
        range: f64,
        time: f64,
    ) -> Result<Vec<Series>, PrometheusError> {
        let range_ms = (range * 1000.0).round().max(0.0) as u64 + 1;
        Ok(self
            .prometheus
            .raw_samples(selector, range_ms, time)
            .await?)
    }
}

/// A label value inside a PromQL string literal.
fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}
