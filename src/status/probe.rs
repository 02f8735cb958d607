//! The HTTP probes `status` runs against the stack, each bounded in time: readiness endpoints,
//! Prometheus's targets and alerts, Grafana's health, and what the daemon's webhook received.
//! Each returns a value or a short reason; none prints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::daemon::alerts::AlertsView;
use crate::httpc::HttpClient;

/// A GET that must answer 2xx; the body is returned.
pub async fn get_ok(client: &HttpClient, url: &str) -> Result<String, String> {
    let response = client.get(url).await.map_err(|error| error.to_string())?;
    if response.status.is_success() {
        Ok(response.text())
    } else {
        Err(format!("{url} answered HTTP {}", response.status))
    }
}

/// One scrape target as Prometheus reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetStatus {
    pub job: String,
    pub instance: String,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: String,
    pub last_error: String,
}

/// An alert Prometheus evaluates as pending or firing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveAlert {
    pub alertname: String,
    /// `firing` or `pending`.
    pub state: String,
    pub severity: Option<String>,
    pub active_at: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// What Grafana's `/api/health` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrafanaHealth {
    #[serde(default)]
    pub database: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub commit: String,
}

#[derive(Deserialize)]
struct ApiResponse<T> {
    status: String,
    data: Option<T>,
    #[serde(default)]
    error: Option<String>,
}

fn api_data<T: for<'de> Deserialize<'de>>(url: &str, body: &str) -> Result<T, String> {
    let response: ApiResponse<T> =
        serde_json::from_str(body).map_err(|error| format!("{url}: {error}"))?;
    if response.status != "success" {
        return Err(format!(
            "{url}: {}",
            response.error.unwrap_or(response.status)
        ));
    }
    response.data.ok_or_else(|| format!("{url}: no data"))
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
}

/// Prometheus's active scrape targets, sorted by job and instance.
pub async fn prometheus_targets(
    client: &HttpClient,
    base_url: &str,
) -> Result<Vec<TargetStatus>, String> {
    let url = format!("{base_url}/api/v1/targets?state=active");
    let body = get_ok(client, &url).await?;
    let data: TargetsData = api_data(&url, &body)?;
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
        })
        .collect();
    targets.sort_by(|a, b| (&a.job, &a.instance).cmp(&(&b.job, &b.instance)));
    Ok(targets)
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

/// The alerts Prometheus has pending or firing, firing first, then by name.
pub async fn prometheus_alerts(
    client: &HttpClient,
    base_url: &str,
) -> Result<Vec<ActiveAlert>, String> {
    let url = format!("{base_url}/api/v1/alerts");
    let body = get_ok(client, &url).await?;
    let data: AlertsData = api_data(&url, &body)?;
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

/// Grafana's health; healthy when the database is `ok`.
pub async fn grafana_health(client: &HttpClient, base_url: &str) -> Result<GrafanaHealth, String> {
    let url = format!("{base_url}/api/health");
    let body = get_ok(client, &url).await?;
    let health: GrafanaHealth =
        serde_json::from_str(&body).map_err(|error| format!("{url}: {error}"))?;
    if health.database == "ok" {
        Ok(health)
    } else {
        Err(format!("{url}: database is {:?}", health.database))
    }
}

/// What the daemon's webhook received (`GET /alerts` on the ops listener).
pub async fn received_alerts(client: &HttpClient, ops_url: &str) -> Result<AlertsView, String> {
    let url = format!("{ops_url}/alerts");
    let body = get_ok(client, &url).await?;
    serde_json::from_str(&body).map_err(|error| format!("{url}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_api_errors_are_reported_with_the_url() {
        let error = api_data::<TargetsData>("u", r#"{"status":"error","error":"bad"}"#)
            .err()
            .expect("an error");
        assert_eq!(error, "u: bad");
        let data: TargetsData = api_data(
            "u",
            r#"{"status":"success","data":{"activeTargets":[{"labels":{"job":"app",
            "instance":"h:1"},"scrapePool":"app","health":"down","lastError":"refused"}]}}"#,
        )
        .expect("data");
        assert_eq!(data.active_targets[0].last_error, "refused");
    }
}
