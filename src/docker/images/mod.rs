//! Images in the local Engine: looking one up, listing host builds, pulling with progress, and
//! building `FROM scratch` images from host files ([`host`]). Which image a component runs is
//! decided above this module (`stack::images`); here images are plain references.

pub mod host;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bollard::query_parameters::{CreateImageOptions, ListImagesOptions};
use futures_util::StreamExt;

use super::Docker;
use super::error::{DockerError, engine_message, status_code};
use super::labels;

pub use host::{
    BinaryImage, HostBuildOutcome, HostFile, HostRecipe, ImageLayout, Rebuild, VersionProbe,
    build_binary_image, build_from_host,
};

/// What to do when a fix is needed and nothing more specific applies.
pub(crate) const GENERIC_IMAGE_FIX: &str = "build local images with `monibox images build \
     --from-host`, or allow pulling with `--pull missing`";

/// The repository prefix of images monibox builds from host binaries.
pub const HOST_BUILD_REPOSITORY_PREFIX: &str = "monibox-local/";

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
                .and_then(super::inspect::parse_engine_time),
            labels: image
                .config
                .and_then(|config| config.labels)
                .unwrap_or_default(),
        })),
        Err(error) if status_code(&error) == Some(404) => Ok(None),
        Err(error) => Err(docker.fail("inspect image", reference, error)),
    }
}

/// Local images built from `recipe` (by label and repository), newest first.
pub async fn host_builds(
    docker: &Docker,
    recipe: &HostRecipe,
) -> Result<Vec<LocalImage>, DockerError> {
    let repository = recipe.repository();
    let options = ListImagesOptions {
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![format!("{}={}", labels::IMAGE_COMPONENT, recipe.component)],
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
