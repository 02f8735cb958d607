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
/// Upper bound for `ldd` or `--version` on a host binary.
const HOST_COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
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
        image: recipe.fixed_tag.map_or_else(|| recipe.repository(), str::to_owned),
    });
    let prepared = prepare(recipe).await?;
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

/// The path, if it exists (following symlinks); otherwise the error naming the package.
fn require(path: &Path, package: &'static str) -> Result<PathBuf, DockerError> {
    if path.exists() {
        Ok(path.to_owned())
    } else {
        Err(DockerError::HostFileMissing {
            path: path.to_owned(),
            package,
        })
    }
}

/// Every regular file under `dir` (following symlinks), placed under `image_dir`.
fn collect_tree(
    dir: &Path,
    image_dir: &str,
    package: &'static str,
    files: &mut Vec<CopiedFile>,
) -> Result<(), DockerError> {
    // Debian links several web assets to other packages; bound the depth against link loops.
    const MAX_DEPTH: usize = 16;
    let mut pending = vec![(dir.to_owned(), image_dir.to_owned(), 0)];
    while let Some((dir, image_dir, depth)) = pending.pop() {
        let read_error = |error| DockerError::HostFileRead {
            path: dir.clone(),
            error,
        };
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(read_error)?
            .collect::<Result<_, _>>()
            .map_err(read_error)?;
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            // metadata() follows symlinks; a dangling one means a dependency is missing.
            let metadata = std::fs::metadata(&path).map_err(|_| DockerError::HostFileMissing {
                path: path.clone(),
                package,
            })?;
            if metadata.is_dir() && depth < MAX_DEPTH {
                pending.push((path, format!("{image_dir}/{name}"), depth + 1));
            } else if metadata.is_file() {
                files.push(CopiedFile {
                    host: path,
                    image: format!("{image_dir}/{name}"),
                    mode: 0o644,
                });
            }
        }
    }
    Ok(())
}

/// Runs a host program with a time limit and returns stdout and stderr together.
async fn run_host(program: &Path, args: &[&str]) -> Result<(bool, String), DockerError> {
    let command = format!("{} {}", program.display(), args.join(" "));
    let output = tokio::time::timeout(
        HOST_COMMAND_TIMEOUT,
        tokio::process::Command::new(program)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| DockerError::HostCommand {
        command: command.clone(),
        detail: format!("no result within {HOST_COMMAND_TIMEOUT:?}"),
    })?
    .map_err(|error| DockerError::HostCommand {
        command: command.clone(),
        detail: error.to_string(),
    })?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), text))
}

/// The shared libraries `ldd` lists for `binary` (empty for a static binary).
async fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, DockerError> {
    let ldd = Path::new("/usr/bin/ldd");
    require(ldd, "libc-bin")?;
    let (success, text) = run_host(ldd, &[&binary.to_string_lossy()]).await?;
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !success {
        return Err(DockerError::HostCommand {
            command: format!("ldd {}", binary.display()),
            detail: text.trim().to_owned(),
        });
    }
    let libraries: Vec<PathBuf> = text.lines().filter_map(parse_ldd_line).collect();
    for library in &libraries {
        require(library, "libc6")?;
    }
    Ok(libraries)
}

/// The library path on one `ldd` line: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or
/// `/lib64/ld-linux-x86-64.so.2 (0x…)`; None for the vDSO, which has no file.
fn parse_ldd_line(line: &str) -> Option<PathBuf> {
    let line = line.trim();
    let path = match line.split_once("=>") {
        Some((_, target)) => target.trim(),
        None => line,
    };
    let path = path.split_whitespace().next()?;
    path.starts_with('/').then(|| PathBuf::from(path))
}

/// The version a host binary reports: the word after `marker` in its output, without build
/// metadata (`2.42.0+ds` → `2.42.0`), so it is a valid image tag.
async fn host_version(binary: &Path, args: &[&str], marker: &str) -> Result<String, DockerError> {
    let (_, text) = run_host(binary, args).await?;
    parse_version(&text, marker).ok_or_else(|| DockerError::HostCommand {
        command: format!("{} {}", binary.display(), args.join(" ")),
        detail: format!("no version found in its output: {}", text.trim()),
    })
}

fn parse_version(text: &str, marker: &str) -> Option<String> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let word = rest.split_whitespace().next()?;
    let version = word.split('+').next()?.trim_start_matches('v');
    let tag: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    (!tag.is_empty()).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_lines_give_library_paths() {
        assert_eq!(parse_ldd_line("\tlinux-vdso.so.1 (0x00007ffd)"), None);
        assert_eq!(
            parse_ldd_line("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f86)"),
            Some(PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"))
        );
        assert_eq!(
            parse_ldd_line("\t/lib64/ld-linux-x86-64.so.2 (0x00007f86)"),
            Some(PathBuf::from("/lib64/ld-linux-x86-64.so.2"))
        );
    }

    #[test]
    fn a_missing_file_names_the_package_to_install() {
        let error = require(Path::new("/nonexistent/usr/bin/prometheus"), "prometheus")
            .expect_err("the file does not exist");
        let message = error.to_string();
        assert!(
            message.contains("/nonexistent/usr/bin/prometheus"),
            "{message}"
        );
        assert!(
            message.contains("sudo apt-get install prometheus"),
            "{message}"
        );
    }

    #[test]
    fn versions_become_valid_tags() {
        let prometheus =
            "prometheus, version 2.42.0+ds (branch: debian/sid, revision: 2.42.0+ds-5)";
        assert_eq!(
            parse_version(prometheus, "version ").as_deref(),
            Some("2.42.0")
        );
        let busybox = "BusyBox v1.35.0 (Debian 1:1.35.0-4+b1) multi-call binary.";
        assert_eq!(
            parse_version(busybox, "BusyBox v").as_deref(),
            Some("1.35.0")
        );
        assert_eq!(parse_version("no version here", "version: "), None);
    }
}
