//! `monibox export compose` on the real Engine with docker-compose: the exported project, with
//! host-built images (Prometheus, Alertmanager, the monibox image; the Grafana stand-in, not
//! Grafana), comes up all-healthy; the closed loop works inside it (errors at the demo service →
//! `HighErrorRate` → Alertmanager → the webhook on the demo's ops listener); Grafana's password
//! is the secret file; the SLO rules (`slo.yml`) are loaded by the project's Prometheus and the
//! SLOs dashboard is mounted into Grafana's; `docker-compose down -v` leaves no container, volume
//! or network.

mod docker_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use docker_support::{TestProject, grafana_standin, host_images};
use monibox::docker::images::{self, Rebuild};
use serde_json::Value;
use support::{Http, free_port};

/// Generous bounds for a shared machine; `scripts/bench-compose.sh` measures the real times.
const HEALTHY_BOUND: Duration = Duration::from_secs(60);
const ALERT_BOUND: Duration = Duration::from_secs(120);

/// A Compose project this test brought up: `down -v` when the test ends, also on failure.
struct ComposeProject {
    name: String,
    file: PathBuf,
    down: bool,
}

impl ComposeProject {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("docker-compose")
            .arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .output()
            .expect("docker-compose runs")
    }

    fn down(&mut self) -> Output {
        self.down = true;
        self.run(&["down", "-v", "-t", "2"])
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        if !self.down {
            let _ = self.down();
        }
    }
}

fn docker_cli(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What Docker still has with the project's Compose label.
fn leftovers(project: &str) -> Vec<String> {
    let label = format!("label=com.docker.compose.project={project}");
    let mut all = Vec::new();
    for kind in [&["ps", "-a"][..], &["volume", "ls"], &["network", "ls"]] {
        let mut args = kind.to_vec();
        args.extend(["-q", "--filter", &label]);
        all.extend(docker_cli(&args).lines().map(str::to_owned));
    }
    all
}

fn health(ids: &[String]) -> Vec<String> {
    let mut args = vec!["inspect", "-f", "{{.State.Health.Status}}"];
    args.extend(ids.iter().map(String::as_str));
    docker_cli(&args).lines().map(str::to_owned).collect()
}

fn write_config(dir: &Path, project: &str, ports: &[u16; 5], images: [&str; 3]) -> PathBuf {
    let path = dir.join("monibox.toml");
    let text = format!(
        "project = {project:?}\ntiming = \"fast\"\n\n[ports]\napp = {}\nops = {}\n\
         prometheus = {}\nalertmanager = {}\ngrafana = {}\n\n[images]\nprometheus = {:?}\n\
         alertmanager = {:?}\ngrafana = {:?}\n\n\
         # Host metrics are checked on the Engine by tests/node_exporter.rs.\n\
         [components]\nnode-exporter = false\n",
        ports[0], ports[1], ports[2], ports[3], ports[4], images[0], images[1], images[2]
    );
    std::fs::write(&path, text).expect("config");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_export_runs_healthy_closes_the_loop_and_leaves_nothing() {
    let project = TestProject::new("compose").await;
    let docker = docker_support::docker().await;
    let host = host_images().await;
    let standin = grafana_standin().await;
    let monibox_image = images::build_binary_image(
        &docker,
        &monibox::catalog::daemon::monibox_image(PathBuf::from(env!("CARGO_BIN_EXE_monibox"))),
        Rebuild::IfChanged,
        &mut |_| {},
    )
    .await
    .expect("building the monibox image")
    .tag;
    let temp = tempfile::tempdir().expect("temp dir");
    let ports = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    let config = write_config(
        temp.path(),
        &project.name,
        &ports,
        [&host.prometheus, &host.alertmanager, &standin],
    );
    let dir = temp.path().join("export");
    let out = Command::new(env!("CARGO_BIN_EXE_monibox"))
        .args([
            "export",
            "compose",
            "--json",
            "--demo-image",
            &monibox_image,
        ])
        .arg(&dir)
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(temp.path().join("state"))
        .output()
        .expect("monibox runs");
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["kind"], "compose");

    let mut compose = ComposeProject {
        name: project.name.clone(),
        file: dir.join("compose.yaml"),
        down: false,
    };
    let started = Instant::now();
    let up = compose.run(&["up", "-d"]);
    assert!(up.status.success(), "{up:?}");
    let returned = started.elapsed();
    let ids: Vec<String> = String::from_utf8_lossy(&compose.run(&["ps", "-q"]).stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        ids.len(),
        4,
        "prometheus, alertmanager, grafana, demo: {ids:?}"
    );
    loop {
        let states = health(&ids);
        if states.iter().all(|state| state == "healthy") {
            break;
        }
        assert!(
            started.elapsed() < HEALTHY_BOUND,
            "not all healthy after {HEALTHY_BOUND:?}: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "docker-compose up -d returned after {:.2} s, all healthy {:.2} s after that",
        returned.as_secs_f64(),
        (started.elapsed() - returned).as_secs_f64()
    );

    let grafana_id = String::from_utf8_lossy(&compose.run(&["ps", "-q", "grafana"]).stdout)
        .trim()
        .to_owned();
    let mounted = docker_cli(&[
        "exec",
        &grafana_id,
        "/bin/busybox",
        "cat",
        "/run/secrets/grafana-admin-password",
    ]);
    let written =
        std::fs::read_to_string(dir.join("secrets/grafana-admin-password")).expect("secret");
    assert_eq!(mounted, written, "Grafana reads the exported password");

    // The SLO rules and the SLOs dashboard are in the export, and the project runs them.
    for path in [
        "bundle/prometheus/rules/slo.yml",
        "bundle/grafana/dashboards/slo.json",
    ] {
        assert!(dir.join(path).is_file(), "{path} is not in the export");
    }
    let mounted = docker_cli(&[
        "exec",
        &grafana_id,
        "/bin/busybox",
        "ls",
        monibox::catalog::render::GRAFANA_DASHBOARDS_IN_CONTAINER,
    ]);
    assert!(mounted.lines().any(|name| name == "slo.json"), "{mounted}");
    let http = Http::new();
    let rules = format!("http://127.0.0.1:{}/api/v1/rules?type=record", ports[2]);
    let (status, body) = http.get(&rules).await.expect("Prometheus's rules API");
    assert_eq!(status, 200, "{body}");
    let rules: Value = serde_json::from_str(&body).expect("rules JSON");
    let mut slo_groups: Vec<&str> = rules["data"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|group| group["name"].as_str())
        .filter(|name| name.starts_with("monibox-slo-"))
        .collect();
    slo_groups.sort_unstable();
    assert_eq!(
        slo_groups,
        ["monibox-slo-demo-availability", "monibox-slo-demo-latency"]
    );

    let demo = format!("http://127.0.0.1:{}", ports[0]);
    let alerts = format!("http://127.0.0.1:{}/alerts", ports[1]);
    let loop_started = Instant::now();
    let fired = 'wait: loop {
        for _ in 0..10 {
            let _ = http.get(&format!("{demo}/error")).await;
        }
        if let Ok((200, body)) = http.get(&alerts).await {
            let view: Value = serde_json::from_str(&body).expect("alerts JSON");
            let firing = view["recent"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|alert| alert["alertname"] == "HighErrorRate" && alert["status"] == "firing");
            if firing {
                break 'wait loop_started.elapsed();
            }
        }
        assert!(
            loop_started.elapsed() < ALERT_BOUND,
            "no HighErrorRate at the webhook after {ALERT_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "errors → HighErrorRate at the webhook in {:.1} s",
        fired.as_secs_f64()
    );

    let down = compose.down();
    assert!(down.status.success(), "{down:?}");
    assert_eq!(leftovers(&project.name), Vec::<String>::new());
    project.cleanup().await;
}
