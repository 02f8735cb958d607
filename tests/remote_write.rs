//! `[[remote_write]]` against real Prometheus servers (the host's, on free 127.0.0.1 ports): the
//! bundle's Prometheus scrapes the in-process demo service and sends every sample to a second
//! Prometheus started with `--web.enable-remote-write-receiver`, where the demo's series arrive
//! with the external labels (`monibox_project`, `host`, and the configured ones) — as a server,
//! and in agent mode (scrape and forward only), through basic auth read from a file.

mod docker_support;
mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use monibox::config::{Config, Port, Timing};
use monibox::demo::{DemoService, DemoSettings};
use monibox::httpc::encode_query_value;
use serde_json::Value;
use support::{
    ChildGuard, Http, OpsListenerUnderTest, free_port, start_on_free_port, test_config,
    write_bundle,
};
use tokio_util::sync::CancellationToken;

/// How long the demo's series may take to reach the receiver in these tests (the benchmark
/// script measures the real delay).
const ARRIVAL_BOUND: Duration = Duration::from_secs(45);

/// A Prometheus that only receives remote writes: no scrape jobs.
fn start_receiver(dir: &std::path::Path, port: u16) -> ChildGuard {
    let config = dir.join("receiver.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1s\n").expect("receiver config");
    ChildGuard::spawn(
        "receiver prometheus",
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver"),
    )
}

/// The bundle's Prometheus, as a server or (`agent`) in Prometheus 2's agent mode.
fn start_sender(
    bundle: &std::path::Path,
    data: &std::path::Path,
    port: u16,
    agent: bool,
) -> ChildGuard {
    let mut command = Command::new("prometheus");
    command
        .arg(format!(
            "--config.file={}",
            bundle.join("prometheus/prometheus.yml").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    if agent {
        command
            .arg("--enable-feature=agent")
            .arg(format!("--storage.agent.path={}", data.display()));
    } else {
        command.arg(format!("--storage.tsdb.path={}", data.display()));
    }
    ChildGuard::spawn("sender prometheus", &mut command)
}

async fn query(http: &Http, base: &str, expr: &str) -> Vec<Value> {
    let url = format!("{base}/api/v1/query?query={}", encode_query_value(expr));
    let Ok((_, body)) = http.get(&url).await else {
        return Vec::new();
    };
    serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|json| json["data"]["result"].as_array().cloned())
        .unwrap_or_default()
}

/// Runs the demo service, a receiver and the bundle's Prometheus; returns once the receiver
/// has the demo's `up` series, with its labels, and how far behind the scrape it arrived.
async fn demo_series_arrive(agent: bool) -> (serde_json::Map<String, Value>, f64) {
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let demo = DemoService::bind(&[loopback], DemoSettings::default())
        .await
        .expect("demo binds");
    let app = demo.local_addrs()[0];
    tokio::spawn(demo.run(shutdown.clone()));
    let ops = OpsListenerUnderTest::start().await;

    let receiver_dir = tempfile::tempdir().expect("temp dir");
    let (_receiver, receiver_port) =
        start_on_free_port("/-/ready", Duration::from_secs(30), |port| {
            start_receiver(receiver_dir.path(), port)
        })
        .await;
    let receiver = format!("http://127.0.0.1:{receiver_port}");

    let secrets = tempfile::tempdir().expect("temp dir");
    let password = secrets.path().join("password");
    std::fs::write(&password, "not-checked-by-the-receiver\n").expect("password");
    let mut config: Config = Config::from_toml(
        &format!(
            "[prometheus]\nmode = \"{}\"\nexternal_labels = {{ region = \"test\" }}\n\n\
             [[remote_write]]\nurl = \"{receiver}/api/v1/write\"\nname = \"receiver\"\n\
             basic_auth = {{ username = \"monibox\", password_file = {password:?} }}\n\
             queue = {{ batch_send_deadline = \"1s\" }}\n",
            if agent { "agent" } else { "server" },
            password = password.display().to_string(),
        ),
        std::path::Path::new("remote.toml"),
    )
    .expect("a remote_write config");
    let base = test_config(Timing::Fast);
    config.timing = base.timing;
    config.alerts = base.alerts;
    config.ports.app = Port::fixed(app.port());
    config.ports.ops = Port::fixed(ops.addr.port());
    for port in [
        &mut config.ports.alertmanager,
        &mut config.ports.grafana,
        &mut config.ports.prometheus,
    ] {
        *port = Port::fixed(free_port());
    }
    let sender_data = tempfile::tempdir().expect("temp dir");
    let mut bundle_dir = None;
    let (mut sender, _) = start_on_free_port("/-/ready", Duration::from_secs(30), |port| {
        config.ports.prometheus = Port::fixed(port);
        let (dir, _) = write_bundle(&config);
        let child = start_sender(dir.path(), sender_data.path(), port, agent);
        bundle_dir = Some(dir);
        child
    })
    .await;

    let http = Http::new();
    let started = Instant::now();
    loop {
        let samples = query(&http, &receiver, "up{job=\"app\"}").await;
        if let Some(sample) = samples.first() {
            let lag = query(&http, &receiver, "time() - timestamp(up{job=\"app\"})").await;
            let lag = lag
                .first()
                .and_then(|s| s["value"][1].as_str())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN);
            let labels = sample["metric"].as_object().cloned().expect("labels");
            return (labels, lag);
        }
        sender.assert_running();
        assert!(
            started.elapsed() < ARRIVAL_BOUND,
            "the demo's series did not reach the receiver within {ARRIVAL_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn assert_external_labels(labels: &serde_json::Map<String, Value>) {
    assert_eq!(labels["monibox_project"], "default", "{labels:?}");
    assert_eq!(labels["region"], "test", "{labels:?}");
    let host = nix_host_name();
    assert_eq!(labels["host"], host.as_str(), "{labels:?}");
}

fn nix_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("the host name")
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_remote_writes_the_demos_series_with_the_external_labels() {
    let (labels, lag) = demo_series_arrive(false).await;
    assert_external_labels(&labels);
    eprintln!("server: the newest up sample was {lag:.1} s old at the receiver");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_only_forwards_and_its_samples_arrive_all_the_same() {
    let (labels, lag) = demo_series_arrive(true).await;
    assert_external_labels(&labels);
    eprintln!("agent: the newest up sample was {lag:.1} s old at the receiver");
}

/// The stack's containerised Prometheus, in agent mode, sends to a receiver that listens only
/// on this machine's loopback (the README's own example): through the daemon's relay on the
/// project network's gateway, as loopback targets are scraped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_on_this_machines_loopback_gets_the_stacks_samples() {
    let stack = docker_support::TestStack::new("rw-loopback").await;
    let receiver_dir = tempfile::tempdir().expect("temp dir");
    let (_receiver, port) = start_on_free_port("/-/ready", Duration::from_secs(30), |port| {
        start_receiver(receiver_dir.path(), port)
    })
    .await;
    stack.append_config(&format!(
        "[prometheus]\nmode = \"agent\"\n\n[[remote_write]]\n\
         url = \"http://127.0.0.1:{port}/api/v1/write\"\n\
         queue = {{ batch_send_deadline = \"1s\" }}\n"
    ));
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let http = Http::new();
    let receiver = format!("http://127.0.0.1:{port}");
    let expr = format!("up{{job=\"app\", monibox_project=\"{}\"}}", stack.name());
    let started = Instant::now();
    loop {
        if !query(&http, &receiver, &expr).await.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < ARRIVAL_BOUND,
            "the stack's samples did not reach the loopback receiver within {ARRIVAL_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "the loopback receiver had the stack's samples {:.1} s after up returned",
        started.elapsed().as_secs_f64()
    );
    stack.cleanup().await;
}
