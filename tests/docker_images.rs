//! Images built from the host's packages, run on the real Engine the way `up` runs them: named
//! data volume, configuration bind-mounted read-only, hardened, published on an ephemeral
//! 127.0.0.1 port, probed for readiness from the host. Also the Grafana stand-in and the image
//! resolution order.

mod docker_support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use docker_support::{TestProject, docker, grafana_standin, host_images, standin_spec, wait_ready};
use monibox::catalog::{self, ComponentDef};
use monibox::docker::images::{self, Rebuild};
use monibox::docker::{
    ContainerSpec, ContainerState, Docker, ExtraHost, HealthCheck, HealthState, Mount,
    NetworkAttachment, PortPublish,
};
use monibox::stack::images::{
    ImageChoice, ImageDecision, ImageSource, PullPolicy, obtain, plan_component,
};

const READY_DEADLINE: Duration = Duration::from_secs(60);
const HEALTHY_DEADLINE: Duration = Duration::from_secs(30);

/// A config directory the container's user (65534) can read.
fn config_dir(file: &str, content: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join(file), content).expect("writing the config");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("making the config dir readable");
    dir
}

/// The spec `up` would use for a component: network alias, host gateway, config and data.
async fn component_spec(
    docker: &Docker,
    project: &TestProject,
    component: &str,
    image: &str,
    config: &Path,
    data_target: &str,
    port: u16,
) -> ContainerSpec {
    let network = docker.ensure_network(&project.name).await.expect("network");
    let volume = format!("monibox-{}-{component}-data", project.name);
    docker
        .ensure_volume(&volume, &project.name, component)
        .await
        .expect("volume");
    let mut spec = ContainerSpec::new(
        &project.name,
        component,
        &project.container(component),
        image,
    );
    spec.mounts = vec![
        Mount::ReadOnlyBind {
            source: config.to_owned(),
            target: "/etc/monibox".to_owned(),
        },
        Mount::Volume {
            name: volume,
            target: data_target.to_owned(),
        },
    ];
    spec.ports.push(PortPublish {
        container_port: port,
        host_ip: Ipv4Addr::LOCALHOST.into(),
        host_port: 0,
    });
    spec.memory_limit_bytes = Some(512 << 20);
    spec.extra_hosts.push(ExtraHost {
        hostname: "host.docker.internal".to_owned(),
        address: IpAddr::V4(network.gateway),
    });
    spec.network = Some(NetworkAttachment {
        network_id: network.id,
        aliases: vec![component.to_owned()],
    });
    spec
}

/// Waits until Docker's own health check says healthy: proves the exec-form check works in
/// the scratch image.
async fn wait_healthy(docker: &Docker, name: &str) -> HealthState {
    let deadline = Instant::now() + HEALTHY_DEADLINE;
    loop {
        let status = docker
            .inspect_container(name)
            .await
            .expect("inspecting")
            .expect("the container exists");
        let health = status.health.expect("the container has a health check");
        if health == HealthState::Healthy || Instant::now() > deadline {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn prometheus_from_the_host_build_runs_on_a_named_volume_and_gets_ready() {
    let project = TestProject::new("prometheus").await;
    let docker = docker().await;
    let image = host_images().await.prometheus;
    let config = config_dir(
        "prometheus.yml",
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    \
         static_configs:\n      - targets: ['localhost:9090']\n",
    );
    let mut spec = component_spec(
        &docker,
        &project,
        "prometheus",
        &image,
        config.path(),
        "/prometheus",
        9090,
    )
    .await;
    spec.cmd = Some(
        [
            "--config.file=/etc/monibox/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--web.enable-lifecycle",
        ]
        .map(String::from)
        .to_vec(),
    );
    spec.health_check = Some(HealthCheck {
        command: [
            "/bin/promtool",
            "query",
            "instant",
            "http://127.0.0.1:9090",
            "vector(1)",
        ]
        .map(String::from)
        .to_vec(),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(3),
        retries: 3,
        start_period: Duration::ZERO,
    });

    let started = Instant::now();
    let status = docker
        .run_container(&spec)
        .await
        .expect("running Prometheus");
    let ready = wait_ready(
        &docker,
        &spec.name,
        &catalog::prometheus::DEF,
        READY_DEADLINE,
    )
    .await
    .expect("Prometheus gets ready");
    eprintln!(
        "prometheus: start to ready {:.2} s ({} probes)",
        started.elapsed().as_secs_f64(),
        ready.attempts
    );
    assert_eq!(Some(ready.address), status.host_address(9090));
    assert!(ready.address.ip().is_loopback());
    assert_ne!(ready.address.port(), 0);
    assert_eq!(
        wait_healthy(&docker, &spec.name).await,
        HealthState::Healthy
    );
    project.cleanup().await;
}

#[tokio::test]
async fn alertmanager_from_the_host_build_runs_and_gets_ready() {
    let project = TestProject::new("alertmanager").await;
    let docker = docker().await;
    let image = host_images().await.alertmanager;
    let config = config_dir(
        "alertmanager.yml",
        "route:\n  receiver: monibox\nreceivers:\n  - name: monibox\n    webhook_configs:\n      \
         - url: http://host.docker.internal:9/alerts\n",
    );
    let mut spec = component_spec(
        &docker,
        &project,
        "alertmanager",
        &image,
        config.path(),
        "/alertmanager",
        9093,
    )
    .await;
    spec.cmd = Some(
        [
            "--config.file=/etc/monibox/alertmanager.yml",
            "--storage.path=/alertmanager",
            // A single instance: without this it waits for cluster gossip to settle.
            "--cluster.listen-address=",
        ]
        .map(String::from)
        .to_vec(),
    );
    spec.health_check = Some(HealthCheck {
        command: [
            "/bin/amtool",
            "config",
            "show",
            "--alertmanager.url=http://127.0.0.1:9093",
        ]
        .map(String::from)
        .to_vec(),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(3),
        retries: 3,
        start_period: Duration::ZERO,
    });

    let started = Instant::now();
    docker
        .run_container(&spec)
        .await
        .expect("running Alertmanager");
    let ready = wait_ready(
        &docker,
        &spec.name,
        &catalog::alertmanager::DEF,
        READY_DEADLINE,
    )
    .await
    .expect("Alertmanager gets ready");
    eprintln!(
        "alertmanager: start to ready {:.2} s ({} probes)",
        started.elapsed().as_secs_f64(),
        ready.attempts
    );
    assert_eq!(
        wait_healthy(&docker, &spec.name).await,
        HealthState::Healthy
    );
    project.cleanup().await;
}

#[tokio::test]
async fn the_grafana_standin_answers_health_and_stops_on_sigterm() {
    let project = TestProject::new("standin").await;
    let docker = docker().await;
    let image = grafana_standin().await;
    assert_eq!(image, catalog::standin::TAG);
    let spec = standin_spec(&project, &image);
    docker
        .run_container(&spec)
        .await
        .expect("running the stand-in");
    wait_ready(&docker, &spec.name, &catalog::grafana::DEF, READY_DEADLINE)
        .await
        .expect("the stand-in answers /api/health");
    assert_eq!(
        wait_healthy(&docker, &spec.name).await,
        HealthState::Healthy
    );

    // With init as PID 1, SIGTERM reaches httpd: it stops without waiting for SIGKILL (137).
    docker
        .stop_container(&spec.name, Duration::from_secs(20))
        .await
        .expect("stopping");
    let stopped = docker
        .inspect_container(&spec.name)
        .await
        .expect("inspecting")
        .expect("still there");
    assert_eq!(stopped.state, ContainerState::Exited);
    assert_ne!(stopped.exit_code, Some(137), "it needed SIGKILL");
    project.cleanup().await;
}

#[tokio::test]
async fn host_builds_are_reused_while_the_host_files_are_unchanged() {
    let built = host_images().await;
    let docker = docker().await;
    let recipe = catalog::prometheus::DEF.host_image.expect("a recipe");
    let again = images::build_from_host(&docker, recipe, Rebuild::IfChanged, &mut |_| {})
        .await
        .expect("checking the Prometheus host image");
    assert!(again.reused);
    assert_eq!(again.tag, built.prometheus);
    assert!(again.tag.starts_with("monibox-local/prometheus:"));
    assert!(again.size_bytes > 0);
}

#[tokio::test]
async fn images_resolve_configured_then_host_build_then_pull() {
    let built = host_images().await;
    let docker = docker().await;
    let absent = "monibox-test/absent-image:0";

    // The configured image, when present, wins.
    let plan = plan_component(
        &docker,
        &catalog::prometheus::DEF,
        &built.prometheus,
        PullPolicy::Never,
    )
    .await
    .expect("planning");
    assert!(
        matches!(&plan.decision, ImageDecision::Use { image, source: ImageSource::Configured, .. } if *image == built.prometheus),
        "{plan:?}"
    );
    // Otherwise a host build, before any pull.
    for policy in [PullPolicy::Never, PullPolicy::Missing] {
        let plan = plan_component(&docker, &catalog::alertmanager::DEF, absent, policy)
            .await
            .expect("planning");
        assert!(
            matches!(&plan.decision, ImageDecision::Use { source: ImageSource::HostBuild, image, .. } if image.starts_with("monibox-local/alertmanager:")),
            "{plan:?}"
        );
    }
    // Grafana has no host build: pull if allowed, else missing with the fix.
    let grafana: &ComponentDef = &catalog::grafana::DEF;
    let plan = plan_component(&docker, grafana, absent, PullPolicy::Missing)
        .await
        .expect("planning");
    assert_eq!(
        plan.decision,
        ImageDecision::Pull {
            image: absent.to_owned(),
            fallback_build: false,
        }
    );
    let plan = plan_component(&docker, grafana, absent, PullPolicy::Never)
        .await
        .expect("planning");
    assert!(
        matches!(plan.decision, ImageDecision::Missing { .. }),
        "{plan:?}"
    );
    // --pull always asks for the configured image even when a local one exists; the host
    // has the package, so a failed pull falls back to a build.
    let plan = plan_component(
        &docker,
        &catalog::prometheus::DEF,
        &built.prometheus,
        PullPolicy::Always,
    )
    .await
    .expect("planning");
    assert_eq!(
        plan.decision,
        ImageDecision::Pull {
            image: built.prometheus.clone(),
            fallback_build: true,
        }
    );
}

#[tokio::test]
async fn images_list_json_shows_what_will_be_used_and_the_fix() {
    host_images().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_monibox"))
        .args(["images", "list", "--json", "--pull", "never"])
        .output()
        .await
        .expect("running monibox");
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("images list --json prints JSON");
    assert_eq!(report["pull_policy"], "never");
    let components = report["components"].as_array().expect("a component list");
    let row = |name: &str| {
        components
            .iter()
            .find(|row| row["component"] == name)
            .unwrap_or_else(|| panic!("no {name} row in {report}"))
            .clone()
    };
    // The pinned official images are not present here; the host builds are.
    let prometheus = row("prometheus");
    if prometheus["source"] == "host-build" {
        let image = prometheus["image"].as_str().expect("an image");
        assert!(
            image.starts_with("monibox-local/prometheus:"),
            "{prometheus}"
        );
    } else {
        assert_eq!(prometheus["source"], "configured", "{prometheus}");
    }
    let grafana = row("grafana");
    if grafana["source"] == "missing" {
        assert!(grafana["image"].is_null(), "{grafana}");
        assert!(
            grafana["fix"]
                .as_str()
                .is_some_and(|fix| fix.contains("docker load")),
            "{grafana}"
        );
    } else {
        assert_eq!(grafana["source"], "configured", "{grafana}");
    }
}

#[tokio::test]
async fn the_cli_reports_an_unreachable_docker_with_exit_code_2() {
    let started = Instant::now();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_monibox"))
        .args(["images", "list"])
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .output()
        .await
        .expect("running monibox");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach Docker at tcp://127.0.0.1:1"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_failed_pull_falls_back_to_a_build_from_the_host_package() {
    let built = host_images().await;
    let docker = docker().await;
    // Nothing can be pulled here; the host has Debian's prometheus package.
    let plan = plan_component(
        &docker,
        &catalog::prometheus::DEF,
        "monibox-test/absent-image:0",
        PullPolicy::Always,
    )
    .await
    .expect("planning");
    assert!(
        matches!(
            plan.decision,
            ImageDecision::Pull {
                fallback_build: true,
                ..
            }
        ),
        "{plan:?}"
    );
    let obtained = obtain(
        &docker,
        &[plan],
        &mut |_| {},
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("obtaining");
    assert_eq!(
        obtained.choices.get("prometheus"),
        Some(&ImageChoice::Use(built.prometheus.clone())),
        "{obtained:?}"
    );
    // The unchanged host build was reused, not built again.
    assert!(obtained.built.is_empty(), "{obtained:?}");
}

#[tokio::test]
async fn pull_always_without_a_registry_runs_the_local_image() {
    let standin = grafana_standin().await;
    let docker = docker().await;
    let plan = plan_component(
        &docker,
        &catalog::grafana::DEF,
        &standin,
        PullPolicy::Always,
    )
    .await
    .expect("planning");
    let obtained = obtain(
        &docker,
        &[plan],
        &mut |_| {},
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("obtaining");
    assert_eq!(
        obtained.choices.get("grafana"),
        Some(&ImageChoice::Use(standin.clone())),
        "the pull fails; the image is here: {obtained:?}"
    );
}
