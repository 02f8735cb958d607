//! The arguments of `monibox config` and `monibox images`.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Args, Subcommand};

use super::{ConfigArgs, OutputArgs, StateArgs};
use crate::catalog;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (defaults, file, environment and flags applied).
    Show(ConfigShowArgs),
    /// Write the rendered bundle (Prometheus, rules, Alertmanager, Grafana, runbooks) to DIR,
    /// addressed for Prometheus, Alertmanager and Grafana run on this machine.
    Export(ConfigExportArgs),
}

#[derive(Debug, Args)]
pub struct ConfigShowArgs {
    /// Print JSON instead of TOML.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Where the project's targets file is (the targets `monibox targets add` keeps).
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct ConfigExportArgs {
    /// Directory to write to; created if missing.
    pub dir: PathBuf,
    /// Write into a non-empty directory, replacing the bundle's files (other files are kept).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The hidden name of the Grafana stand-in in `images build --component`.
pub const GRAFANA_STANDIN: &str = "grafana-standin";

/// What `images build --from-host --component` can build: the catalog components with a host
/// recipe, and (hidden) the Grafana stand-in.
fn host_buildable() -> PossibleValuesParser {
    PossibleValuesParser::new(
        catalog::CATALOG
            .iter()
            .filter(|def| def.host_image.is_some())
            .map(|def| PossibleValue::new(def.name))
            .chain([
                PossibleValue::new(catalog::daemon::MONIBOX_IMAGE)
                    .help("monibox itself, for the Compose and Kubernetes exports"),
                PossibleValue::new(GRAFANA_STANDIN).hide(true),
            ]),
    )
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Build local images (monibox-local/<component>:<version>) without a registry.
    #[command(after_help = "\
Builds FROM scratch images from the host's Debian packages `prometheus` and
`prometheus-alertmanager` (binaries, their shared libraries, web assets and templates) through
the Docker Engine. Images whose inputs did not change are reused unless --force is given.
`--component monibox` builds monibox itself (this binary and its libraries, running the demo
service and the ops listener), which `monibox export compose|kubernetes` run.")]
    Build(ImagesBuildArgs),
    /// Show, per component, the image `up` will use and where it comes from, or what is missing
    /// and how to fix it.
    List(ImagesListArgs),
}

#[derive(Debug, Args)]
pub struct ImagesBuildArgs {
    /// Build from the binaries installed on this host (the only source for now).
    #[arg(long, required = true)]
    pub from_host: bool,
    /// Build only this component (default: all that can be built from the host).
    #[arg(long, value_parser = host_buildable())]
    pub component: Option<String>,
    /// Rebuild even if an image built from the same host files exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ImagesListArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    /// The pull policy to evaluate, as `up --pull` would use it.
    #[arg(long, value_enum, default_value_t = PullArg::Missing)]
    pub pull: PullArg,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// When images may be pulled from a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullArg {
    /// Use local images only.
    Never,
    /// Pull only what is not present locally (default).
    Missing,
    /// Pull the configured images even if present.
    Always,
}
