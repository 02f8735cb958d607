//! `monibox slo [--json]`: the project's SLOs as its Prometheus evaluates them
//! (`crate::slo::collect`); exit 0, 1 when an error budget is exhausted, 2 when the stack is not
//! up or Prometheus does not answer. `monibox slo import FILE`: a Sloth spec as `[[slo]]` TOML on
//! stdout or in `--output`; exit 2 when it cannot be read or expressed.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use super::EXIT_UNHEALTHY;
use super::context::ProjectContext;
use crate::cli::{SloArgs, SloCommand, SloImportArgs};
use crate::output::{Format, emit};
use crate::promapi::PrometheusApi;
use crate::slo::import;

/// Limit of each request to Prometheus.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(args: SloArgs) -> anyhow::Result<ExitCode> {
    if let Some(SloCommand::Import(import_args)) = args.command {
        return import_spec(&import_args);
    }
    let project = ProjectContext::load(&args.config, &args.state)?;
    let record = project.record();
    let Some((url, timing)) = record
        .as_ref()
        .and_then(|record| Some((record.prometheus_url()?, record.timing)))
    else {
        anyhow::bail!(
            "the stack of project {} is not up (no Prometheus is recorded); start it with {}",
            project.project(),
            project.command("up")
        );
    };
    let api = PrometheusApi::new(&url, QUERY_TIMEOUT);
    let report = crate::slo::collect(&api, &url, project.project(), &project.config.slo, timing)
        .await
        .with_context(|| {
            format!(
                "Prometheus of project {} does not answer; see {}",
                project.project(),
                project.command("status")
            )
        })?;
    emit(&report, Format::from_json_flag(args.output.json))?;
    Ok(if report.exhausted().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_UNHEALTHY)
    })
}

fn import_spec(args: &SloImportArgs) -> anyhow::Result<ExitCode> {
    let source = args.file.display().to_string();
    let text = if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the spec from stdin")?;
        text
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("reading {source}"))?
    };
    let imported = import::import(&text, args.job.as_deref()).with_context(|| source.clone())?;
    let toml = import::to_toml(&imported, &source)?;
    let left_out: usize = imported.left_out.iter().map(Vec::len).sum();
    match &args.output {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| {
                    format!("creating {} (an existing file is kept)", path.display())
                })?;
            file.write_all(toml.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => out!("{toml}")?,
    }
    eprintln!(
        "imported {} SLO(s) from {source}; {left_out} decorating field(s) not carried over are \
         listed as comments",
        imported.slos.len()
    );
    Ok(ExitCode::SUCCESS)
}
