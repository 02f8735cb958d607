//! The HTTP reads `status` makes besides readiness probes and Prometheus's API, each bounded in
//! time: a component's version (from the catalog's version endpoint) and what the daemon's
//! webhook received.

use std::net::SocketAddr;

use crate::catalog::VersionEndpoint;
use crate::daemon::alerts::AlertsView;
use crate::httpc::HttpClient;

/// The version a running component reports at its version endpoint; None if it has none or
/// does not say.
pub async fn version(
    client: &HttpClient,
    address: SocketAddr,
    endpoint: Option<VersionEndpoint>,
) -> Option<String> {
    let endpoint = endpoint?;
    let response = client
        .get(&format!("http://{address}{}", endpoint.path))
        .await
        .ok()
        .filter(|response| response.status.is_success())?;
    let body: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    body.pointer(endpoint.pointer)?.as_str().map(str::to_owned)
}

/// What the daemon's webhook received (`GET /alerts` on the ops listener).
pub async fn received_alerts(client: &HttpClient, ops_url: &str) -> Result<AlertsView, String> {
    let url = format!("{ops_url}/alerts");
    let response = client.get(&url).await.map_err(|error| error.to_string())?;
    if !response.status.is_success() {
        return Err(format!("{url} answered HTTP {}", response.status));
    }
    serde_json::from_slice(&response.body).map_err(|error| format!("{url}: {error}"))
}
