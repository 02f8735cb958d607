//! `monibox reload [--json]`: applies the current configuration to the running stack without
//! restarting anything. Renders the bundle as `up` would (same configuration layering, same
//! plan), and if nothing but configuration files changed, writes it to the state directory and
//! asks each component with a reload endpoint to reload, then records the new config digests
//! (and timing) in stack.json.
//!
//! Order: configuration (an error: exit 2, nothing changed) → the project's lock → stack.json and
//! the containers (not running: exit 2) → the plan; changes a reload cannot apply are named with
//! `monibox up` as the fix (exit 2, nothing changed) → the daemon's supervisor held → the bundle
//! written → every reload at once → a component that rejects its new files gets the previous
//! ones back (exit 1, with its error) → stack.json updated → the supervisor resumed, which
//! re-reads it (a new timing applies to its checks and backoff from then on).

use std::collections::BTreeMap;
use std::process::ExitCode;

use futures_util::future::join_all;
use serde::Serialize;

use super::context::ProjectContext;
use super::{EXIT_ENVIRONMENT, EXIT_UNHEALTHY};
use crate::catalog;
use crate::cli::ReloadArgs;
use crate::docker::{ContainerStatus, Docker};
use crate::output::{Format, Render, emit};
use crate::stack::plan::ComponentPlan;
use crate::stack::reconcile;
use crate::stack::record::StackRecord;
use crate::stack::reload::{BundleBackup, ReloadPlan};

/// What happened to one component.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    /// It reloaded its configuration.
    Reloaded,
    /// It rejected the new configuration (and keeps running the previous one).
    Failed,
    /// It has no running container, so it reads the files when it next starts.
    NotRunning,
    /// It did not answer in time: it may still be applying the new files, which stay.
    Unconfirmed,
    /// Nothing to do: it cannot reload, and its configuration did not change.
    Unchanged,
}

#[derive(Debug, Serialize)]
struct ComponentReport {
    name: &'static str,
    result: Outcome,
    /// Whether its configuration files differ from what it ran before.
    configuration_changed: bool,
    /// The component's answer when it failed, or why it did not run.
    detail: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum State {
    Reloaded,
    Failed,
    NeedsUp,
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    project: String,
    state: State,
    components: Vec<ComponentReport>,
    /// Changes only `monibox up` can apply (then nothing was reloaded).
    needs_up: Vec<String>,
}

pub async fn run(args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let project = ProjectContext::load(&args.config, &args.state)?;
    let format = Format::from_json_flag(args.output.json);
    let up_hint = project.command("up");
    let _lock = project.lock("reload", &args.lock).await?;
    match reload_locked(&project).await? {
        Reloaded::NotRunning(why) => anyhow::bail!(
            "project {:?} is not running ({why}): {up_hint} starts it",
            project.project()
        ),
        Reloaded::NeedsUp(needs_up) => {
            if format == Format::Json {
                let report = Report {
                    project: project.project().to_owned(),
                    state: State::NeedsUp,
                    components: Vec::new(),
                    needs_up,
                };
                emit(&report, format)?;
                return Ok(ExitCode::from(EXIT_ENVIRONMENT));
            }
            anyhow::bail!("nothing reloaded: {}", needs_up_text(&needs_up, &up_hint));
        }
        Reloaded::Applied(report) => {
            emit(&report, format)?;
            Ok(if report.failed() {
                ExitCode::from(EXIT_UNHEALTHY)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// What [`reload_locked`] did.
#[derive(Debug)]
pub(super) enum Reloaded {
    /// Nothing runs to reload, and why (no stack.json, no containers).
    NotRunning(String),
    /// The changes only `monibox up` can apply; nothing was changed.
    NeedsUp(Vec<String>),
    Applied(Report),
}

/// "this change needs more than a reload; run `monibox up` …" with the changes listed.
pub(super) fn needs_up_text(needs_up: &[String], up_hint: &str) -> String {
    format!(
        "{} needs more than a reload; run {up_hint}, which recreates only what changed:\n  - {}",
        if needs_up.len() == 1 {
            "this change"
        } else {
            "these changes"
        },
        needs_up.join("\n  - ")
    )
}

/// Applies `project`'s configuration to its running stack; the caller holds the project's lock.
pub(super) async fn reload_locked(project: &ProjectContext) -> anyhow::Result<Reloaded> {
    let Some(record) = project.store.read()? else {
        return Ok(Reloaded::NotRunning(format!(
            "no stack.json in {}",
            project.dir.path().display()
        )));
    };
    let docker = super::connect_docker().await?;
    let running = inspect_all(&docker, &record).await?;
    if running.values().all(Option::is_none) {
        return Ok(Reloaded::NotRunning("it has no containers".to_owned()));
    }
    let ReloadPlan { plan, needs_up } =
        ReloadPlan::new(&project.config, &project.dir, &record, &running)?;
    if !needs_up.is_empty() {
        return Ok(Reloaded::NeedsUp(needs_up));
    }

    // The supervisor must not recreate a container from the old record, nor write the record,
    // while this changes both (see `stack::store`).
    let daemon = project.daemon();
    if let Err(error) = daemon.hold().await {
        tracing::debug!(%error, "no supervisor to hold");
    }
    let outcome = apply(project, &plan, &running).await;
    if let Err(error) = daemon.resume().await {
        tracing::debug!(%error, "no supervisor to resume");
    }
    let components = outcome?;
    let failed = components.iter().any(|component| {
        matches!(
            component.result,
            Outcome::Failed | Outcome::NotRunning | Outcome::Unconfirmed
        )
    });
    Ok(Reloaded::Applied(Report {
        project: project.project().to_owned(),
        state: if failed {
            State::Failed
        } else {
            State::Reloaded
        },
        components,
        needs_up: Vec::new(),
    }))
}

impl Report {
    /// Whether a component rejected its configuration or does not run.
    pub(super) fn failed(&self) -> bool {
        matches!(self.state, State::Failed)
    }
}

/// Writes the bundle, reloads every component that can, puts back the files of one that
/// rejected them, and records what now runs.
async fn apply(
    project: &ProjectContext,
    plan: &crate::stack::plan::StackPlan,
    running: &BTreeMap<&'static str, Option<ContainerStatus>>,
) -> anyhow::Result<Vec<ComponentReport>> {
    let reloadable: Vec<&ComponentPlan> = plan
        .components
        .iter()
        .filter(|component| component.def.reload_path.is_some())
        .collect();
    let bundle_dir = project.dir.bundle_dir();
    let dirs: Vec<&str> = reloadable
        .iter()
        .filter_map(|component| component.def.bundle.map(|mount| mount.dir))
        .collect();
    crate::stack::secrets::sync(&project.dir, &project.config)?;
    let backup = BundleBackup::take(&bundle_dir, &plan.bundle, &dirs)?;
    plan.bundle.write_to(&bundle_dir)?;
    project.dir.open_bundle_permissions()?;

    let reloads = reloadable.iter().map(|component| async move {
        let status = running.get(component.def.name).and_then(Option::as_ref);
        (component.def.name, reload_one(component, status).await)
    });
    let results: BTreeMap<&'static str, Result<(), (Outcome, String)>> =
        join_all(reloads).await.into_iter().collect();

    let recorded = project.store.read()?;
    let mut components = Vec::new();
    let mut applied = Vec::new();
    for component in &plan.components {
        let name = component.def.name;
        let changed = recorded
            .as_ref()
            .and_then(|record| record.component(name))
            .is_none_or(|recorded| recorded.config_digest != component.config_digest);
        let (result, detail) = match results.get(name) {
            Some(Ok(())) => (Outcome::Reloaded, None),
            Some(Err((outcome, detail))) => (*outcome, Some(detail.clone())),
            None => (Outcome::Unchanged, None),
        };
        match result {
            Outcome::Failed => {
                if let Some(mount) = component.def.bundle {
                    backup.restore(mount.dir)?;
                }
            }
            // A stopped component reads the new files when it starts, as does one without a
            // reload endpoint whose files did not change; one that did not answer is still
            // reading them.
            Outcome::Reloaded | Outcome::NotRunning | Outcome::Unchanged | Outcome::Unconfirmed => {
                applied.push((name, component.config_digest.clone()));
            }
        }
        components.push(ComponentReport {
            name,
            result,
            configuration_changed: changed,
            detail,
        });
    }
    let all_applied = components.iter().all(|component| {
        !matches!(
            component.result,
            Outcome::Failed | Outcome::NotRunning | Outcome::Unconfirmed
        )
    });
    let timing = project.config.timing;
    project.store.update(|record| {
        for (name, digest) in &applied {
            if let Some(recorded) = record.components.iter_mut().find(|r| r.name == *name) {
                recorded.config_digest = digest.clone();
            }
        }
        if all_applied {
            record.timing = timing;
        }
        record.relays = crate::stack::record::Relay::for_config(&project.config);
        record.discovery = project.config.discovery.clone();
        record.containers = project.config.containers.clone();
    })?;
    Ok(components)
}

/// Every recorded component's container, by name (None when it has none), all at once; a
/// same-named container that is not the project's counts as none.
async fn inspect_all(
    docker: &Docker,
    record: &StackRecord,
) -> anyhow::Result<BTreeMap<&'static str, Option<ContainerStatus>>> {
    let inspections = catalog::CATALOG.iter().map(|def| async move {
        let status = match record.component(def.name) {
            Some(recorded) => docker.inspect_container(&recorded.container).await,
            None => Ok(None),
        };
        (def.name, status)
    });
    let mut running = BTreeMap::new();
    for (name, status) in join_all(inspections).await {
        let status = status?.filter(|status| status.project() == Some(record.project.as_str()));
        running.insert(name, status);
    }
    Ok(running)
}

/// Asks one component to reload, at the address its running container publishes.
async fn reload_one(
    component: &ComponentPlan,
    status: Option<&ContainerStatus>,
) -> Result<(), (Outcome, String)> {
    let path = component.def.reload_path.unwrap_or("/-/reload");
    let Some(status) = status.filter(|status| status.is_running()) else {
        return Err((
            Outcome::NotRunning,
            "not running; it reads the new configuration when it starts (`monibox status` \
             shows why it stopped, `monibox up` starts it)"
                .to_owned(),
        ));
    };
    let Some(address) = status.host_address(component.def.container_port) else {
        return Err((
            Outcome::Failed,
            format!("{} publishes no port to reach it on", status.name),
        ));
    };
    reconcile::reload(&format!("http://{address}"), path)
        .await
        .map_err(|error| match error {
            reconcile::ReloadError::Rejected(error) => (
                Outcome::Failed,
                format!(
                    "rejected the new configuration (it keeps running the previous one, whose \
                     files were put back): {error}"
                ),
            ),
            reconcile::ReloadError::NoAnswer(error) => (
                Outcome::Unconfirmed,
                format!(
                    "{error}: it may still be applying the new files, which stay in place \
                     (a Prometheus whose remote-write receiver does not answer takes minutes); \
                     `monibox status` shows when it is healthy again"
                ),
            ),
        })
}

impl Render for Report {
    fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let width = self
            .components
            .iter()
            .map(|component| component.name.len())
            .max()
            .unwrap_or(0);
        for component in &self.components {
            let changed = if component.configuration_changed {
                "configuration changed"
            } else {
                "configuration unchanged"
            };
            let what = match component.result {
                Outcome::Reloaded => format!("reloaded ({changed})"),
                Outcome::Unchanged => "unchanged (nothing to reload)".to_owned(),
                Outcome::NotRunning => "not reloaded".to_owned(),
                Outcome::Failed => "FAILED".to_owned(),
                Outcome::Unconfirmed => "not confirmed".to_owned(),
            };
            let _ = write!(out, "{:<width$}  {what}", component.name);
            if let Some(detail) = &component.detail {
                let _ = write!(out, ": {detail}");
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "{}",
            match self.state {
                State::Reloaded => "no container was restarted",
                _ => "no container was restarted; see above for what did not reload",
            }
        );
        out
    }
}
