//! One module per command. Each turns parsed arguments into a plan and runs it; printing the
//! result is the last step. `run` is what the binary calls.

/// `println!` for command output, except that a closed stdout (`monibox status | head`) becomes
/// an error the command returns (and `main` ends quietly on) instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` with the same broken-pipe behaviour as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod config;
mod context;
mod daemon;
mod down;
mod export;
mod images;
mod load;
mod logs;
mod progress;
mod reload;
mod serve;
mod slo;
mod status;
mod targets;
mod top;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, PullArg, StateArgs};
use crate::docker::Docker;
use crate::docker::client::DEFAULT_CONNECT_TIMEOUT;
use crate::stack::images::PullPolicy;
use crate::stack::state::{StateError, StateRoot};
use progress::BuildProgress;

/// Exit code for "ran, but the result is bad": unhealthy stack, failed threshold.
pub const EXIT_UNHEALTHY: u8 = 1;
/// Exit code for usage and environment errors: bad input, taken port, Docker not running.
pub const EXIT_ENVIRONMENT: u8 = 2;

/// Whether `error` comes from writing to a reader that went away (a closed pipe), which is how
/// `monibox status | head` ends and not a failure worth reporting.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

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
            Command::Export(command) => export::run(command).await,
            Command::Images(command) => images::run(command).await,
            Command::Up(args) => up::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Top(args) => top::run(args).await,
            Command::Slo(args) => slo::run(args).await,
            Command::Down(args) => down::run(args).await,
            Command::Logs(args) => logs::run(args).await,
            Command::Reload(args) => reload::run(args).await,
            Command::Targets(command) => targets::run(command).await,
            Command::Completions(args) => completions(args),
            Command::Daemon(args) => daemon::run(args).await,
            Command::Healthcheck(args) => serve::healthcheck(args).await,
        }
    })
}

/// `monibox completions SHELL`: the completion script on stdout.
fn completions(args: crate::cli::CompletionsArgs) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "monibox", &mut script);
    out!("{}", String::from_utf8_lossy(&script))?;
    Ok(ExitCode::SUCCESS)
}

/// Cancels `token` on the first Ctrl-C or SIGTERM and exits at once (code 130) on the second,
/// for when a graceful stop takes longer than the person wants to wait. The handlers are in
/// place when this returns, so a signal sent right after (say, once "listening" is printed) is
/// never lost; the returned task waits for the signals.
fn cancel_on_signal(token: CancellationToken) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    tokio::spawn(async move {
        let (mut terminate, mut interrupt) = match (terminate, interrupt) {
            (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, "cannot listen for signals; stop this with SIGKILL");
                return;
            }
        };
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("interrupted; shutting down (again to exit at once)"),
            _ = terminate.recv() => tracing::info!("terminated; shutting down"),
        }
        token.cancel();
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::warn!("second signal; exiting without finishing the shutdown");
        std::process::exit(130);
    })
}

/// The options that name the same project and configuration (`--config`, `--project`,
/// `--state-dir`), and apart from them `--timing`, for a message that says what to run next.
fn same_project_flags(config: &crate::cli::ConfigArgs, state: &StateArgs) -> (String, String) {
    let mut flags = String::new();
    if let Some(path) = &config.config {
        flags.push_str(&format!(" --config {}", path.display()));
    }
    if let Some(project) = &config.project {
        flags.push_str(&format!(" --project {project}"));
    }
    if let Some(dir) = &state.state_dir {
        flags.push_str(&format!(" --state-dir {}", dir.display()));
    }
    let timing = config
        .timing
        .as_ref()
        .map_or_else(String::new, |timing| format!(" --timing {timing}"));
    (flags, timing)
}

/// Connects to the Engine named by DOCKER_HOST, or the default socket, giving up after
/// [`DEFAULT_CONNECT_TIMEOUT`].
async fn connect_docker() -> Result<Docker, crate::docker::DockerError> {
    let host = std::env::var("DOCKER_HOST").ok();
    Docker::connect(host.as_deref(), DEFAULT_CONNECT_TIMEOUT).await
}

/// The state root: `--state-dir` / `MONIBOX_STATE_DIR`, else `$XDG_STATE_HOME/monibox`, else
/// `~/.local/state/monibox`.
fn state_root(args: &StateArgs) -> Result<StateRoot, StateError> {
    let xdg_state_home = std::env::var_os("XDG_STATE_HOME").map(PathBuf::from);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    StateRoot::resolve(
        args.state_dir.as_deref(),
        xdg_state_home.as_deref(),
        home.as_deref(),
    )
}

/// The pull policy a `--pull` flag asks for.
fn pull_policy(pull: PullArg) -> PullPolicy {
    match pull {
        PullArg::Never => PullPolicy::Never,
        PullArg::Missing => PullPolicy::Missing,
        PullArg::Always => PullPolicy::Always,
    }
}
