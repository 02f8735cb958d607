//! The report's server side: Prometheus's exact request count and p95 for the run's window next to
//! the client's, one row per `endpoint` label of the mix, and why a figure is missing or not
//! exact when it is.

use serde::Serialize;

use super::{EndpointReport, LoadReport};
use crate::load::prometheus::ServerSide;

/// Prometheus's view of the run, per endpoint label.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    pub prometheus: String,
    /// The target Prometheus was read for: its `job` and `instance` labels.
    pub job: Option<String>,
    pub instance: Option<String>,
    /// The scrapes bounding the window; `None` when there are no figures.
    pub window: Option<ServerWindow>,
    pub endpoints: Vec<ServerEndpointReport>,
    /// Why there are no figures at all, when there are none.
    pub error: Option<String>,
}

/// From the last scrape that finished before the run to the first that began after it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ServerWindow {
    pub start_unix: f64,
    pub end_unix: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerEndpointReport {
    /// The server's `endpoint` label: the mix path without its query.
    pub endpoint: String,
    pub client_requests: u64,
    /// Exact, from the counters' raw samples at the window's two scrapes.
    pub server_requests: Option<u64>,
    /// `None` when several mix entries share the label (their p95s cannot be combined).
    pub client_p95_ms: Option<f64>,
    pub server_p95_ms: Option<f64>,
    /// Why the server's figure is missing or may differ from the client's.
    pub note: Option<String>,
}

impl LoadReport {
    /// Adds Prometheus's figures (or why there are none), one row per endpoint label of the mix.
    pub fn attach_server_side(&mut self, prometheus: &str, server: Result<ServerSide, String>) {
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
                let rows: Vec<&EndpointReport> = self
                    .endpoints
                    .iter()
                    .filter(|row| endpoint_label(&row.endpoint) == label)
                    .collect();
                row(label, &rows, side.as_ref())
            })
            .collect();
        self.server = Some(ServerReport {
            prometheus: prometheus.to_owned(),
            job: side.as_ref().map(|side| side.job.clone()),
            instance: side.as_ref().map(|side| side.instance.clone()),
            window: side.as_ref().map(|side| ServerWindow {
                start_unix: side.window_start_unix,
                end_unix: side.window_end_unix,
                seconds: side.window_end_unix - side.window_start_unix,
            }),
            endpoints,
            error,
        });
    }
}

fn row(label: String, rows: &[&EndpointReport], side: Option<&ServerSide>) -> ServerEndpointReport {
    let client_requests = rows.iter().map(|row| row.requests).sum();
    let client_p95_ms = match rows {
        [only] => only.latency_ms.p95,
        _ => None,
    };
    let timeouts: u64 = rows.iter().map(|row| row.timeouts).sum();
    let counted = side.and_then(|side| side.endpoints.get(&label));
    let note = match (side, counted) {
        (None, _) => None,
        (Some(_), None) => Some("Prometheus has no series for this endpoint".to_owned()),
        (Some(_), Some(counted)) if counted.reset => Some(
            "the service restarted in the window: what it counted between its last scrape \
             before the restart and the restart is missing"
                .to_owned(),
        ),
        (Some(_), Some(_)) if timeouts > 0 => Some(format!(
            "{timeouts} requests timed out on the client; the server counts each one it finished"
        )),
        _ => None,
    };
    ServerEndpointReport {
        server_requests: counted.map(|counted| counted.requests),
        server_p95_ms: counted
            .and_then(|counted| counted.p95_seconds)
            .map(|seconds| seconds * 1000.0),
        endpoint: label,
        client_requests,
        client_p95_ms,
        note,
    }
}

/// The demo service's `endpoint` label for a mix path: the path without its query.
fn endpoint_label(path: &str) -> String {
    path.split('?').next().unwrap_or(path).to_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::load::Finished;
    use crate::load::plan::{LoadPlan, LoadSettings, Target};
    use crate::load::prometheus::ServerEndpoint;
    use crate::load::stats::Stats;

    #[test]
    fn server_side_rows_follow_endpoint_labels() {
        let target: Target = "http://127.0.0.1:5000".parse().expect("target");
        let settings = LoadSettings {
            mix: "/=1,/slow?ms=5=1,/slow?ms=50=1,/error=1".parse().ok(),
            ..LoadSettings::default()
        };
        let plan = LoadPlan::new(target, settings, 1, None).expect("plan");
        let mut stats = Stats::new(4);
        stats.record_response(0, 200, Duration::from_millis(1));
        stats.record_response(1, 200, Duration::from_millis(5));
        stats.record_response(2, 200, Duration::from_millis(50));
        stats.record_response(3, 500, Duration::from_millis(1));
        let finished = Finished {
            stats,
            elapsed: Duration::from_secs(2),
            window: Duration::from_secs(2),
            started_at: SystemTime::now(),
            interrupted: false,
        };
        let mut report = LoadReport::new(&plan, &finished);
        let counted = |requests, p95_seconds, reset| ServerEndpoint {
            requests,
            reset,
            p95_seconds,
        };
        let side = ServerSide {
            job: "app".to_owned(),
            instance: "127.0.0.1:5000".to_owned(),
            window_start_unix: 100.0,
            window_end_unix: 115.0,
            endpoints: BTreeMap::from([
                ("/".to_owned(), counted(1, Some(0.001), false)),
                ("/slow".to_owned(), counted(2, None, true)),
            ]),
        };
        report.attach_server_side("http://127.0.0.1:9090", Ok(side));
        let server = report.server.as_ref().expect("attached");
        let rows: Vec<(&str, u64, Option<u64>)> = server
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
        assert_eq!(
            rows,
            vec![
                ("/", 1, Some(1)),
                ("/slow", 2, Some(2)),
                ("/error", 1, None)
            ]
        );
        assert_eq!(server.endpoints[0].server_p95_ms, Some(1.0));
        assert_eq!(
            server.endpoints[1].client_p95_ms, None,
            "two mix entries share the label"
        );
        assert!(
            server.endpoints[1]
                .note
                .as_deref()
                .is_some_and(|note| note.contains("restarted"))
        );
        assert!(
            server.endpoints[2]
                .note
                .as_deref()
                .is_some_and(|note| note.contains("no series"))
        );
        assert_eq!(server.window.map(|window| window.seconds), Some(15.0));
        let text = report.render();
        assert!(
            text.contains(
                "server side (Prometheus http://127.0.0.1:9090, 127.0.0.1:5000, 15.0s between"
            ),
            "{text}"
        );
        assert!(
            text.contains("  /error: Prometheus has no series"),
            "{text}"
        );
    }
}
