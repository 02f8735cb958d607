//! Every expression of the bundle checked by a real Prometheus (the host's, 127.0.0.1 on a free
//! port) scraping the in-process demo service under a short, bounded load, with the real
//! Alertmanager beside it and a webhook receiver standing where the daemon's `/alerts` will be:
//!
//! - every dashboard query and every rule expression parses and evaluates through the HTTP API;
//! - every dashboard query returns data, except the ones listed in [`NEEDS_MONIBOX_DAEMON`];
//! - every rule group evaluates without error;
//! - with the fast profile, HighErrorRate fires and reaches the webhook within seconds.
//!
//! Grafana's variables in dashboard queries are replaced as Grafana would for the dashboards'
//! default 15-minute range and the datasource's 1 s `timeInterval` (the fast scrape interval):
//! `$__rate_interval` → `4s` (four scrape intervals, Grafana's minimum), `$__interval` → `1s`,
//! `$__range` → `15m`. Any other `$` variable fails the test until it is added here.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use monibox::assets::{Bundle, paths};
use monibox::config::{Port, Timing};
use monibox::demo::{DemoService, DemoSettings};
use serde_json::Value;
use support::{
    Http, WebhookReceiver, free_port, start_alertmanager, start_prometheus, test_config,
    url_encode, write_bundle,
};
use tokio_util::sync::CancellationToken;

/// Dashboard queries over the monibox daemon's self-metrics (`job="monibox"`). No producer of
/// these exists in this test (the daemon is not part of it), so they are only checked to parse;
/// the test fails if this list and the dashboards' `monibox_*` queries drift apart.
const NEEDS_MONIBOX_DAEMON: [&str; 5] = [
    "monibox_container_up",
    "sum by (component, reason) (increase(monibox_container_restarts_total[$__rate_interval]))",
    "sum by (alertname, status) (increase(monibox_alerts_received_total[$__rate_interval]))",
    "rate(monibox_supervisor_errors_total[$__rate_interval])",
    "monibox_build_info",
];

/// Requests one load worker cycles through: every endpoint label, including `other`.
const LOAD_PATHS: [&str; 5] = [
    "/",
    "/slow?ms=20",
    "/error?rate=0.5",
    "/cpu-intensive?n=2000",
    "/no-such-page",
];

fn substitute_grafana_variables(expr: &str) -> String {
    let substituted = expr
        .replace("$__rate_interval", "4s")
        .replace("$__interval", "1s")
        .replace("$__range", "15m");
    assert!(
        !substituted.contains('$'),
        "unknown Grafana variable in {expr:?}: add its substitution to this test"
    );
    substituted
}

fn dashboard_queries(bundle: &Bundle) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for file in bundle.files() {
        if !file.path.starts_with(paths::GRAFANA_DASHBOARDS_DIR) {
            continue;
        }
        let dashboard: Value = serde_json::from_slice(&file.contents).expect("dashboard JSON");
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let title = format!("{} / {}", dashboard["title"], panel["title"]);
                queries.push((title, target["expr"].as_str().expect("expr").to_owned()));
            }
        }
    }
    queries
}

fn rule_expressions(bundle: &Bundle) -> Vec<(String, String)> {
    let mut expressions = Vec::new();
    for path in [paths::RECORDING_RULES, paths::ALERT_RULES] {
        let rules: Value =
            serde_norway::from_slice(bundle.get(path).expect("rules")).expect("rules YAML");
        for group in rules["groups"].as_array().expect("groups") {
            for rule in group["rules"].as_array().expect("rules") {
                let name = rule["alert"]
                    .as_str()
                    .or(rule["record"].as_str())
                    .expect("name");
                expressions.push((
                    name.to_owned(),
                    rule["expr"].as_str().expect("expr").to_owned(),
                ));
            }
        }
    }
    expressions
}

/// An instant query: `Ok(number of series)` or the error Prometheus gave.
async fn instant_query(http: &Http, base: &str, query: &str) -> Result<usize, String> {
    let url = format!("{base}/api/v1/query?query={}", url_encode(query));
    let (status, body) = http.get(&url).await?;
    let json: Value = serde_json::from_str(&body).map_err(|error| format!("{status}: {error}"))?;
    if json["status"] != "success" {
        return Err(format!("{status}: {} {}", json["errorType"], json["error"]));
    }
    Ok(json["data"]["result"].as_array().map_or(0, Vec::len))
}

/// Bounded load: `workers` tasks cycle through [`LOAD_PATHS`] until `stop`, the deadline or the
/// request budget, whichever comes first.
fn start_load(
    app: SocketAddr,
    workers: usize,
    stop: CancellationToken,
    duration: Duration,
    budget: u64,
) -> Arc<AtomicU64> {
    let sent = Arc::new(AtomicU64::new(0));
    let deadline = tokio::time::Instant::now() + duration;
    for worker in 0..workers {
        let (stop, sent) = (stop.clone(), sent.clone());
        tokio::spawn(async move {
            let http = Http::new();
            let mut index = worker;
            while !stop.is_cancelled()
                && tokio::time::Instant::now() < deadline
                && sent.fetch_add(1, Ordering::Relaxed) < budget
            {
                let path = LOAD_PATHS[index % LOAD_PATHS.len()];
                let _ = http.get(&format!("http://{app}{path}")).await;
                index += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_and_rule_expression_works_in_real_prometheus() {
    let mut config = test_config(Timing::Fast);
    let shutdown = CancellationToken::new();
    let _stop_everything = shutdown.clone().drop_guard();

    let demo_settings = DemoSettings {
        slow_ms: config.demo.slow_min_ms..=config.demo.slow_max_ms,
        error_rate: config.demo.error_rate.get(),
        ..DemoSettings::default()
    };
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let demo = DemoService::bind(&[loopback], demo_settings)
        .await
        .expect("demo binds");
    let app = demo.local_addrs()[0];
    tokio::spawn(demo.run(shutdown.clone()));

    let mut webhook = WebhookReceiver::start().await;
    let (prometheus_port, alertmanager_port) = (free_port(), free_port());
    config.ports.app = Port::fixed(app.port());
    config.ports.ops = Port::fixed(webhook.addr.port());
    config.ports.prometheus = Port::fixed(prometheus_port);
    config.ports.alertmanager = Port::fixed(alertmanager_port);
    config.ports.grafana = Port::fixed(free_port());
    let (bundle_dir, bundle) = write_bundle(&config);
    let (prometheus_data, alertmanager_data) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    let mut alertmanager = start_alertmanager(
        bundle_dir.path(),
        alertmanager_data.path(),
        alertmanager_port,
    );
    let mut prometheus =
        start_prometheus(bundle_dir.path(), prometheus_data.path(), prometheus_port);
    let http = Http::new();
    let base = format!("http://127.0.0.1:{prometheus_port}");
    http.wait_ready(
        &format!("http://127.0.0.1:{alertmanager_port}/-/ready"),
        &mut alertmanager,
        Duration::from_secs(20),
    )
    .await;
    http.wait_ready(
        &format!("{base}/-/ready"),
        &mut prometheus,
        Duration::from_secs(30),
    )
    .await;

    let started = Instant::now();
    let load_stop = shutdown.child_token();
    let sent = start_load(app, 4, load_stop.clone(), Duration::from_secs(40), 20_000);

    // Scrapes and recordings are flowing once the error ratio is recorded.
    let deadline = Instant::now() + Duration::from_secs(30);
    while instant_query(&http, &base, "instance:app_request_errors:ratio_rate5m").await != Ok(1) {
        prometheus.assert_running();
        assert!(
            Instant::now() < deadline,
            "no recorded error ratio within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let queries = dashboard_queries(&bundle);
    let daemon_queries: BTreeSet<&str> = queries
        .iter()
        .map(|(_, expr)| expr.as_str())
        .filter(|expr| expr.contains("monibox_"))
        .collect();
    assert_eq!(daemon_queries, BTreeSet::from(NEEDS_MONIBOX_DAEMON));

    // Some series appear only after a few evaluations (ALERTS, notifications): retry until all
    // answer with data or the deadline passes, then report every query still failing.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failing: Vec<String>;
    loop {
        failing = Vec::new();
        for (title, expr) in &queries {
            match instant_query(&http, &base, &substitute_grafana_variables(expr)).await {
                Err(error) => failing.push(format!("{title}: {expr}: {error}")),
                Ok(0) if !NEEDS_MONIBOX_DAEMON.contains(&expr.as_str()) => {
                    failing.push(format!("{title}: {expr}: no data"))
                }
                Ok(_) => {}
            }
        }
        if failing.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        failing.is_empty(),
        "dashboard queries failing:\n{}",
        failing.join("\n")
    );
    let dashboards_ok_after = started.elapsed();

    for (name, expr) in rule_expressions(&bundle) {
        if let Err(error) = instant_query(&http, &base, &expr).await {
            panic!("rule {name}: {expr}: {error}");
        }
    }
    let (_, body) = http
        .get(&format!("{base}/api/v1/rules"))
        .await
        .expect("rules API");
    let rules: Value = serde_json::from_str(&body).expect("rules JSON");
    let groups = rules["data"]["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 3, "{body}");
    for group in groups {
        for rule in group["rules"].as_array().expect("rules") {
            assert_eq!(
                rule["health"], "ok",
                "rule {} in {}: {}",
                rule["name"], group["name"], rule["lastError"]
            );
        }
    }
    for job in ["app", "prometheus", "alertmanager"] {
        assert_eq!(
            instant_query(&http, &base, &format!("up{{job=\"{job}\"}} == 1")).await,
            Ok(1),
            "{job} is scraped"
        );
    }

    let notification = webhook
        .wait_for(Duration::from_secs(45), |n| {
            n.receiver == "critical" && n.alert_names().iter().any(|name| name == "HighErrorRate")
        })
        .await
        .expect("HighErrorRate reaches the webhook through Alertmanager");
    let alert_after = started.elapsed();
    load_stop.cancel();
    let alert = notification
        .alerts
        .iter()
        .find(|alert| alert["labels"]["alertname"] == "HighErrorRate")
        .expect("alert");
    assert_eq!(alert["labels"]["endpoint"], "/error");
    assert_eq!(
        alert["labels"]["monibox_project"], "default",
        "external label"
    );
    assert!(
        alert["annotations"]["runbook_url"]
            .as_str()
            .is_some_and(|url| url.ends_with("#higherrorrate")),
        "{alert}"
    );
    eprintln!(
        "{} requests; all {} dashboard queries had data {:.1?} after the load started; \
         HighErrorRate notified after {:.1?}",
        sent.load(Ordering::Relaxed).min(20_000),
        queries.len(),
        dashboards_ok_after,
        alert_after
    );
}
