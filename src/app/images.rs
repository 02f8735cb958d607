//! `monibox images build --from-host` and `monibox images list`: the air-gapped path to the
//! container images, and what `up` will use.

use std::process::ExitCode;
use std::time::Duration;

use super::Spinner;
use anyhow::Context;
use serde::Serialize;

use crate::cli::{HostComponentArg, ImagesBuildArgs, ImagesCommand, ImagesListArgs, PullArg};
use crate::docker::Docker;
use crate::docker::images::{
    self, HostImage, ImageDecision, ImagePlan, ImageProgress, ImageRefs, ImageSource, PullPolicy,
    Rebuild,
};

/// The image references the configuration names (`[images]`).
fn configured_refs(images: &crate::config::Images) -> ImageRefs {
    ImageRefs {
        prometheus: images.prometheus.as_str().to_owned(),
        alertmanager: images.alertmanager.as_str().to_owned(),
        grafana: images.grafana.as_str().to_owned(),
    }
}

pub async fn run(command: ImagesCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImagesCommand::Build(args) => build(&connect().await?, args).await,
        ImagesCommand::List(args) => {
            // A bad config is reported before Docker is asked anything.
            let loaded = super::config::load(&args.config)?;
            let refs = configured_refs(&loaded.config.images);
            list(&connect().await?, args, &refs).await
        }
    }
}

async fn connect() -> anyhow::Result<Docker> {
    Ok(super::connect_docker().await?)
}

async fn build(docker: &Docker, args: ImagesBuildArgs) -> anyhow::Result<ExitCode> {
    let which: Vec<HostImage> = match args.component {
        Some(HostComponentArg::Prometheus) => vec![HostImage::Prometheus],
        Some(HostComponentArg::Alertmanager) => vec![HostImage::Alertmanager],
        Some(HostComponentArg::GrafanaStandin) => return build_grafana_standin(docker).await,
        None => HostImage::ALL.to_vec(),
    };
    let rebuild = if args.force {
        Rebuild::Always
    } else {
        Rebuild::IfChanged
    };
    let mut failures = Vec::new();
    for host_image in which {
        let name = host_image.component().as_str();
        let spinner = BuildProgress::start(name);
        let mut on_progress = |event: ImageProgress| spinner.show(&event);
        let outcome = images::build_from_host(docker, host_image, rebuild, &mut on_progress).await;
        spinner.finish();
        match outcome {
            Ok(outcome) => {
                let what = if outcome.reused {
                    "up to date, reused".to_owned()
                } else {
                    format!("built in {}", seconds(outcome.elapsed))
                };
                outln!(
                    "{name:<13} {:<36} {:>9}  {what}",
                    outcome.tag,
                    megabytes(outcome.size_bytes)
                )?;
            }
            Err(error) => {
                outln!("{name:<13} failed: {error}")?;
                failures.push(name);
            }
        }
    }
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        anyhow::bail!("could not build: {}", failures.join(", "))
    }
}

/// The test and benchmark stand-in for Grafana; it is named as such wherever it shows.
async fn build_grafana_standin(docker: &Docker) -> anyhow::Result<ExitCode> {
    let outcome =
        images::build_grafana_standin(docker, images::GRAFANA_STANDIN_TAG, &mut |_| {}).await?;
    outln!(
        "{:<13} {:<36} {:>9}  Grafana stand-in (busybox httpd, not Grafana){}",
        "grafana",
        outcome.tag,
        megabytes(outcome.size_bytes),
        if outcome.reused { ", reused" } else { "" }
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn list(docker: &Docker, args: ImagesListArgs, refs: &ImageRefs) -> anyhow::Result<ExitCode> {
    let policy = match args.pull {
        PullArg::Never => PullPolicy::Never,
        PullArg::Missing => PullPolicy::Missing,
        PullArg::Always => PullPolicy::Always,
    };
    let plans = images::plan_images(docker, refs, policy)
        .await
        .context("deciding which images to use")?;
    let rows: Vec<ImageRow> = plans.iter().map(ImageRow::from_plan).collect();
    if args.json {
        let report = ImageListReport {
            pull_policy: policy,
            components: rows,
        };
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_table(&rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `images list --json`.
#[derive(Debug, Serialize)]
struct ImageListReport {
    pull_policy: PullPolicy,
    components: Vec<ImageRow>,
}

/// One component in `images list`.
#[derive(Debug, Serialize)]
struct ImageRow {
    component: &'static str,
    configured: String,
    /// The image that will run; None when missing.
    image: Option<String>,
    /// `configured`, `host-build`, `pull` or `missing`.
    source: &'static str,
    size_bytes: Option<u64>,
    reason: String,
    fix: Option<String>,
}

impl ImageRow {
    fn from_plan(plan: &ImagePlan) -> Self {
        let component = plan.component.as_str();
        let configured = plan.configured.clone();
        match &plan.decision {
            ImageDecision::Use {
                image,
                source,
                size_bytes,
            } => Self {
                component,
                image: Some(image.clone()),
                source: match source {
                    ImageSource::Configured => "configured",
                    ImageSource::HostBuild => "host-build",
                },
                size_bytes: Some(*size_bytes),
                reason: match source {
                    ImageSource::Configured => "present locally".to_owned(),
                    ImageSource::HostBuild => {
                        format!("{configured} is not present locally; using the host build")
                    }
                },
                fix: None,
                configured,
            },
            ImageDecision::Pull { image } => Self {
                component,
                image: Some(image.clone()),
                source: "pull",
                size_bytes: None,
                reason: "will be pulled by `up`".to_owned(),
                fix: None,
                configured,
            },
            ImageDecision::Missing { reason, fix } => Self {
                component,
                image: None,
                source: "missing",
                size_bytes: None,
                reason: reason.clone(),
                fix: Some(fix.clone()),
                configured,
            },
        }
    }
}

fn print_table(rows: &[ImageRow]) -> std::io::Result<()> {
    outln!("{:<13} {:<36} {:>9}  SOURCE", "COMPONENT", "IMAGE", "SIZE")?;
    for row in rows {
        let size = row.size_bytes.map(megabytes).unwrap_or_default();
        let image = row.image.as_deref().unwrap_or(&row.configured);
        let source = match row.source {
            "configured" => "local".to_owned(),
            "host-build" => format!("host build ({} not present)", row.configured),
            "pull" => "pull (not present locally)".to_owned(),
            _ => "MISSING".to_owned(),
        };
        outln!("{:<13} {image:<36} {size:>9}  {source}", row.component)?;
    }
    for row in rows.iter().filter(|row| row.fix.is_some()) {
        outln!()?;
        outln!("{}: {}", row.component, row.reason)?;
        if let Some(fix) = &row.fix {
            outln!("  fix: {fix}")?;
        }
    }
    Ok(())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// A spinner with the build's progress while an image builds.
struct BuildProgress {
    spinner: Spinner,
    name: &'static str,
}

impl BuildProgress {
    fn start(name: &'static str) -> Self {
        Self {
            spinner: Spinner::start(format!("{name}: collecting host files")),
            name,
        }
    }

    fn show(&self, event: &ImageProgress) {
        if !self.spinner.is_shown() {
            return;
        }
        let message = match event {
            ImageProgress::Preparing { .. } => "collecting host files".to_owned(),
            ImageProgress::Sending { bytes, .. } => {
                format!("sending {} to Docker", megabytes(*bytes))
            }
            ImageProgress::Building { step, .. } => step.clone(),
            ImageProgress::Pulling { status, .. } => status.clone(),
        };
        self.spinner
            .set_message(format!("{}: {message}", self.name));
    }

    fn finish(&self) {
        self.spinner.finish();
    }
}
