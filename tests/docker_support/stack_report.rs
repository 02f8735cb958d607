//! Reading a running test stack: `status --json` reports (a component, the daemon's pid, waiting
//! until a report says something), the project's containers, and instant queries against its
//! Prometheus.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use monibox::httpc::{HttpClient, encode_query_value};
use serde_json::Value;

use super::{TestStack, docker};

/// One component of a `status --json` report.
pub fn component<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|component| component["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

/// The daemon's pid in a `status --json` report.
pub fn daemon_pid(report: &Value) -> u32 {
    component(report, "daemon")["pid"]
        .as_u64()
        .and_then(|pid| u32::try_from(pid).ok())
        .unwrap_or_else(|| panic!("no daemon pid in {report:#}"))
}

/// Container ids by name, of everything carrying the project's label.
pub async fn container_ids(project: &str) -> BTreeMap<String, String> {
    docker()
        .await
        .project_resources(project)
        .await
        .expect("listing")
        .containers
        .into_iter()
        .map(|container| (container.name, container.id))
        .collect()
}

/// Polls `status --json` until `done` holds for the report, or panics at `deadline` with the
/// last report.
pub async fn wait_for_status(
    stack: &TestStack,
    deadline: Instant,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        let (_, report) = stack.status().await;
        if done(&report) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in time; last status: {report:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One instant query against the stack's Prometheus (at `time`, Unix seconds, if given): the
/// result vector.
pub async fn query(prometheus: &str, expr: &str, time: Option<f64>) -> Vec<Value> {
    let mut url = format!(
        "{prometheus}/api/v1/query?query={}",
        encode_query_value(expr)
    );
    if let Some(time) = time {
        url.push_str(&format!("&time={time:.3}"));
    }
    let response = HttpClient::new(Duration::from_secs(10))
        .get(&url)
        .await
        .expect("querying Prometheus");
    let json: Value = serde_json::from_slice(&response.body).expect("query JSON");
    assert_eq!(json["status"], "success", "{json}");
    json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The time (Unix seconds) of a sample Prometheus took of itself, once it has one; panics at
/// `deadline`.
pub async fn self_sample_time(prometheus: &str, deadline: std::time::Instant) -> f64 {
    loop {
        let result = query(prometheus, "timestamp(up{job=\"prometheus\"})", None).await;
        if let Some(at) = result
            .first()
            .and_then(|sample| sample["value"][1].as_str())
            .and_then(|at| at.parse::<f64>().ok())
        {
            return at;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus never scraped itself"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
