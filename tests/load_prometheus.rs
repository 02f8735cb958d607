//! The server side of a load report, read from a real Prometheus (Debian's package) scraping
//! in-process demo services, in the standard (15 s) and fast (1 s) scrape profiles: its counts
//! for the run's window equal the client's exactly, per endpoint, for short and long runs started
//! at any point between two scrapes; and the demo service's series exist at 0 from the start, so
//! the first errors after a start show in `increase()`.

mod common;
mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{RunningDemo, client};
use monibox::demo::DemoSettings;
use monibox::httpc::encode_query_value;
use monibox::load::plan::{LoadPlan, LoadSettings, Target, ThinkTime};
use monibox::load::prometheus::{self, RunWindow};
use monibox::load::report::LoadReport;
use monibox::load::{self, Finished};
use serde_json::Value;
use support::{ChildGuard, start_on_free_port, start_prometheus};
use tokio_util::sync::CancellationToken;

/// The host's Prometheus scraping `targets` (one job, `demo`) every `interval`, with its files
/// in a temporary directory; both go away when this is dropped.
struct Prometheus {
    process: ChildGuard,
    api: PrometheusApi,
    _dir: tempfile::TempDir,
}

/// Prometheus's HTTP API, shared by tests that query it at once.
#[derive(Clone)]
struct PrometheusApi {
    url: String,
}

impl Prometheus {
    async fn start(targets: &[&str], interval: &str) -> Prometheus {
        let dir = tempfile::Builder::new()
            .prefix("monibox-load-prometheus-")
            .tempdir()
            .expect("temp dir");
        let targets = targets
            .iter()
            .map(|target| format!("'{target}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n\
             scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: [{targets}]\n"
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
            api: PrometheusApi { url },
            _dir: dir,
        }
    }
}

impl PrometheusApi {
    /// Runs an instant query at `time` (Unix seconds, or now) and returns its result vector.
    async fn query(&self, promql: &str, time: Option<f64>) -> Vec<Value> {
        let mut url = format!(
            "{}/api/v1/query?query={}",
            self.url,
            encode_query_value(promql)
        );
        if let Some(time) = time {
            url.push_str(&format!("&time={time:.3}"));
        }
        let response = client().get(&url).await.expect("Prometheus answers");
        let answer: Value = serde_json::from_slice(&response.body).expect("JSON");
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The timestamp of the latest scrape of `instance`, if any (`timestamp()` of a bare
    /// selector: Prometheus 2.x gives the evaluation time for any other expression).
    async fn last_scrape(&self, instance: &str) -> Option<f64> {
        let result = self
            .query(&format!("timestamp(up{{instance=\"{instance}\"}})"), None)
            .await;
        result
            .first()
            .and_then(|sample| sample["value"][1].as_str()?.parse().ok())
    }

    /// Waits (bounded) for a scrape of `instance` newer than `after`; returns its timestamp.
    async fn next_scrape(&self, instance: &str, after: Option<f64>, within: Duration) -> f64 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.last_scrape(instance).await
                && after.is_none_or(|after| at > after)
            {
                return at;
            }
            assert!(
                Instant::now() < deadline,
                "no scrape of {instance} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// A bounded run of a few users over every demo endpoint.
async fn run_load(base_url: &str, duration: Duration) -> (LoadPlan, Finished) {
    let target: Target = base_url.parse().expect("target");
    let settings = LoadSettings {
        users: Some(3),
        think_time: "2ms..20ms".parse::<ThinkTime>().ok(),
        duration: Some(duration),
        requests: Some(100_000),
        mix: "/=50,/slow?ms=20=20,/error=20,/cpu-intensive?n=1000=10"
            .parse()
            .ok(),
        ..LoadSettings::default()
    };
    let plan = LoadPlan::new(target, settings, 1, None).expect("plan");
    let finished = load::start(&plan, CancellationToken::new())
        .await
        .expect("starts")
        .finish()
        .await
        .expect("finishes");
    (plan, finished)
}

/// Runs `duration` of load at `offset` after a scrape of the demo service and checks that
/// Prometheus counted exactly the client's requests, per endpoint, between the scrapes around
/// the run.
async fn exact_run(prom: &PrometheusApi, demo: &RunningDemo, duration: Duration, offset: Duration) {
    let instance = demo.base_url.trim_start_matches("http://").to_owned();
    let first = prom
        .next_scrape(&instance, None, Duration::from_secs(40))
        .await;
    let scraped = prom
        .next_scrape(&instance, Some(first), Duration::from_secs(40))
        .await;
    // Aim at `offset` after that scrape (it happened a little before it was seen).
    let wait = scraped + offset.as_secs_f64() - unix_now();
    if wait > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    }
    let (plan, finished) = run_load(&demo.base_url, duration).await;
    let run = RunWindow {
        started_at: finished.started_at,
        ended_at: finished.started_at + finished.elapsed,
        target_port: plan.target.port(),
    };
    let prometheus_target: Target = prom.url.parse().expect("Prometheus URL");
    let label = format!("{duration:?} run {offset:?} after a scrape of {instance}");
    let side = prometheus::server_side(
        &prometheus_target,
        run,
        Duration::from_secs(20),
        Duration::from_secs(5),
    )
    .await
    .unwrap_or_else(|error| panic!("{label}: {error}"));
    assert_eq!(side.instance, instance, "{label}");
    let mut report = LoadReport::new(&plan, &finished);
    report.attach_server_side(&prom.url, Ok(side));
    let server = report.server.as_ref().expect("attached");
    assert_eq!(server.endpoints.len(), 4, "{label}");
    for row in &server.endpoints {
        assert!(
            row.client_requests > 0,
            "{label}: {} got requests",
            row.endpoint
        );
        assert_eq!(
            row.server_requests,
            Some(row.client_requests),
            "{label}: {}: {}",
            row.endpoint,
            report.render()
        );
        assert!(
            row.server_p95_ms.is_some_and(|p95| p95 > 0.0),
            "{label}: {}",
            row.endpoint
        );
    }
    let window = server.window.expect("window");
    assert!(
        window.start_unix <= unix(finished.started_at) && window.end_unix >= unix(run.ended_at)
    );
}

fn unix(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Three runs (3 s, 9 s, 30 s), each against its own demo service, at different points between
/// two scrapes, all at once against one Prometheus scraping every `interval`.
async fn exact_runs(interval: &str, offsets: [Duration; 3]) {
    let demos = [
        RunningDemo::start(DemoSettings::default()).await,
        RunningDemo::start(DemoSettings::default()).await,
        RunningDemo::start(DemoSettings::default()).await,
    ];
    let targets: Vec<&str> = demos
        .iter()
        .map(|demo| demo.base_url.trim_start_matches("http://"))
        .collect();
    let mut prom = Prometheus::start(&targets, interval).await;
    let durations = [3, 9, 30].map(Duration::from_secs);
    let mut runs = tokio::task::JoinSet::new();
    for ((demo, duration), offset) in demos.into_iter().zip(durations).zip(offsets) {
        let api = prom.api.clone();
        runs.spawn(async move {
            exact_run(&api, &demo, duration, offset).await;
            demo.stop().await;
        });
    }
    while let Some(run) = runs.join_next().await {
        prom.process.assert_running();
        run.expect("the run's checks hold");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_equal_the_clients_with_15s_scrapes() {
    // Just after a scrape (the window is a whole interval plus the run), mid-way, near the next.
    exact_runs("15s", [0.2, 7.0, 13.5].map(Duration::from_secs_f64)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_equal_the_clients_with_1s_scrapes() {
    exact_runs("1s", [0.05, 0.5, 0.9].map(Duration::from_secs_f64)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_right_after_a_start_show_in_increase() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let instance = demo.base_url.trim_start_matches("http://").to_owned();
    let prom = Prometheus::start(&[&instance], "1s").await;
    let prom_api = &prom.api;
    let first = prom_api
        .next_scrape(&instance, None, Duration::from_secs(40))
        .await;
    for _ in 0..3 {
        let response = client()
            .get(&demo.url("/error?rate=1"))
            .await
            .expect("answers");
        assert_eq!(response.status, 500);
    }
    let sent = unix_now();
    let mut after = prom_api
        .next_scrape(&instance, Some(first), Duration::from_secs(10))
        .await;
    while after < sent {
        after = prom_api
            .next_scrape(&instance, Some(after), Duration::from_secs(10))
            .await;
    }
    // Evaluated at the scrape itself, increase() does not extrapolate past the samples.
    for query in [
        "sum(increase(app_error_count_total[1m]))",
        "sum(increase(app_request_count_total{endpoint=\"/error\",status=\"500\"}[1m]))",
    ] {
        let result = prom_api.query(query, Some(after)).await;
        let value: f64 = result
            .first()
            .and_then(|sample| sample["value"][1].as_str()?.parse().ok())
            .unwrap_or_else(|| {
                panic!("{query}: no result at {after} (first scrape {first}, requests done {sent})")
            });
        assert!((value - 3.0).abs() < 1e-9, "{query} = {value}, want 3");
    }
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_shows_the_exact_server_side() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let instance = demo.base_url.trim_start_matches("http://").to_owned();
    let prom = Prometheus::start(&[&instance], "1s").await;
    prom.api
        .next_scrape(&instance, None, Duration::from_secs(40))
        .await;
    let url = prom.api.url.clone();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_monibox"))
        .args([
            "load",
            "--target",
            &demo.base_url,
            "--users",
            "2",
            "--think-time",
            "0",
        ])
        .args([
            "--requests",
            "50",
            "--mix",
            "/=1,/error?rate=0=1",
            "--prometheus",
            &url,
        ])
        .arg("--json")
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
    let server = &json["server"];
    assert_eq!(server["prometheus"], url.as_str());
    assert!(server["error"].is_null(), "{server}");
    assert_eq!(server["instance"], instance.as_str());
    assert!(
        server["window"]["seconds"]
            .as_f64()
            .is_some_and(|seconds| seconds > 0.0),
        "{server}"
    );
    let rows = server["endpoints"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{server}");
    let total: u64 = rows
        .iter()
        .map(|row| row["client_requests"].as_u64().expect("count"))
        .sum();
    assert_eq!(total, 50);
    for row in rows {
        assert_eq!(row["server_requests"], row["client_requests"], "{server}");
    }
    demo.stop().await;
}
