//! One module per command. Each turns parsed arguments into a plan and runs it; printing the
//! result is the last step. `run` is what the binary calls.

mod load;
mod serve;

use std::process::ExitCode;

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
        }
    })
}
