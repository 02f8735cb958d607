//! Helpers shared by the integration tests: rendering a bundle into a temporary directory,
//! running the real promtool/amtool/prometheus/alertmanager binaries, HTTP calls and a webhook
//! receiver. Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use monibox::assets::{Bundle, RenderContext};
use monibox::config::{Config, HttpUrl, Timing};
use monibox::httpc::HttpClient;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The runbook base URL the promtool unit tests in `tests/rules/` expect.
pub const TEST_RUNBOOK_BASE: &str = "https://runbooks.test/monibox";

/// The default configuration with the given timing and the unit tests' runbook base URL.
pub fn test_config(timing: Timing) -> Config {
    let mut config = Config {
        timing,
        ..Config::default()
    };
    config.alerts.runbook_base_url =
        Some(HttpUrl::try_from(TEST_RUNBOOK_BASE.to_owned()).expect("valid URL"));
    config
}

/// Renders `config` for export into a fresh temporary directory and writes it there.
pub fn write_bundle(config: &Config) -> (tempfile::TempDir, Bundle) {
    let dir = tempfile::Builder::new()
        .prefix("monibox-bundle-")
        .tempdir()
        .expect("temp dir");
    let bundle =
        Bundle::render(config, &RenderContext::export(config, dir.path())).expect("bundle renders");
    bundle.write_to(dir.path()).expect("bundle is written");
    (dir, bundle)
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs a tool to completion and returns its output; panics with the tool's output if it cannot
/// be started.
pub fn run_tool(program: &str, args: &[&str], cwd: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run {program} (install Debian's prometheus and prometheus-alertmanager; scripts/test.sh does): {error}")
        })
}

/// Runs a tool and asserts that it succeeded, printing everything it said if not.
pub fn assert_tool_ok(program: &str, args: &[&str], cwd: &Path) -> String {
    let output = run_tool(program, args, cwd);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

/// A port that was free a moment ago on 127.0.0.1, for tools that cannot report the port they
/// bound themselves.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port on 127.0.0.1")
}

/// A child process this test started, killed by its PID when the test ends, also on failure.
pub struct ChildGuard {
    child: Child,
    name: &'static str,
}

impl ChildGuard {
    pub fn spawn(name: &'static str, command: &mut Command) -> Self {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        Self { child, name }
    }

    /// Panics with the process's stderr if it has already exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = self.child.stderr.take() {
                use std::io::Read;
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("{} exited early ({status}):\n{stderr}", self.name);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the host's Prometheus on `127.0.0.1:port` with the bundle in `bundle_dir`, its data in
/// `data_dir`.
pub fn start_prometheus(bundle_dir: &Path, data_dir: &Path, port: u16) -> ChildGuard {
    ChildGuard::spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                bundle_dir.join("prometheus/prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", data_dir.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}")),
    )
}

/// Starts the host's Alertmanager (Debian: `prometheus-alertmanager`) on `127.0.0.1:port` as a
/// single instance.
pub fn start_alertmanager(bundle_dir: &Path, data_dir: &Path, port: u16) -> ChildGuard {
    ChildGuard::spawn(
        "alertmanager",
        Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                bundle_dir.join("alertmanager/alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", data_dir.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address="),
    )
}

/// The project's HTTP client with the shapes these tests want: status and body text, or the
/// error as text.
pub struct Http {
    client: HttpClient,
}

impl Http {
    pub fn new() -> Self {
        Self {
            client: HttpClient::new(Duration::from_secs(10)),
        }
    }

    pub async fn get(&self, url: &str) -> Result<(u16, String), String> {
        let response = self
            .client
            .get(url)
            .await
            .map_err(|error| error.to_string())?;
        Ok((response.status.as_u16(), response.text()))
    }

    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, String), String> {
        let response = self
            .client
            .post(url, "application/json", body.to_string())
            .await
            .map_err(|error| error.to_string())?;
        Ok((response.status.as_u16(), response.text()))
    }

    /// Polls `url` until it answers 200 or `timeout` passes; `child` is checked for an early exit.
    pub async fn wait_ready(&self, url: &str, child: &mut ChildGuard, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            child.assert_running();
            if let Ok((200, _)) = self.get(url).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{url} not ready within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One webhook notification as Alertmanager posts it.
#[derive(Debug, Clone)]
pub struct Notification {
    pub receiver: String,
    pub status: String,
    pub alerts: Vec<serde_json::Value>,
}

impl Notification {
    pub fn alert_names(&self) -> Vec<String> {
        self.alerts
            .iter()
            .filter_map(|alert| alert["labels"]["alertname"].as_str().map(str::to_owned))
            .collect()
    }
}

/// An HTTP server on 127.0.0.1 that accepts Alertmanager webhooks on `/alerts` (what the monibox
/// daemon's ops listener does) and hands each notification to the test; every other path is 404.
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    pub notifications: mpsc::UnboundedReceiver<Notification>,
    shutdown: CancellationToken,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook receiver");
        let addr = listener.local_addr().expect("local addr");
        let (sender, notifications) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                };
                let sender = sender.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let sender = sender.clone();
                        async move {
                            let is_alerts = request.uri().path() == "/alerts";
                            let body = request.into_body().collect().await?.to_bytes();
                            if !is_alerts {
                                return Ok::<_, hyper::Error>(
                                    Response::builder()
                                        .status(404)
                                        .body(Full::new(Bytes::new()))
                                        .expect("static response"),
                                );
                            }
                            if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) {
                                let _ = sender.send(Notification {
                                    receiver: json["receiver"]
                                        .as_str()
                                        .unwrap_or_default()
                                        .to_owned(),
                                    status: json["status"].as_str().unwrap_or_default().to_owned(),
                                    alerts: json["alerts"].as_array().cloned().unwrap_or_default(),
                                });
                            }
                            Ok(Response::new(Full::new(Bytes::new())))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            notifications,
            shutdown,
        }
    }

    /// Waits until a notification satisfies `wanted`, up to `timeout`; returns it.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&Notification) -> bool,
    ) -> Option<Notification> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.notifications.recv()).await {
                Ok(Some(notification)) if wanted(&notification) => return Some(notification),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return None,
            }
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
