//! Every expression of the bundle checked by a real Prometheus (the host's, 127.0.0.1 on a free
//! port) scraping the in-process demo service and the daemon's ops listener under a short,
//! bounded load, the host's node_exporter (job `node`, started here on a free port and killed by
//! its PID at the end), with the real Alertmanager beside it notifying the ops listener's
//! `/alerts`, and the daemon's container collector feeding the ops listener's
//! `/metrics/containers` (job `containers`) with one busybox container of a test project on the
//! real Engine:
//!
//! - every dashboard query and every rule expression parses and evaluates through the HTTP API;
//! - every dashboard query returns data (the supervisor's series exist at 0 from the start, so
//!   the ops listener alone serves them; the load pushes its own figures to it, for the Load
//!   test dashboard; the busybox container has a memory limit and a health check, and its
//!   counters, OOM kills and restarts among them, are series at 0, for the Containers
//!   dashboard);
//! - the collector's `project` scope reports that container and no other of the Engine's;
//! - every rule group evaluates without error;
//! - with the fast profile, HighErrorRate fires and reaches the webhook within seconds;
//! - the demo's default SLOs are recorded, and the load's share of `/error?rate=1` (20% of
//!   responses 5xx) burns `demo-availability`'s 2.5% budget 8× — above the page's 6× over "6h"
//!   and "30m" (6 m and 30 s with the fast profile) — so the SLO dashboard's ErrorBudgetBurn
//!   panels have a real alert to show, and the test checks it is that one.
//!
//! Grafana's variables in dashboard queries are replaced as Grafana would for the dashboards'
//! default 15-minute range and the datasource's 1 s `timeInterval` (the fast scrape interval):
//! `$__rate_interval` → `4s` (four scrape intervals, Grafana's minimum), `$__interval` → `1s`,
//! `$__range` → `15m`; the Targets dashboard's `$job` and `$instance`, the Containers
//! dashboard's `$container` and the SLOs dashboard's `$slo` → `.+` (their "All" value). Any
//! other `$` variable fails the test until it is added here.

mod docker_support;
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use docker_support::{TestProject, docker, grafana_standin, standin_spec};
use monibox::assets::{Bundle, paths};
use monibox::config::{Config, ContainerScope, Containers, Port, Timing};
use monibox::daemon::alerts::AlertStatus;
use monibox::daemon::containers;
use monibox::demo::{DemoService, DemoSettings};
use monibox::httpc::encode_query_value;
use monibox::load::plan::{LoadPlan, LoadSettings, Target};
use monibox::load::push::Pusher;
use monibox::load::{self, Finished, LoadError};
use monibox::stack::record::{DaemonRecord, FORMAT, NetworkRecord, StackRecord};
use monibox::stack::state::ProjectDir;
use monibox::stack::store::StackStore;
use serde_json::Value;
use support::{
    Http, OpsListenerUnderTest, free_port, start_alertmanager, start_node_exporter,
    start_on_free_port, start_prometheus, test_config, write_bundle,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The daemon's own metrics the dashboards query, which the ops listener serves (the
/// supervisor's among them); the test fails if this list and the dashboards drift apart.
const FROM_OPS_LISTENER: [&str; 17] = [
    "monibox_container_up",
    "sum by (component, reason) (increase(monibox_container_restarts_total[$__rate_interval]))",
    "rate(monibox_supervisor_errors_total[$__rate_interval])",
    "sum by (alertname, status) (increase(monibox_alerts_received_total[$__rate_interval]))",
    "monibox_build_info",
    // The Load test dashboard: the figures the load below pushes to the ops listener.
    "histogram_quantile(0.95, sum by (le, endpoint) (rate(monibox_load_request_duration_seconds_bucket[$__rate_interval])))",
    "sum by (endpoint) (rate(monibox_load_request_duration_seconds_sum[$__rate_interval])) / sum by (endpoint) (rate(monibox_load_request_duration_seconds_count[$__rate_interval]))",
    "sum by (endpoint) (rate(monibox_load_requests_total[$__rate_interval]))",
    "sum by (outcome) (rate(monibox_load_requests_total{outcome!=\"ok\"}[$__rate_interval]))",
    "sum(increase(monibox_load_requests_total[$__range]))",
    "sum(monibox_load_asked_rate_requests_per_second)",
    "sum(monibox_load_runs)",
    "sum(monibox_load_users)",
    "sum(rate(monibox_load_late_starts_total[$__rate_interval]))",
    "sum(rate(monibox_load_requests_total[$__rate_interval]))",
    "sum(rate(monibox_load_requests_total{outcome!=\"ok\"}[$__rate_interval])) / sum(rate(monibox_load_requests_total[$__rate_interval]))",
    "sum(rate(monibox_load_retried_requests_total[$__rate_interval]))",
];

/// The load's mix, one of each: every endpoint label, including `other`.
const LOAD_PATHS: [&str; 5] = [
    "/",
    "/slow?ms=20",
    "/error?rate=1",
    "/cpu-intensive?n=2000",
    "/no-such-page",
];

fn substitute_grafana_variables(expr: &str) -> String {
    let substituted = expr
        .replace("$__rate_interval", "4s")
        .replace("$__interval", "1s")
        .replace("$__range", "15m")
        // The Targets dashboard's variables with "All" selected (their allValue).
        .replace("$job", ".+")
        .replace("$instance", ".+")
        // The Containers dashboard's variable with "All" selected.
        .replace("$container", ".+")
        // The SLOs dashboard's variable with "All" selected.
        .replace("$slo", ".+");
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
        // A variable's `label_values(SELECTOR, LABEL)` has values when this query has series.
        for variable in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let definition = variable["query"]["query"].as_str().unwrap_or_default();
            let inner = definition
                .strip_prefix("label_values(")
                .and_then(|rest| rest.strip_suffix(')'))
                .unwrap_or_else(|| panic!("unknown variable query {definition:?}"));
            let (selector, label) = inner
                .rsplit_once(',')
                .expect("label_values(SELECTOR, LABEL)");
            let title = format!("{} / variable {}", dashboard["title"], variable["name"]);
            queries.push((title, format!("count by ({}) ({selector})", label.trim())));
        }
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let title = format!("{} / {}", dashboard["title"], panel["title"]);
                queries.push((title, target["expr"].as_str().expect("expr").to_owned()));
            }
        }
    }
    queries
}

/// Every rule group of the bundle's rule files, as parsed YAML.
fn rule_groups(bundle: &Bundle) -> Vec<Value> {
    let rule_files = bundle
        .files()
        .iter()
        .filter(|file| file.path.starts_with(paths::RULES_DIR));
    let mut groups = Vec::new();
    for path in rule_files.map(|file| file.path.as_str()) {
        let rules: Value =
            serde_norway::from_slice(bundle.get(path).expect("rules")).expect("rules YAML");
        groups.extend(rules["groups"].as_array().expect("groups").iter().cloned());
    }
    groups
}

fn rule_expressions(bundle: &Bundle) -> Vec<(String, String)> {
    let mut expressions = Vec::new();
    for group in rule_groups(bundle) {
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
    expressions
}

/// An instant query: `Ok(number of series)` or the error Prometheus gave.
async fn instant_query(http: &Http, base: &str, query: &str) -> Result<usize, String> {
    let url = format!("{base}/api/v1/query?query={}", encode_query_value(query));
    let (status, body) = http.get(&url).await?;
    let json: Value = serde_json::from_str(&body).map_err(|error| format!("{status}: {error}"))?;
    if json["status"] != "success" {
        return Err(format!("{status}: {} {}", json["errorType"], json["error"]));
    }
    Ok(json["data"]["result"].as_array().map_or(0, Vec::len))
}

/// Bounded load from monibox's own generator: 4 users over [`LOAD_PATHS`] with 5 ms think
/// time, until `stop`, 40 s or 20,000 requests, whichever comes first, pushing its figures to
/// the ops listener at `ops` as `monibox load` does.
async fn start_load(
    app: SocketAddr,
    ops: SocketAddr,
    stop: CancellationToken,
) -> JoinHandle<Result<Finished, LoadError>> {
    let target: Target = format!("http://{app}").parse().expect("target");
    let mix = LOAD_PATHS
        .iter()
        .map(|path| format!("{path}=1"))
        .collect::<Vec<_>>()
        .join(",");
    let settings = LoadSettings {
        users: Some(4),
        think_time: "5ms".parse().ok(),
        duration: Some(Duration::from_secs(40)),
        requests: Some(20_000),
        mix: Some(mix.parse().expect("mix")),
        ..LoadSettings::default()
    };
    let plan = LoadPlan::new(target, settings, 2, None).expect("plan");
    let running = load::start(&plan, stop.clone()).await.expect("load starts");
    let probe = running.probe();
    tokio::spawn(async move {
        let pusher = Pusher::new(&format!("http://{ops}"));
        let pushing = pusher.run(&plan, probe, stop.clone());
        let (finished, ()) = tokio::join!(running.finish(), pushing);
        if let Ok(finished) = &finished {
            pusher.finish(&plan, &finished.stats).await;
        }
        finished
    })
}

/// The busybox container the Containers dashboard's queries find, and what cleans it up.
struct WatchedContainer {
    /// Its project; the project's cleanup removes the container, also when the test fails.
    project: TestProject,
    name: String,
    _state_dir: tempfile::TempDir,
}

/// Runs one container of a fresh test project — the Grafana stand-in's image (busybox httpd,
/// not Grafana), with its 32 MiB memory limit and 1 s health check, nothing published — and the
/// daemon's container collector until `shutdown`, scoped to that project through a stack record
/// of its own with `[containers] scope = "project"`, feeding `ops`'s `/metrics/containers`.
async fn watch_one_container(
    ops: &OpsListenerUnderTest,
    config: &Config,
    app: SocketAddr,
    shutdown: CancellationToken,
) -> WatchedContainer {
    let project = TestProject::new("realprom").await;
    let image = grafana_standin().await;
    let mut spec = standin_spec(&project, &image);
    spec.component = "busybox".to_owned();
    spec.name = project.container("busybox");
    spec.ports.clear();
    docker()
        .await
        .run_container(&spec)
        .await
        .expect("running the busybox container");

    let state_dir = tempfile::tempdir().expect("temp dir");
    let store = StackStore::new(&ProjectDir::at(state_dir.path().to_owned()), &project.name);
    // The collector reads only `containers`; the rest describes this test's in-process daemon,
    // which has no project network and no components.
    let record = StackRecord {
        format: FORMAT,
        project: project.name.clone(),
        timing: config.timing,
        network: NetworkRecord {
            id: String::new(),
            name: String::new(),
            gateway: std::net::Ipv4Addr::LOCALHOST,
        },
        daemon: DaemonRecord {
            app_listen: vec![app],
            ops_listen: vec![ops.addr],
            demo: config.demo.clone(),
            settings_digest: String::new(),
        },
        components: Vec::new(),
        relays: Vec::new(),
        discovery: config.discovery.clone(),
        containers: Containers {
            scope: ContainerScope::Project,
        },
    };
    store.replace(&record).expect("writing the stack record");
    tokio::spawn(containers::run(
        ops.state.containers(),
        project.name.clone(),
        std::env::var("DOCKER_HOST").ok(),
        store,
        shutdown,
    ));
    WatchedContainer {
        project,
        name: spec.name,
        _state_dir: state_dir,
    }
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

    let webhook = OpsListenerUnderTest::start().await;
    let watched = watch_one_container(&webhook, &config, app, shutdown.clone()).await;
    config.ports.app = Port::fixed(app.port());
    config.ports.ops = Port::fixed(webhook.addr.port());
    // Nothing listens there: the grafana job is down, which no query below needs.
    config.ports.grafana = Port::fixed(free_port());
    // The Host dashboard's queries read the host's node_exporter, scraped as job `node`.
    let (_node_exporter, node_exporter_port) =
        start_on_free_port("/", Duration::from_secs(20), start_node_exporter).await;
    config.ports.node_exporter = Port::fixed(node_exporter_port);
    let (prometheus_data, alertmanager_data) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    // Alertmanager's configuration does not hold its port; Prometheus's holds both ports, so its
    // bundle is written once Alertmanager's port is known, and again for each port tried.
    let (alertmanager_bundle, _) = write_bundle(&config);
    let (_alertmanager, alertmanager_port) =
        start_on_free_port("/-/ready", Duration::from_secs(20), |port| {
            start_alertmanager(alertmanager_bundle.path(), alertmanager_data.path(), port)
        })
        .await;
    config.ports.alertmanager = Port::fixed(alertmanager_port);
    let mut written = None;
    let (mut prometheus, prometheus_port) =
        start_on_free_port("/-/ready", Duration::from_secs(30), |port| {
            config.ports.prometheus = Port::fixed(port);
            let (dir, bundle) = write_bundle(&config);
            let child = start_prometheus(dir.path(), prometheus_data.path(), port);
            written = Some((dir, bundle));
            child
        })
        .await;
    let (_bundle_dir, bundle) = written.expect("the bundle Prometheus runs with");
    let http = Http::new();
    let base = format!("http://127.0.0.1:{prometheus_port}");

    let started = Instant::now();
    let load_stop = shutdown.child_token();
    let load = start_load(app, webhook.addr, load_stop.clone()).await;

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
    // The container's series reach Prometheus once the collector has inspected it and its
    // health check has passed (an Engine event, then a look); the scope keeps every other out.
    let healthy = format!(
        "docker_container_health_status{{job=\"containers\", name=\"{}\", status=\"healthy\"}} == 1",
        watched.name
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while instant_query(&http, &base, &healthy).await != Ok(1) {
        prometheus.assert_running();
        assert!(
            Instant::now() < deadline,
            "{healthy} never held within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        instant_query(
            &http,
            &base,
            &format!(
                "container_last_seen{{job=\"containers\", name!=\"{}\"}}",
                watched.name
            )
        )
        .await,
        Ok(0),
        "scope \"project\" reports only the project's container"
    );

    let queries = dashboard_queries(&bundle);
    let daemon_queries: BTreeSet<&str> = queries
        .iter()
        .map(|(_, expr)| expr.as_str())
        .filter(|expr| expr.contains("monibox_"))
        .collect();
    assert_eq!(daemon_queries, BTreeSet::from(FROM_OPS_LISTENER));

    // Some series appear only after a few evaluations (ALERTS, notifications): retry until all
    // answer with data or the deadline passes, then report every query still failing.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failing: Vec<String>;
    loop {
        failing = Vec::new();
        for (title, expr) in &queries {
            match instant_query(&http, &base, &substitute_grafana_variables(expr)).await {
                Err(error) => failing.push(format!("{title}: {expr}: {error}")),
                Ok(0) => failing.push(format!("{title}: {expr}: no data")),
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
    // The ErrorBudgetBurn series the SLO dashboard showed are the availability SLO's page.
    let page =
        r#"ALERTS{alertname="ErrorBudgetBurn", slo="demo-availability", severity="critical"}"#;
    assert_eq!(
        instant_query(&http, &base, page).await,
        Ok(1),
        "{page}: the load burns demo-availability's budget 8×"
    );

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
    let mut loaded: Vec<&str> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
    let mut bundled: Vec<String> = rule_groups(&bundle)
        .iter()
        .filter_map(|g| g["name"].as_str().map(str::to_owned))
        .collect();
    loaded.sort_unstable();
    bundled.sort_unstable();
    assert_eq!(
        loaded, bundled,
        "Prometheus loaded every bundled rule group"
    );
    assert!(
        bundled.len() >= 7,
        "app, recording, alertmanager, monitoring, containers, two SLOs: {bundled:?}"
    );
    for group in groups {
        for rule in group["rules"].as_array().expect("rules") {
            assert_eq!(
                rule["health"], "ok",
                "rule {} in {}: {}",
                rule["name"], group["name"], rule["lastError"]
            );
        }
    }
    for job in [
        "app",
        "monibox",
        "containers",
        "prometheus",
        "alertmanager",
        "node",
    ] {
        assert_eq!(
            instant_query(&http, &base, &format!("up{{job=\"{job}\"}} == 1")).await,
            Ok(1),
            "{job} is scraped"
        );
    }

    let alert = webhook
        .wait_for(Duration::from_secs(45), |alert| {
            alert.receiver == "critical"
                && alert.alertname == "HighErrorRate"
                && alert.status == AlertStatus::Firing
        })
        .await
        .expect("HighErrorRate reaches the daemon's webhook through Alertmanager");
    let alert_after = started.elapsed();
    load_stop.cancel();
    let load = load
        .await
        .expect("the load task")
        .expect("the load ends cleanly");
    assert_eq!(alert.labels["endpoint"], "/error");
    assert_eq!(alert.labels["monibox_project"], "default", "external label");
    assert!(
        alert
            .runbook_url
            .as_deref()
            .is_some_and(|url| url.ends_with("#higherrorrate")),
        "{alert:?}"
    );
    // The ops listener counts what it received, and Prometheus scrapes the count.
    let counted =
        r#"monibox_alerts_received_total{alertname="HighErrorRate",status="firing"} >= 1"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    while instant_query(&http, &base, counted).await != Ok(1) {
        assert!(Instant::now() < deadline, "{counted} never held");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "{} requests; all {} dashboard queries had data {:.1?} after the load started; \
         HighErrorRate notified after {:.1?}",
        load.stats.requests(),
        queries.len(),
        dashboards_ok_after,
        alert_after
    );
    watched.project.cleanup().await;
}
