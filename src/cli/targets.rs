//! The arguments of `monibox targets`: the user's own scrape targets.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{ConfigArgs, LockArgs, OutputArgs, StateArgs};

pub(super) const TARGETS_EXAMPLES: &str = "\
Examples:
  monibox targets add shop 127.0.0.1:8080            scrape http://127.0.0.1:8080/metrics as job shop
  monibox targets add api https://api.internal:8443/stats --label team=web
  monibox targets list                               each target's health, last scrape and series
  monibox targets remove shop

Targets are saved in the --config file when one is given, else in the state directory's
targets/<project>.toml. A running stack picks the change up with a reload: no container restarts.
Running containers labelled prometheus.io/scrape=true are found without being added.";

#[derive(Debug, Subcommand)]
pub enum TargetsCommand {
    /// Add a scrape target (a Prometheus job of its own) and reload the running stack.
    ///
    /// ADDRESS is host:port or a URL (http(s)://host:port/path). 127.0.0.1, ::1 and localhost
    /// mean this machine: an app that listens only on loopback is scraped as it is. Exit 0 added (and
    /// up, if the stack runs), 1 added but down or not applied, 2 bad input (nothing changed).
    Add(TargetsAddArgs),
    /// List the targets: configured, discovered from Docker labels, and (with --all) monibox's.
    List(TargetsListArgs),
    /// Remove a target added with `targets add` (or written in the config) and reload.
    Remove(TargetsRemoveArgs),
}

#[derive(Debug, Args)]
pub struct TargetsAddArgs {
    /// The Prometheus job: letters, digits, `_` and `-`, starting with a letter, at most 64
    /// characters; not one of monibox's own jobs.
    pub name: String,
    /// host:port, or a URL with scheme and path.
    pub address: String,
    /// The metrics path (default /metrics, or the URL's path).
    #[arg(long)]
    pub path: Option<String>,
    /// http or https (default http, or the URL's scheme).
    #[arg(long)]
    pub scheme: Option<String>,
    /// How often to scrape it (default: the timing profile's interval), e.g. 30s.
    #[arg(long, value_name = "TIME")]
    pub interval: Option<String>,
    /// A label added to every series of the job; repeatable.
    #[arg(long = "label", value_name = "NAME=VALUE")]
    pub labels: Vec<String>,
    /// A file holding a bearer token to send (absolute path).
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
    /// HTTP basic authentication user; needs --password-file.
    #[arg(long, value_name = "USER", requires = "password_file")]
    pub username: Option<String>,
    /// A file holding the basic authentication password (absolute path).
    #[arg(long, value_name = "FILE", requires = "username")]
    pub password_file: Option<PathBuf>,
    /// Return once the change is applied, without waiting for the first scrape.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub common: TargetsCommon,
}

#[derive(Debug, Args)]
pub struct TargetsRemoveArgs {
    /// The target's name (its job).
    pub name: String,
    #[command(flatten)]
    pub common: TargetsCommon,
}

/// What every `targets` command that changes the targets takes.
#[derive(Debug, Args)]
pub struct TargetsCommon {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub lock: LockArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct TargetsListArgs {
    /// Also list monibox's own jobs (app, monibox, prometheus, alertmanager, grafana).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}
