//! Helpers shared by the integration tests: rendering a bundle into a temporary directory,
//! running the real promtool/amtool/prometheus/alertmanager binaries, HTTP calls and the
//! daemon's real ops listener as the webhook receiver. Each test binary uses a different subset,
//! hence the `dead_code` allowance.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use monibox::assets::Bundle;
use monibox::config::{Config, HttpUrl, Timing};
use monibox::daemon::alerts::{AlertsView, ReceivedAlert};
use monibox::daemon::ops::{OpsListener, OpsState};
use monibox::httpc::HttpClient;
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
    let bundle = Bundle::render(
        config,
        &monibox::catalog::render::for_export(config, dir.path()),
    )
    .expect("bundle renders");
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

/// Copies the promtool unit tests of `tests/rules/<profile_dir>` (all, or those named in `only`)
/// into `dir`, beside rule files there, and runs `promtool test rules` on them; each must pass.
/// Returns how many ran.
pub fn run_rule_unit_tests_in(dir: &Path, profile_dir: &str, only: &[&str]) -> usize {
    let source = repo_path(&format!("tests/rules/{profile_dir}"));
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&source).expect("tests/rules dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if only.is_empty() || only.contains(&name.as_str()) {
            std::fs::copy(&path, dir.join(&name)).expect("copy unit test");
            names.push(name);
        }
    }
    names.sort();
    assert!(!names.is_empty(), "no unit tests in {}", source.display());
    let mut args = vec!["test", "rules"];
    args.extend(names.iter().map(String::as_str));
    let out = assert_tool_ok("promtool", &args, dir);
    assert_eq!(out.matches("SUCCESS").count(), names.len(), "{out}");
    names.len()
}

/// A port that was free a moment ago on 127.0.0.1, for tools that cannot report the port they
/// bound themselves. Another process may take it before the tool binds it: start servers with
/// [`start_on_free_port`], which tries again on another port then.
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
        if let Some(report) = self.exit_report() {
            panic!("{report}");
        }
    }

    /// What the process said on stderr if it has exited; `None` while it runs.
    pub fn exit_report(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok().flatten()?;
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            use std::io::Read;
            let _ = pipe.read_to_string(&mut stderr);
        }
        Some(format!("{} exited early ({status}):\n{stderr}", self.name))
    }
}

/// How many ports [`start_on_free_port`] tries.
const BIND_ATTEMPTS: usize = 5;

/// Starts a server that has to be told its port (`start(port)`) on a port that was free a moment
/// ago and waits until `ready_path` answers 200 (at most `timeout`). When another process took
/// the port in between, the server exits saying the address is in use, and it is started again
/// on another port.
pub async fn start_on_free_port(
    ready_path: &str,
    timeout: Duration,
    mut start: impl FnMut(u16) -> ChildGuard,
) -> (ChildGuard, u16) {
    let http = Http::new();
    let mut taken = Vec::new();
    for _ in 0..BIND_ATTEMPTS {
        let port = free_port();
        let mut child = start(port);
        let url = format!("http://127.0.0.1:{port}{ready_path}");
        match http.wait_ready_or_exit(&url, &mut child, timeout).await {
            Ok(()) => return (child, port),
            Err(report) if report.contains("address already in use") => taken.push(report),
            Err(report) => panic!("{report}"),
        }
    }
    panic!(
        "every port tried was taken before the server could bind it:\n{}",
        taken.join("\n")
    );
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

/// Starts the host's node_exporter (Debian: `prometheus-node-exporter`) on `127.0.0.1:port`,
/// reading this machine's `/proc` and `/sys` directly.
pub fn start_node_exporter(port: u16) -> ChildGuard {
    ChildGuard::spawn(
        "node_exporter",
        Command::new("prometheus-node-exporter")
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
        if let Err(report) = self.wait_ready_or_exit(url, child, timeout).await {
            panic!("{report}");
        }
    }

    /// Polls `url` until it answers 200 (panicking after `timeout`), or `child` exits: then
    /// what it said.
    pub async fn wait_ready_or_exit(
        &self,
        url: &str,
        child: &mut ChildGuard,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(report) = child.exit_report() {
                return Err(report);
            }
            if let Ok((200, _)) = self.get(url).await {
                // Answered by this child, not by whoever took its port, if it still runs.
                return child.exit_report().map_or(Ok(()), Err);
            }
            assert!(
                Instant::now() < deadline,
                "{url} not ready within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The monibox daemon's real ops listener (self-metrics on `/metrics`, the Alertmanager webhook
/// on `/alerts`) on 127.0.0.1:0, as the stack runs it; stopped when dropped. Its `state` is what
/// the daemon's other tasks feed (e.g. the container collector, `/metrics/containers`).
pub struct OpsListenerUnderTest {
    pub addr: SocketAddr,
    pub state: std::sync::Arc<OpsState>,
    shutdown: CancellationToken,
}

impl OpsListenerUnderTest {
    pub async fn start() -> Self {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let listener = OpsListener::bind(&[loopback])
            .await
            .expect("bind the ops listener");
        let addr = listener.local_addrs()[0];
        let state = listener.state();
        let shutdown = CancellationToken::new();
        tokio::spawn(listener.run(shutdown.clone()));
        Self {
            addr,
            state,
            shutdown,
        }
    }

    /// What the webhook received so far (`GET /alerts`).
    pub async fn received(&self) -> AlertsView {
        let (status, body) = Http::new()
            .get(&format!("http://{}/alerts", self.addr))
            .await
            .expect("GET /alerts");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("the /alerts JSON")
    }

    /// Polls the received alerts until one satisfies `wanted`, up to `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        wanted: impl Fn(&ReceivedAlert) -> bool,
    ) -> Option<ReceivedAlert> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(alert) = self.received().await.recent.into_iter().find(&wanted) {
                return Some(alert);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for OpsListenerUnderTest {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
