//! `monibox up [--foreground]`: brings the stack to what the configuration asks for, and returns
//! when every part answers.
//!
//! Order: configuration (errors: exit 2, nothing created) → fixed ports free (exit 2, nothing
//! created) → Docker (exit 2 if unreachable) → images and network → the daemon's ports → the
//! rendered bundle and volumes → a running daemon's supervisor held → stack.json → containers
//! and the daemon (a new one starts held) at once → readiness of everything at once → the final
//! stack.json, and the supervisor resumed → reloads of kept components whose files changed →
//! the summary. A component without an image is reported with its fix while the rest runs
//! (exit 1, degraded).
//! With `--foreground` the daemon runs in this process until Ctrl-C, which takes the stack down.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use futures_util::future::join_all;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{EXIT_UNHEALTHY, Spinner, state_root};
use crate::cli::{PullArg, UpArgs};
use crate::config::Config;
use crate::daemon::control::{self, ControlRequest, ControlResponse, DaemonStatus};
use crate::daemon::{Daemon, DaemonSettings, process};
use crate::docker::images::{
    self, Component, ImageDecision, ImagePlan, ImageProgress, ImageRefs, PullPolicy,
};
use crate::docker::volume::volume_name;
use crate::docker::{Docker, DockerError, ProjectNetwork, RemoveVolumes};
use crate::httpc::HttpClient;
use crate::stack::plan::{GRAFANA_ADMIN_USER, ImageChoice, READINESS_INTERVAL, StackPlan};
use crate::stack::ports::{self, DaemonPorts};
use crate::stack::reconcile::{self, Action, ComponentRun};
use crate::stack::record::{ComponentRecord, FORMAT, MissingImage, NetworkRecord, StackRecord};
use crate::stack::state::{ProjectDir, StateRoot};
use crate::stack::teardown;
use crate::supervise::SupervisorSettings;

/// Everything must answer within this time after `up` started.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long a freshly launched daemon may take to bind and answer on its control socket.
const DAEMON_START_DEADLINE: Duration = Duration::from_secs(10);
/// Limit of a control-socket request.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(1);
/// Limit of the `hold` request, which waits for a restart under way to finish.
const HOLD_TIMEOUT: Duration = Duration::from_secs(35);
/// How long a daemon being replaced may take to exit.
const DAEMON_STOP_GRACE: Duration = Duration::from_secs(5);
/// Limit of one image pull.
const PULL_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Lines of daemon.log quoted when the daemon fails to start.
const LOG_LINES_ON_FAILURE: usize = 20;

pub async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let config = super::config::load(&args.config)?.config;
    let project = config.project.as_str().to_owned();
    let root = state_root(&args.state)?;
    let project_dir = root.project(&project);
    let previous = match StackRecord::read(&project_dir.stack_file()) {
        Ok(record) => record.filter(|record| record.project == project),
        Err(error) => {
            tracing::warn!(%error, "ignoring the previous stack.json");
            None
        }
    };
    let live = live_daemon(&project_dir, &project).await;
    ports::check_fixed_ports(&config.ports, &held_ports(previous.as_ref(), live.as_ref()))?;
    let docker = super::connect_docker().await?;

    let cancel = CancellationToken::new();
    let signals = super::cancel_on_signal(cancel.clone());
    let result = bring_up(BringUp {
        config: &config,
        root: &root,
        project_dir: &project_dir,
        previous: previous.as_ref(),
        live,
        docker: &docker,
        pull: args.pull,
        foreground: args.foreground,
        cancel: &cancel,
        started,
    })
    .await;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => {
            signals.abort();
            return Err(error);
        }
    };
    out!("{}", outcome.summary)?;
    let code = if outcome.degraded {
        ExitCode::from(EXIT_UNHEALTHY)
    } else {
        ExitCode::SUCCESS
    };
    let DaemonHandle::InProcess { task, shutdown } = outcome.daemon else {
        signals.abort();
        return Ok(code);
    };
    outln!(
        "\nRunning in the foreground: Ctrl-C (or `monibox down`) stops the daemon and removes the \
         containers; data volumes are kept."
    )?;
    tokio::select! {
        () = cancel.cancelled() => {}
        () = shutdown.cancelled() => {}
    }
    shutdown.cancel();
    if tokio::time::timeout(DAEMON_STOP_GRACE, task).await.is_err() {
        tracing::warn!("the daemon did not stop within {DAEMON_STOP_GRACE:?}");
    }
    let removed = teardown(&docker, &project, &project_dir, RemoveVolumes::Keep).await?;
    outln!(
        "stopped the daemon; removed {} containers and {} network (data volumes kept)",
        removed.containers,
        removed.networks
    )?;
    signals.abort();
    Ok(code)
}

struct BringUp<'a> {
    config: &'a Config,
    root: &'a StateRoot,
    project_dir: &'a ProjectDir,
    previous: Option<&'a StackRecord>,
    live: Option<DaemonStatus>,
    docker: &'a Docker,
    pull: PullArg,
    foreground: bool,
    cancel: &'a CancellationToken,
    started: Instant,
}

struct Outcome {
    summary: String,
    degraded: bool,
    daemon: DaemonHandle,
}

/// The daemon after `up`: a background process, or a task of this one (`--foreground`).
enum DaemonHandle {
    Detached {
        pid: u32,
        action: &'static str,
    },
    InProcess {
        task: JoinHandle<()>,
        shutdown: CancellationToken,
    },
}

async fn bring_up(up: BringUp<'_>) -> anyhow::Result<Outcome> {
    let BringUp {
        config,
        root,
        project_dir,
        previous,
        live,
        docker,
        pull,
        foreground,
        cancel,
        started,
    } = up;
    let project = config.project.as_str();
    let refs = ImageRefs {
        prometheus: config.images.prometheus.as_str().to_owned(),
        alertmanager: config.images.alertmanager.as_str().to_owned(),
        grafana: config.images.grafana.as_str().to_owned(),
    };
    let policy = match pull {
        PullArg::Never => PullPolicy::Never,
        PullArg::Missing => PullPolicy::Missing,
        PullArg::Always => PullPolicy::Always,
    };
    let (image_plans, network) = tokio::join!(
        images::plan_images(docker, &refs, policy),
        docker.ensure_network(project)
    );
    let (image_plans, network) = (image_plans?, network?);
    let choices = obtain_images(docker, &image_plans, cancel).await?;
    tracing::debug!(elapsed = ?started.elapsed(), network = %network.name, "images chosen, network ready");

    // Keep the daemon's ports across runs, so the rendered configuration (and with it the
    // containers) stays the same.
    let (previous_ports, held_by_live) = match &live {
        Some(status) => (
            daemon_ports_of(&status.app_listen, &status.ops_listen),
            status
                .app_listen
                .iter()
                .any(|addr| addr.ip() == std::net::IpAddr::V4(network.gateway)),
        ),
        None => (
            previous.and_then(|record| {
                daemon_ports_of(&record.daemon.app_listen, &record.daemon.ops_listen)
            }),
            false,
        ),
    };
    let daemon_ports = ports::resolve_daemon_ports(
        config.ports.app,
        config.ports.ops,
        network.gateway,
        previous_ports,
        held_by_live,
    )?;

    project_dir.create()?;
    let password = project_dir.grafana_password()?;
    let plan = StackPlan::new(config, project_dir, &network, daemon_ports, &choices)?;
    plan.bundle.write_to(&project_dir.bundle_dir())?;
    project_dir.open_bundle_permissions()?;
    let volumes = Component::ALL.map(|component| {
        let name = volume_name(project, component.as_str());
        async move {
            docker
                .ensure_volume(&name, project, component.as_str())
                .await
        }
    });
    for result in join_all(volumes).await {
        result?;
    }
    // A running daemon's supervisor must not restart what is being replaced, nor write
    // stack.json (the ports of a container it recreated) while this does: hold it (a daemon
    // launched below starts held). Both are resumed once the final stack.json is written.
    if live.is_some() {
        hold_supervisor(project_dir).await;
    }
    let mut record = new_record(config, &network, &plan, previous);
    record.write(&project_dir.stack_file())?;
    tracing::debug!(elapsed = ?started.elapsed(), "bundle, volumes and stack.json written");

    // The containers and the daemon at once; each is probed as soon as it runs.
    let deadline = started + READY_DEADLINE;
    let daemon_side = async {
        let daemon = if foreground {
            start_in_process(project_dir, project, &record, live.as_ref(), cancel).await?
        } else {
            ensure_detached(root, project_dir, project, &record, live.as_ref()).await?
        };
        let ready = wait_daemon_ready(&record, deadline, cancel).await;
        anyhow::Ok((daemon, ready))
    };
    let (runs, daemon_side) = tokio::join!(
        reconcile::bring_up(docker, &plan.components, deadline, cancel),
        daemon_side
    );
    let (daemon, daemon_ready) = daemon_side?;
    if cancel.is_cancelled() {
        anyhow::bail!(
            "interrupted while waiting for the stack; `monibox status` shows what runs, \
             `monibox down` removes it"
        );
    }
    tracing::debug!(elapsed = ?started.elapsed(), "containers and daemon ready");
    let runs: BTreeMap<&'static str, ComponentRun> = runs
        .into_iter()
        .map(|run| (run.component.as_str(), run))
        .collect();
    for component in &mut record.components {
        if let Some(Ok(reconciled)) = runs.get(component.name.as_str()).map(|run| &run.reconciled) {
            component.spec_hash = reconciled.status.spec_hash().map(str::to_owned);
            component.host_port = reconciled
                .status
                .host_address(component.container_port)
                .map(|address| address.port());
        }
    }
    record.write(&project_dir.stack_file())?;
    resume_supervisor(project_dir).await;

    let mut problems = Vec::new();
    for component_plan in &plan.components {
        let name = component_plan.component.as_str();
        if let ImageChoice::Missing(missing) = &component_plan.image {
            problems.push(format!("{name}: {} — {}", missing.reason, missing.fix));
            continue;
        }
        match runs.get(name) {
            Some(ComponentRun {
                reconciled: Err(error),
                ..
            })
            | Some(ComponentRun {
                ready: Some(Err(error)),
                ..
            }) => problems.push(format!("{name}: {error}")),
            _ => {}
        }
    }
    if let Err(error) = &daemon_ready {
        problems.push(format!(
            "daemon: {error} (see {})",
            project_dir.log_file().display()
        ));
    }
    let reload_results = reload_changed(&plan, &runs, &record, previous).await;
    for (name, result) in &reload_results {
        if let Err(error) = result {
            problems.push(format!(
                "{name}: reloading its configuration failed: {error}"
            ));
        }
    }

    let summary = summary(SummaryInputs {
        project,
        record: &record,
        runs: &runs,
        reloaded: &reload_results,
        daemon: &daemon,
        password: &password,
        password_file: &project_dir.password_file(),
        problems: &problems,
        elapsed: started.elapsed(),
    });
    Ok(Outcome {
        summary,
        degraded: !problems.is_empty(),
        daemon,
    })
}

/// The ports the project's own stack holds: its published container ports and the live
/// daemon's. They are expected to be in use, so the free-port check skips them.
fn held_ports(previous: Option<&StackRecord>, live: Option<&DaemonStatus>) -> Vec<u16> {
    let mut held: Vec<u16> = previous
        .map(|record| {
            record
                .components
                .iter()
                .filter_map(|component| component.host_port)
                .collect()
        })
        .unwrap_or_default();
    if let Some(status) = live {
        held.extend(status.app_listen.iter().map(SocketAddr::port));
        held.extend(status.ops_listen.iter().map(SocketAddr::port));
    }
    held
}

fn daemon_ports_of(app: &[SocketAddr], ops: &[SocketAddr]) -> Option<DaemonPorts> {
    Some(DaemonPorts {
        app: app.first()?.port(),
        ops: ops.first()?.port(),
    })
}

/// Asks the live daemon's supervisor to hold its restarts; it answers once none is under way.
/// A daemon that cannot be asked is left alone: it is replaced or its hold expires.
async fn hold_supervisor(project_dir: &ProjectDir) {
    match control::request(
        &project_dir.control_socket(),
        ControlRequest::Hold,
        HOLD_TIMEOUT,
    )
    .await
    {
        Ok(ControlResponse::Held { .. }) => tracing::debug!("supervisor held"),
        other => tracing::warn!(answer = ?other, "could not hold the daemon's supervisor"),
    }
}

/// Tells the daemon's supervisor to re-read stack.json and supervise again.
async fn resume_supervisor(project_dir: &ProjectDir) {
    match control::request(
        &project_dir.control_socket(),
        ControlRequest::Resume,
        CONTROL_TIMEOUT,
    )
    .await
    {
        Ok(ControlResponse::Resumed) => tracing::debug!("supervisor resumed"),
        other => tracing::warn!(
            answer = ?other,
            "could not resume the daemon's supervisor; it resumes by itself within two minutes"
        ),
    }
}

/// The project's daemon, if one answers on the control socket.
async fn live_daemon(project_dir: &ProjectDir, project: &str) -> Option<DaemonStatus> {
    match control::request(
        &project_dir.control_socket(),
        ControlRequest::Status,
        CONTROL_TIMEOUT,
    )
    .await
    {
        Ok(ControlResponse::Status(status)) if status.project == project => Some(status),
        _ => None,
    }
}

/// Turns each image plan into an image to run, pulling where the plan says so (with a
/// progress line on a terminal). A failed pull makes the component missing, not the run fail.
async fn obtain_images(
    docker: &Docker,
    plans: &[ImagePlan],
    cancel: &CancellationToken,
) -> anyhow::Result<BTreeMap<&'static str, ImageChoice>> {
    let mut choices = BTreeMap::new();
    for plan in plans {
        let choice = match &plan.decision {
            ImageDecision::Use { image, .. } => ImageChoice::Use(image.clone()),
            ImageDecision::Missing { reason, fix } => ImageChoice::Missing(MissingImage {
                reason: reason.clone(),
                fix: fix.clone(),
            }),
            ImageDecision::Pull { image } => {
                let bar = PullProgress::start(image);
                let mut on_progress = |event: ImageProgress| bar.show(&event);
                let pulled = tokio::select! {
                    () = cancel.cancelled() => anyhow::bail!("interrupted while pulling {image}"),
                    pulled = images::ensure_image(docker, plan, PULL_TIMEOUT, &mut on_progress) => pulled,
                };
                bar.finish();
                match pulled {
                    Ok(image) => ImageChoice::Use(image),
                    Err(DockerError::ImageMissing { image, fix }) => {
                        ImageChoice::Missing(MissingImage {
                            reason: format!("image {image} is not available"),
                            fix,
                        })
                    }
                    Err(
                        error @ (DockerError::PullTimeout { .. } | DockerError::PullFailed { .. }),
                    ) => ImageChoice::Missing(MissingImage {
                        reason: error.to_string(),
                        fix: "pull it on a machine with registry access and `docker load` it \
                                  here, or configure an image you have"
                            .to_owned(),
                    }),
                    Err(other) => return Err(other.into()),
                }
            }
        };
        choices.insert(plan.component.as_str(), choice);
    }
    Ok(choices)
}

fn new_record(
    config: &Config,
    network: &ProjectNetwork,
    plan: &StackPlan,
    previous: Option<&StackRecord>,
) -> StackRecord {
    let components = plan
        .components
        .iter()
        .map(|component| {
            let (image, missing) = match &component.image {
                ImageChoice::Use(image) => (Some(image.clone()), None),
                ImageChoice::Missing(missing) => (None, Some(missing.clone())),
            };
            let earlier =
                previous.and_then(|record| record.component(component.component.as_str()));
            ComponentRecord {
                name: component.component.as_str().to_owned(),
                container: component.container.clone(),
                configured_image: component.configured_image.clone(),
                image,
                missing,
                spec_hash: None,
                config_digest: component.config_digest.clone(),
                container_port: component.container_port,
                host_port: earlier.and_then(|earlier| earlier.host_port),
                spec: component.spec.clone(),
            }
        })
        .collect();
    StackRecord {
        format: FORMAT,
        project: config.project.as_str().to_owned(),
        timing: config.timing,
        network: NetworkRecord {
            id: network.id.clone(),
            name: network.name.clone(),
            gateway: network.gateway,
        },
        daemon: plan.daemon.clone(),
        components,
    }
}

/// Keeps a live daemon that runs the planned settings; otherwise stops it (or a hung one found
/// by its pid file) and launches a new one in the background, waiting until it answers.
async fn ensure_detached(
    root: &StateRoot,
    project_dir: &ProjectDir,
    project: &str,
    record: &StackRecord,
    live: Option<&DaemonStatus>,
) -> anyhow::Result<DaemonHandle> {
    let wanted = &record.daemon.settings_digest;
    if let Some(status) = live.filter(|status| &status.settings_digest == wanted) {
        return Ok(DaemonHandle::Detached {
            pid: status.pid,
            action: "kept",
        });
    }
    let stopped = process::stop(
        &project_dir.control_socket(),
        &project_dir.pid_file(),
        project,
        DAEMON_STOP_GRACE,
    )
    .await;
    let action = match stopped {
        process::Stopped::NotRunning => "started",
        _ => "restarted (settings changed)",
    };
    let exe =
        std::env::current_exe().context("cannot find the monibox binary to start the daemon")?;
    let log_file = project_dir.log_file();
    let log_start = std::fs::metadata(&log_file).map_or(0, |meta| meta.len());
    let mut child = process::launch(&exe, project, root.path(), &log_file)
        .with_context(|| format!("cannot start the daemon ({})", exe.display()))?;
    let deadline = Instant::now() + DAEMON_START_DEADLINE;
    loop {
        if let Ok(Some(exit)) = child.try_wait() {
            anyhow::bail!(
                "the daemon exited during start-up ({exit}); {}:\n{}",
                log_file.display(),
                log_tail(&log_file, log_start)
            );
        }
        if let Ok(ControlResponse::Status(status)) = control::request(
            &project_dir.control_socket(),
            ControlRequest::Status,
            CONTROL_TIMEOUT,
        )
        .await
        {
            if &status.settings_digest == wanted {
                return Ok(DaemonHandle::Detached {
                    pid: status.pid,
                    action,
                });
            }
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the daemon did not answer within {DAEMON_START_DEADLINE:?}; {}:\n{}",
                log_file.display(),
                log_tail(&log_file, log_start)
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the daemon in this process (`--foreground`), after stopping a background one.
async fn start_in_process(
    project_dir: &ProjectDir,
    project: &str,
    record: &StackRecord,
    live: Option<&DaemonStatus>,
    cancel: &CancellationToken,
) -> anyhow::Result<DaemonHandle> {
    if live.is_some() || project_dir.pid_file().exists() {
        process::stop(
            &project_dir.control_socket(),
            &project_dir.pid_file(),
            project,
            DAEMON_STOP_GRACE,
        )
        .await;
    }
    let supervision = SupervisorSettings {
        project: project.to_owned(),
        stack_file: project_dir.stack_file(),
        docker_host: std::env::var("DOCKER_HOST").ok(),
        // Resumed like a launched daemon, once the containers are in place.
        start_held: true,
    };
    let settings = DaemonSettings::from_record(
        project,
        &record.daemon,
        project_dir.control_socket(),
        supervision,
    );
    let daemon = Daemon::bind(settings).await?;
    process::write_pid_file(&project_dir.pid_file(), std::process::id())?;
    let shutdown = cancel.child_token();
    let task = tokio::spawn(daemon.run(shutdown.clone()));
    Ok(DaemonHandle::InProcess { task, shutdown })
}

/// The last lines `path` gained after byte `from`.
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        if file.seek(SeekFrom::Start(from)).is_ok() {
            let _ = file.take(256 * 1024).read_to_string(&mut text);
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_LINES_ON_FAILURE)..];
    if tail.is_empty() {
        "  (the log is empty)".to_owned()
    } else {
        tail.iter()
            .map(|line| format!("  {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Probes the demo service (`/`) and the ops listener (`/-/healthy`) until both answer.
async fn wait_daemon_ready(
    record: &StackRecord,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let (Some(app), Some(ops)) = (record.daemon.app_url(), record.daemon.ops_url()) else {
        return Err("no listener addresses in stack.json".to_owned());
    };
    let client = HttpClient::new(Duration::from_secs(1));
    let urls = [format!("{app}/"), format!("{ops}/-/healthy")];
    loop {
        let results = join_all(urls.iter().map(|url| client.get(url))).await;
        let failure = results.into_iter().find_map(|result| match result {
            Ok(response) if response.status.is_success() => None,
            Ok(response) => Some(format!("HTTP {}", response.status)),
            Err(error) => Some(error.to_string()),
        });
        let Some(last) = failure else {
            return Ok(());
        };
        if Instant::now() + READINESS_INTERVAL >= deadline {
            return Err(format!("not ready in time: {last}"));
        }
        tokio::select! {
            () = cancel.cancelled() => return Err("interrupted".to_owned()),
            () = tokio::time::sleep(READINESS_INTERVAL) => {}
        }
    }
}

/// Reloads kept components whose configuration files changed since the last `up` (or whose
/// last state is unknown), through their lifecycle endpoint.
async fn reload_changed(
    plan: &StackPlan,
    runs: &BTreeMap<&'static str, ComponentRun>,
    record: &StackRecord,
    previous: Option<&StackRecord>,
) -> Vec<(&'static str, Result<(), String>)> {
    let reloads = plan.components.iter().filter_map(|component| {
        let name = component.component.as_str();
        let path = component.reload_path?;
        let Some(Ok(reconciled)) = runs.get(name).map(|run| &run.reconciled) else {
            return None;
        };
        let unchanged = previous
            .and_then(|previous| previous.component(name))
            .is_some_and(|earlier| earlier.config_digest == component.config_digest);
        if reconciled.action != Action::Kept || unchanged {
            return None;
        }
        let url = record.component(name)?.url()?;
        Some(async move { (name, reconcile::reload(&url, path).await) })
    });
    join_all(reloads).await
}

struct SummaryInputs<'a> {
    project: &'a str,
    record: &'a StackRecord,
    runs: &'a BTreeMap<&'static str, ComponentRun>,
    reloaded: &'a [(&'static str, Result<(), String>)],
    daemon: &'a DaemonHandle,
    password: &'a str,
    password_file: &'a Path,
    problems: &'a [String],
    elapsed: Duration,
}

fn summary(inputs: SummaryInputs<'_>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let state = if inputs.problems.is_empty() {
        "is up".to_owned()
    } else {
        format!(
            "is up, degraded ({} problem(s) below)",
            inputs.problems.len()
        )
    };
    let _ = writeln!(
        out,
        "monibox stack {:?} {state} in {:.1} s",
        inputs.project,
        inputs.elapsed.as_secs_f64()
    );
    let mut actions: Vec<String> = inputs
        .record
        .components
        .iter()
        .map(|component| {
            let what = match inputs
                .runs
                .get(component.name.as_str())
                .map(|run| &run.reconciled)
            {
                Some(Ok(reconciled)) => {
                    let reloaded = inputs
                        .reloaded
                        .iter()
                        .any(|(name, result)| *name == component.name && result.is_ok());
                    if reloaded {
                        "kept, configuration reloaded"
                    } else {
                        reconciled.action.as_str()
                    }
                }
                Some(Err(_)) => "failed",
                None => "not run (no image)",
            };
            format!("{} {what}", component.name)
        })
        .collect();
    actions.push(match inputs.daemon {
        DaemonHandle::Detached { pid, action } => format!("daemon {action} (pid {pid})"),
        DaemonHandle::InProcess { .. } => {
            format!(
                "daemon running in this terminal (pid {})",
                std::process::id()
            )
        }
    });
    let _ = writeln!(out, "  {}", actions.join("; "));
    let _ = writeln!(out);
    let url = |name: &str| {
        inputs
            .record
            .component(name)
            .filter(|component| component.image.is_some())
            .and_then(ComponentRecord::url)
            .unwrap_or_else(|| "-".to_owned())
    };
    let grafana = url("grafana");
    let login = if grafana == "-" {
        String::new()
    } else {
        format!(
            "   login {GRAFANA_ADMIN_USER} / {} (kept in {})",
            inputs.password,
            inputs.password_file.display()
        )
    };
    let _ = writeln!(out, "  Grafana        {grafana}{login}");
    let _ = writeln!(out, "  Prometheus     {}", url("prometheus"));
    let _ = writeln!(out, "  Alertmanager   {}", url("alertmanager"));
    let daemon = &inputs.record.daemon;
    let _ = writeln!(
        out,
        "  demo service   {}",
        daemon.app_url().unwrap_or_else(|| "-".to_owned())
    );
    let _ = writeln!(
        out,
        "  ops            {}   (/metrics, /alerts, /runbooks)",
        daemon.ops_url().unwrap_or_else(|| "-".to_owned())
    );
    if !inputs.problems.is_empty() {
        let _ = writeln!(out);
        for problem in inputs.problems {
            let _ = writeln!(out, "{problem}");
        }
    }
    let _ = writeln!(out);
    let project_flag = if inputs.project == "default" {
        String::new()
    } else {
        format!(" --project {}", inputs.project)
    };
    let _ = writeln!(
        out,
        "Next: monibox load{project_flag}      drive traffic at the demo service"
    );
    let _ = writeln!(
        out,
        "      monibox status{project_flag}    health, scrape targets, alerts"
    );
    let _ = writeln!(
        out,
        "      monibox down{project_flag}      stop (data kept; --volumes removes it)"
    );
    out
}

/// A spinner with the pull's status.
struct PullProgress {
    spinner: Spinner,
}

impl PullProgress {
    fn start(image: &str) -> Self {
        Self {
            spinner: Spinner::start(format!("pulling {image}")),
        }
    }

    fn show(&self, event: &ImageProgress) {
        let ImageProgress::Pulling {
            image,
            status,
            current,
            total,
        } = event
        else {
            return;
        };
        let bytes = match (current, total) {
            (Some(current), Some(total)) if *total > 0 => format!(
                " {:.1}/{:.1} MB",
                *current as f64 / 1e6,
                *total as f64 / 1e6
            ),
            _ => String::new(),
        };
        self.spinner
            .set_message(format!("pulling {image}: {status}{bytes}"));
    }

    fn finish(&self) {
        self.spinner.finish();
    }
}
