//! The whole stack through the `monibox` binary on the real Docker Engine, with the host-built
//! Prometheus and Alertmanager images and the Grafana stand-in (busybox httpd, not Grafana; its
//! static `/metrics` keeps the `grafana` scrape job up as Grafana would):
//!
//! - `up --timing fast` → healthy → every Prometheus target up → `monibox load` drives errors →
//!   HighErrorRate fires → Alertmanager delivers it to the daemon's webhook → `status --json`
//!   shows it; `up` again creates nothing; `down` leaves no container, network or daemon;
//! - Prometheus data survives `down` + `up`; `down --volumes` removes the volumes too;
//! - a changed configuration: Prometheus reloads its rules, the daemon restarts on the same
//!   ports, a changed flag replaces Prometheus alone, nothing else is touched;
//! - `up --foreground` serves until interrupted, then takes the stack down.

mod docker_support;

use std::time::{Duration, Instant};

use docker_support::stack_report::{
    component, container_ids, daemon_pid, query, self_sample_time, wait_for_status,
};
use docker_support::{TestStack, assert_only_volumes_left, docker};
use monibox::daemon::process;
use monibox::httpc::HttpClient;
use serde_json::Value;

/// The end-to-end test's budget, from `up` to the alert in `status`.
const END_TO_END_DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_load_alert_status_and_down_end_to_end() {
    let stack = TestStack::new("e2e").await;
    let started = Instant::now();
    let deadline = started + END_TO_END_DEADLINE;

    let up = stack.run(&["up", "--timing", "fast"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    assert!(
        up.elapsed < Duration::from_secs(60),
        "up took {:?}",
        up.elapsed
    );
    assert!(up.stdout.contains("login admin / "), "{}", up.stdout);
    let password = std::fs::read_to_string(stack.project_dir().join("grafana-admin-password"))
        .expect("the Grafana password file");
    assert!(up.stdout.contains(password.trim()), "{}", up.stdout);

    let jobs = ["alertmanager", "app", "grafana", "monibox", "prometheus"];
    let report = wait_for_status(&stack, deadline, "every target up", |report| {
        let up: Vec<&str> = report["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|target| target["health"] == "up")
            .filter_map(|target| target["job"].as_str())
            .collect();
        report["state"] == "healthy" && jobs.iter().all(|job| up.contains(job))
    })
    .await;
    for name in ["prometheus", "alertmanager", "grafana", "daemon", "demo"] {
        assert_eq!(component(&report, name)["health"], "healthy", "{report:#}");
    }
    assert!(
        component(&report, "grafana")["version"]
            .as_str()
            .is_some_and(|version| version.contains("standin")),
        "the stand-in says what it is: {report:#}"
    );
    let pid = daemon_pid(&report);
    let ids = container_ids(stack.name()).await;
    assert_eq!(ids.len(), 3, "{ids:?}");

    // `monibox load` finds the stack's demo service through stack.json; the alert is awaited
    // while it runs.
    let load = stack.run(&[
        "load",
        "--users",
        "8",
        "--think-time",
        "20ms",
        "--mix",
        "/error=80,/=20",
        "--duration",
        "12s",
        "--json",
    ]);
    let alerted = wait_for_status(&stack, deadline, "HighErrorRate at the webhook", |report| {
        report["alerts_received"]["recent"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|alert| alert["alertname"] == "HighErrorRate" && alert["status"] == "firing")
    });
    let (load, report) = tokio::join!(load, alerted);
    assert!(matches!(load.code, Some(0 | 1)), "{load:?}");
    let load_report: Value = serde_json::from_str(&load.stdout).expect("load --json");
    let demo_url = component(&report, "demo")["url"]
        .as_str()
        .expect("demo url");
    assert_eq!(
        load_report["target"]
            .as_str()
            .map(|t| t.trim_end_matches('/')),
        Some(demo_url),
        "{load_report:#}"
    );
    assert!(
        load_report["server"]["prometheus"]
            .as_str()
            .is_some_and(|url| url.starts_with(&stack.record().prometheus_url().expect("url"))),
        "load compares with the stack's Prometheus: {load_report:#}"
    );

    let alert = report["alerts_received"]["recent"]
        .as_array()
        .expect("recent")
        .iter()
        .find(|alert| alert["alertname"] == "HighErrorRate")
        .expect("the alert");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["receiver"], "critical");
    assert_eq!(alert["labels"]["monibox_project"], stack.name());
    let ops = component(&report, "daemon")["url"]
        .as_str()
        .expect("ops url");
    assert_eq!(
        alert["runbook_url"],
        format!("{ops}/runbooks#higherrorrate"),
        "{alert:#}"
    );
    assert!(
        report["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|active| active["alertname"] == "HighErrorRate" && active["state"] == "firing"),
        "Prometheus has it firing: {report:#}"
    );
    eprintln!(
        "up {:.2} s; HighErrorRate in status {:.1} s after up started",
        up.elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    // `up` again reconciles: the same containers and daemon.
    let again = stack.run(&["up", "--timing", "fast"]).await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(
        again.stdout.contains(
            "prometheus kept; alertmanager kept; grafana kept; node-exporter off; daemon kept"
        ),
        "{}",
        again.stdout
    );
    assert_eq!(container_ids(stack.name()).await, ids, "nothing new");
    let (_, report) = stack.status().await;
    assert_eq!(daemon_pid(&report), pid);

    let down = stack.run(&["down"]).await;
    assert_eq!(down.code, Some(0), "{down:?}");
    let resources = docker()
        .await
        .project_resources(stack.name())
        .await
        .expect("listing");
    assert!(resources.containers.is_empty(), "{resources:?}");
    assert!(resources.networks.is_empty(), "{resources:?}");
    assert_eq!(resources.volumes.len(), 3, "data is kept: {resources:?}");
    assert!(!process::is_alive(pid), "the daemon (pid {pid}) is gone");
    let (code, report) = stack.status().await;
    assert_eq!(code, Some(2), "{report:#}");
    let repeat = stack.run(&["down"]).await;
    assert_eq!(repeat.code, Some(0), "down is idempotent: {repeat:?}");
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_data_survives_down_and_up_and_down_volumes_removes_it() {
    let stack = TestStack::new("data").await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let prometheus = stack.record().prometheus_url().expect("Prometheus URL");
    let password = std::fs::read_to_string(stack.project_dir().join("grafana-admin-password"))
        .expect("password");

    // A sample Prometheus took of itself, and when.
    let sampled_at = self_sample_time(&prometheus, deadline).await;

    let down = stack.run(&["down"]).await;
    assert_eq!(down.code, Some(0), "{down:?}");
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let prometheus = stack.record().prometheus_url().expect("Prometheus URL");
    let before = query(&prometheus, "up{job=\"prometheus\"}", Some(sampled_at)).await;
    assert_eq!(
        before.len(),
        1,
        "the sample from before `down` is still there: {before:?}"
    );
    assert_eq!(before[0]["value"][1], "1");
    assert_eq!(
        std::fs::read_to_string(stack.project_dir().join("grafana-admin-password"))
            .expect("password"),
        password,
        "the Grafana password is kept with the data"
    );

    let down = stack.run(&["down", "--volumes"]).await;
    assert_eq!(down.code, Some(0), "{down:?}");
    assert!(down.stdout.contains("3 volume(s)"), "{}", down.stdout);
    let resources = docker()
        .await
        .project_resources(stack.name())
        .await
        .expect("listing");
    assert!(resources.is_empty(), "{resources:?}");
    assert!(
        !stack.project_dir().exists(),
        "the state directory is removed"
    );
    stack.cleanup().await;
}

/// `up --foreground`, once it says it runs.
async fn start_foreground(stack: &TestStack) -> tokio::process::Child {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut command = stack.command(&["up", "--foreground"]);
    command.stdout(std::process::Stdio::piped());
    let mut child = command.spawn().expect("starting up --foreground");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let serving = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("reading stdout") {
            if line.contains("Running in the foreground") {
                return;
            }
        }
        panic!("up --foreground ended before it was up");
    });
    serving.await.expect("up --foreground came up within 60 s");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_from_elsewhere_ends_a_foreground_up_at_once() {
    let stack = TestStack::new("fg-down").await;
    let mut child = start_foreground(&stack).await;
    let down = stack.run(&["down"]).await;
    assert_eq!(down.code, Some(0), "{down:?}");
    assert!(down.elapsed < Duration::from_secs(5), "{:?}", down.elapsed);
    assert!(down.stdout.contains("daemon: stopped"), "{}", down.stdout);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("up --foreground ends once down stopped it")
        .expect("waiting");
    assert!(status.success(), "{status:?}");
    assert_only_volumes_left(stack.name()).await;
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_in_the_foreground_serves_until_interrupted_then_takes_the_stack_down() {
    let stack = TestStack::new("foreground").await;
    let mut child = start_foreground(&stack).await;

    let (_, report) = stack.status().await;
    assert_eq!(
        daemon_pid(&report),
        child.id().expect("running"),
        "the daemon runs in the foreground process: {report:#}"
    );
    assert_eq!(
        component(&report, "demo")["health"],
        "healthy",
        "{report:#}"
    );
    assert_eq!(container_ids(stack.name()).await.len(), 3);

    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().expect("pid")).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("interrupting");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("up --foreground stops within 30 s of Ctrl-C")
        .expect("waiting");
    assert!(status.success(), "{status:?}");
    assert_only_volumes_left(stack.name()).await;
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_configuration_is_reloaded_or_replaced_never_duplicated() {
    let stack = TestStack::new("reconfigure").await;
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let ids = container_ids(stack.name()).await;
    let (_, report) = stack.status().await;
    let pid = daemon_pid(&report);
    let ops_port = stack.record().daemon.ops_port();

    // Rules and the demo service change: Prometheus reloads, the daemon restarts on its ports.
    stack.append_config("[alerts]\nerror_rate_per_second = 0.5\n\n[demo]\nerror_rate = 0.5\n");
    let again = stack.run(&["up"]).await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(
        again.stdout.contains(
            "prometheus kept, configuration reloaded; alertmanager kept; grafana kept; \
             node-exporter off; daemon restarted (settings changed)"
        ),
        "{}",
        again.stdout
    );
    assert_eq!(
        container_ids(stack.name()).await,
        ids,
        "the same containers"
    );
    assert!(!process::is_alive(pid), "the old daemon {pid} is gone");
    assert_eq!(stack.record().daemon.ops_port(), ops_port, "the same ports");
    let prometheus = stack.record().prometheus_url().expect("Prometheus URL");
    let response = HttpClient::new(Duration::from_secs(10))
        .get(&format!("{prometheus}/api/v1/rules?type=alert"))
        .await
        .expect("rules");
    let rules: Value = serde_json::from_slice(&response.body).expect("rules JSON");
    let high_error_rate = rules["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
        .find(|rule| rule["name"] == "HighErrorRate")
        .expect("HighErrorRate is loaded");
    assert!(
        high_error_rate["query"]
            .as_str()
            .is_some_and(|query| query.ends_with("> 0.5")),
        "the reloaded threshold: {high_error_rate}"
    );

    // A changed flag (retention) cannot be reloaded: Prometheus alone is replaced.
    stack.append_config("[retention]\ntime = \"2d\"\n");
    let third = stack.run(&["up"]).await;
    assert_eq!(third.code, Some(0), "{third:?}");
    assert!(
        third
            .stdout
            .contains("prometheus replaced (configuration changed); alertmanager kept; grafana kept; node-exporter off; daemon kept"),
        "{}",
        third.stdout
    );
    let now = container_ids(stack.name()).await;
    assert_eq!(now.len(), 3, "{now:?}");
    let prometheus_name = format!("monibox-{}-prometheus", stack.name());
    assert_ne!(now[&prometheus_name], ids[&prometheus_name]);
    for (name, id) in &ids {
        if *name != prometheus_name {
            assert_eq!(&now[name], id, "{name} is kept");
        }
    }
    stack.cleanup().await;
}
