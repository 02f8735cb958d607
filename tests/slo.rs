//! The demo service's default SLOs end to end, on the real Docker Engine in the fast profile
//! (host-built Prometheus and Alertmanager, the Grafana stand-in), through the `monibox` binary:
//!
//! - `monibox slo` before `up` exits 2 saying the stack is not up;
//! - `monibox load --scenario errors` (21% errors): the `ErrorBudgetBurn` page (severity
//!   `critical`) of `demo-availability` fires within 60 s, and `monibox slo --json` then reports
//!   every burn rate, the page firing, and exit 1 for the budget it exhausted;
//! - `monibox load --scenario steady` (6% errors) for 2 minutes: the page is never pending nor
//!   firing, polled every second.
//!
//! Each test has its own stack (an errors run would leave its burn in the steady run's windows).

mod docker_support;

use std::time::{Duration, Instant};

use docker_support::TestStack;
use docker_support::stack_report::{query, wait_for_status};
use serde_json::Value;

/// The issue's target: the page fires within this long of the errors scenario's start.
const PAGE_WITHIN: Duration = Duration::from_secs(60);
/// How long the steady scenario runs without a page.
const STEADY_FOR: Duration = Duration::from_secs(120);
const PAGE: &str =
    r#"ALERTS{alertname="ErrorBudgetBurn",slo="demo-availability",severity="critical"}"#;

/// `up --timing fast`, then waits for Prometheus to scrape the demo service; returns
/// Prometheus's URL.
async fn up(stack: &TestStack) -> String {
    let up = stack.run(&["up", "--timing", "fast"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    wait_for_status(stack, deadline, "the app target up", |report| {
        report["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|target| target["job"] == "app" && target["health"] == "up")
    })
    .await;
    stack.record().prometheus_url().expect("Prometheus's URL")
}

/// The page's state (`pending` or `firing`), if it is active.
async fn page_state(prometheus: &str) -> Option<String> {
    query(prometheus, PAGE, None)
        .await
        .first()
        .and_then(|alert| alert["metric"]["alertstate"].as_str().map(str::to_owned))
}

/// `monibox slo --json`: the exit code and the report.
async fn slo_report(stack: &TestStack) -> (Option<i32>, Value, String) {
    let output = stack.run(&["slo", "--json"]).await;
    let report = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("slo --json printed no JSON ({error}): {output:?}"));
    let text = stack.run(&["slo"]).await;
    assert_eq!(text.code, output.code, "text and JSON agree: {text:?}");
    (output.code, report, text.stdout)
}

fn availability(report: &Value) -> &Value {
    report["slos"]
        .as_array()
        .expect("slos")
        .iter()
        .find(|slo| slo["slo"] == "demo-availability")
        .unwrap_or_else(|| panic!("no demo-availability in {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_errors_scenario_pages_within_a_minute_and_slo_reports_it() {
    let stack = TestStack::new("slo-errors").await;
    let not_up = stack.run(&["slo"]).await;
    assert_eq!(not_up.code, Some(2), "{not_up:?}");
    assert!(not_up.stderr.contains("is not up"), "{not_up:?}");
    let prometheus = up(&stack).await;

    let (code, before, _) = slo_report(&stack).await;
    assert_eq!(code, Some(0), "nothing spent before any load: {before:#}");
    let slo = availability(&before);
    assert_eq!(slo["objective_percent"], 97.5, "{before:#}");
    assert_eq!(
        slo["window"], "12h",
        "the fast profile's window: {before:#}"
    );
    let windows: Vec<&str> = slo["burn_rates"]
        .as_array()
        .expect("burn rates")
        .iter()
        .filter_map(|burn| burn["window"].as_str())
        .collect();
    assert_eq!(windows, ["5s", "30s", "1m", "2m", "6m", "24m", "1h12m"]);

    let mut load = stack
        .command(&["load", "--scenario", "errors", "--duration", "90s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting monibox load");
    let started = Instant::now();
    let mut pending_after = None;
    let fired_after = loop {
        let elapsed = started.elapsed();
        match page_state(&prometheus).await.as_deref() {
            Some("firing") => break elapsed,
            Some(_) => {
                pending_after.get_or_insert(elapsed);
            }
            None => {}
        }
        assert!(
            elapsed < PAGE_WITHIN,
            "the page did not fire within {PAGE_WITHIN:?} of the errors scenario (pending after \
             {pending_after:?})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "errors scenario: page pending after {:.1} s, firing after {:.1} s",
        pending_after.unwrap_or(fired_after).as_secs_f64(),
        fired_after.as_secs_f64()
    );

    let (code, report, text) = slo_report(&stack).await;
    eprintln!("monibox slo while the page fires:\n{text}");
    let slo = availability(&report);
    for burn in slo["burn_rates"].as_array().expect("burn rates") {
        assert!(
            burn["burn_rate"].as_f64().is_some_and(|rate| rate > 0.0),
            "every window burns: {report:#}"
        );
    }
    let burn_30s = slo["burn_rates"][1]["burn_rate"].as_f64().expect("30s");
    assert!(burn_30s > 6.0, "the page's 6× rate: {report:#}");
    assert!(
        slo["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .any(|alert| {
                alert["severity"] == "critical"
                    && alert["sloth_severity"] == "page"
                    && alert["state"] == "firing"
            }),
        "{report:#}"
    );
    let left = slo["error_budget_remaining_percent"]
        .as_f64()
        .expect("a budget");
    assert!(
        left <= 0.0,
        "21% errors spend the 12 h budget's share so far: {report:#}"
    );
    assert!(slo["sli_percent"].as_f64().is_some_and(|sli| sli < 97.5));
    assert_eq!(code, Some(1), "an exhausted budget exits 1: {report:#}");
    assert!(
        text.contains("Error budget exhausted: demo-availability"),
        "{text}"
    );

    load.kill().await.expect("stopping monibox load");
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_steady_scenario_never_pages() {
    let stack = TestStack::new("slo-steady").await;
    let prometheus = up(&stack).await;

    let duration = format!("{}s", STEADY_FOR.as_secs());
    let mut load = stack
        .command(&["load", "--scenario", "steady", "--duration", &duration])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting monibox load");
    let started = Instant::now();
    let mut polls = 0;
    let mut highest_burn: f64 = 0.0;
    while started.elapsed() < STEADY_FOR {
        let state = page_state(&prometheus).await;
        assert_eq!(
            state,
            None,
            "the page is {state:?} {:.1} s into the steady scenario",
            started.elapsed().as_secs_f64()
        );
        let burn = query(
            &prometheus,
            r#"slo:sli_error:ratio_rate30m{slo="demo-availability"} / 0.025"#,
            None,
        )
        .await;
        if let Some(value) = burn
            .first()
            .and_then(|sample| sample["value"][1].as_str()?.parse::<f64>().ok())
        {
            highest_burn = highest_burn.max(value);
        }
        polls += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let served = query(
        &prometheus,
        r#"sum(increase(app_request_count_total{job="app",endpoint="/error"}[2m]))"#,
        None,
    )
    .await;
    let errors_served: f64 = served
        .first()
        .and_then(|sample| sample["value"][1].as_str()?.parse().ok())
        .unwrap_or(0.0);
    assert!(
        errors_served > 100.0,
        "the load reached the service: {served:?}"
    );
    eprintln!(
        "steady scenario: {polls} polls over {:.0} s, no page; highest burn rate over the 30s \
         window (30m scaled) {highest_burn:.2}",
        STEADY_FOR.as_secs_f64()
    );
    let (_, report, text) = slo_report(&stack).await;
    eprintln!("monibox slo after the steady scenario:\n{text}");
    let slo = availability(&report);
    assert!(
        slo["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .all(|alert| alert["severity"] != "critical"),
        "{report:#}"
    );

    let _ = load.wait().await;
    stack.cleanup().await;
}
