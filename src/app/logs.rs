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

use super::EXIT_ENVIRONMENT;
use super::context::ProjectContext;
use crate::catalog;
use crate::cli::{DAEMON_LOG, LogsArgs, Tail};
use crate::logs::{DaemonAlive, LogEvent, LogLine, LogSession, Reading, SourceKind};

/// Lines per component in the all-components view unless `--tail` says otherwise.
const DEFAULT_TAIL_ALL: u64 = 50;
/// Output is written in pieces of about this size while more lines are ready.
const WRITE_BATCH: usize = 64 * 1024;

/// The colour of the daemon's prefix.
const DAEMON_COLOUR: &str = "\x1b[36m";

/// One source as shown: its name and prefix colour.
struct Shown {
    name: &'static str,
    colour: &'static str,
}

pub async fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let context = ProjectContext::load(&args.config, &args.state)?;
    let project = context.project().to_owned();
    let project_dir = &context.dir;
    let up_hint = context.command("up");
    // Without a component: every component the configuration runs, and the daemon.
    let wanted: Vec<Option<&'static catalog::ComponentDef>> = match args.component.as_deref() {
        Some(DAEMON_LOG) => vec![None],
        Some(name) => vec![catalog::get(name)],
        // What runs: the components `up` recorded, else those the configuration runs.
        None => match context.record() {
            Some(record) => catalog::CATALOG
                .iter()
                .copied()
                .filter(|def| record.component(def.name).is_some())
                .map(Some)
                .chain([None])
                .collect(),
            None => catalog::enabled(&context.config)
                .map(Some)
                .chain([None])
                .collect(),
        },
    };
    let single = args.component.is_some();

    let mut sources = Vec::new();
    let mut shown = Vec::new();
    let mut notes = Vec::new();
    let docker = if wanted.iter().any(Option::is_some) {
        Some(super::connect_docker().await?)
    } else {
        None
    };
    for component in wanted {
        let (name, colour) = component.map_or((DAEMON_LOG, DAEMON_COLOUR), |def| {
            (def.name, def.log_colour)
        });
        let source = match (component, &docker) {
            (None, _) => {
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
            (Some(def), Some(docker)) => {
                let container = def.container_name(&project);
                match docker.inspect_container(&container).await? {
                    Some(status) if status.project() == Some(project.as_str()) => {
                        Ok(SourceKind::Container {
                            docker: docker.clone(),
                            name: container,
                            running: status.is_running(),
                        })
                    }
                    Some(_) => Err(format!(
                        "{name}: the container {container} is not this project's (monibox did \
                         not create it), so its logs are not shown"
                    )),
                    None => Err(why_no_container(&context, name, &container, &up_hint)),
                }
            }
            (Some(_), None) => continue,
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
    let daemon = context.daemon();
    let daemon_alive: DaemonAlive = Arc::new(move || daemon.running_pid().is_some());
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

/// Why a component has no container: switched off or no image (from stack.json), or the stack
/// does not run.
fn why_no_container(
    context: &ProjectContext,
    name: &str,
    container: &str,
    up_hint: &str,
) -> String {
    let record = context.record();
    let recorded = record.as_ref().map(|record| record.component(name));
    match recorded {
        Some(None) => format!(
            "{name} does not run: the stack runs without it ({})",
            catalog::get(name).map_or_else(String::new, |def| def.off_switch())
        ),
        Some(Some(crate::stack::record::ComponentRecord {
            missing: Some(missing),
            ..
        })) => format!("{name} does not run: {} ({})", missing.reason, missing.fix),
        _ => format!(
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
