//! `monibox load` as a user runs it: exit codes for thresholds and bad input, the `--json`
//! document, the duration bound, and no animation when stderr is not a terminal.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::{RefusingPort, RunningDemo, StalledPort};
use monibox::demo::DemoSettings;
use serde_json::Value;

/// Runs the binary with `args`, bounded in time, with stdout and stderr piped (not a terminal)
/// and without the caller's `MONIBOX_*` variables.
async fn monibox(args: &[&str]) -> Output {
    run_bounded(tokio::process::Command::new(env!("CARGO_BIN_EXE_monibox")).args(args)).await
}

/// `command` without the caller's `RUST_LOG` and `MONIBOX_*` variables, killed when dropped.
fn isolated(command: &mut tokio::process::Command) -> &mut tokio::process::Command {
    command.env_remove("RUST_LOG").kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MONIBOX_") {
            command.env_remove(name);
        }
    }
    command
}

async fn run_bounded(command: &mut tokio::process::Command) -> Output {
    let child = isolated(command).output();
    tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("monibox load ends within a minute")
        .expect("monibox runs")
}

/// Sends SIGINT (Ctrl-C) to `child` after `delay` and waits (at most 10 s) for it to end; its
/// output and when the signal went.
async fn interrupt_after(child: tokio::process::Child, delay: Duration) -> (Output, Instant) {
    let pid = child.id().expect("running") as i32;
    tokio::time::sleep(delay).await;
    let interrupted_at = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal the child");
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("ends")
        .expect("output");
    (output, interrupted_at)
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_decide_the_exit_code() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let url = demo.base_url.clone();
    let quick = [
        "load",
        "--target",
        &url,
        "--users",
        "2",
        "--think-time",
        "0",
        "--requests",
        "40",
        "--mix",
        "/",
    ];

    let pass = monibox(
        &[
            &quick[..],
            &["--threshold", "p95<10s", "--threshold", "error_rate<1%"],
        ]
        .concat(),
    )
    .await;
    assert_eq!(code(&pass), 0, "{}", stderr(&pass));
    let text = String::from_utf8_lossy(&pass.stdout);
    assert!(text.contains("threshold pass: p95<10s"), "{text}");

    let fail = monibox(
        &[
            &quick[..],
            &["--threshold", "rps>1000000", "--threshold", "p95<10s"],
        ]
        .concat(),
    )
    .await;
    assert_eq!(code(&fail), 1, "{}", stderr(&fail));
    let text = String::from_utf8_lossy(&fail.stdout);
    assert!(
        text.contains("threshold FAIL: rps>1000000"),
        "the report says which failed: {text}"
    );
    assert!(text.contains("threshold pass: p95<10s"), "{text}");

    let per_endpoint = monibox(&[&quick[..], &["--threshold", "/:max<1us"]].concat()).await;
    assert_eq!(code(&per_endpoint), 1, "{}", stderr(&per_endpoint));

    let malformed = monibox(&[&quick[..], &["--threshold", "p95<fast"]].concat()).await;
    assert_eq!(code(&malformed), 2);
    assert!(
        stderr(&malformed).contains("[ENDPOINT:]METRIC OP VALUE"),
        "shows the grammar: {}",
        stderr(&malformed)
    );

    let unknown_endpoint = monibox(&[&quick[..], &["--threshold", "/nope:p95<1s"]].concat()).await;
    assert_eq!(code(&unknown_endpoint), 2);
    assert!(
        stderr(&unknown_endpoint).contains("not in the mix"),
        "{}",
        stderr(&unknown_endpoint)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_report_has_the_documented_fields() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let url = demo.base_url.clone();
    let output = monibox(&[
        "load",
        "--target",
        &url,
        "--users",
        "3",
        "--think-time",
        "0",
        "--requests",
        "90",
        "--mix",
        "/=2,/error=1",
        "--threshold",
        "p99<10s",
        "--json",
    ])
    .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report: Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");

    assert_eq!(report["target"], url.as_str());
    assert_eq!(report["model"]["kind"], "closed");
    assert_eq!(report["model"]["users"], 3);
    assert_eq!(report["model"]["think_time"], "0s");
    assert!(report["duration_seconds"].as_f64().is_some_and(|s| s > 0.0));
    assert!(report["drain_seconds"].as_f64().is_some_and(|s| s >= 0.0));
    assert!(
        report["started_at_unix"]
            .as_f64()
            .is_some_and(|t| t > 1.6e9)
    );
    assert_eq!(report["interrupted"], false);
    assert_eq!(report["totals"]["endpoint"], "all");
    assert_eq!(report["totals"]["requests"], 90);
    for row in report["endpoints"]
        .as_array()
        .expect("endpoints array")
        .iter()
        .chain([&report["totals"]])
    {
        for field in ["requests", "rps", "errors", "error_rate"] {
            assert!(row[field].is_number(), "{field} in {row}");
        }
        for statistic in ["p50", "p90", "p95", "p99", "max", "mean"] {
            assert!(
                row["latency_ms"][statistic].is_number(),
                "latency_ms.{statistic} in {row}"
            );
        }
        assert!(row["status_codes"].is_object());
    }
    let endpoints: Vec<&str> = report["endpoints"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|row| row["endpoint"].as_str())
        .collect();
    assert_eq!(endpoints, ["/", "/error"]);
    for kind in [
        "timeout",
        "connect_refused",
        "connection_reset",
        "other_io",
        "http_4xx",
        "http_5xx",
    ] {
        assert!(report["errors"][kind].is_u64(), "errors.{kind}");
    }
    let status_total: u64 = report["status_codes"]
        .as_object()
        .expect("object")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(status_total, 90, "every request got a status code");
    assert_eq!(
        report["errors"]["http_5xx"],
        report["status_codes"]["500"].as_u64().unwrap_or(0)
    );
    assert!(report["late_starts"].is_null(), "closed model");
    assert_eq!(report["thresholds"][0]["threshold"], "p99<10s");
    assert_eq!(report["thresholds"][0]["passed"], true);
    assert_eq!(report["thresholds"][0]["unit"], "ms");
    assert!(report["thresholds"][0]["observed"].is_number());
    assert!(report["server"].is_null(), "no --prometheus");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_second_run_takes_about_two_seconds() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let url = demo.base_url.clone();
    let began = Instant::now();
    let output = monibox(&[
        "load",
        "--target",
        &url,
        "--users",
        "10",
        "--duration",
        "2s",
        "--timeout",
        "3s",
    ])
    .await;
    let took = began.elapsed();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    // Requests start over exactly 2 s; those in flight then (/slow takes up to 500 ms, a queued
    // /cpu-intensive longer on a busy machine) finish within --timeout.
    assert!(
        text.contains("10 users, think time 200ms..1s, 2.0s"),
        "{text}"
    );
    let drain_seconds: f64 = text
        .split_once("(+")
        .and_then(|(_, rest)| rest.split_once("s for requests in flight)"))
        .map_or(Some(0.0), |(seconds, _)| seconds.parse().ok())
        .expect("the drain time is a number");
    assert!(
        drain_seconds <= 3.0,
        "drained for {drain_seconds} s: {text}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(2 + 3),
        "took {took:?}: the duration, at most --timeout to drain, and starting the process"
    );
    for endpoint in [
        "/slow",
        "/error",
        "/cpu-intensive",
        "status codes:",
        "errors:",
    ] {
        assert!(text.contains(endpoint), "{endpoint} in the report: {text}");
    }
    assert!(
        stderr(&output).is_empty(),
        "no progress animation without a terminal: {:?}",
        stderr(&output)
    );
}

#[tokio::test]
async fn unreachable_target_exits_2_at_once() {
    let refusing = RefusingPort::new();
    let url = refusing.url();
    let began = Instant::now();
    let output = monibox(&["load", "--target", &url, "--duration", "30s"]).await;
    assert_eq!(code(&output), 2);
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "failed fast, not after the duration"
    );
    assert!(
        stderr(&output).contains("cannot connect to"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn a_target_that_does_not_speak_http_exits_2() {
    // Accepts connections and closes them at once, like a service on the wrong port would.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let closer = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let output = monibox(&[
        "load",
        "--target",
        &url,
        "--users",
        "2",
        "--requests",
        "20",
        "--think-time",
        "0",
    ])
    .await;
    closer.abort();
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no request got an HTTP answer"),
        "{}",
        stderr(&output)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("connection reset 20"),
        "the report still shows what happened: {text}"
    );
}

#[tokio::test]
async fn a_target_that_never_answers_exits_2_suggesting_a_longer_timeout() {
    // Accepts connections and holds them without a word, like a hung service.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let output = monibox(&[
        "load",
        "--target",
        &url,
        "--users",
        "2",
        "--think-time",
        "0",
        "--timeout",
        "200ms",
        "--duration",
        "1s",
    ])
    .await;
    holder.abort();
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("no request got an HTTP answer")
            && message.contains("--timeout 200ms")
            && message.contains("raise --timeout"),
        "{message}"
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("errors: timeout"),
        "the report still shows what happened: {text}"
    );
}

#[tokio::test]
async fn ctrl_c_while_the_target_does_not_answer_the_connection_check_exits_at_once() {
    let stalled = StalledPort::new().await;
    let url = stalled.url();
    let child = isolated(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_monibox"))
            .args(["load", "--target", &url, "--duration", "30s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    )
    .spawn()
    .expect("monibox runs");
    let (output, interrupted_at) = interrupt_after(child, Duration::from_millis(1500)).await;
    assert!(
        interrupted_at.elapsed() < Duration::from_secs(2),
        "stopped {:?} after Ctrl-C, not at the 5 s connection timeout",
        interrupted_at.elapsed()
    );
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("interrupted before the load started"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn bad_input_exits_2_with_what_to_fix() {
    // Nothing is loaded: where a case needs a target, it is one that refuses connections, and
    // the state directory is empty, so neither the user's stack nor their MONIBOX_* variables
    // play a part.
    let refusing = RefusingPort::new();
    let refusing_url = refusing.url();
    let state = tempfile::tempdir().expect("temp dir");
    let state_dir = state.path().to_string_lossy().into_owned();
    let long_mix: String = (0..65)
        .map(|i| format!("/e{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let cases: [(&[&str], &str); 13] = [
        (
            &["--target", "https://127.0.0.1:5000"],
            "https is not supported",
        ),
        (&["--target", "http://127.0.0.1:notaport"], "port"),
        (&["--mix", "slow=1"], "must start with /"),
        (&["--mix", "/=0"], "at least 1"),
        (&["--users", "5", "--rate", "10"], "not both"),
        (&["--duration", "5 minutes"], "invalid duration"),
        (&["--duration", "3000000000000000h"], "longer than a year"),
        (
            &["--think-time", "4000000000000000h", "--duration", "1s"],
            "longer than a year",
        ),
        (&["--rate", "1e-30", "--duration", "1s"], "from 0.001"),
        (
            &["--users", "4000000000", "--threads", "1", "--requests", "5"],
            "--users must be at most 100000",
        ),
        (
            &["--rate", "10", "--connections", "4000000000"],
            "--connections must be at most 100000",
        ),
        (&["--threads", "100000"], "--threads 100000 is too many"),
        (&["--mix", &long_mix], "at most 64"),
    ];
    for (args, message) in cases {
        let mut full = vec!["load", "--state-dir", &state_dir];
        if !args.contains(&"--target") {
            full.extend(["--target", refusing_url.as_str()]);
        }
        full.extend(args);
        let output = monibox(&full).await;
        assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[tokio::test]
async fn more_users_than_the_open_file_limit_allows_exit_2_saying_how_to_raise_it() {
    let refusing = RefusingPort::new();
    let url = refusing.url();
    let output = run_bounded(
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -Sn 256 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_monibox"))
            .args([
                "load",
                "--target",
                &url,
                "--users",
                "1000",
                "--threads",
                "2",
            ]),
    )
    .await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("--users 1000 needs about 1040 open files")
            && message.contains("may open 256")
            && message.contains("ulimit -n 1040"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_run_prints_the_report_and_exits_130() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let child = isolated(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_monibox"))
            .args(["load", "--target", &demo.base_url, "--users", "2"])
            .args([
                "--think-time",
                "10ms",
                "--duration",
                "30s",
                "--mix",
                "/",
                "--json",
            ])
            .args(["--threshold", "p99<1h"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    )
    .spawn()
    .expect("monibox runs");
    let (output, _) = interrupt_after(child, Duration::from_millis(1500)).await;
    assert_eq!(code(&output), 130, "{}", stderr(&output));
    let json: Value = serde_json::from_slice(&output.stdout).expect("the report is printed");
    assert_eq!(json["interrupted"], true);
    assert!(json["totals"]["requests"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(
        json["thresholds"][0]["passed"], true,
        "130 even with thresholds held"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_on_an_endpoint_without_requests_fails_whatever_its_metric() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    // One request, always to `/`: `/error` in the mix gets none.
    let output = monibox(&[
        "load",
        "--target",
        &demo.base_url,
        "--users",
        "1",
        "--requests",
        "1",
        "--mix",
        "/=1000000,/error=1",
        "--threshold",
        "/error:error_rate<1%",
        "--threshold",
        "/error:p95<1s",
        "--threshold",
        "/:error_rate<1%",
        "--json",
    ])
    .await;
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let thresholds = json["thresholds"].as_array().expect("thresholds");
    for threshold in &thresholds[..2] {
        assert_eq!(threshold["passed"], false, "{threshold}");
        assert!(threshold["observed"].is_null(), "{threshold}");
        assert_eq!(threshold["no_data"], "no requests", "{threshold}");
    }
    assert_eq!(thresholds[2]["passed"], true, "{}", thresholds[2]);
    assert!(thresholds[2]["no_data"].is_null());
}
