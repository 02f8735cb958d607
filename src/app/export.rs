//! `monibox export compose|kubernetes DIR`: checks the directory, renders every file in memory,
//! then writes them; prints what was written and the command that runs it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use crate::catalog::{self, daemon, grafana};
use crate::cli::{ExportCommand, ExportCommon};
use crate::config::Config;
use crate::export::{self, ExportError, compose, kubernetes};
use crate::output::{Format, Render, emit};
use crate::stack::images::{ImageDecision, PullPolicy, plan_component};
use crate::stack::secrets;
use crate::stack::state::ProjectDir;

pub async fn run(command: ExportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ExportCommand::Compose(args) => {
            let common = &args.common;
            let (config, dir) = prepare(common)?;
            let images = local_images(&config).await;
            let password =
                existing_password(&dir).unwrap_or_else(crate::stack::state::generate_password);
            let files = compose::render(&compose::ComposeInputs {
                config: &config,
                dir: &dir,
                images: &images,
                monibox_image: &demo_image(common),
                grafana_password: password,
            })?;
            write(&dir, &files)?;
            restrict(&dir.join("secrets"))?;
            secrets::sync(&ProjectDir::at(dir.clone()), &config)?;
            let run = format!(
                "docker-compose -p {} -f {} up -d",
                config.project,
                dir.join(compose::COMPOSE_FILE).display()
            );
            let notes = config
                .targets
                .iter()
                .filter(|target| target.address.is_loopback())
                .map(|target| {
                    format!(
                        "target {} listens on this machine's loopback: Compose reaches it as \
                         host.docker.internal (the Docker bridge), so it must listen there too",
                        target.name.as_str()
                    )
                })
                .collect();
            report(common, "compose", &dir, &files, run, notes)
        }
        ExportCommand::Kubernetes(args) => {
            let common = &args.common;
            let (config, dir) = prepare(common)?;
            let files = kubernetes::render(&kubernetes::KubernetesInputs {
                config: &config,
                release: &args.release,
                namespace: &args.namespace,
                monibox_image: &demo_image(common),
                create_namespace: args.create_namespace,
                monitoring_rules: args.with_monitoring_rules,
            })?;
            write(&dir, &files)?;
            let run = format!("kubectl apply -k {}", dir.display());
            let notes = (config.timing == crate::config::Timing::Fast)
                .then(|| {
                    "timing is fast (1 s scrapes, alerts within seconds): for a cluster, export \
                     with --timing standard"
                        .to_owned()
                })
                .into_iter()
                .collect();
            report(common, "kubernetes", &dir, &files, run, notes)
        }
    }
}

/// The configuration (with the project's targets file) and the checked, absolute directory.
fn prepare(common: &ExportCommon) -> anyhow::Result<(Config, std::path::PathBuf)> {
    if let Some(image) = &common.demo_image {
        export::check_image(image)?;
    }
    let (loaded, _, _) = super::config::load_project(&common.config, &common.state)?;
    secrets::check(&loaded.config)?;
    let dir = export::check_dir(&common.dir, common.force)?;
    Ok((loaded.config, dir))
}

fn demo_image(common: &ExportCommon) -> String {
    common
        .demo_image
        .clone()
        .unwrap_or_else(daemon::monibox_image_tag)
}

/// The image `monibox up` would run for each component, when the Engine answers and has one
/// locally (the configured image or a host build); the configured images otherwise.
async fn local_images(config: &Config) -> BTreeMap<&'static str, String> {
    let mut images = BTreeMap::new();
    let Ok(docker) = super::connect_docker().await else {
        return images;
    };
    for def in catalog::enabled(config) {
        let configured = def.configured_image(config);
        if let Ok(plan) = plan_component(&docker, def, configured, PullPolicy::Never).await {
            if let ImageDecision::Use { image, .. } = plan.decision {
                images.insert(def.name, image);
            }
        }
    }
    images
}

/// The password of an earlier export into `dir`, kept so Grafana's data volume still matches.
fn existing_password(dir: &Path) -> Option<String> {
    let path = dir.join("secrets").join(grafana::PASSWORD_SECRET.name);
    let text = std::fs::read_to_string(path).ok()?;
    let password = text.trim();
    (!password.is_empty()).then(|| password.to_owned())
}

fn write(dir: &Path, files: &[export::ExportFile]) -> Result<(), ExportError> {
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Write {
        path: dir.to_owned(),
        source,
    })?;
    export::write_files(dir, files)
}

/// Makes `dir` (if the export has it) 0700: only its owner reaches the secrets inside.
fn restrict(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if dir.is_dir() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // The password file itself stays 0644: Grafana reads it as its own user.
    Ok(())
}

/// What an export wrote.
#[derive(Debug, Serialize)]
struct ExportReport {
    /// `compose` or `kubernetes`.
    kind: &'static str,
    dir: String,
    /// Relative to `dir`, sorted.
    files: Vec<String>,
    /// The command that runs the export.
    run: String,
    /// What the export could not carry over as it is.
    notes: Vec<String>,
}

impl Render for ExportReport {
    fn render_text(&self) -> String {
        let mut text = format!(
            "wrote {} files to {}\nrun:  {}\nsee:  {}\n",
            self.files.len(),
            self.dir,
            self.run,
            Path::new(&self.dir).join("README.md").display()
        );
        for note in &self.notes {
            text.push_str(&format!("note: {note}\n"));
        }
        text
    }
}

fn report(
    common: &ExportCommon,
    kind: &'static str,
    dir: &Path,
    files: &[export::ExportFile],
    run: String,
    notes: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let mut names: Vec<String> = files.iter().map(|file| file.path.clone()).collect();
    names.sort();
    let report = ExportReport {
        kind,
        dir: dir.display().to_string(),
        files: names,
        run,
        notes,
    };
    emit(&report, Format::from_json_flag(common.output.json))?;
    Ok(ExitCode::SUCCESS)
}
