//! `monibox top [--interval 1s] [--once] [--json]`: the project's stack live in the terminal
//! (`crate::top`), or one frame as plain text or JSON. Exit 0; 2 when the configuration or the
//! state directory is bad, Docker does not answer at the start, stdout is not a terminal for
//! the full-screen view, or (one frame) the project's stack is not running.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use super::context::ProjectContext;
use crate::cli::TopArgs;
use crate::output::{Format, emit};
use crate::top::gather::{Gatherer, Source};

pub async fn run(args: TopArgs) -> anyhow::Result<ExitCode> {
    let project = ProjectContext::load(&args.config, &args.state)?;
    let one_frame = args.once || args.output.json;
    let terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if !(one_frame || terminal) {
        anyhow::bail!("monibox top needs a terminal; --once or --json print one frame");
    }
    let docker = super::connect_docker().await?;
    let source = Source {
        docker: &docker,
        project: project.project(),
        dir: &project.dir,
        store: &project.store,
        up_hint: project.command("up"),
    };
    let mut gatherer = Gatherer::new(source, args.interval);
    if one_frame {
        let snapshot = gatherer.gather().await;
        emit(&snapshot, Format::from_json_flag(args.output.json))?;
        if !snapshot.running {
            eprintln!(
                "monibox stack {:?} is not running; start it with {}",
                project.project(),
                project.command("up")
            );
            return Ok(ExitCode::from(2));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let color = std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    crate::top::run(gatherer, args.interval, color).await?;
    Ok(ExitCode::SUCCESS)
}
