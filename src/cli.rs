//! Command-line types (clap derive) and nothing else: parsing happens here, behaviour in `app`.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  monibox serve                          run the demo service on 127.0.0.1:5000
  monibox serve --listen 127.0.0.1:0     same, on any free port (the address is printed)

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
