//! `monibox status [--json]`: the project's [`StatusReport`], as a table or as JSON; the exit
//! code is the verdict (0 healthy, 1 degraded, 2 not running or Docker unreachable).

use std::process::ExitCode;

use super::{EXIT_ENVIRONMENT, EXIT_UNHEALTHY, state_root};
use crate::cli::StatusArgs;
use crate::stack::record::StackRecord;
use crate::status::{self, Overall};

pub async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = super::config::load(&args.config)?.config;
    let project = config.project.as_str();
    let project_dir = state_root(&args.state)?.project(project);
    let record = match StackRecord::read(&project_dir.stack_file()) {
        Ok(record) => record,
        Err(error) => {
            tracing::warn!(%error, "ignoring stack.json");
            None
        }
    };
    let docker = super::connect_docker().await?;
    let report = status::collect(&docker, project, &project_dir, record.as_ref()).await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", status::report::render(&report))?;
    }
    Ok(ExitCode::from(match report.state {
        Overall::Healthy => 0,
        Overall::Degraded => EXIT_UNHEALTHY,
        Overall::NotRunning => EXIT_ENVIRONMENT,
    }))
}
