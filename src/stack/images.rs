//! Which image each component runs, and getting it.
//!
//! Resolution for a component, in order: the configured image if present locally → a host build
//! (`monibox-local/<name>:<version>`) if present → a pull of the configured image, if the pull
//! policy allows it → a host build made now, for a component with a host recipe whose Debian
//! package is installed (the first run on a machine without a registry). [`plan`] decides without
//! changing anything (what `images list` shows); [`obtain`] carries the plans out. A component
//! whose image cannot be had gets a fix that names what to install or load, and the key that
//! turns it off.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::catalog::{self, ComponentDef};
use crate::config::Config;
use crate::docker::images::{self, ImageProgress, Rebuild};
use crate::docker::{Docker, DockerError};

/// Limit of one image pull.
const PULL_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// When pulling from a registry is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    /// Never pull: local images and host builds only.
    Never,
    /// Pull the configured image when no local candidate exists.
    Missing,
    /// Always pull the configured image, even if a local one exists.
    Always,
}

/// Where a usable local image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSource {
    /// The configured image, already present locally.
    Configured,
    /// A `monibox images build --from-host` image.
    HostBuild,
}

/// What will be done about one component's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageDecision {
    /// Use a local image.
    Use {
        image: String,
        source: ImageSource,
        size_bytes: u64,
    },
    /// Pull the configured image first; if that fails, build it from the host's package when
    /// `fallback_build` says the host has it.
    Pull { image: String, fallback_build: bool },
    /// Build it from the host's Debian package (installed) now.
    Build { package: &'static str },
    /// Nothing usable; `fix` says what to do.
    Missing { reason: String, fix: String },
}

/// The decision for one component, with what was configured.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub def: &'static ComponentDef,
    pub configured: String,
    pub decision: ImageDecision,
}

/// Why a component has no image, and what to do about it (kept in `stack.json`, shown by `up`,
/// `status` and `logs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingImage {
    pub reason: String,
    pub fix: String,
}

/// Where a component's image comes from, once decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChoice {
    Use(String),
    Missing(MissingImage),
}

/// What [`obtain`] got: an image (or the reason there is none) per component, and which of them
/// it built from the host's packages (an unchanged earlier build it reused does not count).
#[derive(Debug, Clone, Default)]
pub struct Obtained {
    pub choices: BTreeMap<&'static str, ImageChoice>,
    pub built: Vec<&'static str>,
}

/// A step of [`obtain`], for a progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObtainProgress {
    pub component: &'static str,
    pub event: ImageProgress,
}

/// Decides the image of every component the configuration runs, without pulling or building.
pub async fn plan(
    docker: &Docker,
    config: &Config,
    policy: PullPolicy,
) -> Result<Vec<ImagePlan>, DockerError> {
    let mut plans = Vec::new();
    for def in catalog::enabled(config) {
        plans.push(plan_component(docker, def, def.configured_image(config), policy).await?);
    }
    Ok(plans)
}

/// Decides the image of one component whose configured image is `configured`.
pub async fn plan_component(
    docker: &Docker,
    def: &'static ComponentDef,
    configured: &str,
    policy: PullPolicy,
) -> Result<ImagePlan, DockerError> {
    let plan = |decision| ImagePlan {
        def,
        configured: configured.to_owned(),
        decision,
    };
    let buildable = def
        .host_image
        .is_some_and(|recipe| recipe.check_host().is_ok());
    if policy == PullPolicy::Always {
        return Ok(plan(ImageDecision::Pull {
            image: configured.to_owned(),
            fallback_build: buildable,
        }));
    }
    if let Some(image) = images::local_image(docker, configured).await? {
        return Ok(plan(ImageDecision::Use {
            image: image.reference,
            source: ImageSource::Configured,
            size_bytes: image.size_bytes,
        }));
    }
    if let Some(recipe) = def.host_image {
        if let Some(image) = images::host_builds(docker, recipe)
            .await?
            .into_iter()
            .next()
        {
            return Ok(plan(ImageDecision::Use {
                image: image.reference,
                source: ImageSource::HostBuild,
                size_bytes: image.size_bytes,
            }));
        }
    }
    Ok(plan(match (policy, def.host_image) {
        (PullPolicy::Never, Some(recipe)) if buildable => ImageDecision::Build {
            package: recipe.package,
        },
        (PullPolicy::Never, _) => ImageDecision::Missing {
            reason: format!("{configured} is not present locally and --pull never forbids pulling"),
            fix: missing_fix(def, configured, true),
        },
        (PullPolicy::Missing | PullPolicy::Always, _) => ImageDecision::Pull {
            image: configured.to_owned(),
            fallback_build: buildable,
        },
    }))
}

/// Carries out every plan: pulls, or builds from the host where a pull failed (or is
/// forbidden) and the host has the package, reporting each step. A component that gets no image
/// is [`ImageChoice::Missing`] with its fix, not an error: the others still run.
pub async fn obtain(
    docker: &Docker,
    plans: &[ImagePlan],
    progress: &mut (dyn FnMut(ObtainProgress) + Send),
    cancel: &CancellationToken,
) -> Result<Obtained, DockerError> {
    let mut obtained = Obtained::default();
    for plan in plans {
        let component = plan.def.name;
        let mut report = |event| progress(ObtainProgress { component, event });
        let choice = match &plan.decision {
            ImageDecision::Use { image, .. } => ImageChoice::Use(image.clone()),
            ImageDecision::Missing { reason, fix } => ImageChoice::Missing(MissingImage {
                reason: reason.clone(),
                fix: fix.clone(),
            }),
            ImageDecision::Build { .. } => {
                build(docker, plan, &mut report, cancel, &mut obtained.built).await?
            }
            ImageDecision::Pull {
                image,
                fallback_build,
            } => {
                let pulled = tokio::select! {
                    () = cancel.cancelled() => return Err(interrupted(image)),
                    pulled = images::pull_image(docker, image, PULL_TIMEOUT, &mut report) => pulled,
                };
                // `--pull always` without a registry: the local image, if there is one, runs.
                let local = match &pulled {
                    Err(DockerError::PullFailed { .. } | DockerError::PullTimeout { .. }) => {
                        images::local_image(docker, image).await?
                    }
                    _ => None,
                };
                match pulled {
                    Ok(()) => ImageChoice::Use(image.clone()),
                    Err(error) if local.is_some() => {
                        tracing::info!("{}; using the local {image}", pull_failure(&error));
                        ImageChoice::Use(image.clone())
                    }
                    Err(
                        error @ (DockerError::PullFailed { .. } | DockerError::PullTimeout { .. }),
                    ) if *fallback_build => {
                        tracing::info!(
                            "{}; building it from the host's {} package",
                            pull_failure(&error),
                            plan.def.host_image.map_or("", |recipe| recipe.package)
                        );
                        build(docker, plan, &mut report, cancel, &mut obtained.built).await?
                    }
                    Err(
                        error @ (DockerError::PullFailed { .. } | DockerError::PullTimeout { .. }),
                    ) => ImageChoice::Missing(MissingImage {
                        reason: pull_failure(&error),
                        fix: missing_fix(plan.def, &plan.configured, false),
                    }),
                    Err(other) => return Err(other),
                }
            }
        };
        obtained.choices.insert(component, choice);
    }
    Ok(obtained)
}

/// Builds the component's host image; a build that fails leaves the component missing with
/// the build's error as the reason.
async fn build(
    docker: &Docker,
    plan: &ImagePlan,
    report: &mut (dyn FnMut(ImageProgress) + Send),
    cancel: &CancellationToken,
    built: &mut Vec<&'static str>,
) -> Result<ImageChoice, DockerError> {
    let Some(recipe) = plan.def.host_image else {
        return Ok(ImageChoice::Missing(MissingImage {
            reason: format!("{} is not present locally", plan.configured),
            fix: missing_fix(plan.def, &plan.configured, false),
        }));
    };
    let outcome = tokio::select! {
        () = cancel.cancelled() => return Err(interrupted(&recipe.repository())),
        outcome = images::build_from_host(docker, recipe, Rebuild::IfChanged, report) => outcome,
    };
    Ok(match outcome {
        Ok(outcome) => {
            if !outcome.reused {
                built.push(plan.def.name);
            }
            ImageChoice::Use(outcome.tag)
        }
        Err(error) if error.is_unreachable() => return Err(error),
        Err(error) => ImageChoice::Missing(MissingImage {
            reason: format!("building its image from the host failed: {error}"),
            fix: missing_fix(plan.def, &plan.configured, false),
        }),
    })
}

fn interrupted(what: &str) -> DockerError {
    DockerError::Interrupted {
        what: format!("getting the image {what}"),
    }
}

/// A failed pull, said in a few words (the registry's full message is in the log).
fn pull_failure(error: &DockerError) -> String {
    match error {
        DockerError::PullFailed { image, detail }
            if detail.contains("no such host") || detail.contains("dial tcp") =>
        {
            format!("no registry can be reached to pull {image}")
        }
        DockerError::PullFailed { image, detail } => format!("pulling {image} failed: {detail}"),
        other => other.to_string(),
    }
}

/// What to tell the user when a component has no image: how to get one here, and how to run
/// without it.
pub fn missing_fix(def: &ComponentDef, configured: &str, pull_forbidden: bool) -> String {
    let allow_pull = if pull_forbidden {
        "allow pulling with `--pull missing`, or "
    } else {
        ""
    };
    let get_it = match def.host_image {
        Some(recipe) => format!(
            "install its Debian package (`{}`) and run `monibox up` again, which builds the image \
             from it; or {allow_pull}`docker load` {configured}",
            recipe.install_command()
        ),
        None => format!(
            "no {name} image can be built here: on a machine with registry access run `docker \
             pull {configured} && docker save {configured} -o {name}.tar`, then `docker load -i \
             {name}.tar` here; or {allow_pull}set images.{name} to an image you have",
            name = def.name
        ),
    };
    format!("{get_it}; or run without it: {}", def.off_switch())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fix_says_how_to_get_the_image_and_which_key_turns_the_component_off() {
        let grafana = missing_fix(&catalog::grafana::DEF, "grafana/grafana:12.1.0", false);
        assert!(grafana.contains("docker load -i grafana.tar"), "{grafana}");
        assert!(grafana.contains("components.grafana = false"), "{grafana}");
        let prometheus = missing_fix(&catalog::prometheus::DEF, "prom/prometheus:v3.5.0", true);
        assert!(
            prometheus.contains("sudo apt-get install prometheus"),
            "{prometheus}"
        );
        assert!(prometheus.contains("--pull missing"), "{prometheus}");
        assert!(
            prometheus.contains("MONIBOX_COMPONENTS_PROMETHEUS=false"),
            "{prometheus}"
        );
    }
}
