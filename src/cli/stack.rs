//! The arguments of the stack's commands: `up`, `status`, `down`, `logs`, `reload` and the
//! hidden `daemon`.

use std::path::PathBuf;

use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser};

use super::{ConfigArgs, LockArgs, OutputArgs, PullArg, StateArgs};
use crate::catalog;

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub lock: LockArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// When images may be pulled: never, missing (default) or always.
    #[arg(long, value_enum, default_value_t = PullArg::Missing)]
    pub pull: PullArg,
    /// Stay in the terminal running the daemon; Ctrl-C takes the stack down (data kept).
    #[arg(long)]
    pub foreground: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the data volumes (Prometheus, Alertmanager, Grafana) and the project's state
    /// directory, Grafana's admin password included.
    #[arg(long)]
    pub volumes: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub lock: LockArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub(super) const LOGS_EXAMPLES: &str = "\
Examples:
  monibox logs                    the last 50 lines of every component, in time order
  monibox logs -f                 ... and then new lines as they come, until Ctrl-C
  monibox logs prometheus         all of Prometheus's output (stdout and stderr)
  monibox logs prometheus -n 20   its last 20 lines
  monibox logs daemon -f          follow the daemon's log file
  monibox logs alertmanager -t    with Docker's timestamps

A followed container that restarts or is recreated is picked up again; following ends when
every component stopped (a container that does not come back within 75 s, at once when no
daemon runs to bring it back; the daemon's log 5 s after the daemon stopped).";

/// The name `monibox logs` gives the daemon's log file (demo service, ops listener, webhook).
pub const DAEMON_LOG: &str = "daemon";

/// What `monibox logs` can show: every catalog component and the daemon.
fn log_components() -> PossibleValuesParser {
    PossibleValuesParser::new(
        catalog::names()
            .map(PossibleValue::new)
            .chain([PossibleValue::new(DAEMON_LOG).help("the daemon's log file")]),
    )
}

/// How many lines `monibox logs` shows from the end of each log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    All,
    Lines(u64),
}

impl std::str::FromStr for Tail {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("all") {
            return Ok(Tail::All);
        }
        text.parse().map(Tail::Lines).map_err(|_| {
            format!("{text:?} is not a number of lines: give a whole number such as 50, or `all`")
        })
    }
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The component to show [default: all of them, interleaved]
    #[arg(value_parser = log_components())]
    pub component: Option<String>,
    /// Keep showing new lines until Ctrl-C (or until the components stop).
    #[arg(short, long)]
    pub follow: bool,
    /// Lines from the end of each log, or `all` [default: all for one component, 50 per
    /// component for all of them]
    #[arg(short = 'n', long, value_name = "N|all")]
    pub tail: Option<Tail>,
    /// Show Docker's timestamp before each container line (the daemon's lines have their own).
    #[arg(short, long)]
    pub timestamps: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

pub(super) const RELOAD_EXAMPLES: &str = "\
Examples:
  monibox reload                          after editing an alert threshold in the config file
  monibox reload --config monibox.toml    the same, naming the file
  monibox reload --json                   the result for scripts";

#[derive(Debug, Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The project whose stack.json to run.
    #[arg(long, value_name = "NAME")]
    pub project: String,
    /// The state directory `up` used.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Start with the supervisor held (no restarts) until `up` sends `resume` on the control
    /// socket, or for at most two minutes.
    #[arg(long)]
    pub held: bool,
}
