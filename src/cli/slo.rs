//! The arguments of `monibox slo` and `monibox slo import`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{ConfigArgs, OutputArgs, StateArgs};

pub const SLO_EXAMPLES: &str = "\
Examples:
  monibox slo                                   every SLO: SLI, budget left, burn rates, alerts
  monibox slo --json                            the same as JSON
  monibox slo import sloth.yml                  a Sloth prometheus/v1 spec as [[slo]] tables
  monibox slo import sloth.yml --job shop --output slo.toml

Exit codes: 0 ok, 1 an error budget is exhausted, 2 the stack is not up, Prometheus does not
answer, or (import) the spec cannot be read or expressed.";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SloArgs {
    #[command(subcommand)]
    pub command: Option<SloCommand>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Subcommand)]
pub enum SloCommand {
    /// Turn a Sloth `prometheus/v1` spec into `[[slo]]` tables (printed, or written to --output).
    ///
    /// Each SLO becomes `<service>-<name>` with an `events` SLI; labels, alert names and
    /// annotations are listed as comments, since monibox's rules do not carry them. A field
    /// monibox cannot express (sli.raw, sli.plugin, plugins, interval, an alert's disable or
    /// for) is an error naming it. Exit 2 then.
    Import(SloImportArgs),
}

#[derive(Debug, Args)]
pub struct SloImportArgs {
    /// The Sloth spec (YAML); `-` reads stdin.
    pub file: PathBuf,
    /// The job of every SLO: "app" or a [[targets]] name [default: the spec's service]
    #[arg(long, value_name = "JOB")]
    pub job: Option<String>,
    /// Write the TOML here instead of stdout (an existing file is refused).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}
