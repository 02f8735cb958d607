//! Prometheus's HTTP API (<https://prometheus.io/docs/prometheus/latest/querying/api/>), as far as
//! monibox reads it: instant and range queries, the active scrape targets and the alerts. One
//! envelope decoder (`{"status":"success","data":…}` or `{"status":"error","error":…}`) serves
//! every call, one matrix decoder every range result, and every error names the URL.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::httpc::{HttpClient, encode_query_value};

#[derive(Debug, thiserror::Error)]
pub enum PromApiError {
    /// The cause is part of the message (and not a `source`), since reports show this as one
    /// line.
    #[error("cannot query Prometheus: {0}")]
    Http(crate::httpc::HttpError),
    #[error("Prometheus at {url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("Prometheus at {url} sent an answer that is not an API result: {reason}")]
    Malformed { url: String, reason: String },
    #[error("Prometheus rejected {url}: {reason}")]
    Rejected { url: String, reason: String },
}

impl PromApiError {
    /// What went wrong without the URL (whose query can be long), for a report that already
    /// says it is Prometheus: `connection refused (os error 111)`, `HTTP 503`.
    pub fn reason(&self) -> String {
        match self {
            Self::Http(error) => error.reason(),
            Self::Status { status, .. } => format!("HTTP {status}"),
            Self::Malformed { reason, .. } | Self::Rejected { reason, .. } => reason.clone(),
        }
    }
}

/// A Prometheus server's API at `base_url` (`http://127.0.0.1:9090`).
#[derive(Debug, Clone)]
pub struct PrometheusApi {
    base_url: String,
    client: HttpClient,
}

/// One element of an instant vector: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// Seconds since the Unix epoch, as Prometheus evaluated it.
    pub timestamp: f64,
    pub value: f64,
}

/// One series' raw samples: its labels and (Unix seconds, value) pairs, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSamples {
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<(f64, f64)>,
}

/// One scrape target as Prometheus reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetStatus {
    pub job: String,
    pub instance: String,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: String,
    pub last_error: String,
    /// RFC 3339; absent before the first scrape.
    pub last_scrape: Option<String>,
    /// How long the last scrape took, in seconds; absent before the first scrape.
    pub last_scrape_duration_seconds: Option<f64>,
    /// The URL Prometheus scrapes.
    pub scrape_url: String,
    /// Every label of the target after relabelling.
    pub labels: BTreeMap<String, String>,
}

/// An alert Prometheus evaluates as pending or firing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveAlert {
    pub alertname: String,
    /// `firing` or `pending`.
    pub state: String,
    pub severity: Option<String>,
    /// RFC 3339: since when the alert is active.
    pub active_at: Option<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    #[serde(default)]
    error: Option<String>,
}

/// The `data` of an API answer, or why there is none.
fn decode<T: DeserializeOwned>(url: &str, body: &str) -> Result<T, PromApiError> {
    let envelope: Envelope<T> =
        serde_json::from_str(body).map_err(|error| PromApiError::Malformed {
            url: url.to_owned(),
            reason: error.to_string(),
        })?;
    if envelope.status != "success" {
        return Err(PromApiError::Rejected {
            url: url.to_owned(),
            reason: envelope.error.unwrap_or(envelope.status),
        });
    }
    envelope.data.ok_or_else(|| PromApiError::Malformed {
        url: url.to_owned(),
        reason: "no data".to_owned(),
    })
}

#[derive(Deserialize)]
struct VectorData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSample>,
}

#[derive(Deserialize)]
struct RawSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSeries>,
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// The series of a matrix answer from `url`, each value parsed.
fn decode_matrix(url: &str, data: MatrixData) -> Result<Vec<RawSamples>, PromApiError> {
    let malformed = |reason: String| PromApiError::Malformed {
        url: url.to_owned(),
        reason,
    };
    if data.result_type != "matrix" {
        return Err(malformed(format!(
            "expected a matrix, got a {}",
            data.result_type
        )));
    }
    data.result
        .into_iter()
        .map(|series| {
            let samples = series
                .values
                .into_iter()
                .map(|(at, value)| {
                    value
                        .parse::<f64>()
                        .map(|value| (at, value))
                        .map_err(|_| malformed(format!("{value:?} is not a number")))
                })
                .collect::<Result<_, _>>()?;
            Ok(RawSamples {
                labels: series.metric,
                samples,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct TargetsData {
    #[serde(rename = "activeTargets", default)]
    active_targets: Vec<RawTarget>,
}

#[derive(Deserialize)]
struct RawTarget {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(rename = "scrapePool", default)]
    scrape_pool: String,
    health: String,
    #[serde(rename = "lastError", default)]
    last_error: String,
    #[serde(rename = "lastScrape", default)]
    last_scrape: Option<String>,
    #[serde(rename = "lastScrapeDuration", default)]
    last_scrape_duration: Option<f64>,
    #[serde(rename = "scrapeUrl", default)]
    scrape_url: String,
}

#[derive(Deserialize)]
struct AlertsData {
    #[serde(default)]
    alerts: Vec<RawAlert>,
}

#[derive(Deserialize)]
struct RawAlert {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    state: String,
    #[serde(rename = "activeAt", default)]
    active_at: Option<String>,
}

/// Prometheus reports "never scraped" as the zero time.
fn scraped_at(text: Option<String>) -> Option<String> {
    text.filter(|time| !time.starts_with("0001-01-01"))
}

impl PrometheusApi {
    /// The API at `base_url`, each request bounded by `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            client: HttpClient::new(timeout),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, PromApiError> {
        let url = format!("{}{path_and_query}", self.base_url);
        let response = self.client.get(&url).await.map_err(PromApiError::Http)?;
        let body = response.text();
        // The API answers errors with 4xx/5xx and the same envelope: prefer its message.
        if !response.status.is_success() {
            return match decode::<serde_json::Value>(&url, &body) {
                Err(rejected @ PromApiError::Rejected { .. }) => Err(rejected),
                _ => Err(PromApiError::Status {
                    url,
                    status: response.status.as_u16(),
                    body: body.chars().take(200).collect(),
                }),
            };
        }
        decode(&url, &body)
    }

    /// An instant query, evaluated at `time` (Unix seconds) or now; the result must be a vector.
    pub async fn query(&self, expr: &str, time: Option<f64>) -> Result<Vec<Sample>, PromApiError> {
        let mut path = format!("/api/v1/query?query={}", encode_query_value(expr));
        if let Some(time) = time {
            path.push_str(&format!("&time={time:.3}"));
        }
        let data: VectorData = self.get(&path).await?;
        if data.result_type != "vector" {
            return Err(PromApiError::Malformed {
                url: format!("{}{path}", self.base_url),
                reason: format!("expected a vector, got a {}", data.result_type),
            });
        }
        data.result
            .into_iter()
            .map(|raw| {
                let value = raw.value.1.parse().map_err(|_| PromApiError::Malformed {
                    url: format!("{}{path}", self.base_url),
                    reason: format!("{:?} is not a number", raw.value.1),
                })?;
                Ok(Sample {
                    labels: raw.metric,
                    timestamp: raw.value.0,
                    value,
                })
            })
            .collect()
    }

    /// The raw samples (Unix seconds, value) of every series of `selector` over the `range_ms`
    /// milliseconds up to `time`: the range selector `selector[<range_ms>ms]` evaluated at
    /// `time`, as stored, with no extrapolation.
    pub async fn raw_samples(
        &self,
        selector: &str,
        range_ms: u64,
        time: f64,
    ) -> Result<Vec<RawSamples>, PromApiError> {
        let expr = format!("{selector}[{range_ms}ms]");
        let path = format!(
            "/api/v1/query?query={}&time={time:.3}",
            encode_query_value(&expr)
        );
        let data: MatrixData = self.get(&path).await?;
        decode_matrix(&format!("{}{path}", self.base_url), data)
    }

    /// A range query (`/api/v1/query_range`): `expr` evaluated every `step` from `start` to
    /// `end` (Unix seconds), one [`RawSamples`] per series; the result must be a matrix.
    pub async fn query_range(
        &self,
        expr: &str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> Result<Vec<RawSamples>, PromApiError> {
        let path = format!(
            "/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step={:.3}",
            encode_query_value(expr),
            step.as_secs_f64()
        );
        let data: MatrixData = self.get(&path).await?;
        decode_matrix(&format!("{}{path}", self.base_url), data)
    }

    /// The active scrape targets, sorted by job and instance.
    pub async fn targets(&self) -> Result<Vec<TargetStatus>, PromApiError> {
        let data: TargetsData = self.get("/api/v1/targets?state=active").await?;
        let mut targets: Vec<TargetStatus> = data
            .active_targets
            .into_iter()
            .map(|target| TargetStatus {
                job: target
                    .labels
                    .get("job")
                    .cloned()
                    .unwrap_or(target.scrape_pool),
                instance: target.labels.get("instance").cloned().unwrap_or_default(),
                health: target.health,
                last_error: target.last_error,
                last_scrape_duration_seconds: target
                    .last_scrape
                    .as_ref()
                    .and(target.last_scrape_duration),
                last_scrape: scraped_at(target.last_scrape),
                scrape_url: target.scrape_url,
                labels: target.labels,
            })
            .collect();
        targets.sort_by(|a, b| (&a.job, &a.instance).cmp(&(&b.job, &b.instance)));
        Ok(targets)
    }

    /// The alerts pending or firing, firing first, then by name.
    pub async fn alerts(&self) -> Result<Vec<ActiveAlert>, PromApiError> {
        let data: AlertsData = self.get("/api/v1/alerts").await?;
        let mut alerts: Vec<ActiveAlert> = data
            .alerts
            .into_iter()
            .map(|alert| ActiveAlert {
                alertname: alert.labels.get("alertname").cloned().unwrap_or_default(),
                severity: alert.labels.get("severity").cloned(),
                state: alert.state,
                active_at: alert.active_at,
                labels: alert.labels,
            })
            .collect();
        alerts.sort_by(|a, b| {
            (a.state != "firing", &a.alertname).cmp(&(b.state != "firing", &b.alertname))
        });
        Ok(alerts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_are_reported_with_the_url() {
        let error = decode::<TargetsData>("u", r#"{"status":"error","error":"bad"}"#)
            .err()
            .expect("an error");
        assert_eq!(error.to_string(), "Prometheus rejected u: bad");
        let data: TargetsData = decode(
            "u",
            r#"{"status":"success","data":{"activeTargets":[{"labels":{"job":"app",
            "instance":"h:1"},"scrapePool":"app","health":"down","lastError":"refused",
            "lastScrape":"0001-01-01T00:00:00Z"}]}}"#,
        )
        .expect("data");
        assert_eq!(data.active_targets[0].last_error, "refused");
        assert!(matches!(
            decode::<TargetsData>("u", "not json"),
            Err(PromApiError::Malformed { .. })
        ));
        assert_eq!(scraped_at(Some("0001-01-01T00:00:00Z".to_owned())), None);
    }
}
