//! The `monibox` binary: parses the command line, sets up logging and hands over to the library.
//! Errors that reach this point are usage or environment errors and exit with code 2.

use std::process::ExitCode;

use clap::Parser;
use monibox::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    monibox::logging::init(cli.verbose);
    match monibox::app::run(cli) {
        Ok(code) => code,
        Err(error) if monibox::app::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(monibox::app::EXIT_ENVIRONMENT)
        }
    }
}
