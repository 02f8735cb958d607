//! `FROM scratch` images built from what the host already has, for machines without registry
//! access. What goes into an image is a [`HostRecipe`] — plain data, which the component catalog
//! fills in per component: the binaries (with the shared libraries `ldd` lists), other files and
//! directory trees from a Debian package, generated files, how the host binary tells its version,
//! and the image's layout.
//!
//! Each image holds those files, `/tmp` (1777) and, when the layout has one, a data directory
//! owned by nobody (65534) so a fresh named volume mounted there is writable. The image is
//! labelled with a fingerprint of its inputs; building again from unchanged inputs reuses the image
//! instead of rebuilding.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::super::Docker;
use super::super::build::{BuildContext, Content};
use super::super::error::DockerError;
use super::super::labels;
use super::{HOST_BUILD_REPOSITORY_PREFIX, ImageProgress, local_image};

/// Bumped whenever the way recipes become images changes, so old builds are redone.
const RECIPE_VERSION: &str = "monibox-host-image-2";
/// Upper bound for one image build.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// The uid/gid the components run as (nobody), which owns their data directories.
const NOBODY: u32 = 65534;

/// A host path and where it goes in the image (relative to the image's root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFile {
    pub host: &'static str,
    pub image: &'static str,
}

/// How the host binary reports its version: `<binary> <args>` prints `<marker><version>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionProbe {
    pub binary: &'static str,
    pub args: &'static [&'static str],
    pub marker: &'static str,
}

/// The image's layout: the official image's data directory, port, entrypoint and command, so
/// monibox runs either the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLayout {
    /// An empty directory owned by nobody, also the working directory.
    pub data_dir: Option<&'static str>,
    pub port: u16,
    pub entrypoint: &'static str,
    pub cmd: &'static [&'static str],
    /// Every binary must be statically linked (no library is copied).
    pub static_only: bool,
}

/// Everything needed to build one image from host files.
#[derive(Debug)]
pub struct HostRecipe {
    /// The value of the image's `io.monibox.image.component` label; the image is tagged
    /// `monibox-local/<component>:<host version>` unless `fixed_tag` says otherwise.
    pub component: &'static str,
    /// The Debian package providing the files, named in errors and in the install command.
    pub package: &'static str,
    pub fixed_tag: Option<&'static str>,
    /// Executables (mode 0755), with the shared libraries `ldd` lists for them.
    pub binaries: &'static [HostFile],
    /// Other files (mode 0644).
    pub files: &'static [HostFile],
    /// Directories copied with every regular file below them (following symlinks).
    pub trees: &'static [HostFile],
    /// Files written from text: image path and contents (mode 0644).
    pub generated: &'static [(&'static str, &'static str)],
    pub version: VersionProbe,
    pub layout: ImageLayout,
}

impl HostRecipe {
    /// `monibox-local/<component>`: where versioned builds are tagged.
    pub fn repository(&self) -> String {
        format!("{HOST_BUILD_REPOSITORY_PREFIX}{}", self.component)
    }

    /// The command that installs what the recipe needs.
    pub fn install_command(&self) -> String {
        format!("sudo apt-get install {}", self.package)
    }

    /// The first host file the recipe needs that is missing, as the error naming the package;
    /// Ok when the host has everything (checked without running anything).
    pub fn check_host(&self) -> Result<(), DockerError> {
        for file in self.binaries.iter().chain(self.files).chain(self.trees) {
            require(Path::new(file.host), self.package)?;
        }
        Ok(())
    }
}

/// A `FROM scratch` image of one executable and the shared libraries `ldd` lists for it, such
/// as monibox's own binary: tagged `monibox-local/<component>:<version>`.
#[derive(Debug, Clone)]
pub struct BinaryImage {
    pub component: &'static str,
    /// The executable on this machine.
    pub binary: PathBuf,
    /// Where it goes in the image, e.g. `bin/monibox`.
    pub image_path: &'static str,
    pub version: String,
    pub layout: ImageLayout,
}

/// Whether to rebuild an image whose inputs have not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebuild {
    /// Reuse an image built from the same inputs.
    IfChanged,
    Always,
}

/// The result of building (or reusing) a host image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBuildOutcome {
    pub tag: String,
    pub id: String,
    pub size_bytes: u64,
    /// The version the host binary reported.
    pub host_version: String,
    /// Time spent, including collecting files and sending the context.
    pub elapsed: Duration,
    /// True when an image built from the same inputs was reused.
    pub reused: bool,
}

/// A file taken from the host into the image.
struct CopiedFile {
    host: PathBuf,
    image: String,
    mode: u32,
}

mod files;
use files::{collect_tree, host_version, require, shared_libraries};

/// A recipe made concrete: the tag, the version and the build context.
struct Prepared {
    component_label: &'static str,
    tag: String,
    host_version: String,
    context: BuildContext,
}

/// Builds (or reuses) the image `recipe` describes.
pub async fn build_from_host(
    docker: &Docker,
    recipe: &HostRecipe,
    rebuild: Rebuild,
    progress: &mut (dyn FnMut(ImageProgress) + Send),
) -> Result<HostBuildOutcome, DockerError> {
    let started = Instant::now();
    progress(ImageProgress::Preparing {
        image: recipe
            .fixed_tag
            .map_or_else(|| recipe.repository(), str::to_owned),
    });
    let prepared = prepare(recipe).await?;
    build_recipe(docker, prepared, rebuild, started, progress).await
}

/// Builds (or reuses) the image of one executable.
pub async fn build_binary_image(
    docker: &Docker,
    image: &BinaryImage,
    rebuild: Rebuild,
    progress: &mut (dyn FnMut(ImageProgress) + Send),
) -> Result<HostBuildOutcome, DockerError> {
    let started = Instant::now();
    let tag = format!(
        "{HOST_BUILD_REPOSITORY_PREFIX}{}:{}",
        image.component, image.version
    );
    progress(ImageProgress::Preparing { image: tag.clone() });
    let files = [CopiedFile {
        host: image.binary.clone(),
        image: image.image_path.to_owned(),
        mode: 0o755,
    }];
    let mut context = scratch_context(&files, &[image.binary.as_path()], &[]).await?;
    context.dockerfile = dockerfile(&image.layout);
    let prepared = Prepared {
        component_label: image.component,
        tag,
        host_version: image.version.clone(),
        context,
    };
    build_recipe(docker, prepared, rebuild, started, progress).await
}

async fn prepare(recipe: &HostRecipe) -> Result<Prepared, DockerError> {
    recipe.check_host()?;
    let package = recipe.package;
    let mut files = Vec::new();
    for binary in recipe.binaries {
        files.push(CopiedFile {
            host: PathBuf::from(binary.host),
            image: binary.image.to_owned(),
            mode: 0o755,
        });
    }
    for file in recipe.files {
        files.push(CopiedFile {
            host: PathBuf::from(file.host),
            image: file.image.to_owned(),
            mode: 0o644,
        });
    }
    for tree in recipe.trees {
        collect_tree(Path::new(tree.host), tree.image, package, &mut files)?;
    }
    let binaries: Vec<&Path> = recipe.binaries.iter().map(|b| Path::new(b.host)).collect();
    if recipe.layout.static_only {
        for binary in &binaries {
            if !shared_libraries(binary).await?.is_empty() {
                return Err(DockerError::HostFileNotStatic {
                    path: binary.to_path_buf(),
                    package,
                });
            }
        }
    }
    let version = host_version(
        Path::new(recipe.version.binary),
        recipe.version.args,
        recipe.version.marker,
    )
    .await?;
    let mut context = scratch_context(&files, &binaries, recipe.generated).await?;
    context.dockerfile = dockerfile(&recipe.layout);
    Ok(Prepared {
        component_label: recipe.component,
        tag: match recipe.fixed_tag {
            Some(tag) => tag.to_owned(),
            None => format!("{}:{version}", recipe.repository()),
        },
        host_version: version,
        context,
    })
}

/// The same layout, entrypoint and command as the official image.
fn dockerfile(layout: &ImageLayout) -> String {
    let json = |items: &[&str]| serde_json::to_string(items).unwrap_or_default();
    let mut lines = vec!["FROM scratch".to_owned(), "COPY rootfs/ /".to_owned()];
    if let Some(data_dir) = layout.data_dir {
        lines.push(format!("COPY --chown={NOBODY}:{NOBODY} data/ {data_dir}/"));
    }
    lines.push(format!("USER {NOBODY}:{NOBODY}"));
    if let Some(data_dir) = layout.data_dir {
        lines.push(format!("WORKDIR {data_dir}"));
    }
    lines.push(format!("EXPOSE {}", layout.port));
    lines.push(format!("ENTRYPOINT {}", json(&[layout.entrypoint])));
    lines.push(format!("CMD {}", json(layout.cmd)));
    lines.join("\n")
}

async fn build_recipe(
    docker: &Docker,
    recipe: Prepared,
    rebuild: Rebuild,
    started: Instant,
    progress: &mut (dyn FnMut(ImageProgress) + Send),
) -> Result<HostBuildOutcome, DockerError> {
    let fingerprint = recipe.context.fingerprint(RECIPE_VERSION)?;
    if rebuild == Rebuild::IfChanged {
        if let Some(existing) = local_image(docker, &recipe.tag).await? {
            if existing.labels.get(labels::IMAGE_HOST_FINGERPRINT) == Some(&fingerprint) {
                return Ok(HostBuildOutcome {
                    tag: recipe.tag,
                    id: existing.id,
                    size_bytes: existing.size_bytes,
                    host_version: recipe.host_version,
                    elapsed: started.elapsed(),
                    reused: true,
                });
            }
        }
    }
    let context = recipe.context;
    let packed = tokio::task::spawn_blocking(move || context.pack())
        .await
        .map_err(|error| DockerError::HostCommand {
            command: "pack the build context".to_owned(),
            detail: error.to_string(),
        })??;
    let image_labels = HashMap::from([
        (
            labels::IMAGE_COMPONENT.to_owned(),
            recipe.component_label.to_owned(),
        ),
        (labels::IMAGE_HOST_FINGERPRINT.to_owned(), fingerprint),
        (
            labels::IMAGE_HOST_VERSION.to_owned(),
            recipe.host_version.clone(),
        ),
    ]);
    let id = docker
        .build_from_context(&recipe.tag, packed, image_labels, BUILD_TIMEOUT, progress)
        .await?;
    let size_bytes = local_image(docker, &recipe.tag)
        .await?
        .map(|image| image.size_bytes)
        .unwrap_or(0);
    Ok(HostBuildOutcome {
        tag: recipe.tag,
        id,
        size_bytes,
        host_version: recipe.host_version,
        elapsed: started.elapsed(),
        reused: false,
    })
}

/// The context of a component image: its files, the shared libraries of `binaries`, generated
/// files, `/tmp` and an empty data directory.
async fn scratch_context(
    files: &[CopiedFile],
    binaries: &[&Path],
    generated: &[(&str, &str)],
) -> Result<BuildContext, DockerError> {
    let mut libraries = BTreeSet::new();
    for binary in binaries {
        libraries.extend(shared_libraries(binary).await?);
    }
    let mut context = BuildContext::default();
    let mut dirs = BTreeSet::new();
    let image_paths = files
        .iter()
        .map(|file| file.image.clone())
        .chain(libraries.iter().map(|lib| relative(lib)))
        .chain(generated.iter().map(|(path, _)| (*path).to_owned()));
    for path in image_paths {
        let mut parent = Path::new(&path).parent();
        while let Some(dir) = parent.filter(|dir| !dir.as_os_str().is_empty()) {
            dirs.insert(dir.to_string_lossy().into_owned());
            parent = dir.parent();
        }
    }
    add_rootfs_dirs(&mut context, dirs.iter().map(String::as_str));
    context.dir("rootfs/tmp", 0o1777);
    context.dir("data", 0o755);
    for file in files {
        context.file(
            format!("rootfs/{}", file.image),
            Content::Host(file.host.clone()),
            file.mode,
        );
    }
    for library in &libraries {
        context.file(
            format!("rootfs/{}", relative(library)),
            Content::Host(library.clone()),
            0o755,
        );
    }
    for (path, text) in generated {
        context.file(
            format!("rootfs/{path}"),
            Content::Bytes(text.as_bytes().to_vec()),
            0o644,
        );
    }
    Ok(context)
}

fn add_rootfs_dirs<'a>(context: &mut BuildContext, dirs: impl IntoIterator<Item = &'a str>) {
    context.dir("rootfs", 0o755);
    for dir in dirs {
        context.dir(format!("rootfs/{dir}"), 0o755);
    }
}

fn relative(path: &Path) -> String {
    path.to_string_lossy().trim_start_matches('/').to_owned()
}
