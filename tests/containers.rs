//! Container metrics on the real Engine, through the binary and a real Prometheus (fast timing,
//! host-built images; Alertmanager and Grafana off, which this does not need):
//!
//! - 30 busybox containers appear on the daemon's `/metrics/containers` with non-zero memory,
//!   cAdvisor's names and labels and the Engine's state; Prometheus scrapes them as job
//!   `containers`; once removed, their series disappear;
//! - a container with an 8 MiB memory limit whose process exceeds it is counted as OOM-killed
//!   (`container_oom_events_total` ≥ 1) and reports its limit.
//!
//! Every container here carries the test project's label, so the project's cleanup removes them
//! all, also when the test fails.

mod common;
mod docker_support;

use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use common::Samples;
use docker_support::stack_report::{component, query};
use docker_support::{TestStack, grafana_standin};
use monibox::httpc::HttpClient;

const TEST_DEADLINE: Duration = Duration::from_secs(240);
/// How long an Engine event takes to show on `/metrics/containers` (a 50 ms settle, then
/// inspections), with room for a loaded machine.
const EVENT_BOUND: Duration = Duration::from_secs(30);
const CONTAINERS: usize = 30;
const OOM_LIMIT_BYTES: i64 = 8 << 20;

fn engine() -> bollard::Docker {
    bollard::Docker::connect_with_local_defaults().expect("a Docker Engine client")
}

/// Creates and starts `name` from the busybox `image` running `command` under `sh -c`, labelled
/// with `project`, with a memory limit (and no swap) when given; returns its id.
async fn start_busybox(
    project: &str,
    name: &str,
    image: &str,
    command: &str,
    memory: Option<i64>,
) -> String {
    let engine = engine();
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        entrypoint: Some(vec![
            "/bin/busybox".to_owned(),
            "sh".to_owned(),
            "-c".to_owned(),
        ]),
        cmd: Some(vec![command.to_owned()]),
        labels: Some(
            [
                ("io.monibox.project", project),
                ("com.docker.compose.project", project),
                ("com.docker.compose.service", "sleeper"),
            ]
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
        ),
        host_config: Some(HostConfig {
            memory,
            memory_swap: memory,
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptions {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    let created = tokio::time::timeout(
        Duration::from_secs(30),
        engine.create_container(Some(options), body),
    )
    .await
    .expect("creating in time")
    .expect("creating a busybox container");
    tokio::time::timeout(
        Duration::from_secs(30),
        engine.start_container(&created.id, None),
    )
    .await
    .expect("starting in time")
    .expect("starting a busybox container");
    created.id
}

async fn remove(id: &str) {
    let options = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    tokio::time::timeout(
        Duration::from_secs(30),
        engine().remove_container(id, Some(options)),
    )
    .await
    .expect("removing in time")
    .expect("removing a busybox container");
}

async fn scrape(url: &str) -> Samples {
    let response = HttpClient::new(Duration::from_secs(10))
        .get(url)
        .await
        .expect("scraping /metrics/containers");
    assert_eq!(response.status, 200);
    Samples::parse(&response.text())
}

/// Scrapes `url` until `done` holds, at most `bound`; returns the last scrape and the wait.
async fn scrape_until(
    url: &str,
    bound: Duration,
    what: &str,
    done: impl Fn(&Samples) -> bool,
) -> (Samples, Duration) {
    let started = Instant::now();
    loop {
        let samples = scrape(url).await;
        if done(&samples) {
            return (samples, started.elapsed());
        }
        assert!(
            started.elapsed() < bound,
            "{what}: not within {bound:?}; last scrape had {} series",
            samples.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The names of the containers whose `family` series has a value `keep` accepts.
fn names(samples: &Samples, family: &str, prefix: &str, keep: impl Fn(f64) -> bool) -> Vec<String> {
    samples
        .series
        .iter()
        .filter(|((name, labels), value)| {
            name == family
                && labels.get("name").is_some_and(|n| n.starts_with(prefix))
                && keep(**value)
        })
        .filter_map(|((_, labels), _)| labels.get("name").cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_appear_with_memory_disappear_when_removed_and_oom_kills_count() {
    let stack = TestStack::new("containers").await;
    let deadline = Instant::now() + TEST_DEADLINE;
    stack.append_config("[components]\nalertmanager = false\ngrafana = false\n");
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let (_, status) = stack.status().await;
    let ops = component(&status, "daemon")["url"]
        .as_str()
        .expect("the daemon's URL")
        .to_owned();
    let prometheus = component(&status, "prometheus")["url"]
        .as_str()
        .expect("Prometheus's URL")
        .to_owned();
    let url = format!("{ops}/metrics/containers");
    let image = grafana_standin().await;
    let project = stack.name().to_owned();
    let prefix = format!("{project}-sleep-");

    let started = Instant::now();
    let ids = futures_util::future::join_all((0..CONTAINERS).map(|index| {
        let (project, image, name) = (&project, &image, format!("{prefix}{index:02}"));
        async move { start_busybox(project, &name, image, "exec sleep 600", None).await }
    }))
    .await;
    eprintln!(
        "{CONTAINERS} containers started in {:.1?}",
        started.elapsed()
    );
    let (samples, waited) = scrape_until(&url, EVENT_BOUND, "30 containers with memory", |s| {
        names(s, "container_memory_usage_bytes", &prefix, |bytes| {
            bytes > 0.0
        })
        .len()
            == CONTAINERS
    })
    .await;
    eprintln!("all {CONTAINERS} seen with memory {waited:.1?} after the last start");
    let first = format!("{prefix}00");
    let labels = [("name", first.as_str())];
    assert!(
        samples
            .get("container_memory_working_set_bytes", &labels)
            .is_some()
    );
    assert!(
        samples
            .get("container_cpu_usage_seconds_total", &labels)
            .is_some()
    );
    assert_eq!(
        samples.get("container_spec_memory_limit_bytes", &labels),
        Some(0.0),
        "no limit is 0"
    );
    assert_eq!(
        samples.get("docker_container_state", &[labels[0], ("state", "running")]),
        Some(1.0)
    );
    assert_eq!(
        samples.get("docker_container_state", &[labels[0], ("state", "exited")]),
        Some(0.0)
    );
    assert_eq!(
        samples.get(
            "docker_container_health_status",
            &[labels[0], ("status", "none")]
        ),
        Some(1.0)
    );
    assert_eq!(
        samples.get("docker_container_restarts_total", &labels),
        Some(0.0)
    );
    assert!(
        samples
            .get(
                "container_network_receive_bytes_total",
                &[labels[0], ("interface", "eth0")]
            )
            .is_some(),
        "eth0's counters"
    );
    let ((_, series_labels), _) = samples
        .series
        .iter()
        .find(|((name, l), _)| name == "container_memory_rss" && l.get("name") == Some(&first))
        .expect("container_memory_rss of the first");
    assert_eq!(series_labels["image"], image);
    assert_eq!(series_labels["compose_project"], project);
    assert_eq!(series_labels["compose_service"], "sleeper");
    assert!(
        series_labels["id"].starts_with("/docker/"),
        "{series_labels:?}"
    );

    // Prometheus scrapes them as job `containers`.
    let scraped = Instant::now();
    loop {
        let found = query(
            &prometheus,
            &format!("count(container_memory_usage_bytes{{job=\"containers\", name=~\"{prefix}.*\"}} > 0)"),
            None,
        )
        .await;
        if found.first().map(|sample| sample["value"][1].clone())
            == Some(serde_json::Value::from(CONTAINERS.to_string()))
        {
            break;
        }
        assert!(
            scraped.elapsed() < EVENT_BOUND,
            "Prometheus has not got them: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A process beyond its container's memory limit is OOM-killed; the shell (PID 1) lives on.
    let oom_name = format!("{project}-oom");
    let oom_id = start_busybox(
        &project,
        &oom_name,
        &image,
        "tail /dev/zero; exec sleep 600",
        Some(OOM_LIMIT_BYTES),
    )
    .await;
    let oom_labels = [("name", oom_name.as_str())];
    let (samples, waited) = scrape_until(&url, EVENT_BOUND, "an OOM kill counted", |s| {
        s.get("container_oom_events_total", &oom_labels)
            .is_some_and(|kills| kills >= 1.0)
    })
    .await;
    eprintln!("OOM kill counted {waited:.1?} after the start");
    assert_eq!(
        samples.get("container_spec_memory_limit_bytes", &oom_labels),
        Some(OOM_LIMIT_BYTES as f64)
    );

    // Removed containers' series disappear; the OOM-killed one stays.
    let removing = Instant::now();
    futures_util::future::join_all(ids.iter().map(|id| remove(id))).await;
    let (samples, waited) = scrape_until(&url, EVENT_BOUND, "the removed ones gone", |s| {
        s.series
            .keys()
            .all(|(_, labels)| !labels.get("name").is_some_and(|n| n.starts_with(&prefix)))
    })
    .await;
    eprintln!(
        "{CONTAINERS} removed in {:.1?}; their series gone {waited:.1?} later",
        removing.elapsed() - waited
    );
    assert!(
        samples
            .get("container_oom_events_total", &oom_labels)
            .is_some()
    );
    remove(&oom_id).await;
    assert!(Instant::now() < deadline, "the test took too long");
    stack.cleanup().await;
}
