//! `monibox up [--foreground] [--json]`: brings the stack to what the configuration asks for,
//! and returns when every part answers.
//!
//! Order: configuration (errors: exit 2, nothing created) → the project's lock (another `up`,
//! `down` or `reload` of the project finishes first) → fixed ports free (exit 2, nothing created)
//! → Docker (exit 2 if unreachable) → names checked: a container, volume or network of the
//! project's names that is not the project's is an error naming it (exit 2, nothing created or
//! touched) → images (pulled, or built from the host's packages where a pull fails) → network →
//! the daemon's ports → the rendered bundle and volumes → a running daemon's supervisor held →
//! stack.json → containers and the daemon (a new one starts held) at once, and a component
//! switched off loses its container → readiness of everything at once → the final stack.json,
//! and the supervisor resumed → reloads of kept components whose files changed → the report. A
//! component without an image is reported with its fix while the rest runs (exit 1, degraded).
//! An `up` that fails before the containers are created removes the network and volumes it
//! created, and says what it removed.
//! With `--foreground` the daemon runs in this process until Ctrl-C, which takes the stack down.

mod daemon;
mod prepare;
mod report;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::EXIT_UNHEALTHY;
use super::context::ProjectContext;
use crate::cli::UpArgs;
use crate::docker::{Docker, RemoveVolumes};
use crate::output::{Format, emit};
use crate::stack::reconcile::{self, Action, ComponentRun};
use crate::stack::record::StackRecord;
use crate::stack::teardown;
use daemon::DaemonHandle;
use prepare::Prepared;
use report::UpReport;

/// Everything must answer within this time after `up` started.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long a daemon being replaced may take to exit.
const DAEMON_STOP_GRACE: Duration = Duration::from_secs(5);
/// How long `up --foreground`, interrupted, waits for the project's lock to take the stack down.
const FOREGROUND_TEARDOWN_WAIT: Duration = Duration::from_secs(10);

pub async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let context = ProjectContext::load(&args.config, &args.state)?;
    let lock = context.lock("up", &args.lock).await?;
    let docker_host = std::env::var("DOCKER_HOST").ok();
    let cancel = CancellationToken::new();
    let signals = super::cancel_on_signal(cancel.clone());
    let result = bring_up(&context, &args, &cancel, started, docker_host).await;
    let (report, daemon, docker) = match result {
        Ok(done) => done,
        Err(error) => {
            // A supervisor this run held (or a daemon it launched, which starts held) would
            // otherwise stay held until its hold expires.
            if let Err(resume) = context.daemon().resume().await {
                tracing::debug!(%resume, "no supervisor to resume");
            }
            signals.abort();
            return Err(error);
        }
    };
    emit(&report, Format::from_json_flag(args.output.json))?;
    let code = if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_UNHEALTHY)
    };
    let DaemonHandle::InProcess { task, shutdown } = daemon else {
        signals.abort();
        return Ok(code);
    };
    // The foreground daemon runs until Ctrl-C or `monibox down`; other commands may change the
    // project meanwhile.
    lock.release();
    if !args.output.json {
        outln!(
            "\nRunning in the foreground: Ctrl-C (or `monibox down`) stops the daemon and removes \
             the containers; data volumes are kept."
        )?;
    }
    tokio::select! {
        () = cancel.cancelled() => {}
        () = shutdown.cancelled() => {}
    }
    shutdown.cancel();
    if tokio::time::timeout(DAEMON_STOP_GRACE, task).await.is_err() {
        tracing::warn!("the daemon did not stop within {DAEMON_STOP_GRACE:?}");
    }
    // Stopped by `monibox down`, which holds the lock and removes the stack itself.
    if !cancel.is_cancelled() {
        signals.abort();
        return Ok(code);
    }
    let lock_args = crate::cli::LockArgs {
        lock_timeout: FOREGROUND_TEARDOWN_WAIT,
    };
    let Ok(_lock) = context.lock("up --foreground", &lock_args).await else {
        eprintln!(
            "another command is changing project {} now; the stack is left to it (`monibox \
             down` removes it)",
            context.project()
        );
        signals.abort();
        return Ok(code);
    };
    let removed = teardown(
        &docker,
        context.project(),
        &context.dir,
        RemoveVolumes::Keep,
    )
    .await?;
    if !args.output.json {
        outln!(
            "stopped the daemon; removed {} containers and {} network (data volumes kept)",
            removed.containers,
            removed.networks
        )?;
    }
    signals.abort();
    Ok(code)
}

/// Everything from Docker on; the report, the daemon and the Engine connection.
async fn bring_up(
    context: &ProjectContext,
    args: &UpArgs,
    cancel: &CancellationToken,
    started: Instant,
    docker_host: Option<String>,
) -> anyhow::Result<(UpReport, DaemonHandle, Docker)> {
    let config = &context.config;
    let (prometheus, others) = (
        &crate::catalog::prometheus::DEF,
        [
            &crate::catalog::grafana::DEF,
            &crate::catalog::alertmanager::DEF,
        ],
    );
    if !prometheus.is_enabled(config) && others.iter().any(|def| def.is_enabled(config)) {
        tracing::warn!(
            "components.prometheus = false: nothing scrapes, Grafana shows no data and \
             Alertmanager receives no alerts"
        );
    }
    let previous = context.record();
    let live = context.daemon().live().await;
    let held = prepare::held_ports(previous.as_ref(), live.as_ref());
    crate::stack::ports::check_fixed_ports(&context.config, &held)?;
    let docker = super::connect_docker().await?;
    let prepared = prepare::prepare(
        &docker,
        context,
        previous.as_ref(),
        live.as_ref(),
        super::pull_policy(args.pull),
        cancel,
    )
    .await?;
    let Prepared {
        plan,
        mut record,
        password,
        network_repaired,
        built_here,
    } = prepared;
    tracing::debug!(elapsed = ?started.elapsed(), "prepared");

    // The containers and the daemon at once; each is probed as soon as it runs.
    let deadline = started + READY_DEADLINE;
    let daemon_side = async {
        let daemon = if args.foreground {
            daemon::start_in_process(context, &record, live.as_ref(), docker_host, cancel).await?
        } else {
            daemon::ensure_detached(context, &record, live.as_ref()).await?
        };
        let ready = daemon::wait_ready(&record, deadline, cancel).await;
        anyhow::Ok((daemon, ready))
    };
    let (runs, removed_disabled, daemon_side) = tokio::join!(
        reconcile::bring_up(&docker, &plan.components, deadline, cancel),
        reconcile::remove_disabled(&docker, context.project(), &plan.disabled),
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
    let runs: BTreeMap<&'static str, ComponentRun> =
        runs.into_iter().map(|run| (run.def.name, run)).collect();
    for component in &mut record.components {
        if let Some(Ok(reconciled)) = runs.get(component.name.as_str()).map(|run| &run.reconciled) {
            component.spec_hash = reconciled.status.spec_hash().map(str::to_owned);
            component.host_port = reconciled
                .status
                .host_address(component.container_port)
                .map(|address| address.port());
        }
    }
    context.store.replace(&record)?;
    if let Err(error) = context.daemon().resume().await {
        tracing::warn!(
            %error,
            "could not resume the daemon's supervisor; it resumes by itself within two minutes"
        );
    }
    let reloaded = reload_changed(&plan, &runs, &record, previous.as_ref()).await;
    let report = UpReport::new(report::Inputs {
        context,
        plan: &plan,
        record: &record,
        runs: &runs,
        reloaded: &reloaded,
        removed_disabled: removed_disabled.unwrap_or_else(|error| {
            tracing::warn!(%error, "could not remove a switched-off component's container");
            Vec::new()
        }),
        daemon: &daemon,
        daemon_ready: daemon_ready.map_err(|error| error.to_string()),
        password: password.as_deref(),
        network_repaired,
        built_here,
        elapsed: started.elapsed(),
    });
    Ok((report, daemon, docker))
}

/// Reloads kept components whose configuration files changed since the last `up` (or whose
/// last state is unknown), through their lifecycle endpoint.
async fn reload_changed(
    plan: &crate::stack::plan::StackPlan,
    runs: &BTreeMap<&'static str, ComponentRun>,
    record: &StackRecord,
    previous: Option<&StackRecord>,
) -> Vec<(&'static str, Result<(), String>)> {
    let reloads = plan.components.iter().filter_map(|component| {
        let name = component.def.name;
        let path = component.def.reload_path?;
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
        Some(async move {
            let result = reconcile::reload(&url, path).await;
            (name, result.map_err(|error| error.to_string()))
        })
    });
    futures_util::future::join_all(reloads).await
}
