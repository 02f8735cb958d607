//! `monibox reload [--json]`: applies the current configuration to the running stack without
//! restarting anything. Renders the bundle as `up` would (same configuration layering, same
//! plan), and if nothing but configuration files changed, writes it to the state directory and
//! asks Prometheus and Alertmanager to reload (`POST /-/reload`), then records the new config
//! digests in stack.json.
//!
//! Order: configuration (an error: exit 2, nothing changed) → stack.json and the containers (not
//! running: exit 2) → the plan; changes a reload cannot apply are named with `monibox up` as the
//! fix (exit 2, nothing changed) → the bundle written → both reloads at once → a component that
//! rejects its new files gets the previous ones back (exit 1, with its error) → stack.json.

use std::collections::BTreeMap;
use std::process::ExitCode;

use futures_util::future::join_all;
use serde::Serialize;

use super::{EXIT_ENVIRONMENT, EXIT_UNHEALTHY, state_root};
use crate::cli::ReloadArgs;
use crate::docker::images::Component;
use crate::docker::{ContainerStatus, Docker};
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
struct Report {
    project: String,
    state: State,
    components: Vec<ComponentReport>,
    /// Changes only `monibox up` can apply (then nothing was reloaded).
    needs_up: Vec<String>,
}

pub async fn run(args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let config = super::config::load(&args.config)?.config;
    let project = config.project.as_str();
    let project_dir = state_root(&args.state)?.project(project);
    let up_hint = super::up_command(&args.config);
    let Some(record) =
        StackRecord::read(&project_dir.stack_file())?.filter(|record| record.project == project)
    else {
        anyhow::bail!(
            "project {project:?} is not running (no stack.json in {}): {up_hint} starts it",
            project_dir.path().display()
        );
    };
    let docker = super::connect_docker().await?;
    let running = inspect_all(&docker, &record).await?;
    if running.values().all(Option::is_none) {
        anyhow::bail!(
            "project {project:?} is not running (it has no containers): {up_hint} starts it"
        );
    }
    let ReloadPlan { plan, needs_up } = ReloadPlan::new(&config, &project_dir, &record, &running)?;
    if !needs_up.is_empty() {
        let report = Report {
            project: project.to_owned(),
            state: State::NeedsUp,
            components: Vec::new(),
            needs_up,
        };
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&report)?)?;
            return Ok(ExitCode::from(EXIT_ENVIRONMENT));
        }
        anyhow::bail!(
            "nothing reloaded: {} needs more than a reload; run {up_hint}, which recreates only \
             what changed:\n  - {}",
            if report.needs_up.len() == 1 {
                "this change"
            } else {
                "these changes"
            },
            report.needs_up.join("\n  - ")
        );
    }

    let reloadable: Vec<&ComponentPlan> = plan
        .components
        .iter()
        .filter(|component| component.reload_path.is_some())
        .collect();
    let bundle_dir = project_dir.bundle_dir();
    let dirs: Vec<&str> = reloadable
        .iter()
        .map(|component| component.component.as_str())
        .collect();
    let backup = BundleBackup::take(&bundle_dir, &plan.bundle, &dirs)?;
    plan.bundle.write_to(&bundle_dir)?;
    project_dir.open_bundle_permissions()?;

    let reloads = reloadable.iter().map(|component| {
        let status = running
            .get(component.component.as_str())
            .and_then(Option::as_ref);
        async move {
            (
                component.component.as_str(),
                reload_one(component, status).await,
            )
        }
    });
    let results: BTreeMap<&'static str, Result<(), (Outcome, String)>> =
        join_all(reloads).await.into_iter().collect();

    // Read again: the daemon's supervisor may have recorded a recreated container's port
    // meanwhile, which the record read at the start would write over.
    let mut record = StackRecord::read(&project_dir.stack_file())?
        .filter(|current| current.project == project)
        .unwrap_or(record);
    let mut components = Vec::new();
    for component in &plan.components {
        let name = component.component.as_str();
        let changed = record
            .component(name)
            .is_none_or(|recorded| recorded.config_digest != component.config_digest);
        let (result, detail) = match results.get(name) {
            Some(Ok(())) => (Outcome::Reloaded, None),
            Some(Err((outcome, detail))) => (*outcome, Some(detail.clone())),
            None => (Outcome::Unchanged, None),
        };
        match result {
            Outcome::Failed => backup.restore(name)?,
            // A stopped component reads the new files when it starts, as does one without a
            // reload endpoint whose files did not change.
            Outcome::Reloaded | Outcome::NotRunning | Outcome::Unchanged => {
                if let Some(recorded) = record
                    .components
                    .iter_mut()
                    .find(|recorded| recorded.name == name)
                {
                    recorded.config_digest = component.config_digest.clone();
                }
            }
        }
        components.push(ComponentReport {
            name,
            result,
            configuration_changed: changed,
            detail,
        });
    }
    let failed = components
        .iter()
        .any(|component| matches!(component.result, Outcome::Failed | Outcome::NotRunning));
    if !failed {
        record.timing = config.timing;
    }
    record.write(&project_dir.stack_file())?;

    let report = Report {
        project: project.to_owned(),
        state: if failed {
            State::Failed
        } else {
            State::Reloaded
        },
        components,
        needs_up: Vec::new(),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", render(&report))?;
    }
    Ok(if failed {
        ExitCode::from(EXIT_UNHEALTHY)
    } else {
        ExitCode::SUCCESS
    })
}

/// Every component's container, by name (None when it has none), all at once.
async fn inspect_all(
    docker: &Docker,
    record: &StackRecord,
) -> anyhow::Result<BTreeMap<&'static str, Option<ContainerStatus>>> {
    let inspections = Component::ALL.map(|component| async move {
        let container = record
            .component(component.as_str())
            .map(|recorded| recorded.container.clone());
        let status = match container {
            Some(container) => docker.inspect_container(&container).await,
            None => Ok(None),
        };
        (component.as_str(), status)
    });
    let mut running = BTreeMap::new();
    for (name, status) in join_all(inspections).await {
        running.insert(name, status?);
    }
    Ok(running)
}

/// Asks one component to reload, at the address its running container publishes.
async fn reload_one(
    component: &ComponentPlan,
    status: Option<&ContainerStatus>,
) -> Result<(), (Outcome, String)> {
    let path = component.reload_path.unwrap_or("/-/reload");
    let Some(status) = status.filter(|status| status.is_running()) else {
        return Err((
            Outcome::NotRunning,
            "not running; it reads the new configuration when it starts (`monibox status` \
             shows why it stopped, `monibox up` starts it)"
                .to_owned(),
        ));
    };
    let Some(address) = status.host_address(component.container_port) else {
        return Err((
            Outcome::Failed,
            format!("{} publishes no port to reach it on", status.name),
        ));
    };
    reconcile::reload(&format!("http://{address}"), path)
        .await
        .map_err(|error| {
            (
                Outcome::Failed,
                format!("rejected the new configuration (it keeps running the previous one, whose files were put back): {error}"),
            )
        })
}

fn render(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for component in &report.components {
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
        };
        let _ = write!(out, "{:<13} {what}", component.name);
        if let Some(detail) = &component.detail {
            let _ = write!(out, ": {detail}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "{}",
        match report.state {
            State::Reloaded => "no container was restarted",
            _ => "no container was restarted; see above for what did not reload",
        }
    );
    out
}
