//! Host metrics on the real Docker Engine: `up` with node-exporter (the host build of Debian's
//! `prometheus-node-exporter`, the host's `/proc`, `/sys` and `/` mounted read-only) → its
//! container runs, Prometheus's job `node` is up and has the host's memory and root filesystem;
//! switched off and `up` again → its container is removed and Prometheus scrapes no `node`
//! target. (Prometheus keeps answering the removed job's last samples for its 5-minute lookback
//! — it writes no staleness marker for a job a reload removes — so the check is its targets.)

mod docker_support;

use std::time::{Duration, Instant};

use docker_support::stack_report::{component, container_ids, query, wait_for_status};
use docker_support::{TestStack, node_exporter_image};

/// The test's budget, from `up` to the host's series in Prometheus.
const TEST_DEADLINE: Duration = Duration::from_secs(120);

/// Polls an instant query until `done` holds for its result vector; panics at `deadline`.
async fn wait_for_query(
    prometheus: &str,
    expr: &str,
    deadline: Instant,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    loop {
        let result = query(prometheus, expr, None).await;
        if done(&result) {
            return result;
        }
        assert!(
            Instant::now() < deadline,
            "{expr}: not as expected in time; last result: {result:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The `job` of each target Prometheus scrapes now (`/api/v1/targets`, active ones).
async fn active_target_jobs(prometheus: &str) -> Vec<String> {
    let response = monibox::httpc::HttpClient::new(Duration::from_secs(10))
        .get(&format!("{prometheus}/api/v1/targets?state=active"))
        .await
        .expect("asking Prometheus for its targets");
    let json: serde_json::Value = serde_json::from_slice(&response.body).expect("targets JSON");
    json["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|target| target["labels"]["job"].as_str().map(str::to_owned))
        .collect()
}

/// The sample value of one series of an instant query's result.
fn value(series: &serde_json::Value) -> f64 {
    series["value"][1]
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_job_is_up_with_the_hosts_memory_and_root_filesystem() {
    let mut stack = TestStack::new("node").await;
    let deadline = Instant::now() + TEST_DEADLINE;
    stack.with_node_exporter(&node_exporter_image().await);
    // Only what this test needs: Prometheus and node-exporter (and the daemon).
    let config = std::fs::read_to_string(&stack.config_path).expect("the test config");
    let config = format!(
        "{config}\n[components]\nalertmanager = false\ngrafana = false\nnode-exporter = true\n"
    );
    std::fs::write(&stack.config_path, config).expect("writing the config");

    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let container = format!("monibox-{}-node-exporter", stack.name());
    assert!(
        container_ids(stack.name()).await.contains_key(&container),
        "{up:?}"
    );
    let report = wait_for_status(&stack, deadline, "node-exporter healthy", |report| {
        report["state"] == "healthy" && component(report, "node-exporter")["health"] == "healthy"
    })
    .await;
    let prometheus = component(&report, "prometheus")["url"]
        .as_str()
        .expect("Prometheus's URL")
        .to_owned();

    wait_for_query(&prometheus, "up{job=\"node\"} == 1", deadline, |r| {
        r.len() == 1
    })
    .await;
    let memory = wait_for_query(
        &prometheus,
        "node_memory_MemTotal_bytes{job=\"node\"}",
        deadline,
        |r| r.len() == 1,
    )
    .await;
    assert!(value(&memory[0]) > 0.0, "{memory:?}");
    // The host's root filesystem, read through /host/root: its mount point as the host sees it.
    let root = wait_for_query(
        &prometheus,
        "node_filesystem_size_bytes{job=\"node\", mountpoint=\"/\"}",
        deadline,
        |r| !r.is_empty(),
    )
    .await;
    assert!(value(&root[0]) > 0.0, "{root:?}");

    let config = std::fs::read_to_string(&stack.config_path).expect("the test config");
    let config = config.replace("node-exporter = true", "node-exporter = false");
    std::fs::write(&stack.config_path, config).expect("writing the config");
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    assert!(
        !container_ids(stack.name()).await.contains_key(&container),
        "{up:?}"
    );
    loop {
        let jobs = active_target_jobs(&prometheus).await;
        if !jobs.iter().any(|job| job == "node") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "job node still scraped: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    stack.cleanup().await;
}
