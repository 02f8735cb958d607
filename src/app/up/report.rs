//! What `up` reports: per component what it did and where it answers, the daemon, the Grafana
//! login, the problems with their fixes (a missing image names the one install command and the
//! key that turns the component off), and the next steps — as text or `--json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::daemon::{DaemonAction, DaemonHandle};
use crate::app::context::ProjectContext;
use crate::catalog::{self, grafana};
use crate::output::Render;
use crate::stack::images::ImageChoice;
use crate::stack::plan::StackPlan;
use crate::stack::reconcile::{Action, ComponentRun};
use crate::stack::record::StackRecord;

/// `up`'s report.
#[derive(Debug, Serialize)]
pub(super) struct UpReport {
    pub(super) project: String,
    /// `healthy` or `degraded` (also the exit code: 0 or 1).
    pub(super) state: &'static str,
    pub(super) elapsed_seconds: f64,
    pub(super) components: Vec<UpComponent>,
    pub(super) daemon: UpDaemon,
    /// Grafana's login, when Grafana runs.
    pub(super) grafana_login: Option<GrafanaLogin>,
    /// What is wrong, each with its fix.
    pub(super) problems: Vec<String>,
    /// One command that installs every missing host package, when that is the fix.
    pub(super) install: Option<String>,
    /// Empty duplicates of the project's network (from an older monibox) this run removed.
    pub(super) duplicate_networks_removed: usize,
    /// The commands to run next, with the flags that name this project.
    #[serde(skip)]
    next: Vec<(String, &'static str)>,
}

#[derive(Debug, Serialize)]
pub(super) struct UpComponent {
    name: &'static str,
    /// `created`, `kept`, `replaced`, `restarted` (was stopped), `reloaded` (kept, configuration
    /// reloaded), `failed`, `missing` (no image), `removed` (switched off, its container
    /// removed) or `disabled`.
    action: &'static str,
    image: Option<String>,
    /// Built by this run from the host's Debian package.
    built_from_host: bool,
    url: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct UpDaemon {
    action: DaemonAction,
    pid: u32,
    demo_url: Option<String>,
    ops_url: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct GrafanaLogin {
    user: &'static str,
    password: String,
    password_file: String,
}

/// What [`UpReport::new`] is made from.
pub(super) struct Inputs<'a> {
    pub(super) context: &'a ProjectContext,
    pub(super) plan: &'a StackPlan,
    pub(super) record: &'a StackRecord,
    pub(super) runs: &'a BTreeMap<&'static str, ComponentRun>,
    pub(super) reloaded: &'a [(&'static str, Result<(), String>)],
    pub(super) removed_disabled: Vec<&'static str>,
    pub(super) daemon: &'a DaemonHandle,
    pub(super) daemon_ready: Result<(), String>,
    pub(super) password: Option<&'a str>,
    pub(super) network_repaired: usize,
    pub(super) built_here: Vec<&'static str>,
    pub(super) elapsed: Duration,
}

impl UpReport {
    pub(super) fn new(inputs: Inputs<'_>) -> Self {
        let mut problems = Vec::new();
        let mut packages = Vec::new();
        let mut components = Vec::new();
        for component in &inputs.plan.components {
            let name = component.def.name;
            let run = inputs.runs.get(name);
            let reloaded = inputs
                .reloaded
                .iter()
                .find(|(reloaded, _)| *reloaded == name)
                .map(|(_, result)| result);
            if let ImageChoice::Missing(missing) = &component.image {
                problems.push(format!("{name}: {} — {}", missing.reason, missing.fix));
                if let Some(recipe) = component.def.host_image {
                    if recipe.check_host().is_err() {
                        packages.push(recipe.package);
                    }
                }
            }
            if let Some(run) = run {
                match (&run.reconciled, &run.ready) {
                    (Err(error), _) => problems.push(format!("{name}: {error}")),
                    (Ok(_), Some(Err(error))) => problems.push(format!("{name}: {error}")),
                    _ => {}
                }
            }
            if let Some(Err(error)) = reloaded {
                problems.push(format!(
                    "{name}: reloading its configuration failed: {error}"
                ));
            }
            let action = match run.map(|run| (&run.reconciled, &run.ready)) {
                None => "missing",
                Some((Err(_), _)) | Some((_, Some(Err(_)))) => "failed",
                Some((Ok(_), _)) if matches!(reloaded, Some(Ok(()))) => "reloaded",
                Some((Ok(reconciled), _)) => match reconciled.action {
                    Action::Created => "created",
                    Action::Kept => "kept",
                    Action::Replaced => "replaced",
                    Action::Restarted => "restarted",
                },
            };
            components.push(UpComponent {
                name,
                action,
                image: match &component.image {
                    ImageChoice::Use(image) => Some(image.clone()),
                    ImageChoice::Missing(_) => None,
                },
                built_from_host: inputs.built_here.contains(&name),
                url: inputs
                    .record
                    .component(name)
                    .filter(|_| run.is_some())
                    .and_then(|recorded| recorded.url()),
            });
        }
        for def in &inputs.plan.disabled {
            components.push(UpComponent {
                name: def.name,
                action: if inputs.removed_disabled.contains(&def.name) {
                    "removed"
                } else {
                    "disabled"
                },
                image: None,
                built_from_host: false,
                url: None,
            });
        }
        components.sort_by_key(|component| {
            catalog::CATALOG
                .iter()
                .position(|def| def.name == component.name)
        });
        if let Err(error) = &inputs.daemon_ready {
            problems.push(format!(
                "daemon: {error} (see {})",
                inputs.context.dir.log_file().display()
            ));
        }
        let (action, pid) = match inputs.daemon {
            DaemonHandle::Detached { pid, action } => (*action, *pid),
            DaemonHandle::InProcess { .. } => (DaemonAction::Foreground, std::process::id()),
        };
        let grafana_runs = components
            .iter()
            .any(|c| c.name == grafana::DEF.name && c.url.is_some());
        UpReport {
            project: inputs.context.project().to_owned(),
            state: if problems.is_empty() {
                "healthy"
            } else {
                "degraded"
            },
            elapsed_seconds: inputs.elapsed.as_secs_f64(),
            components,
            daemon: UpDaemon {
                action,
                pid,
                demo_url: inputs.record.daemon.app_url(),
                ops_url: inputs.record.daemon.ops_url(),
            },
            grafana_login: inputs
                .password
                .filter(|_| grafana_runs)
                .map(|password| GrafanaLogin {
                    user: grafana::ADMIN_USER,
                    password: password.to_owned(),
                    password_file: inputs.context.dir.password_file().display().to_string(),
                }),
            problems,
            install: (!packages.is_empty())
                .then(|| format!("sudo apt-get install {}", packages.join(" "))),
            duplicate_networks_removed: inputs.network_repaired,
            next: [
                ("load", "drive traffic at the demo service"),
                ("status", "health, scrape targets, alerts"),
                ("down", "stop (data kept; --volumes removes it)"),
            ]
            .into_iter()
            .map(|(command, what)| (inputs.context.command(command), what))
            .collect(),
        }
    }
}

impl Render for UpReport {
    fn render_text(&self) -> String {
        let mut out = String::new();
        let state = if self.problems.is_empty() {
            "is up".to_owned()
        } else {
            format!("is up, degraded ({} problem(s) below)", self.problems.len())
        };
        let _ = writeln!(
            out,
            "monibox stack {:?} {state} in {:.1} s",
            self.project, self.elapsed_seconds
        );
        let mut actions: Vec<String> = self
            .components
            .iter()
            .map(|component| {
                let what = match component.action {
                    "replaced" => "replaced (configuration changed)",
                    "restarted" => "recreated (was stopped)",
                    "reloaded" => "kept, configuration reloaded",
                    "missing" => "not run (no image)",
                    "removed" => "removed (switched off)",
                    "disabled" => "off",
                    other => other,
                };
                let built = if component.built_from_host {
                    " (image built from the host's package)"
                } else {
                    ""
                };
                format!("{} {what}{built}", component.name)
            })
            .collect();
        actions.push(match self.daemon.action {
            DaemonAction::Kept => format!("daemon kept (pid {})", self.daemon.pid),
            DaemonAction::Started => format!("daemon started (pid {})", self.daemon.pid),
            DaemonAction::Restarted => format!(
                "daemon restarted (settings changed) (pid {})",
                self.daemon.pid
            ),
            DaemonAction::Foreground => {
                format!("daemon running in this terminal (pid {})", self.daemon.pid)
            }
        });
        let _ = writeln!(out, "  {}", actions.join("; "));
        if self.duplicate_networks_removed > 0 {
            let _ = writeln!(
                out,
                "  removed {} empty duplicate(s) of the project's network left by an older monibox",
                self.duplicate_networks_removed
            );
        }
        let _ = writeln!(out);
        let dash = || "-".to_owned();
        let mut lines: Vec<(String, String)> = Vec::new();
        for component in self
            .components
            .iter()
            .filter(|c| !matches!(c.action, "disabled" | "removed"))
        {
            let title = catalog::get(component.name).map_or(component.name, |def| def.title);
            let mut url = component.url.clone().unwrap_or_else(dash);
            if let (true, Some(login)) = (component.name == grafana::DEF.name, &self.grafana_login)
            {
                url.push_str(&format!(
                    "   login {} / {} (kept in {})",
                    login.user, login.password, login.password_file
                ));
            }
            lines.push((title.to_owned(), url));
        }
        lines.push((
            "demo service".to_owned(),
            self.daemon.demo_url.clone().unwrap_or_else(dash),
        ));
        lines.push((
            "ops".to_owned(),
            format!(
                "{}   (/metrics, /alerts, /runbooks)",
                self.daemon.ops_url.clone().unwrap_or_else(dash)
            ),
        ));
        let width = lines
            .iter()
            .map(|(title, _)| title.len())
            .max()
            .unwrap_or(0);
        for (title, url) in lines {
            let _ = writeln!(out, "  {title:<width$}   {url}");
        }
        if !self.problems.is_empty() {
            let _ = writeln!(out);
            for problem in &self.problems {
                let _ = writeln!(out, "{problem}");
            }
            if let Some(install) = &self.install {
                let _ = writeln!(
                    out,
                    "\nInstall the missing packages with `{install}`, then run `monibox up` again: \
                     it builds the images itself."
                );
            }
        }
        let _ = writeln!(out);
        let width = self
            .next
            .iter()
            .map(|(command, _)| command.len())
            .max()
            .unwrap_or(0);
        for (index, (command, what)) in self.next.iter().enumerate() {
            let prefix = if index == 0 { "Next:" } else { "     " };
            let _ = writeln!(out, "{prefix} {command:<width$}  {what}");
        }
        out
    }
}
