//! `monibox logs [COMPONENT] [-f] [-n N|all] [-t]`: the components' logs on stdout — a
//! container's output (stdout and stderr) through the Engine, the daemon's log file — one
//! component as is, or all of them merged in time order with a `name | ` prefix (coloured on a
//! terminal unless NO_COLOR is set). Notes about components that are absent or stop go to
//! stderr.
//!
//! Which sources exist is decided first: one component without a container (or a daemon
//! without a log) is an error, exit 2; in the all-components view it is a note, and only a
//! stack without any container is an error. Then [`LogSession`] reads them; Ctrl-C ends a
//! follow with exit 0, as does every followed component stopping.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use futures_util::FutureExt as _;
use tokio_util::sync::CancellationToken;

use super::{EXIT_ENVIRONMENT, state_root};
use crate::cli::{LogComponent, LogsArgs, Tail};
use crate::daemon::process;
use crate::docker::images::Component;
use crate::logs::{DaemonAlive, LogEvent, LogLine, LogSession, Reading, SourceKind};
use crate::stack::plan::container_name;
use crate::stack::record::StackRecord;
use crate::stack::state::ProjectDir;

/// Lines per component in the all-components view unless `--tail` says otherwise.
const DEFAULT_TAIL_ALL: u64 = 50;
/// Output is written in pieces of about this size while more lines are ready.
const WRITE_BATCH: usize = 64 * 1024;

/// One source as shown: its name and prefix colour.
struct Shown {
    name: &'static str,
    colour: &'static str,
}

pub async fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let config = super::config::load(&args.config)?.config;
    let project = config.project.as_str().to_owned();
    let project_dir = state_root(&args.state)?.project(&project);
    let up_hint = super::up_command(&args.config);
    let wanted: Vec<LogComponent> = match args.component {
        Some(component) => vec![component],
        None => vec![
            LogComponent::Prometheus,
            LogComponent::Alertmanager,
            LogComponent::Grafana,
            LogComponent::Daemon,
        ],
    };
    let single = args.component.is_some();

    let mut sources = Vec::new();
    let mut shown = Vec::new();
    let mut notes = Vec::new();
    let needs_docker = wanted.iter().any(|c| *c != LogComponent::Daemon);
    let docker = if needs_docker {
        Some(super::connect_docker().await?)
    } else {
        None
    };
    for component in wanted {
        let (name, colour) = look(component);
        let source = match (component, container_component(component), &docker) {
            (LogComponent::Daemon, _, _) => {
                let path = project_dir.log_file();
                if path.exists() {
                    Ok(SourceKind::DaemonLog { path })
                } else {
                    Err(format!(
                        "no daemon log at {}: the daemon has not run for project {project:?} \
                         ({up_hint} starts it; with `up --foreground` it logs to its terminal)",
                        path.display()
                    ))
                }
            }
            (_, Some(component), Some(docker)) => {
                let container = container_name(&project, component);
                match docker.inspect_container(&container).await? {
                    Some(status) => Ok(SourceKind::Container {
                        docker: docker.clone(),
                        name: container,
                        running: status.is_running(),
                    }),
                    None => Err(why_no_container(&project_dir, name, &container, &up_hint)),
                }
            }
            _ => continue,
        };
        match source {
            Ok(source) => {
                sources.push(source);
                shown.push(Shown { name, colour });
            }
            Err(why) if single => anyhow::bail!(why),
            Err(why) => notes.push(why),
        }
    }
    if !single
        && !sources
            .iter()
            .any(|source| matches!(source, SourceKind::Container { .. }))
    {
        anyhow::bail!(
            "project {project:?} is not running (it has no containers): {up_hint} starts it; \
             `monibox logs daemon` shows the daemon's log of its last run"
        );
    }
    for note in &notes {
        eprintln_quietly(&format!("note: {note}"));
    }

    let tail = match args.tail {
        Some(Tail::All) => None,
        Some(Tail::Lines(lines)) => Some(lines),
        None if single => None,
        None => Some(DEFAULT_TAIL_ALL),
    };
    let pid_file = project_dir.pid_file();
    let daemon_alive: DaemonAlive = Arc::new(move || {
        process::read_pid_file(&pid_file)
            .is_some_and(|pid| process::is_alive(pid) && process::is_project_daemon(pid, &project))
    });
    let cancel = CancellationToken::new();
    let signals = super::cancel_on_signal(cancel.clone());
    let mut session = LogSession::open(
        sources,
        Reading {
            tail,
            follow: args.follow,
        },
        &daemon_alive,
        &cancel,
    );
    let printer = Printer {
        shown,
        prefixed: !single,
        colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        timestamps: args.timestamps,
    };
    let printed = printer.print(&mut session, &cancel).await;
    session.close(&cancel).await;
    signals.abort();
    Ok(if printed? {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ENVIRONMENT)
    })
}

fn look(component: LogComponent) -> (&'static str, &'static str) {
    match component {
        LogComponent::Prometheus => ("prometheus", "\x1b[33m"),
        LogComponent::Alertmanager => ("alertmanager", "\x1b[31m"),
        LogComponent::Grafana => ("grafana", "\x1b[32m"),
        LogComponent::Daemon => ("daemon", "\x1b[36m"),
    }
}

fn container_component(component: LogComponent) -> Option<Component> {
    match component {
        LogComponent::Prometheus => Some(Component::Prometheus),
        LogComponent::Alertmanager => Some(Component::Alertmanager),
        LogComponent::Grafana => Some(Component::Grafana),
        LogComponent::Daemon => None,
    }
}

/// Why a component has no container: no image (from stack.json), or the stack does not run.
fn why_no_container(
    project_dir: &ProjectDir,
    name: &str,
    container: &str,
    up_hint: &str,
) -> String {
    let record = StackRecord::read(&project_dir.stack_file()).ok().flatten();
    match record
        .as_ref()
        .and_then(|record| record.component(name))
        .and_then(|component| component.missing.as_ref())
    {
        Some(missing) => format!("{name} does not run: {} ({})", missing.reason, missing.fix),
        None => format!(
            "{name} has no container ({container}): the stack is not running or it was removed; \
             {up_hint} starts it, `monibox status` shows what runs"
        ),
    }
}

/// Writes to stderr, ignoring a closed stderr (nothing better can be done with a note).
fn eprintln_quietly(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

struct Printer {
    shown: Vec<Shown>,
    prefixed: bool,
    colour: bool,
    timestamps: bool,
}

impl Printer {
    /// Prints until the session ends or is cancelled; Ok(false) when a source failed. A closed
    /// stdout is an error (`main` ends quietly on it).
    async fn print(
        &self,
        session: &mut LogSession,
        cancel: &CancellationToken,
    ) -> anyhow::Result<bool> {
        let width = self
            .shown
            .iter()
            .map(|shown| shown.name.len())
            .max()
            .unwrap_or(0);
        let mut batch = String::new();
        let mut all_read = true;
        loop {
            // Lines that are ready are written together; the batch goes out before waiting.
            let event = match session.next().now_or_never() {
                Some(event) if batch.len() < WRITE_BATCH => event,
                ready => {
                    out!("{batch}")?;
                    batch.clear();
                    match ready {
                        Some(event) => event,
                        None => tokio::select! {
                            () = cancel.cancelled() => break,
                            event = session.next() => event,
                        },
                    }
                }
            };
            match event {
                Some(LogEvent::Line(line)) => self.format(&line, width, &mut batch),
                Some(LogEvent::Note { source, message }) => {
                    out!("{batch}")?;
                    batch.clear();
                    eprintln_quietly(&format!("note: {}: {message}", self.name(source)));
                }
                Some(LogEvent::Failed { source, error }) => {
                    out!("{batch}")?;
                    batch.clear();
                    eprintln_quietly(&format!("error: {}: {error}", self.name(source)));
                    all_read = false;
                }
                None => break,
            }
        }
        out!("{batch}")?;
        Ok(all_read)
    }

    fn name(&self, source: usize) -> &'static str {
        self.shown.get(source).map_or("?", |shown| shown.name)
    }

    fn format(&self, line: &LogLine, width: usize, out: &mut String) {
        use std::fmt::Write as _;
        if self.prefixed {
            let name = self.name(line.source);
            if self.colour {
                let colour = self.shown.get(line.source).map_or("", |shown| shown.colour);
                let _ = write!(out, "{colour}{name:<width$} |\x1b[0m ");
            } else {
                let _ = write!(out, "{name:<width$} | ");
            }
        }
        if let (true, Some(timestamp)) = (self.timestamps, &line.timestamp) {
            let _ = write!(out, "{timestamp} ");
        }
        let _ = writeln!(out, "{}", line.text);
    }
}
