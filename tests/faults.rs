//! Fault injection on the real Docker Engine: a stack brought up with `monibox up` (fast timing,
//! host-built Prometheus and Alertmanager, the Grafana stand-in — busybox httpd, not Grafana)
//! meets the faults a real machine sees, and heals:
//!
//! - `docker kill` Prometheus → the daemon's supervisor recreates it, healthy again, the restart
//!   counted (`status --json`, the ops listener's `monibox_container_restarts_total`);
//! - `docker rm -f` Alertmanager → recreated (a new container), healthy, reason `removed`;
//! - a component whose container exits at once → the gaps between restarts grow, `status` says
//!   crash-looping (exit 1), and Prometheus fires `ContainerRestartingOften`;
//! - SIGKILL of the daemon → `status` says it stopped → `up` adopts the running containers
//!   (same ids, one per component) with a new daemon → `down` removes everything;
//! - a malformed configuration file → exit 2 naming the problem; a running stack is untouched,
//!   a new project gets nothing;
//! - a Docker Engine outage (the daemon reaches the Engine through a proxy the test cuts) → the
//!   demo service keeps answering, the daemon logs the outage once, and once the Engine is back
//!   it restarts the Prometheus that was killed meanwhile.
//!
//! A sample Prometheus took before each fault is still queryable after it, and each test ends
//! with nothing of its project left: no container, network, volume or daemon process.
//! Recovery times are printed (a benchmark is `scripts/bench-faults.sh`); the bounds asserted
//! here are liveness checks, not targets.

mod docker_support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use docker_support::faults::{
    CreationWatch, EngineProxy, build_image, daemon_log, kill_container, ops_metric, wait_recovered,
};
use docker_support::stack_report::{
    component, container_ids, daemon_pid, query, self_sample_time, wait_for_status,
};
use docker_support::{
    TestStack, assert_nothing_left, assert_only_volumes_left, docker, grafana_standin, run_command,
};
use monibox::daemon::process;
use monibox::httpc::HttpClient;
use serde_json::Value;

/// Each test's budget, from `up` to the last check.
const TEST_DEADLINE: Duration = Duration::from_secs(90);
/// A generous bound on a component's recovery after a fault: a liveness check, not a target.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);
/// An image whose process exits at once (status 1): the Grafana stand-in running `false`.
const CRASHING_IMAGE: &str = "monibox-test/grafana-crashing:busybox";
const RESTART_METRIC: &str = "monibox_container_restarts_total";
const REASONS: [&str; 4] = ["exited", "oom", "unhealthy", "removed"];

fn container(stack: &TestStack, component: &str) -> String {
    format!("monibox-{}-{component}", stack.name())
}

fn url_of(report: &Value, name: &str) -> String {
    component(report, name)["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} url in {report:#}"))
        .trim_end_matches('/')
        .to_owned()
}

/// `up` for the test's stack; it must succeed.
async fn up(stack: &TestStack) {
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
}

async fn wait_healthy(stack: &TestStack, deadline: Instant) -> Value {
    wait_for_status(stack, deadline, "the stack healthy", |report| {
        report["state"] == "healthy"
    })
    .await
}

/// The stack's Prometheus as it runs now (its published port, read from Docker: a recreated
/// container may have been given another `auto` port).
async fn prometheus_url(stack: &TestStack) -> String {
    let status = docker()
        .await
        .inspect_container(&container(stack, "prometheus"))
        .await
        .expect("inspecting Prometheus")
        .expect("Prometheus exists");
    let address = status
        .host_address(9090)
        .unwrap_or_else(|| panic!("Prometheus publishes no port: {status:?}"));
    format!("http://{address}")
}

/// The time of a sample Prometheus took of itself, once it has one.
async fn sample_before_fault(stack: &TestStack, deadline: Instant) -> f64 {
    self_sample_time(&prometheus_url(stack).await, deadline).await
}

/// The sample taken at `at` (before the fault) is still in Prometheus.
async fn assert_sample_kept(stack: &TestStack, at: f64) {
    let prometheus = prometheus_url(stack).await;
    let before = query(&prometheus, "up{job=\"prometheus\"}", Some(at)).await;
    assert_eq!(
        before.len(),
        1,
        "the sample from before the fault is still there: {before:?}"
    );
    assert_eq!(before[0]["value"][1], "1", "{before:?}");
}

/// Restarts of `component` for each reason, from the daemon's self-metrics; every pair exists
/// from the start.
async fn restarts(ops: &str, component: &str) -> [f64; 4] {
    let mut counts = [0.0; 4];
    for (count, reason) in counts.iter_mut().zip(REASONS) {
        *count = ops_metric(
            ops,
            RESTART_METRIC,
            &[("component", component), ("reason", reason)],
        )
        .await
        .unwrap_or_else(|| panic!("no {RESTART_METRIC}{{component={component},reason={reason}}}"));
    }
    counts
}

fn counts_with(reason: &str, count: f64) -> [f64; 4] {
    REASONS.map(|each| if each == reason { count } else { 0.0 })
}

/// `down --volumes`, then nothing of the project may remain; then the guard's own cleanup.
async fn finish(stack: TestStack) {
    let down = stack.run(&["down", "--volumes"]).await;
    assert_eq!(down.code, Some(0), "{down:?}");
    assert_nothing_left(stack.name()).await;
    stack.cleanup().await;
}

/// What happens to a container.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// `docker kill`
    Kill,
    /// `docker rm -f`
    Remove,
}

/// Kills or removes `component`'s container, waits until it answers again, and checks the
/// restart was counted once, with `reason`, in `status --json` and the self-metrics. Returns
/// the ids of the container before and after.
async fn fault_and_recover(
    stack: &TestStack,
    component_name: &str,
    fault: Fault,
    reason: &str,
    deadline: Instant,
) -> (String, String) {
    let name = container(stack, component_name);
    let report = wait_healthy(stack, deadline).await;
    let ops = url_of(&report, "daemon");
    assert_eq!(
        restarts(&ops, component_name).await,
        [0.0; 4],
        "nothing restarted yet"
    );
    assert_eq!(
        component(&report, component_name)["supervisor_restarts"],
        0,
        "{report:#}"
    );
    let old_id = container_ids(stack.name()).await[&name].clone();

    let faulted_at = SystemTime::now();
    let started = Instant::now();
    match fault {
        Fault::Kill => kill_container(&name).await,
        Fault::Remove => docker()
            .await
            .remove_container(&name)
            .await
            .expect("docker rm -f"),
    }
    let port = if component_name == "prometheus" {
        9090
    } else {
        9093
    };
    let (recovered, answered) = wait_recovered(
        &name,
        &old_id,
        faulted_at,
        port,
        "/-/ready",
        (started + RECOVERY_BOUND).min(deadline),
    )
    .await;
    eprintln!(
        "{fault:?} {component_name} → ready again: {:.2} s",
        answered.duration_since(started).as_secs_f64()
    );

    let report = wait_for_status(stack, deadline, "the restart in status", |report| {
        report["state"] == "healthy"
            && component(report, component_name)["supervisor_restarts"] == 1
    })
    .await;
    assert_eq!(
        component(&report, component_name)["crash_looping"],
        false,
        "{report:#}"
    );
    // `monibox load` and the others find the component through stack.json: it follows the
    // port Docker gave the new container (every port is `auto` here).
    let published = recovered
        .host_address(port)
        .expect("the recovered container publishes its port");
    let wanted = Some(format!("http://{published}"));
    loop {
        let recorded = stack
            .record()
            .component(component_name)
            .and_then(|record| record.url());
        if recorded == wanted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stack.json has {recorded:?} for the recovered {component_name}, not {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        restarts(&ops, component_name).await,
        counts_with(reason, 1.0),
        "one restart of {component_name}, reason {reason} (order: {REASONS:?})"
    );
    (old_id, recovered.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_prometheus_is_restarted_counted_and_keeps_its_data() {
    let stack = TestStack::new("kill-prom").await;
    let deadline = Instant::now() + TEST_DEADLINE;
    up(&stack).await;
    let sampled_at = sample_before_fault(&stack, deadline).await;

    fault_and_recover(&stack, "prometheus", Fault::Kill, "exited", deadline).await;
    let (_, report) = stack.status().await;
    for other in ["alertmanager", "grafana"] {
        assert_eq!(
            component(&report, other)["supervisor_restarts"],
            0,
            "{report:#}"
        );
    }
    assert_sample_kept(&stack, sampled_at).await;
    finish(stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_alertmanager_is_recreated_and_counted_as_removed() {
    let stack = TestStack::new("rm-am").await;
    let deadline = Instant::now() + TEST_DEADLINE;
    up(&stack).await;
    let sampled_at = sample_before_fault(&stack, deadline).await;

    let (old_id, new_id) =
        fault_and_recover(&stack, "alertmanager", Fault::Remove, "removed", deadline).await;
    assert_ne!(old_id, new_id, "a new container");
    let ids = container_ids(stack.name()).await;
    assert_eq!(ids.len(), 3, "one container per component: {ids:?}");
    assert_eq!(ids[&container(&stack, "alertmanager")], new_id);
    // Prometheus still reaches the new Alertmanager (same network alias).
    let prometheus = prometheus_url(&stack).await;
    loop {
        let active = query(
            &prometheus,
            "prometheus_notifications_alertmanagers_discovered",
            None,
        )
        .await;
        if active
            .first()
            .is_some_and(|sample| sample["value"][1] == "1")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus lost its Alertmanager: {active:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_sample_kept(&stack, sampled_at).await;
    finish(stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_exits_at_once_backs_off_crash_loops_and_alerts() {
    let stack = TestStack::new("crashloop").await;
    let deadline = Instant::now() + TEST_DEADLINE;
    let standin = grafana_standin().await;
    build_image(
        CRASHING_IMAGE,
        &format!("FROM {standin}\nENTRYPOINT [\"/bin/busybox\", \"false\"]\n"),
    )
    .await;
    let config = std::fs::read_to_string(&stack.config_path).expect("config");
    let config = config.replace(
        &format!("grafana = \"{standin}\""),
        &format!("grafana = \"{CRASHING_IMAGE}\""),
    );
    assert!(config.contains(CRASHING_IMAGE), "{config}");
    std::fs::write(
        &stack.config_path,
        format!("{config}\n[alerts]\ncontainer_restarts = 1\n"),
    )
    .expect("config");

    let mut creations = CreationWatch::start(stack.name(), "grafana");
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(1), "Grafana cannot come up: {up:?}");
    assert!(up.stdout.contains("grafana"), "{up:?}");
    let report = wait_for_status(&stack, deadline, "Prometheus up", |report| {
        component(report, "prometheus")["health"] == "healthy"
    })
    .await;
    let sampled_at = sample_before_fault(&stack, deadline).await;
    let ops = url_of(&report, "daemon");

    // The container `up` created, then the supervisor's: the gaps between them grow.
    let mut created = Vec::new();
    while created.len() < 6 {
        let (id, at) = creations.next(deadline).await.unwrap_or_else(|| {
            panic!(
                "only {} Grafana containers were created in time",
                created.len()
            )
        });
        created.push((id, at));
    }
    let gaps: Vec<f64> = created[1..]
        .windows(2)
        .map(|pair| {
            pair[1]
                .1
                .duration_since(pair[0].1)
                .unwrap_or_default()
                .as_secs_f64()
        })
        .collect();
    eprintln!("gaps between the supervisor's restarts of a crashing Grafana: {gaps:.2?} s");
    for pair in gaps.windows(2) {
        assert!(
            pair[1] > pair[0] - 0.25,
            "each wait is at least as long as the one before: {gaps:.2?}"
        );
    }
    assert!(
        gaps[3] > 2.0 * gaps[0],
        "the waits grow (exponential backoff): {gaps:.2?}"
    );

    let report = wait_for_status(&stack, deadline, "crash-looping in status", |report| {
        component(report, "grafana")["crash_looping"] == true
    })
    .await;
    assert_eq!(report["state"], "degraded", "{report:#}");
    let grafana = component(&report, "grafana");
    assert!(
        grafana["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("crash-looping")),
        "{grafana:#}"
    );
    assert!(
        grafana["supervisor_restarts"].as_u64() >= Some(4),
        "{grafana:#}"
    );
    let (code, _) = stack.status().await;
    assert_eq!(code, Some(1), "crash-looping is degraded");
    let human = stack.run(&["status"]).await;
    assert_eq!(human.code, Some(1), "{human:?}");
    assert!(human.stdout.contains("crash-looping"), "{}", human.stdout);
    for healthy in ["prometheus", "alertmanager"] {
        assert_eq!(
            component(&report, healthy)["supervisor_restarts"],
            0,
            "{report:#}"
        );
    }
    let counts = restarts(&ops, "grafana").await;
    assert!(
        counts[0] >= 4.0,
        "restarts of grafana by reason {REASONS:?}: {counts:?}"
    );

    let report = wait_for_status(
        &stack,
        deadline,
        "ContainerRestartingOften firing",
        |report| {
            report["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|alert| {
                    alert["alertname"] == "ContainerRestartingOften"
                        && alert["state"] == "firing"
                        && alert["labels"]["component"] == "grafana"
                })
        },
    )
    .await;
    assert!(
        !report["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|alert| {
                alert["alertname"] == "ContainerRestartingOften"
                    && alert["labels"]["component"] != "grafana"
            }),
        "only Grafana restarts: {report:#}"
    );
    assert_sample_kept(&stack, sampled_at).await;
    finish(stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_is_reported_and_up_adopts_the_running_containers() {
    let stack = TestStack::new("adopt").await;
    let deadline = Instant::now() + TEST_DEADLINE;
    up(&stack).await;
    let report = wait_healthy(&stack, deadline).await;
    let old_pid = daemon_pid(&report);
    let ids = container_ids(stack.name()).await;
    assert_eq!(ids.len(), 3, "{ids:?}");
    let sampled_at = sample_before_fault(&stack, deadline).await;

    let pid = nix::unistd::Pid::from_raw(i32::try_from(old_pid).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL the daemon");
    assert!(
        process::wait_for_exit(old_pid, Duration::from_secs(10)).await,
        "the daemon {old_pid} died"
    );

    let (code, report) = stack.status().await;
    assert_eq!(code, Some(1), "degraded without its daemon: {report:#}");
    let daemon = component(&report, "daemon");
    assert_eq!(daemon["state"], "stopped", "{report:#}");
    assert!(
        daemon["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("monibox up")),
        "says what to do: {daemon:#}"
    );
    assert_eq!(report["supervisor"], Value::Null, "{report:#}");
    assert_eq!(
        component(&report, "prometheus")["supervisor_restarts"],
        Value::Null,
        "{report:#}"
    );
    assert_eq!(
        component(&report, "prometheus")["health"],
        "healthy",
        "the containers run on: {report:#}"
    );

    let adopt = stack.run(&["up"]).await;
    assert_eq!(adopt.code, Some(0), "{adopt:?}");
    assert_eq!(
        container_ids(stack.name()).await,
        ids,
        "the same containers, one per component: {}",
        adopt.stdout
    );
    let report = wait_healthy(&stack, deadline).await;
    let new_pid = daemon_pid(&report);
    assert_ne!(new_pid, old_pid);
    assert!(process::is_alive(new_pid));
    assert!(report["supervisor"].is_object(), "{report:#}");
    for name in ["prometheus", "alertmanager", "grafana"] {
        assert_eq!(
            component(&report, name)["supervisor_restarts"],
            0,
            "adopted, not restarted: {report:#}"
        );
    }
    assert_sample_kept(&stack, sampled_at).await;

    let down = stack.run(&["down"]).await;
    assert_eq!(down.code, Some(0), "{down:?}");
    assert_only_volumes_left(stack.name()).await;
    assert!(
        !process::is_alive(new_pid),
        "the new daemon {new_pid} is gone"
    );
    finish(stack).await;
}

/// A configuration with a syntax error, and one with an unknown key, each with a fragment of
/// the message `up` must give.
fn malformed_configs(good: &str) -> [(&'static str, String, &'static str); 2] {
    [
        (
            "a syntax error",
            good.replacen("timing = \"fast\"", "timing = \"fast", 1),
            "timing",
        ),
        (
            "an unknown key",
            format!("{good}\n[alerts]\ncontainer_restart = 1\n"),
            "container_restart",
        ),
    ]
}

fn assert_config_error(output: &docker_support::RunOutput, what: &str, names: &str, file: &Path) {
    assert_eq!(output.code, Some(2), "{what}: {output:?}");
    let file_name = file
        .file_name()
        .and_then(|name| name.to_str())
        .expect("config file name");
    assert!(
        output.stderr.contains(file_name) && output.stderr.contains(names),
        "{what}: the error names the file and {names:?}: {}",
        output.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_config_changes_nothing_in_a_running_stack() {
    let stack = TestStack::new("badcfg").await;
    let deadline = Instant::now() + TEST_DEADLINE;
    up(&stack).await;
    let report = wait_healthy(&stack, deadline).await;
    let pid = daemon_pid(&report);
    let ids = container_ids(stack.name()).await;
    let record = std::fs::read(stack.project_dir().join("stack.json")).expect("stack.json");
    let sampled_at = sample_before_fault(&stack, deadline).await;
    let good = std::fs::read_to_string(&stack.config_path).expect("config");

    for (what, bad, names) in malformed_configs(&good) {
        std::fs::write(&stack.config_path, bad).expect("config");
        let output = stack.run(&["up"]).await;
        assert_config_error(&output, what, names, &stack.config_path);
        assert_eq!(
            container_ids(stack.name()).await,
            ids,
            "{what}: containers untouched"
        );
        assert_eq!(
            std::fs::read(stack.project_dir().join("stack.json")).expect("stack.json"),
            record,
            "{what}: stack.json untouched"
        );
        assert!(process::is_alive(pid), "{what}: the daemon runs on");
    }

    std::fs::write(&stack.config_path, good).expect("config");
    let report = wait_healthy(&stack, deadline).await;
    assert_eq!(daemon_pid(&report), pid);
    assert_sample_kept(&stack, sampled_at).await;
    finish(stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_config_for_a_new_project_creates_nothing() {
    let stack = TestStack::new("badcfg-new").await;
    let good = std::fs::read_to_string(&stack.config_path).expect("config");
    for (what, bad, names) in malformed_configs(&good) {
        std::fs::write(&stack.config_path, bad).expect("config");
        let output = stack.run(&["up"]).await;
        assert_config_error(&output, what, names, &stack.config_path);
        assert_nothing_left(stack.name()).await;
        assert!(
            !stack.project_dir().exists(),
            "{what}: no state directory for the project"
        );
    }
    std::fs::write(&stack.config_path, good).expect("config");
    finish(stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_outage_keeps_the_demo_serving_and_supervision_resumes_after_it() {
    let stack = TestStack::new("outage").await;
    let deadline = Instant::now() + TEST_DEADLINE;
    let mut proxy = EngineProxy::start(&stack.state_dir.path().join("engine.sock"));
    let mut command = stack.command(&["up"]);
    command.env("DOCKER_HOST", proxy.docker_host());
    let up = run_command(command, &["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let report = wait_healthy(&stack, deadline).await;
    let ops = url_of(&report, "daemon");
    let demo = url_of(&report, "demo");
    let errors_before = report["supervisor"]["errors_total"]
        .as_u64()
        .unwrap_or_else(|| panic!("supervisor.errors_total: {report:#}"));
    let prometheus = container(&stack, "prometheus");
    let old_id = container_ids(stack.name()).await[&prometheus].clone();
    let sampled_at = sample_before_fault(&stack, deadline).await;
    assert!(
        !daemon_log(&stack.project_dir()).contains("Docker Engine unreachable"),
        "no outage yet"
    );

    proxy.cut().await;
    let cut_at = Instant::now();
    loop {
        if daemon_log(&stack.project_dir()).contains("Docker Engine unreachable") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon never logged the outage:\n{}",
            daemon_log(&stack.project_dir())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "outage noticed after {:.2} s",
        cut_at.elapsed().as_secs_f64()
    );
    let answer = HttpClient::new(Duration::from_secs(5))
        .get(&format!("{demo}/"))
        .await
        .expect("the demo service answers during the outage");
    assert!(answer.status.is_success(), "{}", answer.status);
    let report = wait_for_status(&stack, deadline, "the outage in status", |report| {
        report["supervisor"]["engine_reachable"] == false
    })
    .await;
    assert_eq!(
        component(&report, "demo")["health"],
        "healthy",
        "{report:#}"
    );
    assert_eq!(
        ops_metric(&ops, "monibox_docker_engine_up", &[]).await,
        Some(0.0)
    );

    // Killed through the real socket while the daemon cannot see the Engine.
    let killed_at = SystemTime::now();
    kill_container(&prometheus).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = docker()
        .await
        .inspect_container(&prometheus)
        .await
        .expect("inspect")
        .expect("the killed container is still there");
    assert!(
        !status.is_running() && status.id == old_id,
        "nothing restarts Prometheus while the Engine is cut off from the daemon: {status:?}"
    );

    proxy.restore();
    let restored = Instant::now();
    let (_, answered) = wait_recovered(
        &prometheus,
        &old_id,
        killed_at,
        9090,
        "/-/ready",
        (restored + RECOVERY_BOUND).min(deadline),
    )
    .await;
    eprintln!(
        "Engine back → Prometheus ready again: {:.2} s",
        answered.duration_since(restored).as_secs_f64()
    );
    let report = wait_for_status(&stack, deadline, "healthy after the outage", |report| {
        report["state"] == "healthy"
            && report["supervisor"]["engine_reachable"] == true
            && component(report, "prometheus")["supervisor_restarts"] == 1
    })
    .await;
    let errors_after = report["supervisor"]["errors_total"].as_u64();
    assert!(
        errors_after > Some(errors_before),
        "the failed attempts are counted: {errors_before} → {errors_after:?}"
    );
    assert_eq!(
        restarts(&ops, "prometheus").await,
        counts_with("exited", 1.0)
    );
    assert_eq!(
        ops_metric(&ops, "monibox_docker_engine_up", &[]).await,
        Some(1.0)
    );
    let log = daemon_log(&stack.project_dir());
    assert_eq!(
        log.matches("Docker Engine unreachable").count(),
        1,
        "one warning for the outage:\n{log}"
    );
    assert!(
        log.contains(&proxy.docker_host()),
        "names the endpoint:\n{log}"
    );
    assert!(log.contains("Docker Engine reachable again"), "{log}");
    assert_sample_kept(&stack, sampled_at).await;
    finish(stack).await;
    drop(proxy);
}
