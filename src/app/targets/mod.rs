//! `monibox targets add | list | remove`: the user's own scrape targets.
//!
//! A change is made under the project's lock: the new target is checked on its own (each flag's
//! value) and against the others (a duplicate name), written into the file that keeps targets
//! (the `--config` file when one is given, else the state root's `targets/<project>.toml`; see
//! [`persist`]), and applied to a running stack with the reload `monibox reload` does, so no
//! container restarts. If Prometheus rejects the result, the file is put back as it was. Then
//! `add` waits (bounded) for Prometheus's first scrape of the target and says how it went.

mod list;
mod persist;
mod wait;

use std::process::ExitCode;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::EXIT_UNHEALTHY;
use super::context::ProjectContext;
use super::reload::{Reloaded, needs_up_text, reload_locked};
use crate::cli::{TargetsAddArgs, TargetsCommand, TargetsCommon, TargetsRemoveArgs};
use crate::config::{BasicAuth, Target};
use crate::output::{Format, Render, emit};
use persist::TargetsFileChoice;
use wait::Scrape;

pub async fn run(command: TargetsCommand) -> anyhow::Result<ExitCode> {
    match command {
        TargetsCommand::Add(args) => add(args).await,
        TargetsCommand::List(args) => list::run(args).await,
        TargetsCommand::Remove(args) => remove(args).await,
    }
}

/// How a change reached the running stack.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
enum Applied {
    /// Prometheus reloaded its configuration; no container restarted.
    Reloaded,
    /// Nothing runs; `monibox up` starts the stack with the change.
    NotRunning,
    /// Saved, but other changes in the configuration need `monibox up` first.
    NeedsUp { changes: Vec<String> },
}

#[derive(Debug, Serialize)]
struct ChangeReport {
    project: String,
    /// `added` or `removed`.
    action: &'static str,
    target: Target,
    /// The file the change was written to.
    file: String,
    applied: Applied,
    /// What Prometheus did with it, when the stack runs and the command waited.
    scrape: Option<Scrape>,
    #[serde(skip)]
    up_hint: String,
}

async fn add(args: TargetsAddArgs) -> anyhow::Result<ExitCode> {
    let format = Format::from_json_flag(args.common.output.json);
    let target = target_from_flags(&args)?;
    let project = ProjectContext::load(&args.common.config, &args.common.state)?;
    let _lock = project.lock("targets add", &args.common.lock).await?;
    // Read again under the lock: another command may have changed the files meanwhile.
    let project = ProjectContext::load(&args.common.config, &args.common.state)?;
    if project.config.targets.iter().any(|t| t.name == target.name) {
        anyhow::bail!(
            "NAME: project {:?} already has a target named {:?}; {} first to replace it",
            project.project(),
            target.name.as_str(),
            project.command(&format!("targets remove {}", target.name))
        );
    }
    let mut config = project.config.clone();
    config.targets.push(target.clone());
    config.validate()?;
    let choice = TargetsFileChoice::new(&args.common.config, &project);
    let edit = choice.add(&target)?;
    let report = apply(&args.common, "added", target, edit, !args.no_wait).await?;
    finish(&report, format)
}

async fn remove(args: TargetsRemoveArgs) -> anyhow::Result<ExitCode> {
    let format = Format::from_json_flag(args.common.output.json);
    let project = ProjectContext::load(&args.common.config, &args.common.state)?;
    let _lock = project.lock("targets remove", &args.common.lock).await?;
    let project = ProjectContext::load(&args.common.config, &args.common.state)?;
    let Some(target) = project
        .config
        .targets
        .iter()
        .find(|target| target.name.as_str() == args.name)
        .cloned()
    else {
        anyhow::bail!(
            "project {:?} has no target named {:?}; {} shows them (containers found by their \
             prometheus.io/scrape label go away when they stop or lose the label)",
            project.project(),
            args.name,
            project.command("targets list")
        );
    };
    let choice = TargetsFileChoice::new(&args.common.config, &project);
    let edit = choice.remove(target.name.as_str())?;
    let report = apply(&args.common, "removed", target, edit, true).await?;
    finish(&report, format)
}

/// Applies a written change to the running stack (putting the file back if Prometheus rejects
/// it) and, when `wait`, waits for Prometheus to take it up.
async fn apply(
    common: &TargetsCommon,
    action: &'static str,
    target: Target,
    edit: persist::Edit,
    wait: bool,
) -> anyhow::Result<ChangeReport> {
    let project = match ProjectContext::load(&common.config, &common.state) {
        Ok(project) => project,
        Err(error) => {
            edit.undo()?;
            return Err(error);
        }
    };
    let up_hint = project.command("up");
    let reloaded = match reload_locked(&project).await {
        Ok(reloaded) => reloaded,
        Err(error) => {
            edit.undo()?;
            return Err(error.context("the change was not saved"));
        }
    };
    let applied = match reloaded {
        Reloaded::NotRunning(_) => Applied::NotRunning,
        Reloaded::NeedsUp(changes) => Applied::NeedsUp { changes },
        Reloaded::Applied(report) if report.failed() => {
            edit.undo()?;
            anyhow::bail!(
                "the change was not saved: the stack did not take it\n{}",
                report.render_text().trim_end()
            );
        }
        Reloaded::Applied(_) => Applied::Reloaded,
    };
    let scrape = match (&applied, wait) {
        (Applied::Reloaded, true) if action == "added" => {
            Some(wait::first_scrape(&project, target.name.as_str()).await)
        }
        (Applied::Reloaded, true) => Some(wait::gone(&project, target.name.as_str()).await),
        _ => None,
    };
    Ok(ChangeReport {
        project: project.project().to_owned(),
        action,
        target,
        file: edit.path().display().to_string(),
        applied,
        scrape,
        up_hint,
    })
}

fn finish(report: &ChangeReport, format: Format) -> anyhow::Result<ExitCode> {
    emit(report, format)?;
    let healthy = match (&report.applied, &report.scrape) {
        (Applied::NeedsUp { .. }, _) => false,
        (_, Some(scrape)) => scrape.is_as_wanted(),
        (_, None) => true,
    };
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_UNHEALTHY)
    })
}

impl Render for ChangeReport {
    fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let address = &self.target.address;
        let preposition = if self.action == "added" { "to" } else { "from" };
        let _ = writeln!(
            out,
            "{} target {} ({}) {preposition} {}",
            self.action,
            self.target.name,
            address.as_str(),
            self.file
        );
        let _ = match &self.applied {
            Applied::Reloaded => writeln!(out, "Prometheus reloaded; no container restarted"),
            Applied::NotRunning if self.action == "added" => writeln!(
                out,
                "the stack is not running; {} starts it with this target",
                self.up_hint
            ),
            Applied::NotRunning => writeln!(
                out,
                "the stack is not running; {} starts it without this target",
                self.up_hint
            ),
            Applied::NeedsUp { changes } => writeln!(
                out,
                "not applied yet: the configuration has other changes; {}",
                needs_up_text(changes, &self.up_hint)
            ),
        };
        if let Some(scrape) = &self.scrape {
            let _ = writeln!(out, "{}", scrape.sentence(self.target.name.as_str()));
        }
        out
    }
}

/// The target the flags describe, each value checked by the rules of the config file.
fn target_from_flags(args: &TargetsAddArgs) -> anyhow::Result<Target> {
    let text = |value: &str| toml::Value::String(value.to_owned());
    let mut labels = std::collections::BTreeMap::new();
    for label in &args.labels {
        let Some((name, value)) = label.split_once('=') else {
            anyhow::bail!("--label {label:?}: use NAME=VALUE, e.g. --label team=web");
        };
        let flag = format!("--label {label}");
        let previous = labels.insert(field(&flag, text(name))?, field(&flag, text(value))?);
        if previous.is_some() {
            anyhow::bail!("--label {name}=... is given twice: give each label once");
        }
    }
    let target = Target {
        name: field("NAME", text(&args.name))?,
        address: field("ADDRESS", text(&args.address))?,
        path: args
            .path
            .as_deref()
            .map(|p| field("--path", text(p)))
            .transpose()?,
        scheme: args
            .scheme
            .as_deref()
            .map(|s| field("--scheme", text(s)))
            .transpose()?,
        interval: args
            .interval
            .as_deref()
            .map(|i| field("--interval", text(i)))
            .transpose()?,
        labels,
        bearer_token_file: args.bearer_token_file.clone(),
        basic_auth: match (&args.username, &args.password_file) {
            (Some(username), Some(password_file)) => Some(BasicAuth {
                username: field("--username", text(username))?,
                password_file: password_file.clone(),
            }),
            _ => None,
        },
    };
    target.check().map_err(|(key, message)| {
        let flag = match key {
            "path" => "--path",
            "scheme" => "--scheme",
            "bearer_token_file" => "--bearer-token-file",
            "basic_auth.password_file" => "--password-file",
            _ => "--bearer-token-file/--username",
        };
        anyhow::anyhow!("{flag}: {message}")
    })?;
    Ok(target)
}

/// One flag's value as the config file's type, or the error naming the flag.
fn field<T: DeserializeOwned>(flag: &str, value: toml::Value) -> anyhow::Result<T> {
    value
        .try_into()
        .map_err(|error: toml::de::Error| anyhow::anyhow!("{flag}: {}", error.message().trim_end()))
}
