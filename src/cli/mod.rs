//! Command-line types (clap derive) and nothing else: parsing happens here, behaviour in `app`.
//! The stack's commands are in [`stack`], the user's targets in [`targets`], configuration and
//! images in [`tools`], exports to other engines in [`export`].

mod export;
mod slo;
mod stack;
mod targets;
mod tools;
mod top;

use export::EXPORT_EXAMPLES;
pub use export::{ExportCommand, ExportCommon, ExportComposeArgs, ExportKubernetesArgs};
use slo::SLO_EXAMPLES;
pub use slo::{SloArgs, SloCommand, SloImportArgs};
pub use stack::{DAEMON_LOG, DaemonArgs, DownArgs, LogsArgs, ReloadArgs, StatusArgs, Tail, UpArgs};
use stack::{LOGS_EXAMPLES, RELOAD_EXAMPLES};
use targets::TARGETS_EXAMPLES;
pub use targets::{
    TargetsAddArgs, TargetsCommand, TargetsCommon, TargetsListArgs, TargetsRemoveArgs,
};
pub use tools::{
    ConfigCommand, ConfigExportArgs, ConfigShowArgs, GRAFANA_STANDIN, ImagesBuildArgs,
    ImagesCommand, ImagesListArgs, PullArg,
};
use top::TOP_EXAMPLES;
pub use top::TopArgs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::load::plan::{Mix, Scenario, Target, ThinkTime, parse_duration};
use crate::load::threshold::Threshold;

const EXAMPLES: &str = "\
Examples:
  monibox up                             start the stack; returns when everything is healthy
  monibox status                         what runs, is it healthy, what fires (--json for scripts)
  monibox top                            the stack live in the terminal (--once: one frame)
  monibox slo                            SLOs: SLI, error budget left, burn rates, alerts
  monibox down                           stop and remove it (data kept; --volumes removes it too)
  monibox logs -f                        every component's log, interleaved, as it is written
  monibox reload                         apply a changed config to Prometheus and Alertmanager
  monibox targets add web 127.0.0.1:80   scrape your own service as job web (no restart)
  monibox serve                          run the demo service on 127.0.0.1:5000
  monibox serve --listen 127.0.0.1:0     same, on any free port (the address is printed)
  monibox config show --timing fast      the effective configuration with the fast profile
  monibox config export ./monitoring     write Prometheus/Alertmanager/Grafana files to a dir
  monibox images build --from-host       build Prometheus/Alertmanager images from host packages
  monibox images list                    show which image each component will use, and why

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
    /// Bring up the stack; returns when every part answers.
    ///
    /// The demo service and the ops listener run in a background daemon; Prometheus,
    /// Alertmanager and Grafana in Docker. Running it again reconciles instead of duplicating.
    /// Exit 0 healthy, 1 degraded (e.g. an image is missing), 2 usage or environment error.
    Up(UpArgs),
    /// Show what runs, whether it is healthy and which alerts fire.
    ///
    /// Each component's state, health, uptime, restarts and URL, Prometheus's targets and
    /// alerts, and the alerts the daemon's webhook received. Exit 0 healthy, 1 degraded, 2 not
    /// running.
    Status(StatusArgs),
    /// Watch the stack live in the terminal: components, endpoints, targets, alerts.
    ///
    /// Full-screen, refreshed every --interval, from the same Prometheus queries as the
    /// dashboards; each panel says when its source does not answer and how old its values are.
    /// --once prints one frame as plain text, --json its data. Exit 2 for a bad configuration,
    /// Docker not answering, or no terminal (without --once or --json).
    #[command(after_help = TOP_EXAMPLES)]
    Top(TopArgs),
    /// Show each SLO's SLI, error budget left, burn rates and burn-rate alerts, from Prometheus.
    ///
    /// One row per [[slo]]: the objective, the SLI over the SLO window, the budget left, the
    /// burn rate over each alert window (scaled in the fast profile) and the ErrorBudgetBurn
    /// alerts pending or firing; `-` where Prometheus has no value yet. `slo import` turns a
    /// Sloth spec into [[slo]] tables. Exit 0 ok, 1 a budget is exhausted, 2 the stack is not up
    /// or Prometheus does not answer.
    #[command(after_help = SLO_EXAMPLES)]
    Slo(SloArgs),
    /// Stop the daemon and remove the containers and the network (data is kept).
    ///
    /// Data volumes and the Grafana password are kept unless --volumes. Safe to run at any time.
    Down(DownArgs),
    /// Show the components' logs (Docker's for the containers, the daemon's log file).
    ///
    /// Without COMPONENT, all of them merged in time order, each line prefixed with its
    /// component. Exit 2 when the stack (or the component) does not run or a log cannot be read.
    #[command(after_help = LOGS_EXAMPLES)]
    Logs(LogsArgs),
    /// Reload Prometheus's and Alertmanager's configuration from the current config (no restart).
    ///
    /// Changes that need new containers (ports, images, flags, Grafana's files, the daemon's
    /// settings) are named instead, and nothing is changed: `monibox up` applies those. Exit 0
    /// reloaded, 1 a component rejected its configuration or is not running, 2 usage or
    /// environment error, or the change needs `monibox up`.
    #[command(after_help = RELOAD_EXAMPLES)]
    Reload(ReloadArgs),
    /// Scrape your own services: add, list and remove targets (no container restarts).
    #[command(subcommand, after_help = TARGETS_EXAMPLES)]
    Targets(TargetsCommand),
    /// Drive HTTP load at the demo service (or any HTTP target) and report latency and errors.
    Load(Box<LoadArgs>),
    /// Run the instrumented demo service in the foreground (Ctrl-C to stop).
    Serve(ServeArgs),
    /// Show the effective configuration or export the rendered monitoring bundle.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Export the stack for another engine: a Compose project or kube-prometheus-stack objects.
    ///
    /// Exit 2 for a directory that is not empty (without --force), a malformed configuration or
    /// a name Kubernetes would refuse; nothing is written then.
    #[command(subcommand, after_help = EXPORT_EXAMPLES)]
    Export(ExportCommand),
    /// Build and inspect the container images the stack runs (offline-friendly).
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Print a shell completion script (e.g. `monibox completions bash > /etc/bash_completion.d/monibox`).
    Completions(CompletionsArgs),
    /// The daemon `up` starts in the background (not meant to be run by hand).
    #[command(hide = true)]
    Daemon(DaemonArgs),
    /// Exit 0 when URL answers 2xx within --timeout (a container health check for images
    /// without a shell, such as the monibox image); 1 otherwise, saying why on stderr.
    #[command(hide = true)]
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    pub url: String,
    #[arg(long, value_name = "TIME", default_value = "2s", value_parser = parse_wait)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Where monibox keeps a project's state (rendered configuration, stack.json, the daemon's pid,
/// log and control socket, the Grafana password).
#[derive(Debug, Clone, Default, Args)]
pub struct StateArgs {
    /// State directory [default: $XDG_STATE_HOME/monibox or ~/.local/state/monibox]
    #[arg(long, value_name = "DIR", env = "MONIBOX_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// How long a command that changes the project waits for another one to finish.
#[derive(Debug, Clone, Args)]
pub struct LockArgs {
    /// Wait at most this long (e.g. 30s, 5m) for another `up`, `down` or `reload` of the same
    /// project to finish, then exit 2.
    #[arg(long, value_name = "TIME", default_value = "2m", value_parser = parse_wait)]
    pub lock_timeout: Duration,
}

/// A time to wait: `30s`, `2m`, `1h30m`, `1d` (0 does not wait), at most a week.
fn parse_wait(text: &str) -> Result<Duration, String> {
    let wait = humantime::parse_duration(text)
        .map_err(|error| format!("{text:?} is not a duration ({error}): use e.g. 30s, 2m or 1h"))?;
    if wait > Duration::from_secs(7 * 86_400) {
        return Err(format!("{text:?} is more than a week: wait at most 7d"));
    }
    Ok(wait)
}

/// `--json` for commands that report something.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// Print the report as JSON (fields documented in the README) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port and prints it. Repeat to listen on several.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:5000")]
    pub listen: Vec<SocketAddr>,

    /// Also run the ops listener here (self-metrics, the Alertmanager webhook `/alerts`, the
    /// runbooks), as the daemon does; repeat to listen on several. What the monibox image runs.
    #[arg(long, value_name = "ADDR:PORT")]
    pub ops_listen: Vec<SocketAddr>,

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

const LOAD_EXAMPLES: &str = "\
Examples:
  monibox load --users 50                          50 users, realistic mix, 30 s
  monibox load --rate 200 --duration 1m            200 requests/s whatever the latency
  monibox load --scenario errors                   drive the error-rate alert
  monibox load --users 64 --think-time 0 --mix /   as fast as possible, like wrk
  monibox load --threshold 'p95<300ms' --threshold 'error_rate<1%' --json

Scenarios (explicit flags override them):
  steady  --users 20 --think-time 200ms..1s --duration 60s, realistic mix
  spike   --users 200 --ramp-up 0s --think-time 0ms..100ms --duration 30s, realistic mix
  errors  --users 20 --think-time 100ms..500ms --duration 60s --mix /error=70,/=20,/slow=10
  stress  --users 100 --ramp-up 10s --think-time 0 --duration 60s
          --mix /cpu-intensive=40,/slow=30,/=20,/error=10

Thresholds: [ENDPOINT:]METRIC OP VALUE with METRIC p50|p90|p95|p99|max|mean (a duration),
error_rate (1% or 0.01) or rps; OP <, <=, >, >=. A threshold on an endpoint without requests
(or a latency without responses) fails.

Exit codes: 0 done and every threshold held; 1 a threshold failed; 2 bad flags, an unreachable
target or one that gave no HTTP answer at all; 130 stopped by Ctrl-C (or SIGTERM), after the
report of what was measured.";

#[derive(Debug, Args)]
#[command(after_help = LOAD_EXAMPLES)]
pub struct LoadArgs {
    /// Base URL to load [default: the demo service of the project's running stack, else
    /// http://127.0.0.1:5000]
    #[arg(long, value_name = "URL")]
    pub target: Option<Target>,

    /// Closed model: this many users, each looping request, answer, think time [default: 10]
    #[arg(long, value_name = "N")]
    pub users: Option<u32>,

    /// Open model: start this many requests per second whatever the answers do; latency counts
    /// from when each request was due
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,

    /// Stop starting requests after this long (e.g. 30s, 2m) [default: 30s unless --requests]
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Stop after this many requests (with --duration, whichever comes first)
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,

    /// Start users evenly over this time (closed) or climb to the rate over it (open) [default: 0s]
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    pub ramp_up: Option<Duration>,

    /// Users' pause between requests: fixed (500ms) or uniform in a range (200ms..1s)
    /// [default: 200ms..1s]
    #[arg(long, value_name = "TIME|MIN..MAX")]
    pub think_time: Option<ThinkTime>,

    /// Endpoints and weights, PATH=WEIGHT,... (paths may carry queries)
    /// [default: /=50,/slow=20,/error=20,/cpu-intensive=10]
    #[arg(long, value_name = "MIX")]
    pub mix: Option<Mix>,

    /// A preset: steady, spike, errors or stress (see below)
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<Scenario>,

    /// Give up on a request after this long (counted as a timeout error) [default: 10s]
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Open model: most connections (requests in flight) at once [default: the rate, at least 32]
    #[arg(long, value_name = "N")]
    pub connections: Option<u32>,

    /// Worker threads sending requests [default: the number of CPUs]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Fail (exit 1) unless this holds, e.g. 'p95<300ms', 'error_rate<1%', '/slow:p99<1s';
    /// repeatable
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<Threshold>,

    /// Also show Prometheus's exact request count and p95 per endpoint between its scrapes just
    /// before and just after the run (waiting up to 20 s for the latter), from this base URL
    /// [default: the Prometheus of the project's running stack, if one runs]
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<Target>,

    /// Send the run's own figures (requests by endpoint and outcome, latency, users or rate) every
    /// second to the monibox daemon whose ops listener is at this base URL, for Prometheus and the
    /// Load test dashboard [default: the running stack's daemon, when --target is not given]
    #[arg(long, value_name = "URL")]
    pub push_to: Option<Target>,

    /// Count a request as connection_reset when the server closes a reused keep-alive connection
    /// before answering it, instead of sending it once more on a new connection (as RFC 9112
    /// §9.3.1 allows for GET)
    #[arg(long)]
    pub no_retry: bool,

    /// Print the report as JSON on stdout (fields documented in the README)
    #[arg(long)]
    pub json: bool,

    /// The project whose running stack gives the defaults of --target and --prometheus
    /// [default: from the configuration, else `default`]
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,

    /// Configuration file naming the project, as for `up`
    #[arg(long, value_name = "PATH", env = "MONIBOX_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub state: StateArgs,
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
