//! Shared by the tests that run against the real Docker Engine: connecting, unique project
//! names, cleanup by label (also when a test fails), a sweep of stale test projects, and the
//! host-built images, built once per run and reused while the host binaries are unchanged.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::time::Duration;

use monibox::docker::images::{self, HostImage, Rebuild};
use monibox::docker::{Docker, RemoveVolumes};
use tokio::sync::OnceCell;

/// Every test project's name starts with this, so stale ones can be swept.
pub const TEST_PROJECT_PREFIX: &str = "test-";
/// Test projects older than this are leftovers of a crashed run.
const STALE_AFTER: Duration = Duration::from_secs(3600);

pub async fn docker() -> Docker {
    let host = std::env::var("DOCKER_HOST").ok();
    Docker::connect(host.as_deref(), Duration::from_secs(5))
        .await
        .expect("these tests need a running Docker Engine")
}

/// A project name no other test (or test run) uses.
pub fn unique_project(test: &str) -> String {
    format!(
        "{TEST_PROJECT_PREFIX}{test}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

static SWEPT: OnceCell<()> = OnceCell::const_new();

/// A test's project: cleaned up explicitly with [`TestProject::cleanup`]; if the test fails
/// before that, the guard's drop runs the same cleanup on a thread of its own.
pub struct TestProject {
    pub name: String,
    cleaned: bool,
}

impl TestProject {
    /// Sweeps stale test projects (once per test binary), then names a new project.
    pub async fn new(test: &str) -> Self {
        SWEPT
            .get_or_init(|| async {
                let removed = docker()
                    .await
                    .remove_stale_projects(TEST_PROJECT_PREFIX, STALE_AFTER)
                    .await
                    .expect("sweeping stale test projects");
                if !removed.is_empty() {
                    eprintln!("swept stale test projects: {}", removed.join(", "));
                }
            })
            .await;
        Self {
            name: unique_project(test),
            cleaned: false,
        }
    }

    /// A name for a resource of this project.
    pub fn container(&self, component: &str) -> String {
        format!("monibox-{}-{component}", self.name)
    }

    pub async fn cleanup(mut self) {
        remove_everything(&self.name).await;
        self.cleaned = true;
    }
}

async fn remove_everything(project: &str) {
    docker()
        .await
        .remove_project(project, Duration::ZERO, RemoveVolumes::Remove)
        .await
        .expect("removing the test project");
}

impl Drop for TestProject {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let project = self.name.clone();
        // The test's runtime may be unwinding; clean up on a fresh one.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup");
            runtime.block_on(remove_everything(&project));
        });
        let _ = cleanup.join();
    }
}

/// Tags of the host-built images.
#[derive(Debug, Clone)]
pub struct HostImages {
    pub prometheus: String,
    pub alertmanager: String,
}

static HOST_IMAGES: OnceCell<HostImages> = OnceCell::const_new();
static STANDIN: OnceCell<String> = OnceCell::const_new();

/// Builds the Prometheus and Alertmanager host images once per test binary; an image built
/// from the same host files is reused, so usually this only checks.
pub async fn host_images() -> HostImages {
    HOST_IMAGES
        .get_or_init(|| async {
            let docker = docker().await;
            let build = |which| {
                let docker = docker.clone();
                async move {
                    let outcome =
                        images::build_from_host(&docker, which, Rebuild::IfChanged, &mut |_| {})
                            .await
                            .expect("building a host image");
                    eprintln!(
                        "host image {}: {} ({:.1} s)",
                        outcome.tag,
                        if outcome.reused { "reused" } else { "built" },
                        outcome.elapsed.as_secs_f64()
                    );
                    outcome.tag
                }
            };
            HostImages {
                prometheus: build(HostImage::Prometheus).await,
                alertmanager: build(HostImage::Alertmanager).await,
            }
        })
        .await
        .clone()
}

/// The Grafana stand-in image (busybox httpd; not Grafana), built once per test binary.
pub async fn grafana_standin() -> String {
    STANDIN
        .get_or_init(|| async {
            let docker = docker().await;
            images::build_grafana_standin(&docker, images::GRAFANA_STANDIN_TAG, &mut |_| {})
                .await
                .expect("building the Grafana stand-in")
                .tag
        })
        .await
        .clone()
}

/// A container spec for the Grafana stand-in in `project`, published on an ephemeral
/// 127.0.0.1 port, with a health check and readiness like the real Grafana's.
pub fn standin_spec(project: &TestProject, image: &str) -> monibox::docker::ContainerSpec {
    use monibox::docker::{ContainerSpec, HealthCheck, PortPublish};
    let mut spec = ContainerSpec::new(
        &project.name,
        "grafana",
        &project.container("grafana"),
        image,
    );
    spec.ports.push(PortPublish {
        container_port: 3000,
        host_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        host_port: 0,
    });
    spec.memory_limit_bytes = Some(32 << 20);
    spec.health_check = Some(HealthCheck {
        // Debian's busybox wget segfaults with -T, so no timeout flag here.
        command: [
            "/bin/busybox",
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "http://127.0.0.1:3000/api/health",
        ]
        .map(String::from)
        .to_vec(),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        retries: 3,
        start_period: Duration::ZERO,
    });
    spec
}

/// Grafana's readiness probe: `/api/health` answering with its `database` field.
pub fn grafana_readiness() -> monibox::docker::Readiness {
    monibox::docker::Readiness::Http(monibox::docker::HttpReadiness {
        container_port: 3000,
        path: "/api/health".to_owned(),
        expect_body: Some("\"database\"".to_owned()),
        interval: Duration::from_millis(50),
        timeout: Duration::from_secs(1),
    })
}
