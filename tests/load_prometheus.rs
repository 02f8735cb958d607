//! The server side of a load report, read from a real Prometheus (Debian's package) scraping the
//! in-process demo service every second: its counts and p95 for the run's window stand next to
//! the client's.

mod common;
mod support;

use std::time::{Duration, Instant};

use common::{RunningDemo, client};
use monibox::demo::DemoSettings;
use monibox::httpc::encode_query_value;
use monibox::load::plan::{LoadPlan, LoadSettings, Target};
use monibox::load::report::LoadReport;
use monibox::load::{self, prometheus};
use serde_json::Value;
use support::{ChildGuard, start_on_free_port, start_prometheus};
use tokio_util::sync::CancellationToken;

/// The host's Prometheus scraping `scrape_target` every second, with its files in a temporary
/// directory; both go away when this is dropped.
struct Prometheus {
    process: ChildGuard,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(scrape_target: &str) -> Prometheus {
        let dir = tempfile::Builder::new()
            .prefix("monibox-load-prometheus-")
            .tempdir()
            .expect("temp dir");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['{scrape_target}']\n"
        );
        std::fs::create_dir_all(dir.path().join("prometheus")).expect("config dir");
        std::fs::write(dir.path().join("prometheus/prometheus.yml"), config).expect("write config");
        let (process, port) = start_on_free_port("/-/ready", Duration::from_secs(30), |port| {
            start_prometheus(dir.path(), &dir.path().join("data"), port)
        })
        .await;
        let url = format!("http://127.0.0.1:{port}");
        Prometheus {
            process,
            url,
            _dir: dir,
        }
    }

    /// Waits (bounded) until `promql` returns at least `series` series. Prometheus's first
    /// scrape comes several seconds after it starts.
    async fn wait_for(&mut self, promql: &str, series: usize) {
        let url = format!(
            "{}/api/v1/query?query={}",
            self.url,
            encode_query_value(promql)
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut answer = Value::Null;
        while Instant::now() < deadline {
            self.process.assert_running();
            if let Ok(response) = client().get(&url).await {
                answer = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
                if answer["data"]["result"]
                    .as_array()
                    .is_some_and(|result| result.len() >= series)
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("Prometheus did not return {series} series for {promql} within 30 s: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_counts_the_same_requests_in_the_run_window() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let mut prom = Prometheus::start(demo.base_url.trim_start_matches("http://")).await;
    let mix = "/=1,/error?rate=0=1";
    // One request per endpoint first, so both series exist in Prometheus before the window opens
    // and the run's increase is measured from a known baseline.
    for path in ["/", "/error?rate=0"] {
        client()
            .get(&demo.url(path))
            .await
            .expect("warm-up request");
    }
    prom.wait_for("app_request_count_total{endpoint=~\"/|/error\"}", 2)
        .await;

    let target: Target = demo.base_url.parse().expect("target");
    let settings = LoadSettings {
        rate: Some(100.0),
        duration: Some(Duration::from_secs(4)),
        mix: mix.parse().ok(),
        ..LoadSettings::default()
    };
    let plan = LoadPlan::new(target, settings, 2, None).expect("plan");
    let finished = load::start(&plan, CancellationToken::new())
        .await
        .expect("starts")
        .finish()
        .await
        .expect("finishes");
    let prometheus_target: Target = prom.url.parse().expect("prometheus URL");
    let ended_at = finished.started_at + finished.elapsed;
    let side = prometheus::server_side(
        &prometheus_target,
        finished.started_at,
        ended_at,
        Duration::from_secs(10),
        Duration::from_secs(5),
    )
    .await
    .expect("Prometheus answers");
    assert!(
        side.scraped_after_run,
        "a 1 s scrape interval scrapes again within 10 s"
    );

    let mut report = LoadReport::new(&plan, &finished);
    report.attach_server_side(&prom.url, Ok(side));
    let server = report.server.as_ref().expect("attached");
    assert_eq!(server.endpoints.len(), 2);
    let client_total: u64 = server.endpoints.iter().map(|row| row.client_requests).sum();
    assert_eq!(client_total, 400, "100 req/s for 4 s");
    for row in &server.endpoints {
        let client = row.client_requests as f64;
        let counted = row.server_requests.expect("Prometheus has the endpoint");
        // Prometheus extrapolates increase() from 1 s scrapes to the window's edges.
        assert!(
            (counted - client).abs() <= 0.1 * client,
            "{}: server {counted} vs client {client}",
            row.endpoint
        );
        let p95 = row.server_p95_ms.expect("server p95");
        assert!(
            p95 > 0.0 && p95 < 1000.0,
            "{}: server p95 {p95} ms",
            row.endpoint
        );
    }
    let text = report.render();
    assert!(
        text.contains("server side (Prometheus http://127.0.0.1:"),
        "{text}"
    );

    // The command line shows the same section, in the JSON document too.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_monibox"))
        .args([
            "load",
            "--target",
            &demo.base_url,
            "--users",
            "2",
            "--think-time",
            "0",
            "--requests",
            "50",
        ])
        .args(["--mix", mix, "--prometheus", &prom.url, "--json"])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("bounded")
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(json["server"]["prometheus"], prom.url.as_str());
    assert!(json["server"]["error"].is_null(), "{}", json["server"]);
    assert_eq!(json["server"]["endpoints"][0]["endpoint"], "/");
    assert!(
        json["server"]["endpoints"][0]["server_requests"].is_number(),
        "{}",
        json["server"]
    );
}
