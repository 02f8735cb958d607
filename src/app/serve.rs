//! `monibox serve`: the demo service in the foreground until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use crate::cli::ServeArgs;

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("not yet implemented")
}
