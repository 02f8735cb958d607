//! `monibox targets list [--all] [--json]`: every target with where it comes from and how its
//! scrapes go — the configured ones (config file or targets file), the containers found by their
//! `prometheus.io/scrape` label, and with `--all` monibox's own jobs. Health, last scrape, its
//! duration and error are Prometheus's (`/api/v1/targets`); series is `scrape_samples_scraped`.
//! Labelled containers discovery cannot scrape are listed with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::SystemTime;

use serde::Serialize;

use super::wait::prometheus_api;
use crate::app::context::ProjectContext;
use crate::assets::prometheus_config::DOCKER_SD_JOB;
use crate::cli::TargetsListArgs;
use crate::config::TargetsFile;
use crate::daemon::discovery::targets::SkippedContainer;
use crate::output::{Format, Render, ago, emit, table};
use crate::promapi::TargetStatus;

#[derive(Debug, Serialize)]
struct TargetsReport {
    project: String,
    /// Why Prometheus's view is missing (the stack does not run, Prometheus does not answer).
    prometheus_unavailable: Option<String>,
    targets: Vec<TargetRow>,
    /// Labelled containers that are not scraped, and why.
    skipped: Vec<SkippedContainer>,
}

#[derive(Debug, Serialize)]
struct TargetRow {
    job: String,
    /// `config` (the --config file), `targets_file`, `docker` (a labelled container) or
    /// `monibox` (the stack's own jobs).
    source: &'static str,
    /// As configured, or the container and port for a discovered one.
    address: String,
    /// `up`, `down`, `unknown` (not scraped yet) or `absent` (Prometheus does not scrape it).
    health: String,
    last_scrape: Option<String>,
    last_scrape_duration_seconds: Option<f64>,
    last_error: Option<String>,
    series: Option<u64>,
}

pub async fn run(args: TargetsListArgs) -> anyhow::Result<ExitCode> {
    let project = ProjectContext::load(&args.config, &args.state)?;
    let format = Format::from_json_flag(args.output.json);
    let in_targets_file = names_in_targets_file(&project);
    let (scraped, series, unavailable) = match prometheus_api(&project).await {
        Ok(api) => match api.targets().await {
            Ok(targets) => {
                let series = api
                    .query("scrape_samples_scraped", None)
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|sample| {
                        let job = sample.labels.get("job")?.clone();
                        let instance = sample.labels.get("instance")?.clone();
                        Some(((job, instance), sample.value as u64))
                    })
                    .collect::<BTreeMap<_, _>>();
                (targets, series, None)
            }
            Err(error) => (Vec::new(), BTreeMap::new(), Some(error.to_string())),
        },
        Err(why) => (Vec::new(), BTreeMap::new(), Some(why)),
    };
    let row = |source, address: String, status: Option<&TargetStatus>| TargetRow {
        job: String::new(),
        source,
        address,
        health: status.map_or_else(|| "absent".to_owned(), |s| s.health.clone()),
        last_scrape: status.and_then(|s| s.last_scrape.clone()),
        last_scrape_duration_seconds: status.and_then(|s| s.last_scrape_duration_seconds),
        last_error: status
            .map(|s| s.last_error.clone())
            .filter(|error| !error.is_empty()),
        series: status.and_then(|s| series.get(&(s.job.clone(), s.instance.clone())).copied()),
    };
    let mut rows = Vec::new();
    let configured: BTreeSet<&str> = project
        .config
        .targets
        .iter()
        .map(|target| target.name.as_str())
        .collect();
    for target in &project.config.targets {
        let source = if in_targets_file.contains(target.name.as_str()) {
            "targets_file"
        } else {
            "config"
        };
        let job = target.name.as_str();
        let statuses: Vec<&TargetStatus> = scraped.iter().filter(|s| s.job == job).collect();
        let address = target.address.as_str().to_owned();
        if statuses.is_empty() {
            rows.push(TargetRow {
                job: job.to_owned(),
                ..row(source, address.clone(), None)
            });
        }
        for status in statuses {
            rows.push(TargetRow {
                job: job.to_owned(),
                ..row(source, address.clone(), Some(status))
            });
        }
    }
    for status in scraped
        .iter()
        .filter(|s| !configured.contains(s.job.as_str()))
    {
        let source = if status.job == DOCKER_SD_JOB {
            "docker"
        } else if args.all {
            "monibox"
        } else {
            continue;
        };
        rows.push(TargetRow {
            job: status.job.clone(),
            ..row(source, status.instance.clone(), Some(status))
        });
    }
    let skipped = match project.daemon().status().await {
        Ok(status) => status.discovery.skipped,
        Err(_) => Vec::new(),
    };
    let report = TargetsReport {
        project: project.project().to_owned(),
        prometheus_unavailable: unavailable,
        targets: rows,
        skipped,
    };
    emit(&report, format)?;
    Ok(ExitCode::SUCCESS)
}

/// The names of the targets the project's targets file holds (which `targets add` wrote when
/// no config file was given).
fn names_in_targets_file(project: &ProjectContext) -> BTreeSet<String> {
    std::fs::read_to_string(project.dir.targets_file())
        .ok()
        .and_then(|text| toml::from_str::<TargetsFile>(&text).ok())
        .map(|file| {
            file.targets
                .into_iter()
                .map(|target| target.name.as_str().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl Render for TargetsReport {
    fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let now = SystemTime::now();
        let mut out = String::new();
        if self.targets.is_empty() {
            let _ = writeln!(
                out,
                "no targets: `monibox targets add NAME ADDRESS` adds one; running containers \
                 labelled prometheus.io/scrape=true are found without it"
            );
        } else {
            let rows: Vec<Vec<String>> = self
                .targets
                .iter()
                .map(|row| {
                    vec![
                        row.job.clone(),
                        row.address.clone(),
                        row.health.clone(),
                        row.last_scrape
                            .as_deref()
                            .map_or_else(|| "-".to_owned(), |time| ago(time, now)),
                        // Prometheus reports 0 for a target it has not scraped yet.
                        row.last_scrape_duration_seconds
                            .filter(|_| row.last_scrape.is_some())
                            .map_or_else(|| "-".to_owned(), |s| format!("{:.0} ms", s * 1e3)),
                        row.series.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                        row.source.replace('_', " "),
                    ]
                })
                .collect();
            out.push_str(&table(
                &[
                    "JOB",
                    "ADDRESS",
                    "HEALTH",
                    "LAST SCRAPE",
                    "TOOK",
                    "SERIES",
                    "SOURCE",
                ],
                &rows,
                &[4, 5],
            ));
        }
        for row in self.targets.iter().filter(|row| row.last_error.is_some()) {
            let _ = writeln!(
                out,
                "{} {}: {}",
                row.job,
                row.address,
                row.last_error.as_deref().unwrap_or_default()
            );
        }
        for skipped in &self.skipped {
            let _ = writeln!(
                out,
                "not scraped: container {}: {}",
                skipped.container, skipped.reason
            );
        }
        if let Some(why) = &self.prometheus_unavailable {
            let _ = writeln!(out, "health unknown: Prometheus cannot be asked ({why})");
        }
        out
    }
}
