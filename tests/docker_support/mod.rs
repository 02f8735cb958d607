//! Shared by the tests that run against the real Docker Engine: connecting, unique project
//! names, cleanup by label (also when a test fails), a sweep of stale test projects, and the
//! host-built images, built once per run and reused while the host binaries are unchanged.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod faults;
pub mod foreign;
pub mod stack_report;

use std::time::Duration;

use monibox::catalog;
use monibox::docker::images::{self, HostRecipe, Rebuild};
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

/// A project name no other test (or test run) uses: 40 random bits, a fixed width whatever
/// the process id (CI's PIDs have more digits than a desktop's).
pub fn unique_project(test: &str) -> String {
    let name = format!(
        "{TEST_PROJECT_PREFIX}{test}-{:010x}",
        rand::random::<u64>() & 0xff_ffff_ffff
    );
    assert!(
        name.len() <= monibox::config::ProjectName::MAX_LEN,
        "{name} is longer than a project name may be: shorten the test's name {test:?}"
    );
    name
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
        clean_up_on_a_fresh_runtime(async move { remove_everything(&project).await });
    }
}

/// Runs `cleanup` to completion on a runtime of its own, on a thread of its own: a guard's drop
/// may run while the test's runtime unwinds.
pub fn clean_up_on_a_fresh_runtime(
    cleanup: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for cleanup");
        runtime.block_on(cleanup);
    });
    let _ = thread.join();
}

/// Tags of the host-built images.
#[derive(Debug, Clone)]
pub struct HostImages {
    pub prometheus: String,
    pub alertmanager: String,
}

static HOST_IMAGES: OnceCell<HostImages> = OnceCell::const_new();
static STANDIN: OnceCell<String> = OnceCell::const_new();
static NODE_EXPORTER: OnceCell<String> = OnceCell::const_new();

/// Builds the Prometheus and Alertmanager host images once per test binary; an image built
/// from the same host files is reused, so usually this only checks.
pub async fn host_images() -> HostImages {
    HOST_IMAGES
        .get_or_init(|| async {
            let docker = docker().await;
            let build = |which: &'static HostRecipe| {
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
            let recipe = |def: &catalog::ComponentDef| def.host_image.expect("a host recipe");
            HostImages {
                prometheus: build(recipe(&catalog::prometheus::DEF)).await,
                alertmanager: build(recipe(&catalog::alertmanager::DEF)).await,
            }
        })
        .await
        .clone()
}

/// node-exporter's host image (from Debian's `prometheus-node-exporter`), built once per test
/// binary that asks for it.
pub async fn node_exporter_image() -> String {
    NODE_EXPORTER
        .get_or_init(|| async {
            let docker = docker().await;
            let recipe = catalog::node_exporter::DEF
                .host_image
                .expect("a host recipe");
            images::build_from_host(&docker, recipe, Rebuild::IfChanged, &mut |_| {})
                .await
                .expect("building the node-exporter host image")
                .tag
        })
        .await
        .clone()
}

/// The Grafana stand-in image (busybox httpd; not Grafana), built once per test binary.
pub async fn grafana_standin() -> String {
    STANDIN
        .get_or_init(|| async {
            let docker = docker().await;
            images::build_from_host(
                &docker,
                &catalog::standin::RECIPE,
                Rebuild::IfChanged,
                &mut |_| {},
            )
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

/// Waits until `container` answers `def`'s readiness probe through its published port.
pub async fn wait_ready(
    docker: &Docker,
    container: &str,
    def: &catalog::ComponentDef,
    timeout: Duration,
) -> Result<monibox::stack::readiness::Ready, monibox::stack::readiness::ReadinessError> {
    let endpoint = monibox::stack::readiness::Endpoint::Container {
        docker,
        name: container,
        container_port: def.container_port,
    };
    monibox::stack::readiness::wait(
        endpoint,
        &def.readiness,
        tokio::time::Instant::now() + timeout,
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
}

/// A whole stack run through the `monibox` binary: a unique test project, its own state
/// directory and configuration file (fast timing, every port `auto`, the host-built images and
/// the Grafana stand-in; node-exporter off unless [`TestStack::with_node_exporter`]). `cleanup` runs `down --volumes` and the label cleanup; if the test
/// fails first, dropping it does the same.
pub struct TestStack {
    pub project: Option<TestProject>,
    pub state_dir: tempfile::TempDir,
    pub config_path: std::path::PathBuf,
    /// Whether the configuration file says if node-exporter runs; otherwise every command has
    /// `MONIBOX_COMPONENTS_NODE_EXPORTER=false`, so host metrics cost a test nothing unless it
    /// asks for them.
    pub node_exporter: bool,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct RunOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// The test configuration's `[discovery]` body; [`TestStack::discover_docker`] replaces it.
const DISCOVERY_OFF: &str = "docker = false";

/// The longest any single command of a stack test may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

impl TestStack {
    /// A stack with the test configuration; tests that need another one edit the file.
    pub async fn new(test: &str) -> Self {
        let project = TestProject::new(test).await;
        let images = host_images().await;
        let standin = grafana_standin().await;
        let state_dir = tempfile::Builder::new()
            .prefix("monibox-stack-")
            .tempdir()
            .expect("temp state dir");
        let config_path = state_dir.path().join("monibox.toml");
        let config = format!(
            "project = \"{}\"\ntiming = \"fast\"\n\n\
             [ports]\napp = \"auto\"\nops = \"auto\"\nprometheus = \"auto\"\n\
             alertmanager = \"auto\"\ngrafana = \"auto\"\nnode-exporter = \"auto\"\n\n\
             [images]\nprometheus = \"{}\"\nalertmanager = \"{}\"\n\
             # A stand-in for Grafana (busybox httpd), not Grafana.\ngrafana = \"{standin}\"\n\n\
             # Parallel tests' stacks must not scrape each other's labelled containers.\n\
             [discovery]\n{DISCOVERY_OFF}\n",
            project.name, images.prometheus, images.alertmanager
        );
        std::fs::write(&config_path, config).expect("writing the test config");
        Self {
            project: Some(project),
            state_dir,
            config_path,
            node_exporter: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.project.as_ref().expect("the project").name
    }

    /// The project's state directory (inside the temporary state root).
    pub fn project_dir(&self) -> std::path::PathBuf {
        self.state_dir.path().join(self.name())
    }

    /// Turns Docker discovery on for the containers labelled `label` (`key=value`) as well as
    /// `prometheus.io/scrape=true`, so the test sees only its own.
    pub fn discover_docker(&self, label: &str) {
        let config = std::fs::read_to_string(&self.config_path).expect("reading the test config");
        let config = config.replace(
            DISCOVERY_OFF,
            &format!("docker = true\ndocker_labels = [{label:?}]"),
        );
        std::fs::write(&self.config_path, config).expect("writing the test config");
    }

    /// Leaves node-exporter to the configuration file (`components.node-exporter`, on by
    /// default) instead of switching it off for every command, with `image` as its image (see
    /// [`node_exporter_image`]).
    pub fn with_node_exporter(&mut self, image: &str) {
        self.node_exporter = true;
        let config = std::fs::read_to_string(&self.config_path).expect("reading the test config");
        let config = config.replace(
            "[images]\n",
            &format!("[images]\nnode-exporter = {image:?}\n"),
        );
        std::fs::write(&self.config_path, config).expect("writing the test config");
    }

    /// Appends TOML to the stack's configuration file (a later `up` or `reload` reads it).
    pub fn append_config(&self, toml: &str) {
        let config = std::fs::read_to_string(&self.config_path).expect("reading the test config");
        std::fs::write(&self.config_path, format!("{config}\n{toml}"))
            .expect("writing the test config");
    }

    /// `monibox <args> --config <file> --state-dir <dir>`, ready to run.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_monibox"));
        command
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .arg("--state-dir")
            .arg(self.state_dir.path())
            .env_remove("MONIBOX_STATE_DIR")
            .env_remove("MONIBOX_PROJECT")
            .env("MONIBOX_COMPONENTS_NODE_EXPORTER", "false")
            .env("NO_COLOR", "1")
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null());
        if self.node_exporter {
            command.env_remove("MONIBOX_COMPONENTS_NODE_EXPORTER");
        }
        command
    }

    /// Runs `monibox <args>` to completion (bounded) and returns what it said.
    pub async fn run(&self, args: &[&str]) -> RunOutput {
        run_command(self.command(args), args).await
    }

    /// `status --json`: the exit code and the report.
    pub async fn status(&self) -> (Option<i32>, serde_json::Value) {
        let output = self.run(&["status", "--json"]).await;
        let report = serde_json::from_str(&output.stdout)
            .unwrap_or_else(|error| panic!("status --json printed no JSON ({error}): {output:?}"));
        (output.code, report)
    }

    /// The stack.json `up` wrote.
    pub fn record(&self) -> monibox::stack::record::StackRecord {
        self.store()
            .read()
            .expect("reading stack.json")
            .expect("stack.json exists")
    }

    /// The project's stack.json, as monibox reads and writes it.
    pub fn store(&self) -> monibox::stack::store::StackStore {
        let root =
            monibox::stack::state::StateRoot::resolve(Some(self.state_dir.path()), None, None)
                .expect("state root");
        monibox::stack::store::StackStore::new(&root.project(self.name()), self.name())
    }

    pub async fn cleanup(mut self) {
        let output = self.run(&["down", "--volumes"]).await;
        assert_eq!(output.code, Some(0), "down --volumes: {output:?}");
        if let Some(project) = self.project.take() {
            project.cleanup().await;
        }
    }
}

/// Runs a prepared command to completion within [`COMMAND_TIMEOUT`].
pub async fn run_command(mut command: tokio::process::Command, what: &[&str]) -> RunOutput {
    let started = std::time::Instant::now();
    let output = tokio::time::timeout(COMMAND_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("monibox {what:?} did not finish within {COMMAND_TIMEOUT:?}"))
        .expect("running monibox");
    RunOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        if self.project.is_none() {
            return;
        }
        // The test failed before cleaning up: stop the daemon it started, then the project's
        // guard removes whatever carries its label.
        let _ = std::process::Command::new(env!("CARGO_BIN_EXE_monibox"))
            .args(["down", "--volumes", "--config"])
            .arg(&self.config_path)
            .arg("--state-dir")
            .arg(self.state_dir.path())
            .stdin(std::process::Stdio::null())
            .output();
    }
}

/// Fails the test if anything of `project` is left: a container, network or volume carrying its
/// label, or a monibox daemon process serving it. Run it after `down --volumes` and before
/// [`TestStack::cleanup`], whose label cleanup would hide what `down` missed.
pub async fn assert_nothing_left(project: &str) {
    let resources = docker()
        .await
        .project_resources(project)
        .await
        .expect("listing the project's resources");
    assert!(resources.is_empty(), "{project} left behind: {resources:?}");
    let daemons = project_daemons(project);
    assert!(
        daemons.is_empty(),
        "{project} left daemon processes behind: pids {daemons:?}"
    );
}

/// Fails the test unless `down` (without `--volumes`) left exactly the project's three data
/// volumes: no container, no network.
pub async fn assert_only_volumes_left(project: &str) {
    let resources = docker()
        .await
        .project_resources(project)
        .await
        .expect("listing the project's resources");
    assert!(
        resources.containers.is_empty() && resources.networks.is_empty(),
        "{resources:?}"
    );
    assert_eq!(resources.volumes.len(), 3, "data is kept: {resources:?}");
}

/// The live processes running `monibox daemon --project <project>`, found in /proc.
pub fn project_daemons(project: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| monibox::daemon::process::is_alive(pid))
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|&byte| byte == 0).collect();
            args.contains(&b"daemon".as_slice())
                && args
                    .windows(2)
                    .any(|pair| pair[0] == b"--project" && pair[1] == project.as_bytes())
        })
        .collect()
}
