//! The demo service over real HTTP on 127.0.0.1:0: every endpoint, the metrics each one moves,
//! bad input, bounded label values, both exposition formats (checked by the real promtool),
//! graceful shutdown and the `serve` command itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{RunningDemo, client};
use monibox::demo::{DemoService, DemoSettings};
use serde_json::Value;

fn fast_settings() -> DemoSettings {
    DemoSettings {
        slow_ms: 10..=20,
        ..DemoSettings::default()
    }
}

/// Sends raw bytes and reads until the server closes, for what an HTTP client library hides.
async fn raw_exchange(base_url: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read everything (431).
    let _ = stream.write_all(request).await;
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    String::from_utf8_lossy(&raw).into_owned()
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("the body is JSON")
}

#[tokio::test]
async fn health_answers_json_and_is_counted() {
    let demo = RunningDemo::start(fast_settings()).await;
    let response = client().get(&demo.url("/")).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type.as_deref(), Some("application/json"));
    let body = json(&response.body);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].as_f64().unwrap() >= 0.0);

    let samples = demo.scrape().await;
    let root = [("method", "GET"), ("endpoint", "/"), ("status", "200")];
    assert_eq!(samples.get("app_request_count_total", &root), Some(1.0));
    let latency = [("method", "GET"), ("endpoint", "/")];
    assert_eq!(
        samples.get("app_request_latency_seconds_count", &latency),
        Some(1.0)
    );
    assert!(samples.get("app_info", &[("version", env!("CARGO_PKG_VERSION"))]) == Some(1.0));
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "process_threads",
        "system_cpus",
        "system_memory_used_bytes",
        "system_memory_total_bytes",
        "system_load1",
    ] {
        assert!(samples.get(name, &[]).is_some(), "{name} is exported");
    }
    assert!(samples.get("process_resident_memory_bytes", &[]).unwrap() > 1e6);
    demo.stop().await;
}

#[tokio::test]
async fn head_answers_without_a_body() {
    let demo = RunningDemo::start(fast_settings()).await;
    let raw = raw_exchange(
        &demo.base_url,
        b"HEAD / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(
        raw.ends_with("\r\n\r\n"),
        "HEAD must not carry a body: {raw:?}"
    );
    let samples = demo.scrape().await;
    let head = [("method", "HEAD"), ("endpoint", "/"), ("status", "200")];
    assert_eq!(samples.get("app_request_count_total", &head), Some(1.0));
    demo.stop().await;
}

#[tokio::test]
async fn slow_waits_and_fills_the_histogram() {
    let demo = RunningDemo::start(fast_settings()).await;
    let http = client();
    for _ in 0..5 {
        let started = Instant::now();
        let response = http.get(&demo.url("/slow?ms=60")).await.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(json(&response.body)["delay_ms"], 60);
        assert!(started.elapsed() >= Duration::from_millis(60));
    }
    for _ in 0..3 {
        let response = http.get(&demo.url("/slow")).await.unwrap();
        let delay = json(&response.body)["delay_ms"].as_u64().unwrap();
        assert!(
            (10..=20).contains(&delay),
            "default range honoured: {delay}"
        );
    }
    let samples = demo.scrape().await;
    let slow = [("method", "GET"), ("endpoint", "/slow")];
    assert_eq!(
        samples.get("app_request_latency_seconds_count", &slow),
        Some(8.0)
    );
    let sum = samples
        .get("app_request_latency_seconds_sum", &slow)
        .unwrap();
    assert!(
        (0.33..1.5).contains(&sum),
        "5 x 60 ms + 3 x 10-20 ms, got {sum}"
    );
    let le_50ms = samples
        .get(
            "app_request_latency_seconds_bucket",
            &[("method", "GET"), ("endpoint", "/slow"), ("le", "0.05")],
        )
        .unwrap();
    let le_100ms = samples
        .get(
            "app_request_latency_seconds_bucket",
            &[("method", "GET"), ("endpoint", "/slow"), ("le", "0.1")],
        )
        .unwrap();
    assert_eq!(
        le_50ms, 3.0,
        "only the default-range requests are under 50 ms"
    );
    assert_eq!(le_100ms, 8.0);
    assert_eq!(
        samples.get("app_injected_delay_seconds_count", &[]),
        Some(8.0)
    );
    demo.stop().await;
}

#[tokio::test]
async fn active_requests_rise_during_slow_and_fall_back() {
    let demo = RunningDemo::start(fast_settings()).await;
    // The scrape itself is in flight while it is encoded, so the idle reading is 1.
    let idle = demo.scrape().await.get("app_active_requests", &[]);
    assert_eq!(idle, Some(1.0));
    let slow_url = demo.url("/slow?ms=800");
    let pending: Vec<_> = (0..3)
        .map(|_| {
            let url = slow_url.clone();
            tokio::spawn(async move { client().get(&url).await.unwrap().status })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_millis(600);
    let mut busiest = 0.0;
    while Instant::now() < deadline {
        let active = demo.scrape().await.get("app_active_requests", &[]).unwrap();
        busiest = f64::max(busiest, active);
        if busiest >= 4.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(busiest, 4.0, "three /slow requests and the scrape");
    for request in pending {
        assert_eq!(request.await.unwrap(), 200);
    }
    let after = demo.scrape().await.get("app_active_requests", &[]);
    assert_eq!(after, Some(1.0));
    demo.stop().await;
}

#[tokio::test]
async fn errors_carry_a_type_and_are_counted_by_type() {
    let demo = RunningDemo::start(fast_settings()).await;
    let http = client();
    let mut seen: BTreeMap<String, f64> = BTreeMap::new();
    for _ in 0..30 {
        let response = http.get(&demo.url("/error?rate=1")).await.unwrap();
        assert_eq!(response.status, 500);
        let body = json(&response.body);
        assert_eq!(body["status"], "error");
        let kind = body["error_type"].as_str().unwrap().to_owned();
        assert!(
            [
                "database_timeout",
                "upstream_unavailable",
                "validation_failed"
            ]
            .contains(&kind.as_str()),
            "{kind}"
        );
        *seen.entry(kind).or_default() += 1.0;
    }
    for _ in 0..10 {
        let response = http.get(&demo.url("/error?rate=0")).await.unwrap();
        assert_eq!(response.status, 200);
    }
    let samples = demo.scrape().await;
    for (kind, count) in &seen {
        let labels = [("endpoint", "/error"), ("error_type", kind.as_str())];
        assert_eq!(samples.get("app_error_count_total", &labels), Some(*count));
    }
    assert_eq!(samples.sum("app_error_count_total", &[]), 30.0);
    let failed = [("method", "GET"), ("endpoint", "/error"), ("status", "500")];
    let passed = [("method", "GET"), ("endpoint", "/error"), ("status", "200")];
    assert_eq!(samples.get("app_request_count_total", &failed), Some(30.0));
    assert_eq!(samples.get("app_request_count_total", &passed), Some(10.0));
    demo.stop().await;
}

#[tokio::test]
async fn default_error_rate_is_roughly_honoured() {
    let demo = RunningDemo::start(DemoSettings {
        error_rate: 0.5,
        ..fast_settings()
    })
    .await;
    let http = client();
    let mut failures = 0;
    for _ in 0..400 {
        if http.get(&demo.url("/error")).await.unwrap().status == 500 {
            failures += 1;
        }
    }
    // Binomial(400, 0.5): 6 standard deviations either side.
    assert!((140..=260).contains(&failures), "{failures} of 400 failed");
    demo.stop().await;
}

#[tokio::test]
async fn cpu_work_is_done_and_counted() {
    let demo = RunningDemo::start(fast_settings()).await;
    let response = client()
        .get(&demo.url("/cpu-intensive?n=250000"))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    let body = json(&response.body);
    assert_eq!(body["iterations"], 250_000);
    assert_eq!(body["result"].as_str().unwrap().len(), 16);
    let samples = demo.scrape().await;
    assert_eq!(
        samples.get("app_cpu_work_iterations_total", &[]),
        Some(250_000.0)
    );
    assert!(samples.get("app_cpu_work_seconds_total", &[]).unwrap() > 0.0);
    demo.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_status_and_json() {
    let demo = RunningDemo::start(fast_settings()).await;
    let http = client();
    for (path, status, needle) in [
        (
            "/slow?ms=abc",
            400,
            "'ms' must be a whole number from 0 to 10000",
        ),
        ("/slow?ms=10001", 400, "from 0 to 10000"),
        ("/slow?ms=-5", 400, "from 0 to 10000"),
        ("/slow?ms=1&ms=2", 400, "more than once"),
        ("/error?rate=1.5", 400, "from 0 to 1"),
        ("/error?rate=nan", 400, "from 0 to 1"),
        (
            "/cpu-intensive?n=500000001",
            400,
            "'n' must be a whole number",
        ),
        (
            "/slow?delay=5",
            400,
            "unknown query parameter 'delay'; allowed: ms",
        ),
        ("/?verbose=1", 400, "takes no parameters"),
        ("/nope", 404, "the routes are"),
        ("/slow/", 404, "the routes are"),
    ] {
        let response = http.get(&demo.url(path)).await.unwrap();
        assert_eq!(response.status, status, "{path}");
        assert_eq!(response.content_type.as_deref(), Some("application/json"));
        let body = json(&response.body);
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{path}: {message}");
    }
    let response = http
        .post(&demo.url("/slow"), "application/json", "{}")
        .await
        .unwrap();
    assert_eq!(response.status, 405);
    assert_eq!(json(&response.body)["error"], "method_not_allowed");
    let samples = demo.scrape().await;
    let rejected = [("method", "GET"), ("endpoint", "/slow"), ("status", "400")];
    assert_eq!(samples.get("app_request_count_total", &rejected), Some(5.0));
    let post = [("method", "POST"), ("endpoint", "/slow"), ("status", "405")];
    assert_eq!(samples.get("app_request_count_total", &post), Some(1.0));
    demo.stop().await;
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let demo = RunningDemo::start(fast_settings()).await;
    let big = "x".repeat(20 * 1024);
    let request = format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n");
    let raw = raw_exchange(&demo.base_url, request.as_bytes()).await;
    assert!(raw.starts_with("HTTP/1.1 431"), "{raw}");
    demo.stop().await;
}

#[tokio::test]
async fn every_answer_the_service_gives_has_its_series_from_the_start() {
    let demo = RunningDemo::start(fast_settings()).await;
    let before = demo.scrape().await;
    let paths = [
        "/",
        "/?x=1",
        "/slow?ms=1",
        "/slow?ms=x",
        "/error?rate=1",
        "/error?rate=0",
        "/error?rate=2",
        "/cpu-intensive?n=10",
        "/cpu-intensive?n=x",
        "/metrics",
        "/metrics?x=1",
        "/no-such-page",
    ];
    let methods = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
    ];
    for path in paths {
        for method in methods {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let answer = raw_exchange(&demo.base_url, request.as_bytes()).await;
            assert!(answer.starts_with("HTTP/1.1 "), "{method} {path}: {answer}");
        }
    }
    let after = demo.scrape().await;
    let new = series_created(&before, &after);
    assert!(
        new.is_empty(),
        "series created by a request instead of at start: {new:?}"
    );
    let counted =
        after.sum("app_request_count_total", &[]) - before.sum("app_request_count_total", &[]);
    // Every request above, and the first scrape.
    assert_eq!(counted, (paths.len() * methods.len() + 1) as f64);
    demo.stop().await;
}

/// The series of `after` that `before` lacks, but for the host CPU share, which appears from its
/// second reading on whatever the requests did.
fn series_created<'a>(
    before: &common::Samples,
    after: &'a common::Samples,
) -> Vec<&'a (String, std::collections::BTreeMap<String, String>)> {
    after
        .series
        .keys()
        .filter(|key| !before.series.contains_key(*key))
        .filter(|(name, _)| name != "system_cpu_usage_ratio")
        .collect()
}

#[tokio::test]
async fn random_paths_collapse_into_one_series() {
    let demo = RunningDemo::start(fast_settings()).await;
    let http = client();
    assert_eq!(
        http.get(&demo.url("/first-unknown")).await.unwrap().status,
        404
    );
    // The first scrape creates the /metrics series of its own; count from the second.
    demo.scrape().await;
    let before = demo.scrape().await;
    for i in 0..1000u32 {
        let path = format!(
            "/r{}/{:x}?q={i}",
            i % 97,
            u64::from(i).wrapping_mul(2654435761)
        );
        assert_eq!(http.get(&demo.url(&path)).await.unwrap().status, 404);
    }
    let samples = demo.scrape().await;
    let new = series_created(&before, &samples);
    assert!(
        new.is_empty(),
        "new series from 1,000 random paths: {new:?}"
    );
    let other = [("method", "GET"), ("endpoint", "other"), ("status", "404")];
    assert_eq!(samples.get("app_request_count_total", &other), Some(1001.0));
    demo.stop().await;
}

#[tokio::test]
async fn classic_exposition_passes_promtool() {
    let demo = RunningDemo::start(fast_settings()).await;
    let http = client();
    for path in [
        "/",
        "/slow?ms=1",
        "/error?rate=1",
        "/cpu-intensive?n=10",
        "/x",
    ] {
        http.get(&demo.url(path)).await.unwrap();
    }
    let response = http.get(&demo.url("/metrics")).await.unwrap();
    assert_eq!(
        response.content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = response.text();
    assert!(text.contains("# TYPE app_request_count_total counter"));
    assert!(!text.contains("# EOF"));
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package prometheus)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    demo.stop().await;
}

#[tokio::test]
async fn openmetrics_is_served_to_prometheus() {
    let demo = RunningDemo::start(fast_settings()).await;
    client().get(&demo.url("/")).await.unwrap();
    let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let response = client()
        .get_with(&demo.url("/metrics"), &[("accept", accept)])
        .await
        .unwrap();
    assert_eq!(
        response.content_type.as_deref(),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = response.text();
    assert!(text.ends_with("# EOF\n"), "{}", &text[text.len() - 40..]);
    assert!(text.contains("# TYPE app_request_count counter"));
    assert!(text.contains("# TYPE app info"));
    demo.stop().await;
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_stops_accepting() {
    let demo = RunningDemo::start(fast_settings()).await;
    let url = demo.url("/slow?ms=1500");
    let in_flight = tokio::spawn(async move { client().get(&url).await });
    // Shut down only once the request is in flight (it and the scrape make 2).
    let deadline = Instant::now() + Duration::from_secs(10);
    while demo.scrape().await.get("app_active_requests", &[]) != Some(2.0) {
        assert!(Instant::now() < deadline, "the /slow request never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let addr = demo.base_url.trim_start_matches("http://").to_owned();
    let stopped = Instant::now();
    demo.stop().await;
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request finished");
    assert_eq!(response.status, 200);
    assert!(stopped.elapsed() < Duration::from_secs(5));
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens after the shutdown"
    );
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap();
    let error = DemoService::bind(&[addr], DemoSettings::default())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&addr.to_string()), "{message}");
    assert!(message.contains("already in use"), "{message}");
}

/// `monibox serve` as a child process, killed by its PID if the test ends early.
struct Serve {
    child: Child,
}

impl Serve {
    /// Starts `monibox serve` with `args` and returns it with the address it printed.
    fn start(args: &[&str]) -> (Self, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_monibox"))
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let serve = Self { child };
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("serve prints its address within 10 s");
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        (serve, addr)
    }

    fn terminate_and_wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return exit;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop within {within:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get_over_tcp(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn serve_prints_its_address_and_stops_on_sigterm() {
    let (mut serve, addr) = Serve::start(&["--listen", "127.0.0.1:0"]);
    let reply = get_over_tcp(&addr, "/");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let exit = serve.terminate_and_wait(Duration::from_secs(5));
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn sigterm_right_after_the_address_is_printed_is_still_graceful() {
    // The address line is the readiness signal scripts use; a SIGTERM at once must not kill
    // the process before its handlers are in place (that would end with a signal, not exit 0).
    let (mut serve, _addr) = Serve::start(&["--listen", "127.0.0.1:0"]);
    let exit = serve.terminate_and_wait(Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}

#[test]
fn percent_encoded_parameters_are_decoded() {
    let (_serve, addr) = Serve::start(&["--listen", "127.0.0.1:0"]);
    let reply = get_over_tcp(&addr, "/slow?m%73=%35");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains(r#""delay_ms":5"#), "{reply}");
    let reply = get_over_tcp(&addr, "/error?rate=0%2E0");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let reply = get_over_tcp(&addr, "/slow?ms=%zz");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
}

#[test]
fn serve_on_a_taken_port_exits_2_naming_it() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_monibox"))
        .args(["serve", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&addr) && stderr.contains("already in use"),
        "{stderr}"
    );
}

#[test]
fn serve_rejects_bad_settings_with_exit_2() {
    for (args, needle) in [
        (vec!["--error-rate", "1.5"], "--error-rate"),
        (
            vec!["--slow-min-ms", "600", "--slow-max-ms", "100"],
            "--slow-min-ms",
        ),
        (vec!["--listen", "not-an-address"], "not-an-address"),
        (
            vec!["--listen", "127.0.0.1:5999", "--listen", "127.0.0.1:5999"],
            "given twice",
        ),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_monibox"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let exit = loop {
            if let Some(exit) = child.try_wait().unwrap() {
                break exit;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?} was accepted: serve kept running");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(exit.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
