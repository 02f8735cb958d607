//! The ops listener: the daemon's own HTTP endpoints, on the same hardened server loop as the
//! demo service.
//!
//! | route | |
//! |---|---|
//! | `GET /metrics` | self-metrics (Prometheus job `monibox`) |
//! | `POST /alerts` | Alertmanager's webhook (payload version 4, at most 1 MiB); 400 if malformed |
//! | `GET /alerts` | what the webhook received: counts and the newest alerts, as JSON |
//! | `POST /load` | a running `monibox load`'s figures ([`crate::load::push`]); 400 if malformed |
//! | `GET /runbooks` | the runbooks as HTML; alerts' `runbook_url`s point here |
//! | `GET /sd/docker` | Docker discovery's targets, for Prometheus's `http_sd_configs` |
//! | `GET /metrics/containers` | the Engine's containers' metrics, cAdvisor's names (job `containers`) |
//! | `GET /-/healthy` | `OK` |

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::alerts::{AlertLog, AlertsView, parse_payload};
use super::containers::{ContainerBoard, exposition};
use super::discovery::DiscoveryBoard;
use super::metrics::SelfMetrics;
use super::runbooks;
use crate::demo::ExpositionFormat;
use crate::docker::HOST_ALIAS;
use crate::httpd::{self, BindError, Bound, Handler, Limits};
use crate::load::push::{LoadPush, MAX_PUSH_BYTES};
use crate::supervise::metrics::SupervisorMetrics;

/// Largest webhook body accepted; Alertmanager's notifications are a few kilobytes.
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;
/// How long a client may take to send a webhook body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
const ROUTES: &str =
    "/metrics, /metrics/containers, /alerts, /load, /runbooks, /sd/docker, /-/healthy";

/// What the ops endpoints share; the control socket reads the alert counts from it too.
#[derive(Debug)]
pub struct OpsState {
    metrics: SelfMetrics,
    alerts: Mutex<AlertLog>,
    runbooks_html: String,
    discovery: Arc<DiscoveryBoard>,
    containers: Arc<ContainerBoard>,
}

impl OpsState {
    fn new() -> Self {
        Self {
            metrics: SelfMetrics::new(crate::assets::alert_names()),
            alerts: Mutex::new(AlertLog::default()),
            runbooks_html: runbooks::to_html(crate::assets::RUNBOOKS),
            discovery: DiscoveryBoard::new(HOST_ALIAS),
            containers: ContainerBoard::new(),
        }
    }

    /// What Docker discovery publishes, served on `/sd/docker`.
    pub fn discovery(&self) -> Arc<DiscoveryBoard> {
        self.discovery.clone()
    }

    /// The containers whose metrics `/metrics/containers` serves.
    pub fn containers(&self) -> Arc<ContainerBoard> {
        self.containers.clone()
    }

    fn alert_log(&self) -> MutexGuard<'_, AlertLog> {
        match self.alerts.lock() {
            Ok(log) => log,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Webhook notifications and alerts received so far.
    pub fn alert_counts(&self) -> (u64, u64) {
        self.alert_log().counts()
    }

    pub fn alerts(&self) -> AlertsView {
        self.alert_log().view()
    }

    /// The supervisor's metrics, served on `/metrics`.
    pub fn supervisor_metrics(&self) -> SupervisorMetrics {
        self.metrics.supervisor()
    }
}

/// The ops listener with its addresses bound, not yet serving.
#[derive(Debug)]
pub struct OpsListener {
    bound: Bound,
    state: Arc<OpsState>,
}

impl OpsListener {
    /// Binds every address (port 0 picks a free one); a taken port fails here.
    pub async fn bind(addrs: &[SocketAddr]) -> Result<Self, BindError> {
        Ok(Self {
            bound: Bound::bind(addrs).await?,
            state: Arc::new(OpsState::new()),
        })
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.bound.local_addrs()
    }

    pub fn state(&self) -> Arc<OpsState> {
        self.state.clone()
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let limits = Limits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 256,
            drain_timeout: Duration::from_secs(2),
            ..Limits::default()
        };
        httpd::serve(self.bound, self.state, limits, shutdown).await;
    }
}

impl Handler for OpsState {
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        match (path.as_str(), &method) {
            ("/alerts", &Method::POST) => self.receive_webhook(request).await,
            ("/alerts", &Method::GET | &Method::HEAD) => {
                match serde_json::to_string(&self.alerts()) {
                    Ok(body) => json_response(StatusCode::OK, body),
                    Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed"),
                }
            }
            ("/alerts", _) => method_not_allowed("GET, HEAD, POST"),
            ("/load", &Method::POST) => self.receive_load(request).await,
            ("/load", _) => method_not_allowed("POST"),
            ("/metrics", &Method::GET | &Method::HEAD) => {
                let accept = request
                    .headers()
                    .get(ACCEPT)
                    .and_then(|value| value.to_str().ok());
                let format = ExpositionFormat::negotiate(accept);
                match self.metrics.encode(format) {
                    Ok(text) => response(StatusCode::OK, format.content_type(), text),
                    Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed"),
                }
            }
            ("/runbooks", &Method::GET | &Method::HEAD) => response(
                StatusCode::OK,
                "text/html; charset=utf-8",
                self.runbooks_html.clone(),
            ),
            ("/metrics/containers", &Method::GET | &Method::HEAD) => response(
                StatusCode::OK,
                exposition::CONTENT_TYPE,
                self.containers.scrape().await,
            ),
            ("/sd/docker", &Method::GET | &Method::HEAD) => {
                json_response(StatusCode::OK, self.discovery.sd_body())
            }
            ("/-/healthy", &Method::GET | &Method::HEAD) => {
                response(StatusCode::OK, "text/plain; charset=utf-8", "OK".to_owned())
            }
            ("/metrics" | "/metrics/containers" | "/runbooks" | "/sd/docker" | "/-/healthy", _) => {
                method_not_allowed("GET, HEAD")
            }
            _ => problem(
                StatusCode::NOT_FOUND,
                &format!("no such route; the routes are {ROUTES}"),
            ),
        }
    }
}

/// Reads a request body of at most `limit` bytes within [`BODY_READ_TIMEOUT`], or the answer
/// that says why not.
async fn read_body(
    request: Request<Incoming>,
    limit: usize,
) -> Result<Bytes, Response<Full<Bytes>>> {
    let body = Limited::new(request.into_body(), limit).collect();
    match tokio::time::timeout(BODY_READ_TIMEOUT, body).await {
        Err(_) => Err(problem(
            StatusCode::REQUEST_TIMEOUT,
            "the body took too long",
        )),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("bodies here are limited to {limit} bytes"),
        )),
        Ok(Err(_)) => Err(problem(StatusCode::BAD_REQUEST, "the body broke off")),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

impl OpsState {
    async fn receive_load(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let body = match read_body(request, MAX_PUSH_BYTES).await {
            Ok(body) => body,
            Err(refused) => return refused,
        };
        match LoadPush::parse(&body) {
            Ok(push) => match self.metrics.load().record(push) {
                Ok(()) => json_response(StatusCode::OK, r#"{"status":"ok"}"#.to_owned()),
                Err(error) => problem(StatusCode::TOO_MANY_REQUESTS, &error.to_string()),
            },
            Err(error) => problem(StatusCode::BAD_REQUEST, &error.to_string()),
        }
    }

    async fn receive_webhook(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let body = match read_body(request, MAX_WEBHOOK_BYTES).await {
            Ok(body) => body,
            Err(refused) => return refused,
        };
        match parse_payload(&body, SystemTime::now()) {
            Ok(alerts) => {
                self.metrics.alerts_received(&alerts);
                tracing::info!(
                    alerts = alerts.len(),
                    names = %alerts.iter().map(|a| format!("{}:{}", a.alertname, a.status.as_str())).collect::<Vec<_>>().join(","),
                    "webhook notification received"
                );
                self.alert_log().record(alerts);
                json_response(StatusCode::OK, r#"{"status":"ok"}"#.to_owned())
            }
            Err(error) => problem(StatusCode::BAD_REQUEST, &error.to_string()),
        }
    }
}

fn response(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    response(status, "application/json", body)
}

fn problem(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, json!({ "error": message }).to_string())
}

fn method_not_allowed(allowed: &'static str) -> Response<Full<Bytes>> {
    let mut response = problem(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allowed));
    response
}
