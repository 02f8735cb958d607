//! Which image each component runs, and getting it.
//!
//! Resolution for a component, in order: the configured image if present locally → a monibox
//! host build (`monibox-local/<component>:<version>`) if present → a pull of the configured
//! image, only if the pull policy allows it. [`plan_images`] decides without changing anything
//! (what `images list` shows); [`ensure_image`] carries a plan out, pulling if needed.
//!
//! Host builds themselves are in [`host`].

pub mod host;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bollard::query_parameters::{CreateImageOptions, ListImagesOptions};
use futures_util::StreamExt;
use serde::Serialize;

use super::Docker;
use super::error::{DockerError, engine_message, status_code};
use super::labels;

pub use host::{
    GRAFANA_STANDIN_TAG, HostBuildOutcome, HostImage, Rebuild, build_from_host,
    build_grafana_standin,
};

/// What to do when a fix is needed and nothing more specific applies.
pub(crate) const GENERIC_IMAGE_FIX: &str = "build local images with `monibox images build \
     --from-host`, or allow pulling with `--pull missing`";

/// The repository prefix of images monibox builds from host binaries.
pub const HOST_BUILD_REPOSITORY_PREFIX: &str = "monibox-local/";

/// The stack's containerised components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    Prometheus,
    Alertmanager,
    Grafana,
}

impl Component {
    pub const ALL: [Component; 3] = [
        Component::Prometheus,
        Component::Alertmanager,
        Component::Grafana,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Component::Prometheus => "prometheus",
            Component::Alertmanager => "alertmanager",
            Component::Grafana => "grafana",
        }
    }

    /// The host build that can stand in for this component's image, if any.
    pub fn host_image(self) -> Option<HostImage> {
        match self {
            Component::Prometheus => Some(HostImage::Prometheus),
            Component::Alertmanager => Some(HostImage::Alertmanager),
            Component::Grafana => None,
        }
    }
}

/// The configured image reference of each component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRefs {
    pub prometheus: String,
    pub alertmanager: String,
    pub grafana: String,
}

impl ImageRefs {
    pub fn get(&self, component: Component) -> &str {
        match component {
            Component::Prometheus => &self.prometheus,
            Component::Alertmanager => &self.alertmanager,
            Component::Grafana => &self.grafana,
        }
    }
}

/// When pulling from a registry is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    /// Never pull: local images only.
    Never,
    /// Pull the configured image when no local candidate exists.
    Missing,
    /// Always pull the configured image, even if a local one exists.
    Always,
}

/// Progress of a long image operation, for a reporter to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageProgress {
    /// Collecting the host files of a build.
    Preparing { image: String },
    /// Sending the build context to the Engine.
    Sending { image: String, bytes: u64 },
    /// A Dockerfile step started (`Step 2/8 : COPY rootfs/ /`).
    Building { image: String, step: String },
    /// A pull status line from the Engine, with byte counts when it has them.
    Pulling {
        image: String,
        status: String,
        current: Option<u64>,
        total: Option<u64>,
    },
}

/// An image present in the local Engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    /// The reference it was found under (`repo:tag`).
    pub reference: String,
    pub id: String,
    pub size_bytes: u64,
    pub created: Option<SystemTime>,
    pub labels: HashMap<String, String>,
}

/// Where a usable image comes from.
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
    /// Pull the configured image first.
    Pull { image: String },
    /// Nothing usable; `fix` says what to do.
    Missing { reason: String, fix: String },
}

/// The decision for one component, with what was configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePlan {
    pub component: Component,
    pub configured: String,
    pub decision: ImageDecision,
}

/// The image, if present locally.
pub async fn local_image(
    docker: &Docker,
    reference: &str,
) -> Result<Option<LocalImage>, DockerError> {
    match docker.engine.inspect_image(reference).await {
        Ok(image) => Ok(Some(LocalImage {
            reference: reference.to_owned(),
            id: image.id.unwrap_or_default(),
            size_bytes: image
                .size
                .and_then(|size| u64::try_from(size).ok())
                .unwrap_or(0),
            created: image
                .created
                .as_deref()
                .and_then(super::container::parse_engine_time),
            labels: image
                .config
                .and_then(|config| config.labels)
                .unwrap_or_default(),
        })),
        Err(error) if status_code(&error) == Some(404) => Ok(None),
        Err(error) => Err(docker.fail("inspect image", reference, error)),
    }
}

/// monibox host builds for the component present locally, newest first.
pub async fn host_builds(
    docker: &Docker,
    host_image: HostImage,
) -> Result<Vec<LocalImage>, DockerError> {
    let repository = host_image.repository();
    let options = ListImagesOptions {
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![format!(
                "{}={}",
                labels::IMAGE_COMPONENT,
                host_image.component().as_str()
            )],
        )])),
        ..Default::default()
    };
    let mut images: Vec<(i64, LocalImage)> = docker
        .engine
        .list_images(Some(options))
        .await
        .map_err(|error| docker.fail("list images", &repository, error))?
        .into_iter()
        .filter_map(|summary| {
            let reference = summary
                .repo_tags
                .iter()
                .find(|tag| tag.starts_with(&format!("{repository}:")))?
                .clone();
            Some((
                summary.created,
                LocalImage {
                    reference,
                    id: summary.id,
                    size_bytes: u64::try_from(summary.size).unwrap_or(0),
                    created: u64::try_from(summary.created)
                        .ok()
                        .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs)),
                    labels: summary.labels,
                },
            ))
        })
        .collect();
    images.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
    Ok(images.into_iter().map(|(_, image)| image).collect())
}

/// Decides which image a component will use, without pulling anything.
pub async fn plan_image(
    docker: &Docker,
    component: Component,
    configured: &str,
    policy: PullPolicy,
) -> Result<ImagePlan, DockerError> {
    let plan = |decision| ImagePlan {
        component,
        configured: configured.to_owned(),
        decision,
    };
    if policy == PullPolicy::Always {
        return Ok(plan(ImageDecision::Pull {
            image: configured.to_owned(),
        }));
    }
    if let Some(image) = local_image(docker, configured).await? {
        return Ok(plan(ImageDecision::Use {
            image: image.reference,
            source: ImageSource::Configured,
            size_bytes: image.size_bytes,
        }));
    }
    if let Some(host_image) = component.host_image() {
        if let Some(image) = host_builds(docker, host_image).await?.into_iter().next() {
            return Ok(plan(ImageDecision::Use {
                image: image.reference,
                source: ImageSource::HostBuild,
                size_bytes: image.size_bytes,
            }));
        }
    }
    Ok(plan(match policy {
        PullPolicy::Never => ImageDecision::Missing {
            reason: format!("{configured} is not present locally and --pull never forbids pulling"),
            fix: missing_fix(component, configured, true),
        },
        PullPolicy::Missing | PullPolicy::Always => ImageDecision::Pull {
            image: configured.to_owned(),
        },
    }))
}

/// [`plan_image`] for every component.
pub async fn plan_images(
    docker: &Docker,
    refs: &ImageRefs,
    policy: PullPolicy,
) -> Result<Vec<ImagePlan>, DockerError> {
    let mut plans = Vec::with_capacity(Component::ALL.len());
    for component in Component::ALL {
        plans.push(plan_image(docker, component, refs.get(component), policy).await?);
    }
    Ok(plans)
}

/// Carries out a plan: returns the image to run, pulling it first if the plan says so. A
/// missing image or a failed pull is an error that names the fix.
pub async fn ensure_image(
    docker: &Docker,
    plan: &ImagePlan,
    pull_timeout: Duration,
    progress: &mut (dyn FnMut(ImageProgress) + Send),
) -> Result<String, DockerError> {
    match &plan.decision {
        ImageDecision::Use { image, .. } => Ok(image.clone()),
        ImageDecision::Missing { fix, .. } => Err(DockerError::ImageMissing {
            image: plan.configured.clone(),
            fix: fix.clone(),
        }),
        ImageDecision::Pull { image } => {
            match pull_image(docker, image, pull_timeout, progress).await {
                Ok(()) => Ok(image.clone()),
                Err(DockerError::PullFailed { detail, .. }) => Err(DockerError::ImageMissing {
                    image: image.clone(),
                    fix: format!(
                        "pulling it failed ({detail}); {}",
                        missing_fix(plan.component, image, false)
                    ),
                }),
                Err(other) => Err(other),
            }
        }
    }
}

/// What to tell the user when a component has no image.
fn missing_fix(component: Component, configured: &str, pull_forbidden: bool) -> String {
    let allow_pull = if pull_forbidden {
        ", or allow pulling with `--pull missing`"
    } else {
        ""
    };
    match component.host_image() {
        Some(_) => format!(
            "build it from the host's Debian packages with `monibox images build --from-host`, \
             or load {configured} with `docker load`{allow_pull}"
        ),
        None => format!(
            "no {component} image can be built here: on a machine with registry access run \
             `docker pull {configured} && docker save {configured} -o {component}.tar`, then \
             `docker load -i {component}.tar` here, or configure an image you have{allow_pull}",
            component = component.as_str()
        ),
    }
}

/// Pulls `reference` from its registry, reporting progress. Fails fast and clearly when the
/// registry is unreachable, and gives up after `timeout`.
pub async fn pull_image(
    docker: &Docker,
    reference: &str,
    timeout: Duration,
    progress: &mut (dyn FnMut(ImageProgress) + Send),
) -> Result<(), DockerError> {
    let (repository, tag) = split_reference(reference);
    let options = CreateImageOptions {
        from_image: Some(repository.to_owned()),
        tag: Some(tag.to_owned()),
        ..Default::default()
    };
    let pull = async {
        let mut stream = docker.engine.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|error| match error {
                bollard::errors::Error::DockerStreamError { error } => DockerError::PullFailed {
                    image: reference.to_owned(),
                    detail: error,
                },
                other if status_code(&other).is_some() => DockerError::PullFailed {
                    image: reference.to_owned(),
                    detail: engine_message(&other),
                },
                other => docker.fail("pull image", reference, other),
            })?;
            if let Some(status) = info.status {
                let detail = info.progress_detail.unwrap_or_default();
                progress(ImageProgress::Pulling {
                    image: reference.to_owned(),
                    status,
                    current: detail.current.and_then(|n| u64::try_from(n).ok()),
                    total: detail.total.and_then(|n| u64::try_from(n).ok()),
                });
            }
        }
        Ok(())
    };
    tokio::time::timeout(timeout, pull)
        .await
        .unwrap_or_else(|_| {
            Err(DockerError::PullTimeout {
                image: reference.to_owned(),
                timeout,
            })
        })
}

/// Splits `repo[:tag][@digest]` into what the create-image API wants; the tag defaults to
/// `latest`. A colon in the registry host (`localhost:5000/x`) is not a tag separator.
fn split_reference(reference: &str) -> (&str, &str) {
    if let Some((repository, digest)) = reference.split_once('@') {
        return (repository, digest);
    }
    match reference.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_into_repository_and_tag() {
        assert_eq!(
            split_reference("prom/prometheus:v3.5.0"),
            ("prom/prometheus", "v3.5.0")
        );
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(
            split_reference("localhost:5000/x"),
            ("localhost:5000/x", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/x:1"),
            ("localhost:5000/x", "1")
        );
        assert_eq!(split_reference("x@sha256:abc"), ("x", "sha256:abc"));
    }
}
