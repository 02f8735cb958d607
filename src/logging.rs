//! Log setup: human-readable logs on stderr, filtered by `RUST_LOG` (default `info` for monibox,
//! `warn` for everything else). Logs are for diagnostics; command results go to stdout.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `verbose` raises monibox's own level to `debug` when
/// `RUST_LOG` is not set.
pub fn init(verbose: bool) {
    let default = if verbose {
        "warn,monibox=debug"
    } else {
        "warn,monibox=info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .try_init();
}
