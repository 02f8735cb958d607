//! One module per command. Each turns parsed arguments into a plan and runs it; printing the
//! result is the last step. `run` is what the binary calls.

mod config;
mod images;
mod load;
mod serve;

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};

/// Exit code for "ran, but the result is bad": unhealthy stack, failed threshold.
pub const EXIT_UNHEALTHY: u8 = 1;
/// Exit code for usage and environment errors: bad input, taken port, Docker not running.
pub const EXIT_ENVIRONMENT: u8 = 2;

/// Runs one command to completion and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Config(command) => config::run(command),
            Command::Images(command) => images::run(command).await,
        }
    })
}

/// Cancels `token` on the first Ctrl-C or SIGTERM.
async fn cancel_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops this");
            let _ = tokio::signal::ctrl_c().await;
            token.cancel();
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; shutting down"),
        _ = terminate.recv() => tracing::info!("terminated; shutting down"),
    }
    token.cancel();
}
