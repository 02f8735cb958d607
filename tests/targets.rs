//! The user's own services, through the binary on the real Engine and a real Prometheus (fast
//! timing, host-built images, the Grafana stand-in):
//!
//! - a second `monibox serve --listen 127.0.0.1:0` (an app on the host's loopback only) added
//!   with `targets add` is `up == 1` once the command returns, with the team label, its address
//!   as the instance, series counted by `targets list`, and the container ids unchanged; `targets
//!   remove` takes it out of Prometheus's targets, again without a restart;
//! - bad input to `targets add`/`remove` exits 2 and changes no file;
//! - without a config file the targets live in the state root's targets file;
//! - a container labelled `prometheus.io/scrape=true` on a network of its own is discovered
//!   (`up == 1`, with `container`, `image`, `compose_project` and `compose_service`), one whose
//!   labels cannot be scraped is listed as skipped with the reason, and a stopped one is dropped
//!   from `/api/v1/targets` without ever being scraped as down.

mod docker_support;

use std::time::{Duration, Instant};

use docker_support::foreign::{ForeignContainer, ForeignNetwork};
use docker_support::stack_report::{component, container_ids, query};
use docker_support::{TestStack, grafana_standin, run_command};
use monibox::httpc::HttpClient;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

/// Bound of a whole test.
const TEST_DEADLINE: Duration = Duration::from_secs(180);
/// How long Prometheus may take to pick a discovered container up or drop it: its discovery
/// throttles updates to one every 5 s, its scrape manager reloads at most every 5 s, then the
/// 1 s scrape (the benchmark script measures the real figures).
const DISCOVERY_BOUND: Duration = Duration::from_secs(20);

/// `monibox serve --listen 127.0.0.1:0`: an app on the host's loopback only, ended on drop.
struct LoopbackApp {
    address: String,
    _child: tokio::process::Child,
}

impl LoopbackApp {
    async fn start() -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_monibox"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("monibox serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("serve prints its address in time")
            .expect("reading")
            .expect("a line");
        let address = line
            .rsplit("http://")
            .next()
            .expect("an address")
            .trim()
            .to_owned();
        assert!(address.starts_with("127.0.0.1:"), "{line}");
        Self {
            address,
            _child: child,
        }
    }
}

fn json(output: &docker_support::RunOutput) -> Value {
    serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("no JSON ({error}): {output:?}"))
}

/// Prometheus's active targets.
async fn active_targets(prometheus: &str) -> Vec<Value> {
    let response = HttpClient::new(Duration::from_secs(5))
        .get(&format!("{prometheus}/api/v1/targets?state=active"))
        .await
        .expect("asking Prometheus");
    let body: Value = serde_json::from_slice(&response.body).expect("targets JSON");
    body["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until `done` holds for Prometheus's active targets; panics after `bound`.
async fn wait_for_targets(
    prometheus: &str,
    bound: Duration,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let targets = active_targets(prometheus).await;
        if done(&targets) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "{what} within {bound:?}; active targets: {targets:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_app_added_with_targets_add_is_scraped_and_removed_without_restarts() {
    let stack = TestStack::new("tgt-add").await;
    let deadline = Instant::now() + TEST_DEADLINE;
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let app = LoopbackApp::start().await;
    let before = container_ids(stack.name()).await;

    let added = stack
        .run(&[
            "targets",
            "add",
            "shop",
            &app.address,
            "--label",
            "team=web",
            "--json",
        ])
        .await;
    assert_eq!(added.code, Some(0), "{added:?}");
    let report = json(&added);
    assert_eq!(report["applied"], "reloaded", "{report:#}");
    assert_eq!(report["scrape"]["state"], "up", "{report:#}");
    let config = std::fs::read_to_string(&stack.config_path).expect("the config");
    assert!(
        config.contains("name = \"shop\"") && config.contains("labels = { team = \"web\" }"),
        "the target is kept in the config file given:\n{config}"
    );

    let (_, status) = stack.status().await;
    let prometheus = component(&status, "prometheus")["url"]
        .as_str()
        .expect("Prometheus's URL")
        .to_owned();
    // Within two fast scrape intervals of `targets add` returning: up == 1.
    let samples = query(&prometheus, "up{job=\"shop\"} == 1", None).await;
    let started = Instant::now();
    let mut samples = samples;
    while samples.is_empty() && started.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        samples = query(&prometheus, "up{job=\"shop\"} == 1", None).await;
    }
    let sample = samples.first().expect("up{job=\"shop\"} == 1");
    assert_eq!(sample["metric"]["team"], "web");
    assert_eq!(
        sample["metric"]["instance"], app.address,
        "the instance is the address the user wrote, not the relay's"
    );
    assert_eq!(
        container_ids(stack.name()).await,
        before,
        "no container restarted"
    );

    let listed = json(&stack.run(&["targets", "list", "--json"]).await);
    let shop = listed["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|row| row["job"] == "shop")
        .cloned()
        .expect("shop is listed");
    assert_eq!(shop["health"], "up", "{listed:#}");
    assert_eq!(shop["source"], "config");
    assert!(shop["series"].as_u64().is_some_and(|n| n > 5), "{shop:#}");
    let (_, status) = stack.status().await;
    let text = stack.run(&["status"]).await.stdout;
    assert!(
        text.lines()
            .any(|line| line.contains("shop") && line.contains(" up ")),
        "status lists the user's target with its health:\n{text}\n{status:#}"
    );

    let removed = stack.run(&["targets", "remove", "shop", "--json"]).await;
    assert_eq!(removed.code, Some(0), "{removed:?}");
    assert_eq!(json(&removed)["scrape"]["state"], "gone");
    let jobs: Vec<Value> = active_targets(&prometheus)
        .await
        .into_iter()
        .filter(|target| target["labels"]["job"] == "shop")
        .collect();
    assert!(jobs.is_empty(), "{jobs:#?}");
    assert!(
        !std::fs::read_to_string(&stack.config_path)
            .expect("the config")
            .contains("shop"),
        "the target left the config file"
    );
    assert_eq!(
        container_ids(stack.name()).await,
        before,
        "no container restarted"
    );
    assert!(Instant::now() < deadline, "the test took too long");
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_targets_exit_2_and_change_nothing() {
    let stack = TestStack::new("tgt-bad").await;
    let first = stack
        .run(&["targets", "add", "shop", "127.0.0.1:9", "--json"])
        .await;
    assert_eq!(first.code, Some(0), "{first:?}");
    assert_eq!(json(&first)["applied"], "not_running");
    let config = std::fs::read_to_string(&stack.config_path).expect("the config");
    let cases: [(&[&str], &str); 9] = [
        (&["add", "web", "not an address"], "ADDRESS"),
        (&["add", "web", "127.0.0.1:70000"], "port"),
        (&["add", "app", "127.0.0.1:8080"], "monibox scrapes itself"),
        (
            &["add", "shop", "127.0.0.1:8081"],
            "already has a target named",
        ),
        (&["add", "9lives", "127.0.0.1:8081"], "NAME"),
        (&["add", "web", "h:1", "--label", "instance=x"], "--label"),
        (&["add", "web", "h:1", "--interval", "soon"], "--interval"),
        (
            &["add", "web", "h:1", "--bearer-token-file", "token"],
            "absolute",
        ),
        (&["remove", "nope"], "no target named"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["targets"];
        full.extend_from_slice(args);
        let output = stack.run(&full).await;
        assert_eq!(output.code, Some(2), "{args:?}: {output:?}");
        assert!(
            output.stderr.contains(expected),
            "{args:?}: {}",
            output.stderr
        );
        assert_eq!(
            std::fs::read_to_string(&stack.config_path).expect("the config"),
            config,
            "{args:?} changed the config file"
        );
    }
    assert!(
        !stack.state_dir.path().join("targets").exists(),
        "no targets file was written"
    );
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_config_file_targets_live_in_the_state_roots_targets_file() {
    let state = tempfile::tempdir().expect("temp dir");
    let project = docker_support::unique_project("tgt-file");
    let run = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_monibox"));
        command
            .args(args)
            .args(["--project", &project, "--state-dir"])
            .arg(state.path())
            .env_remove("MONIBOX_CONFIG")
            .env_remove("MONIBOX_STATE_DIR")
            .env_remove("MONIBOX_PROJECT")
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null());
        let what: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        async move {
            let what: Vec<&str> = what.iter().map(String::as_str).collect();
            run_command(command, &what).await
        }
    };
    let added = run(&["targets", "add", "db", "db.internal:9187", "--path", "/pg"]).await;
    assert_eq!(added.code, Some(0), "{added:?}");
    let file = state.path().join("targets").join(format!("{project}.toml"));
    let text = std::fs::read_to_string(&file).expect("the targets file");
    assert!(text.contains("address = \"db.internal:9187\""), "{text}");
    let listed = json(&run(&["targets", "list", "--json"]).await);
    assert_eq!(listed["targets"][0]["source"], "targets_file", "{listed:#}");
    assert_eq!(listed["targets"][0]["health"], "absent");
    let shown = run(&["config", "show"]).await;
    assert!(shown.stdout.contains("db.internal:9187"), "{shown:?}");
    let removed = run(&["targets", "remove", "db"]).await;
    assert_eq!(removed.code, Some(0), "{removed:?}");
    let text = std::fs::read_to_string(&file).expect("the targets file");
    assert!(!text.contains("db.internal"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_containers_on_their_own_network_are_discovered_and_dropped_when_stopped() {
    let stack = TestStack::new("tgt-docker").await;
    let deadline = Instant::now() + TEST_DEADLINE;
    let marker = format!("monibox-test-discovery={}", stack.name());
    stack.discover_docker(&marker);
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let (_, status) = stack.status().await;
    let prometheus = component(&status, "prometheus")["url"]
        .as_str()
        .expect("Prometheus's URL")
        .to_owned();

    let image = grafana_standin().await;
    let network = ForeignNetwork::create(&format!("{}-apps", stack.name())).await;
    let (marker_key, marker_value) = marker.split_once('=').expect("key=value");
    let web_name = format!("{}-web", stack.name());
    let web = ForeignContainer::start_labelled(
        &web_name,
        &image,
        &[
            ("prometheus.io/scrape", "true"),
            ("prometheus.io/port", "3000"),
            ("com.docker.compose.project", "shop"),
            ("com.docker.compose.service", "web"),
            (marker_key, marker_value),
        ],
        Some(&network.name),
    )
    .await;
    let odd = ForeignContainer::start_labelled(
        &format!("{}-odd", stack.name()),
        &image,
        &[
            ("prometheus.io/scrape", "true"),
            ("prometheus.io/port", "metrics"),
            (marker_key, marker_value),
        ],
        Some(&network.name),
    )
    .await;
    let instance = format!("{web_name}:3000");
    let found = wait_for_targets(&prometheus, DISCOVERY_BOUND, "discovered", |targets| {
        targets.iter().any(|target| {
            target["labels"]["instance"] == instance.as_str() && target["health"] == "up"
        })
    })
    .await;
    let samples = query(&prometheus, "up{job=\"docker\"} == 1", None).await;
    let sample = samples.first().expect("up{job=\"docker\"} == 1");
    assert_eq!(sample["metric"]["container"], web_name.as_str());
    assert_eq!(sample["metric"]["image"], image.as_str());
    assert_eq!(sample["metric"]["compose_project"], "shop");
    assert_eq!(sample["metric"]["compose_service"], "web");
    assert_eq!(
        samples.len(),
        1,
        "only the test's own container: {samples:#?}"
    );

    let listed = json(&stack.run(&["targets", "list", "--json"]).await);
    let skipped = listed["skipped"].as_array().expect("skipped");
    assert!(
        skipped
            .iter()
            .any(|row| row["container"] == odd.name.as_str()
                && row["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("prometheus.io/port"))),
        "{listed:#}"
    );

    web.stop().await;
    let gone = wait_for_targets(&prometheus, DISCOVERY_BOUND, "dropped", |targets| {
        !targets
            .iter()
            .any(|target| target["labels"]["instance"] == instance.as_str())
    })
    .await;
    eprintln!("discovered {found:.1?} after start; dropped {gone:.1?} after stop");
    let lowest = query(
        &prometheus,
        &format!("min_over_time(up{{job=\"docker\", instance=\"{instance}\"}}[5m])"),
        None,
    )
    .await;
    assert_eq!(
        lowest.first().map(|sample| sample["value"][1].clone()),
        Some(Value::from("1")),
        "a stopped container is dropped, never scraped as down (no TargetDown): {lowest:#?}"
    );
    web.remove().await;
    odd.remove().await;
    network.remove().await;
    assert!(Instant::now() < deadline, "the test took too long");
    stack.cleanup().await;
}
