//! The server side of a load report, read from a real Prometheus (Debian's package) scraping the
//! in-process demo service every second: its counts and p95 for the run's window stand next to
//! the client's.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{RunningDemo, client};
use monibox::demo::DemoSettings;
use monibox::load::plan::{LoadPlan, LoadSettings, Target};
use monibox::load::report::LoadReport;
use monibox::load::{self, prometheus};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A Prometheus process with its own config and data directory, removed when dropped.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Prometheus {
    fn start(scrape_target: &str) -> Prometheus {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let dir = std::env::temp_dir().join(format!(
            "monibox-load-prometheus-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['{scrape_target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("write config");
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (Debian package prometheus)");
        Prometheus {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn query(&self, promql: &str) -> Value {
        let encoded: String = promql
            .bytes()
            .map(|byte| match byte {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => char::from(byte).to_string(),
                _ => format!("%{byte:02X}"),
            })
            .collect();
        let url = format!("{}/api/v1/query?query={encoded}", self.url);
        match client().get(&url).await {
            Ok(response) if response.status == 200 => {
                serde_json::from_slice(&response.body).expect("JSON")
            }
            _ => Value::Null,
        }
    }

    /// Waits (bounded) until `promql` returns at least `series` series. Prometheus's first
    /// scrape comes several seconds after it starts.
    async fn wait_for(&self, promql: &str, series: usize) {
        let mut answer = Value::Null;
        for _ in 0..150 {
            answer = self.query(promql).await;
            if answer["data"]["result"]
                .as_array()
                .is_some_and(|result| result.len() >= series)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("Prometheus did not return {series} series for {promql} within 30 s: {answer}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_counts_the_same_requests_in_the_run_window() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let prom = Prometheus::start(demo.base_url.trim_start_matches("http://"));
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
    let plan = LoadPlan::new(target, settings, 2).expect("plan");
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
