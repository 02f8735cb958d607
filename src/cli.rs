//! Command-line types (clap derive) and nothing else: parsing happens here, behaviour in `app`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  monibox serve                          run the demo service on 127.0.0.1:5000
  monibox serve --listen 127.0.0.1:0     same, on any free port (the address is printed)
  monibox config show --timing fast      the effective configuration with the fast profile
  monibox config export ./monitoring     write Prometheus/Alertmanager/Grafana files to a dir

Exit codes: 0 ok, 1 unhealthy or a threshold failed, 2 usage or environment error.
Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=monibox=debug) to change what is logged.";

/// Monitoring in a box: an instrumented demo service, Prometheus, Alertmanager and Grafana.
#[derive(Debug, Parser)]
#[command(name = "monibox", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// Log more (debug level for monibox) unless RUST_LOG says otherwise.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the instrumented demo service in the foreground (Ctrl-C to stop).
    Serve(ServeArgs),
    /// Show the effective configuration or export the rendered monitoring bundle.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port and prints it. Repeat to listen on several.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:5000")]
    pub listen: Vec<SocketAddr>,

    /// Shortest delay of /slow, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub slow_min_ms: u64,

    /// Longest delay of /slow, in milliseconds (at most 10000).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub slow_max_ms: u64,

    /// Probability that /error fails with HTTP 500, from 0 to 1.
    #[arg(long, value_name = "P", default_value_t = 0.3)]
    pub error_rate: f64,

    /// On Ctrl-C or SIGTERM, how long in-flight requests may take to finish, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 11)]
    pub drain_timeout: u64,

    /// Record no metrics per request (only for measuring what the instrumentation costs).
    #[arg(long, hide = true)]
    pub uninstrumented: bool,
}

/// Where the configuration comes from; flattened into every command that needs it. Precedence:
/// built-in defaults, then the file, then `MONIBOX_*` environment variables, then these flags.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// TOML configuration file (see config/monibox.toml for every key).
    #[arg(long, value_name = "PATH", env = "MONIBOX_CONFIG")]
    pub config: Option<PathBuf>,
    /// Project name: lowercase letters, digits and hyphens; several projects can run side by side.
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Timing profile: standard (15 s scrapes) or fast (1 s, alerts fire within seconds).
    #[arg(long, value_name = "PROFILE", value_parser = ["standard", "fast"])]
    pub timing: Option<String>,
}

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
}
