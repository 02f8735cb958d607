//! `monibox images build --from-host` and `monibox images list`: the air-gapped path to the
//! container images, and what `up` will use. Both report as text or `--json`.

use std::process::ExitCode;

use serde::Serialize;

use super::{BuildProgress, config};
use crate::catalog::{self, standin};
use crate::cli::{GRAFANA_STANDIN, ImagesBuildArgs, ImagesCommand, ImagesListArgs};
use crate::docker::Docker;
use crate::docker::images::{self, HostRecipe, Rebuild};
use crate::output::{Format, Render, emit, table};
use crate::stack::images::{ImageDecision, ImagePlan, ImageSource, PullPolicy, plan};

pub async fn run(command: ImagesCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImagesCommand::Build(args) => build(&super::connect_docker().await?, args).await,
        ImagesCommand::List(args) => {
            // A bad config is reported before Docker is asked anything.
            let loaded = config::load(&args.config)?;
            list(&super::connect_docker().await?, args, &loaded.config).await
        }
    }
}

/// `images build`: one line per image.
#[derive(Debug, Serialize)]
struct BuildReport {
    images: Vec<BuiltImage>,
}

#[derive(Debug, Serialize)]
struct BuiltImage {
    component: &'static str,
    /// The tag built; None when the build failed.
    image: Option<String>,
    size_bytes: Option<u64>,
    /// The version the host's binary reported.
    host_version: Option<String>,
    /// An image built from the same host files was reused.
    reused: bool,
    elapsed_seconds: f64,
    error: Option<String>,
}

impl Render for BuildReport {
    fn render_text(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .images
            .iter()
            .map(|image| match &image.error {
                Some(error) => vec![
                    image.component.to_owned(),
                    "-".to_owned(),
                    String::new(),
                    format!("failed: {error}"),
                ],
                None => vec![
                    image.component.to_owned(),
                    image.image.clone().unwrap_or_default(),
                    image.size_bytes.map(megabytes).unwrap_or_default(),
                    if image.reused {
                        "up to date, reused".to_owned()
                    } else {
                        format!("built in {:.1} s", image.elapsed_seconds)
                    },
                ],
            })
            .collect();
        table(&["COMPONENT", "IMAGE", "SIZE", "RESULT"], &rows, &[2])
    }
}

async fn build(docker: &Docker, args: ImagesBuildArgs) -> anyhow::Result<ExitCode> {
    let rebuild = if args.force {
        Rebuild::Always
    } else {
        Rebuild::IfChanged
    };
    if args.component.as_deref() == Some(catalog::daemon::MONIBOX_IMAGE) {
        let image = catalog::daemon::monibox_image(std::env::current_exe()?);
        let spinner = BuildProgress::start(image.component);
        let started = std::time::Instant::now();
        let mut on_progress = |event| spinner.show(&event);
        let outcome = images::build_binary_image(docker, &image, rebuild, &mut on_progress).await;
        spinner.finish();
        let report = BuildReport {
            images: vec![BuiltImage::from_outcome(image.component, outcome, started)],
        };
        return finish_build(report, args.output.json);
    }
    let recipes: Vec<(&'static str, &'static HostRecipe)> = match args.component.as_deref() {
        Some(GRAFANA_STANDIN) => vec![(GRAFANA_STANDIN, &standin::RECIPE)],
        Some(name) => catalog::get(name)
            .and_then(|def| def.host_image.map(|recipe| (def.name, recipe)))
            .into_iter()
            .collect(),
        None => catalog::CATALOG
            .iter()
            .filter_map(|def| def.host_image.map(|recipe| (def.name, recipe)))
            .collect(),
    };
    let mut report = BuildReport { images: Vec::new() };
    for (name, recipe) in recipes {
        let spinner = BuildProgress::start(name);
        let started = std::time::Instant::now();
        let mut on_progress = |event| spinner.show(&event);
        let outcome = images::build_from_host(docker, recipe, rebuild, &mut on_progress).await;
        spinner.finish();
        report
            .images
            .push(BuiltImage::from_outcome(name, outcome, started));
    }
    finish_build(report, args.output.json)
}

impl BuiltImage {
    fn from_outcome(
        component: &'static str,
        outcome: Result<images::HostBuildOutcome, crate::docker::DockerError>,
        started: std::time::Instant,
    ) -> Self {
        match outcome {
            Ok(outcome) => BuiltImage {
                component,
                image: Some(outcome.tag),
                size_bytes: Some(outcome.size_bytes),
                host_version: Some(outcome.host_version),
                reused: outcome.reused,
                elapsed_seconds: outcome.elapsed.as_secs_f64(),
                error: None,
            },
            Err(error) => BuiltImage {
                component,
                image: None,
                size_bytes: None,
                host_version: None,
                reused: false,
                elapsed_seconds: started.elapsed().as_secs_f64(),
                error: Some(error.to_string()),
            },
        }
    }
}

/// Prints the build report; an image that could not be built fails the command.
fn finish_build(report: BuildReport, json: bool) -> anyhow::Result<ExitCode> {
    emit(&report, Format::from_json_flag(json))?;
    let failed: Vec<&str> = report
        .images
        .iter()
        .filter(|image| image.error.is_some())
        .map(|image| image.component)
        .collect();
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        anyhow::bail!("could not build: {}", failed.join(", "))
    }
}

async fn list(
    docker: &Docker,
    args: ImagesListArgs,
    config: &crate::config::Config,
) -> anyhow::Result<ExitCode> {
    let policy = super::pull_policy(args.pull);
    let plans = plan(docker, config, policy).await?;
    let mut components: Vec<ImageRow> = plans.iter().map(ImageRow::from_plan).collect();
    components.extend(
        catalog::CATALOG
            .iter()
            .filter(|def| !def.is_enabled(config))
            .map(|def| ImageRow {
                component: def.name,
                configured: def.configured_image(config).to_owned(),
                image: None,
                source: "off",
                size_bytes: None,
                reason: format!("switched off (components.{} = false)", def.name),
                fix: None,
            }),
    );
    let report = ImageListReport {
        pull_policy: policy,
        components,
    };
    emit(&report, Format::from_json_flag(args.output.json))?;
    Ok(ExitCode::SUCCESS)
}

/// `images list`.
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
    /// `configured`, `host-build`, `pull`, `build`, `missing` or `off` (switched off).
    source: &'static str,
    size_bytes: Option<u64>,
    reason: String,
    fix: Option<String>,
}

impl ImageRow {
    fn from_plan(plan: &ImagePlan) -> Self {
        let row = |source, image: Option<String>, size_bytes, reason: String, fix| Self {
            component: plan.def.name,
            configured: plan.configured.clone(),
            image,
            source,
            size_bytes,
            reason,
            fix,
        };
        let configured = &plan.configured;
        match &plan.decision {
            ImageDecision::Use {
                image,
                source,
                size_bytes,
            } => match source {
                ImageSource::Configured => row(
                    "configured",
                    Some(image.clone()),
                    Some(*size_bytes),
                    "present locally".to_owned(),
                    None,
                ),
                ImageSource::HostBuild => row(
                    "host-build",
                    Some(image.clone()),
                    Some(*size_bytes),
                    format!("{configured} is not present locally; using the host build"),
                    None,
                ),
            },
            ImageDecision::Pull {
                image,
                fallback_build,
            } => row(
                "pull",
                Some(image.clone()),
                None,
                if *fallback_build {
                    "will be pulled by `up`, or built from the host's package if that fails"
                        .to_owned()
                } else {
                    "will be pulled by `up`".to_owned()
                },
                None,
            ),
            ImageDecision::Build { package } => row(
                "build",
                None,
                None,
                format!("will be built by `up` from the host's {package} package"),
                None,
            ),
            ImageDecision::Missing { reason, fix } => {
                row("missing", None, None, reason.clone(), Some(fix.clone()))
            }
        }
    }
}

impl Render for ImageListReport {
    fn render_text(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .components
            .iter()
            .map(|row| {
                let source = match row.source {
                    "configured" => "local".to_owned(),
                    "host-build" => format!("host build ({} not present)", row.configured),
                    "pull" => "pull (not present locally)".to_owned(),
                    "build" => "host build (made by `up`)".to_owned(),
                    "off" => "off (components)".to_owned(),
                    _ => "MISSING".to_owned(),
                };
                vec![
                    row.component.to_owned(),
                    row.image.clone().unwrap_or_else(|| row.configured.clone()),
                    row.size_bytes.map(megabytes).unwrap_or_default(),
                    source,
                ]
            })
            .collect();
        let mut out = table(&["COMPONENT", "IMAGE", "SIZE", "SOURCE"], &rows, &[2]);
        for row in &self.components {
            if let Some(fix) = &row.fix {
                out.push_str(&format!(
                    "\n{}: {}\n  fix: {fix}\n",
                    row.component, row.reason
                ));
            }
        }
        out
    }
}

pub(super) fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
