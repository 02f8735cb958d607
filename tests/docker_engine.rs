//! The Docker layer against the real Engine: connecting and its failures, the project network,
//! label-based cleanup, and the errors users see (missing image, taken port, name conflict,
//! unreachable registry).

mod docker_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use docker_support::{TestProject, docker, grafana_standin, standin_spec, wait_ready};
use monibox::catalog;
use monibox::docker::images;
use monibox::docker::{
    ContainerSpec, Docker, DockerError, ExtraHost, Mount, NetworkAttachment, PortPublish,
    RemoveVolumes, labels, network::network_name,
};
use monibox::stack::images::{ImageChoice, ImageDecision, PullPolicy, obtain, plan_component};
use monibox::stack::readiness::{self, Endpoint, ReadinessError};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn connects_and_negotiates_the_api_version() {
    let docker = docker().await;
    let (major, minor) = docker
        .api_version()
        .split_once('.')
        .expect("a major.minor API version");
    assert_eq!(major, "1");
    let minor: u32 = minor.parse().expect("a numeric minor version");
    assert!(
        minor >= 41,
        "API {} is older than this project supports",
        docker.api_version()
    );
}

#[tokio::test]
async fn an_unreachable_docker_host_fails_fast_and_says_what_to_do() {
    let started = Instant::now();
    let error = Docker::connect(Some("tcp://127.0.0.1:1"), Duration::from_secs(3))
        .await
        .expect_err("nothing listens on port 1");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(
        matches!(error, DockerError::Unreachable { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("tcp://127.0.0.1:1"), "{message}");
    assert!(message.contains("systemctl start docker"), "{message}");
}

#[tokio::test]
async fn a_docker_host_that_never_answers_times_out_on_connect() {
    // Accepts connections (the kernel does, from the backlog) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("binding");
    let host = format!("tcp://{}", silent.local_addr().expect("address"));
    let started = Instant::now();
    let error = Docker::connect(Some(&host), Duration::from_millis(500))
        .await
        .expect_err("nobody answers");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, DockerError::ConnectTimeout { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("did not answer within"),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_socket_reads_as_docker_not_running() {
    let error = Docker::connect(
        Some("unix:///nonexistent/monibox-test/docker.sock"),
        Duration::from_secs(3),
    )
    .await
    .expect_err("there is no such socket");
    assert!(
        matches!(error, DockerError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("Is the Docker daemon running?"));
}

#[tokio::test]
async fn an_unsupported_docker_host_is_rejected() {
    let error = Docker::connect(Some("ftp://127.0.0.1"), Duration::from_secs(3))
        .await
        .expect_err("ftp is not a Docker transport");
    assert!(
        matches!(error, DockerError::UnsupportedHost { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_project_network_is_created_once_and_referred_to_by_id() {
    let project = TestProject::new("network").await;
    let docker = docker().await;

    let first = docker
        .ensure_network(&project.name)
        .await
        .expect("creating the network");
    let second = docker
        .ensure_network(&project.name)
        .await
        .expect("finding the network");
    assert!(first.created);
    assert!(!second.created);
    assert_eq!(first.id, second.id);
    assert_eq!(first.gateway, second.gateway);
    assert!(first.gateway.is_private(), "gateway {}", first.gateway);
    assert_eq!(first.name, network_name(&project.name));

    let resources = docker
        .project_resources(&project.name)
        .await
        .expect("listing");
    assert_eq!(resources.networks.len(), 1, "{resources:?}");
    project.cleanup().await;
}

#[tokio::test]
async fn a_same_named_foreign_network_is_a_conflict_not_a_duplicate() {
    let project = TestProject::new("foreign-net").await;
    let docker = docker().await;
    // A network with the project's name but another project's label: not ours to use. The
    // library never makes one, so the docker CLI does.
    let other = TestProject::new("foreign-owner").await;
    let status = std::process::Command::new("docker")
        .args(["network", "create", "--label"])
        .arg(format!("{}={}", labels::PROJECT, other.name))
        .arg(network_name(&project.name))
        .output()
        .expect("running the docker CLI");
    assert!(status.status.success(), "{status:?}");

    let error = docker
        .ensure_network(&project.name)
        .await
        .expect_err("the name belongs to another project");
    assert!(
        matches!(error, DockerError::NameConflict { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("docker network rm"), "{error}");
    other.cleanup().await;
    project.cleanup().await;
}

#[tokio::test]
async fn label_cleanup_removes_everything_and_volumes_only_when_asked() {
    let project = TestProject::new("cleanup").await;
    let docker = docker().await;
    let image = grafana_standin().await;
    let network = docker.ensure_network(&project.name).await.expect("network");
    let volume = catalog::grafana::DEF.volume_name(&project.name);
    assert!(
        docker
            .ensure_volume(&volume, &project.name, "grafana")
            .await
            .expect("volume")
    );
    assert!(
        !docker
            .ensure_volume(&volume, &project.name, "grafana")
            .await
            .expect("again")
    );

    let mut spec = standin_spec(&project, &image);
    spec.network = Some(NetworkAttachment {
        network_id: network.id.clone(),
        aliases: vec!["grafana".to_owned()],
    });
    spec.mounts.push(Mount::Volume {
        name: volume.clone(),
        target: "/var/lib/grafana".to_owned(),
    });
    let status = docker
        .run_container(&spec)
        .await
        .expect("running the stand-in");
    assert!(status.is_running());
    let uptime = status.uptime().expect("a running container has an uptime");
    assert!(uptime < Duration::from_secs(60), "{uptime:?}");
    assert_eq!(status.restart_count, 0);
    assert_eq!(status.spec_hash(), Some(spec.spec_hash().as_str()));
    assert_eq!(status.labels[labels::PROJECT], project.name);
    assert_eq!(status.labels[labels::COMPONENT], "grafana");

    // A fresh project is not stale.
    let swept = docker
        .remove_stale_projects(
            docker_support::TEST_PROJECT_PREFIX,
            Duration::from_secs(3600),
        )
        .await
        .expect("sweeping");
    assert!(!swept.contains(&project.name), "{swept:?}");

    let removed = docker
        .remove_project(&project.name, Duration::from_secs(5), RemoveVolumes::Keep)
        .await
        .expect("removing");
    assert_eq!(
        (removed.containers, removed.networks, removed.volumes),
        (1, 1, 0)
    );
    let left = docker
        .project_resources(&project.name)
        .await
        .expect("listing");
    assert!(
        left.containers.is_empty() && left.networks.is_empty(),
        "{left:?}"
    );
    assert_eq!(left.volumes.len(), 1, "the data volume is kept: {left:?}");

    let again = docker
        .remove_project(&project.name, Duration::from_secs(5), RemoveVolumes::Keep)
        .await
        .expect("removing again is harmless");
    assert_eq!((again.containers, again.networks, again.volumes), (0, 0, 0));

    let with_volumes = docker
        .remove_project(&project.name, Duration::ZERO, RemoveVolumes::Remove)
        .await
        .expect("removing the volumes");
    assert_eq!(with_volumes.volumes, 1);
    assert!(
        docker
            .project_resources(&project.name)
            .await
            .expect("listing")
            .is_empty()
    );
    project.cleanup().await;
}

#[tokio::test]
async fn a_missing_image_is_reported_with_the_fix() {
    let project = TestProject::new("no-image").await;
    let docker = docker().await;
    let spec = ContainerSpec::new(
        &project.name,
        "prometheus",
        &project.container("prometheus"),
        "monibox-test/does-not-exist:never",
    );
    let error = docker
        .run_container(&spec)
        .await
        .expect_err("the image does not exist");
    assert!(
        matches!(error, DockerError::ImageMissing { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("monibox images build --from-host"),
        "{error}"
    );

    let plan = plan_component(
        &docker,
        &catalog::grafana::DEF,
        "monibox-test/does-not-exist:never",
        PullPolicy::Never,
    )
    .await
    .expect("planning");
    let ImageDecision::Missing { fix, .. } = &plan.decision else {
        panic!("expected a missing image, got {plan:?}");
    };
    assert!(fix.contains("docker load"), "{fix}");
    assert!(fix.contains("components.grafana = false"), "{fix}");
    let obtained = obtain(&docker, &[plan], &mut |_| {}, &Default::default())
        .await
        .expect("obtaining");
    assert!(
        matches!(
            obtained.choices.get("grafana"),
            Some(ImageChoice::Missing(_))
        ),
        "{obtained:?}"
    );
    project.cleanup().await;
}

#[tokio::test]
async fn pulling_without_a_registry_fails_fast_and_clearly() {
    let docker = docker().await;
    let image = "monibox-test/nonexistent-image:0";
    let started = Instant::now();
    let error = images::pull_image(&docker, image, Duration::from_secs(30), &mut |_| {})
        .await
        .expect_err("no registry has this image");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(
        matches!(
            error,
            DockerError::PullFailed { .. } | DockerError::PullTimeout { .. }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(image), "{message}");
    assert!(message.contains("images build --from-host"), "{message}");
}

#[tokio::test]
async fn a_taken_port_is_named_and_nothing_is_left_behind() {
    let project = TestProject::new("port-taken").await;
    let docker = docker().await;
    let image = grafana_standin().await;
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
    let taken = holder.local_addr().expect("its address").port();

    let mut spec = standin_spec(&project, &image);
    spec.ports = vec![PortPublish {
        container_port: 3000,
        host_ip: Ipv4Addr::LOCALHOST.into(),
        host_port: taken,
    }];
    let error = docker
        .run_container(&spec)
        .await
        .expect_err("the port is taken");
    assert!(matches!(error, DockerError::PortTaken { .. }), "{error:?}");
    assert!(error.to_string().contains(&taken.to_string()), "{error}");
    assert_eq!(
        docker
            .inspect_container(&spec.name)
            .await
            .expect("inspecting"),
        None
    );
    project.cleanup().await;
}

#[tokio::test]
async fn a_name_conflict_is_reported() {
    let project = TestProject::new("name-conflict").await;
    let docker = docker().await;
    let image = grafana_standin().await;
    let spec = standin_spec(&project, &image);
    docker
        .create_container(&spec, &Default::default())
        .await
        .expect("creating");
    let error = docker
        .create_container(&spec, &Default::default())
        .await
        .expect_err("same name twice");
    assert!(
        matches!(error, DockerError::NameConflict { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains(&format!("docker rm -f {}", spec.name)),
        "{error}"
    );
    project.cleanup().await;
}

#[tokio::test]
async fn containers_reach_the_host_through_the_network_gateway() {
    let project = TestProject::new("host-gateway").await;
    let docker = docker().await;
    let image = grafana_standin().await;
    let network = docker.ensure_network(&project.name).await.expect("network");
    // A host-side listener on the network's gateway, as the monibox daemon binds.
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(network.gateway), 0))
        .await
        .expect("binding on the gateway address");
    let port = listener.local_addr().expect("address").port();

    let mut spec = standin_spec(&project, &image);
    spec.ports.clear();
    spec.health_check = None;
    spec.entrypoint = Some(
        ["/bin/busybox", "wget", "-q", "-O", "/dev/null"]
            .map(String::from)
            .to_vec(),
    );
    spec.cmd = Some(vec![format!("http://host.docker.internal:{port}/")]);
    spec.extra_hosts.push(ExtraHost {
        hostname: "host.docker.internal".to_owned(),
        address: IpAddr::V4(network.gateway),
    });
    spec.network = Some(NetworkAttachment {
        network_id: network.id.clone(),
        aliases: vec!["grafana".to_owned()],
    });
    docker
        .run_container(&spec)
        .await
        .expect("running the client container");
    let (_connection, peer) = tokio::time::timeout(Duration::from_secs(20), listener.accept())
        .await
        .expect("the container connected to host.docker.internal in time")
        .expect("accepting");
    assert!(
        peer.ip() != IpAddr::V4(network.gateway),
        "the peer is the container: {peer}"
    );
    project.cleanup().await;
}

#[tokio::test]
async fn waiting_for_a_container_that_exits_fails_early_with_its_logs() {
    let project = TestProject::new("exits").await;
    let docker = docker().await;
    let image = grafana_standin().await;
    let mut spec = standin_spec(&project, &image);
    spec.health_check = None;
    spec.entrypoint = Some(["/bin/busybox", "sh", "-c"].map(String::from).to_vec());
    spec.cmd = Some(vec!["echo monibox-test-goodbye; exit 3".to_owned()]);
    docker.run_container(&spec).await.expect("running");

    let started = Instant::now();
    let error = wait_ready(
        &docker,
        &spec.name,
        &catalog::grafana::DEF,
        Duration::from_secs(30),
    )
    .await
    .expect_err("the container exits at once");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            error,
            ReadinessError::Docker(DockerError::ContainerStopped { .. })
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("exit code 3"), "{message}");
    assert!(message.contains("monibox-test-goodbye"), "{message}");
    project.cleanup().await;
}

#[tokio::test]
async fn waiting_stops_when_cancelled() {
    let project = TestProject::new("cancel").await;
    let docker = docker().await;
    let image = grafana_standin().await;
    let mut spec = standin_spec(&project, &image);
    // Serves nothing at /api/health, so it never becomes ready.
    spec.entrypoint = Some(
        ["/bin/busybox", "httpd", "-f", "-p", "3000", "-h", "/bin"]
            .map(String::from)
            .to_vec(),
    );
    docker.run_container(&spec).await.expect("running");

    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let endpoint = Endpoint::Container {
        docker: &docker,
        name: &spec.name,
        container_port: catalog::grafana::CONTAINER_PORT,
    };
    let error = readiness::wait(
        endpoint,
        &catalog::grafana::DEF.readiness,
        deadline,
        &cancel,
    )
    .await
    .expect_err("cancelled");
    assert!(
        matches!(error, ReadinessError::Interrupted { .. }),
        "{error:?}"
    );
    project.cleanup().await;
}

#[tokio::test]
async fn a_user_without_socket_access_is_told_to_join_the_docker_group() {
    use std::os::unix::fs::PermissionsExt;
    let socket = std::path::Path::new("/var/run/docker.sock");
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    let root = status
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"));
    if !root || !socket.exists() {
        eprintln!("skipped: needs root (to drop to nobody) and the default Docker socket");
        return;
    }
    // nobody must be able to reach the binary, wherever the checkout is.
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("opening the temp dir");
    let binary = dir.path().join("monibox");
    std::fs::copy(env!("CARGO_BIN_EXE_monibox"), &binary).expect("copying the binary");

    let output = tokio::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&binary)
        .args(["images", "list"])
        .env_remove("DOCKER_HOST")
        .output()
        .await
        .expect("running setpriv (util-linux)");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("permission denied on the Docker socket"),
        "{stderr}"
    );
    assert!(stderr.contains("docker` group"), "{stderr}");
}
