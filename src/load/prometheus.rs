//! The server's side of a load run, read from Prometheus's HTTP query API: request counts and p95
//! latency per `endpoint` label over the run's window, from the demo service's
//! `app_request_count_total` and `app_request_latency_seconds` series.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::plan::Target;
use crate::httpc::{HttpClient, HttpError, encode_query_value};

/// How often to ask whether Prometheus has scraped the target since the run ended.
const SCRAPE_POLL_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// The cause is part of the message (and not a `source`), since the report shows this
    /// error as one line.
    #[error("cannot query Prometheus: {0}")]
    Http(HttpError),
    #[error("Prometheus at {url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("Prometheus at {url} sent an answer that is not a query result: {reason}")]
    Malformed { url: String, reason: String },
    #[error("Prometheus rejected the query {query}: {reason}")]
    Query { query: String, reason: String },
    #[error("Prometheus has no app_request_count_total series; is it scraping the target?")]
    NoSeries,
}

/// Prometheus's numbers for the run's window, keyed by the `endpoint` label.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSide {
    pub requests: BTreeMap<String, f64>,
    pub p95_seconds: BTreeMap<String, f64>,
    pub window: Duration,
    /// False when Prometheus had not scraped since the run ended within the wait allowed.
    pub scraped_after_run: bool,
}

/// Waits (at most `scrape_wait`) until Prometheus has scraped the target after `ended_at`, so the
/// whole run is in its data, then reads counts and p95 over the window since `started_at`.
pub async fn server_side(
    prometheus: &Target,
    started_at: SystemTime,
    ended_at: SystemTime,
    scrape_wait: Duration,
    request_timeout: Duration,
) -> Result<ServerSide, PrometheusError> {
    let api = Api {
        base: prometheus,
        client: HttpClient::new(request_timeout),
    };
    let give_up = tokio::time::Instant::now() + scrape_wait;
    let ended = unix_seconds(ended_at);
    let (evaluate_at, scraped_after_run) = loop {
        let now = unix_seconds(SystemTime::now());
        let latest = api
            .query("max(timestamp(app_request_count_total))", now)
            .await?;
        let latest_scrape = latest
            .values()
            .next()
            .copied()
            .ok_or(PrometheusError::NoSeries)?;
        if latest_scrape >= ended {
            break (latest_scrape, true);
        }
        if tokio::time::Instant::now() + SCRAPE_POLL_INTERVAL > give_up {
            break (now, false);
        }
        tokio::time::sleep(SCRAPE_POLL_INTERVAL).await;
    };
    let window_seconds = (evaluate_at - unix_seconds(started_at)).ceil().max(1.0) as u64;
    let requests = api
        .query(
            &format!("sum by (endpoint) (increase(app_request_count_total[{window_seconds}s]))"),
            evaluate_at,
        )
        .await?;
    let p95_seconds = api
        .query(
            &format!(
                "histogram_quantile(0.95, sum by (le, endpoint) (rate(app_request_latency_seconds_bucket[{window_seconds}s])))"
            ),
            evaluate_at,
        )
        .await?;
    Ok(ServerSide {
        requests,
        p95_seconds: p95_seconds
            .into_iter()
            .filter(|(_, seconds)| seconds.is_finite())
            .collect(),
        window: Duration::from_secs(window_seconds),
        scraped_after_run,
    })
}

struct Api<'a> {
    base: &'a Target,
    client: HttpClient,
}

#[derive(Deserialize)]
struct QueryResponse {
    status: String,
    data: Option<QueryData>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct QueryData {
    result: Vec<VectorSample>,
}

#[derive(Deserialize)]
struct VectorSample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

impl Api<'_> {
    /// Runs an instant vector query at `time` and returns each series' value by its `endpoint`
    /// label (empty for a series without one).
    async fn query(
        &self,
        query: &str,
        time: f64,
    ) -> Result<BTreeMap<String, f64>, PrometheusError> {
        let path = self.base.request_path(&format!(
            "/api/v1/query?query={}&time={time:.3}",
            encode_query_value(query)
        ));
        let response = self
            .client
            .get(&format!("http://{}{path}", self.base.authority()))
            .await
            .map_err(PrometheusError::Http)?;
        let (status, body) = (response.status.as_u16(), response.body);
        let parsed: Result<QueryResponse, _> = serde_json::from_slice(&body);
        let answer = match parsed {
            Ok(answer) => answer,
            Err(_) if status != 200 => {
                let body = String::from_utf8_lossy(&body).chars().take(200).collect();
                return Err(PrometheusError::Status {
                    url: self.base.to_string(),
                    status,
                    body,
                });
            }
            Err(error) => {
                return Err(PrometheusError::Malformed {
                    url: self.base.to_string(),
                    reason: error.to_string(),
                });
            }
        };
        if answer.status != "success" {
            let reason = answer
                .error
                .unwrap_or_else(|| format!("status {}", answer.status));
            return Err(PrometheusError::Query {
                query: query.to_owned(),
                reason,
            });
        }
        let data = answer.data.ok_or_else(|| PrometheusError::Malformed {
            url: self.base.to_string(),
            reason: "no data".to_owned(),
        })?;
        data.result
            .into_iter()
            .map(|sample| {
                let value =
                    sample
                        .value
                        .1
                        .parse::<f64>()
                        .map_err(|_| PrometheusError::Malformed {
                            url: self.base.to_string(),
                            reason: format!("sample value {:?} is not a number", sample.value.1),
                        })?;
                Ok((
                    sample.metric.get("endpoint").cloned().unwrap_or_default(),
                    value,
                ))
            })
            .collect()
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}
