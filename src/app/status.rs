//! `monibox status [--json]`: the project's [`crate::status::StatusReport`], as a table or as
//! JSON; the exit code is the verdict (0 healthy, 1 degraded, 2 not running or Docker
//! unreachable).

use std::process::ExitCode;

use super::context::ProjectContext;
use super::{EXIT_ENVIRONMENT, EXIT_UNHEALTHY};
use crate::cli::StatusArgs;
use crate::output::{Format, emit};
use crate::status::{self, Overall};

pub async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let project = ProjectContext::load(&args.config, &args.state)?;
    let record = project.record();
    let docker = super::connect_docker().await?;
    let report = status::collect(
        &docker,
        project.project(),
        &project.dir,
        record.as_ref(),
        project.command("up"),
    )
    .await?;
    emit(&report, Format::from_json_flag(args.output.json))?;
    Ok(ExitCode::from(match report.state {
        Overall::Healthy => 0,
        Overall::Degraded => EXIT_UNHEALTHY,
        Overall::NotRunning => EXIT_ENVIRONMENT,
    }))
}
