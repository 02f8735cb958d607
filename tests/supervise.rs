//! The supervisor on the real Docker Engine, through the `monibox` binary (fast timing): a
//! Prometheus container killed behind monibox's back (`docker kill` through the Engine API,
//! which Docker's restart policies ignore) is recreated by the daemon's supervisor, healthy
//! again, and counted in `status` and in the ops listener's self-metrics. The wider fault suite
//! (removal, crash loops, daemon SIGKILL, Engine outage) is tests/faults.rs.

mod docker_support;

use std::time::{Duration, Instant};

use docker_support::{TestStack, docker};
use monibox::httpc::HttpClient;
use serde_json::Value;

/// How long the restarted component may take to be healthy again before the test fails. The
/// target is 3 s; the test only guards against "never", the figure is printed.
const HEALED_WITHIN: Duration = Duration::from_secs(30);

fn component<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["components"]
        .as_array()
        .and_then(|components| components.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no component {name} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_prometheus_is_recreated_counted_and_healthy_again() {
    let stack = TestStack::new("supervise").await;
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "up: {up:?}");
    let (code, report) = stack.status().await;
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(component(&report, "prometheus")["supervisor_restarts"], 0);
    assert_eq!(report["supervisor"]["engine_reachable"], true, "{report:#}");
    assert_eq!(
        report["supervisor"]["held"], false,
        "up resumed it: {report:#}"
    );

    let name = stack
        .project
        .as_ref()
        .expect("the project")
        .container("prometheus");
    let monibox_docker = docker().await;
    let before = monibox_docker
        .inspect_container(&name)
        .await
        .expect("inspect")
        .expect("prometheus runs");
    // `docker kill`, straight through the Engine API: monibox is not told.
    let engine = bollard::Docker::connect_with_defaults().expect("the Engine");
    let killed_at = Instant::now();
    engine
        .kill_container(
            &name,
            Some(bollard::query_parameters::KillContainerOptions {
                signal: "SIGKILL".to_owned(),
            }),
        )
        .await
        .expect("docker kill");

    let report = loop {
        let (code, report) = stack.status().await;
        let prometheus = component(&report, "prometheus");
        if code == Some(0)
            && prometheus["health"] == "healthy"
            && prometheus["supervisor_restarts"] == 1
        {
            break report;
        }
        assert!(
            killed_at.elapsed() < HEALED_WITHIN,
            "Prometheus not healthy with one restart within {HEALED_WITHIN:?}: {report:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let healed_after = killed_at.elapsed();
    let prometheus = component(&report, "prometheus");
    assert_eq!(prometheus["crash_looping"], false, "{report:#}");
    assert_eq!(prometheus["state"], "running", "{report:#}");
    let after = monibox_docker
        .inspect_container(&name)
        .await
        .expect("inspect")
        .expect("prometheus runs again");
    assert_ne!(after.id, before.id, "recreated, not restarted in place");
    assert_eq!(after.spec_hash(), before.spec_hash(), "from the same spec");
    assert_eq!(
        stack.record().prometheus_url().as_ref(),
        prometheus["url"].as_str().map(str::to_owned).as_ref(),
        "stack.json follows the port Docker picked for the new container"
    );

    let ops = stack.record().daemon.ops_url().expect("the ops URL");
    let metrics = HttpClient::new(Duration::from_secs(5))
        .get(&format!("{ops}/metrics"))
        .await
        .expect("GET /metrics")
        .text();
    for expected in [
        r#"monibox_container_restarts_total{component="prometheus",reason="exited"} 1"#,
        r#"monibox_container_restarts_total{component="alertmanager",reason="exited"} 0"#,
        r#"monibox_container_up{component="prometheus"} 1"#,
        "monibox_docker_engine_up 1",
    ] {
        assert!(metrics.contains(expected), "{expected} in:\n{metrics}");
    }
    eprintln!(
        "killed Prometheus healthy again (status says so) {:.2} s after the kill",
        healed_after.as_secs_f64()
    );
    stack.cleanup().await;
}
