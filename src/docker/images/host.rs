//! `FROM scratch` images built from what the host already has, for machines without registry
//! access: Prometheus and Alertmanager from Debian's `prometheus` and `prometheus-alertmanager`
//! packages, and — for tests only — a Grafana stand-in made of the static busybox.
//!
//! Each image holds the binaries, the shared libraries `ldd` lists, the files they read at run
//! time, `/tmp` (1777) and a data directory owned by nobody (65534) so a fresh named volume
//! mounted there is writable. The image is labelled with a fingerprint of its inputs; building
//! again from unchanged inputs reuses the image instead of rebuilding.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::super::Docker;
use super::super::build::{BuildContext, Content};
use super::super::error::DockerError;
use super::super::labels;
use super::{Component, HOST_BUILD_REPOSITORY_PREFIX, ImageProgress, local_image};

/// Bumped whenever the recipes below change what goes into an image, so old builds are redone.
const RECIPE_VERSION: &str = "monibox-host-image-1";
/// Upper bound for one image build.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Upper bound for `ldd` or `--version` on a host binary.
const HOST_COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// The uid/gid the components run as (nobody), which owns their data directories.
const NOBODY: u32 = 65534;

/// The tag of the test-only Grafana stand-in. It is not Grafana: a busybox httpd answering
/// Grafana's health endpoint, for lifecycle tests on machines where no Grafana image exists.
pub const GRAFANA_STANDIN_TAG: &str = "monibox-test/grafana-standin:busybox";
/// What the stand-in answers on `/api/health`: shaped like Grafana's, and saying what it is.
pub const GRAFANA_STANDIN_HEALTH: &str =
    r#"{"commit":"monibox-test-standin","database":"ok","version":"standin (not Grafana)"}"#;

/// What the stand-in serves on `/metrics`, so the stack's `grafana` scrape job finds a target
/// that is up, as it would with Grafana; the one series says what it is.
pub const GRAFANA_STANDIN_METRICS: &str = "\
# HELP monibox_test_grafana_standin_info A monibox test stand-in (busybox httpd), not Grafana.
# TYPE monibox_test_grafana_standin_info gauge
monibox_test_grafana_standin_info 1
";

/// Components whose image can be built from host packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostImage {
    Prometheus,
    Alertmanager,
}

impl HostImage {
    pub const ALL: [HostImage; 2] = [HostImage::Prometheus, HostImage::Alertmanager];

    pub fn component(self) -> Component {
        match self {
            HostImage::Prometheus => Component::Prometheus,
            HostImage::Alertmanager => Component::Alertmanager,
        }
    }

    /// `monibox-local/<component>`.
    pub fn repository(self) -> String {
        format!(
            "{HOST_BUILD_REPOSITORY_PREFIX}{}",
            self.component().as_str()
        )
    }

    /// The Debian package that provides the component's files.
    pub const fn package(self) -> &'static str {
        match self {
            HostImage::Prometheus => "prometheus",
            HostImage::Alertmanager => "prometheus-alertmanager",
        }
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
    /// The version the host binary reported (for the stand-in: busybox's).
    pub host_version: String,
    /// Time spent, including collecting files and sending the context.
    pub elapsed: Duration,
    /// True when an image built from the same inputs was reused.
    pub reused: bool,
}

/// A file taken from the host into the image.
struct HostFile {
    host: PathBuf,
    image: String,
    mode: u32,
}

/// Everything needed to build one image.
struct Recipe {
    component_label: &'static str,
    tag: String,
    host_version: String,
    context: BuildContext,
}

/// Builds (or reuses) the host image of `which` and tags it `monibox-local/<component>:<version>`.
pub async fn build_from_host(
    docker: &Docker,
    which: HostImage,
    rebuild: Rebuild,
    progress: &mut (dyn FnMut(ImageProgress) + Send),
) -> Result<HostBuildOutcome, DockerError> {
    let started = Instant::now();
    progress(ImageProgress::Preparing {
        image: which.repository(),
    });
    let recipe = match which {
        HostImage::Prometheus => prometheus_recipe().await?,
        HostImage::Alertmanager => alertmanager_recipe().await?,
    };
    build_recipe(docker, recipe, rebuild, started, progress).await
}

/// Builds (or reuses) the Grafana stand-in image under `tag`, from the host's static busybox
/// (Debian's `busybox-static`): `busybox httpd` on port 3000 serving [`GRAFANA_STANDIN_HEALTH`]
/// at `/api/health` and [`GRAFANA_STANDIN_METRICS`] at `/metrics`, with `wget` on the `PATH`
/// for the health check Grafana's spec uses. For tests only; it is never presented as Grafana.
pub async fn build_grafana_standin(
    docker: &Docker,
    tag: &str,
    progress: &mut (dyn FnMut(ImageProgress) + Send),
) -> Result<HostBuildOutcome, DockerError> {
    let started = Instant::now();
    progress(ImageProgress::Preparing {
        image: tag.to_owned(),
    });
    let busybox = Path::new("/bin/busybox");
    require(busybox, "busybox-static")?;
    if !shared_libraries(busybox).await?.is_empty() {
        return Err(DockerError::HostFileNotStatic {
            path: busybox.to_owned(),
            package: "busybox-static",
        });
    }
    let version = host_version(busybox, &[], "BusyBox v").await?;
    let mut context = BuildContext {
        dockerfile: [
            "FROM scratch",
            "COPY rootfs/ /",
            "USER 65534:65534",
            "EXPOSE 3000",
            r#"ENTRYPOINT ["/bin/busybox","httpd","-f","-p","3000","-h","/www"]"#,
        ]
        .join("\n"),
        ..BuildContext::default()
    };
    add_rootfs_dirs(&mut context, ["bin", "www", "www/api"]);
    context.file(
        "rootfs/bin/busybox",
        Content::Host(busybox.to_owned()),
        0o755,
    );
    // Busybox picks the applet from its name: this is the `wget` a Grafana health check runs.
    context.file("rootfs/bin/wget", Content::Host(busybox.to_owned()), 0o755);
    context.file(
        "rootfs/www/metrics",
        Content::Bytes(GRAFANA_STANDIN_METRICS.as_bytes().to_vec()),
        0o644,
    );
    context.file(
        "rootfs/www/api/health",
        Content::Bytes(GRAFANA_STANDIN_HEALTH.as_bytes().to_vec()),
        0o644,
    );
    context.file(
        "rootfs/www/index.html",
        Content::Bytes(
            b"<!doctype html><title>Grafana stand-in</title>\
              <p>This is a monibox test stand-in (busybox httpd), not Grafana.</p>\n"
                .to_vec(),
        ),
        0o644,
    );
    let recipe = Recipe {
        component_label: "grafana-standin",
        tag: tag.to_owned(),
        host_version: version,
        context,
    };
    build_recipe(docker, recipe, Rebuild::IfChanged, started, progress).await
}

async fn build_recipe(
    docker: &Docker,
    recipe: Recipe,
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

async fn prometheus_recipe() -> Result<Recipe, DockerError> {
    const PACKAGE: &str = HostImage::Prometheus.package();
    let prometheus = Path::new("/usr/bin/prometheus");
    let promtool = Path::new("/usr/bin/promtool");
    let web = Path::new("/usr/share/prometheus/web");
    let mut files = vec![
        HostFile {
            host: require(prometheus, PACKAGE)?,
            image: "bin/prometheus".to_owned(),
            mode: 0o755,
        },
        HostFile {
            host: require(promtool, PACKAGE)?,
            image: "bin/promtool".to_owned(),
            mode: 0o755,
        },
    ];
    // The classic UI needs the templates and these static parts; the rest of static/ is
    // shared JS libraries (over 200 MB) the UI does not load.
    for part in [
        "templates",
        "static/css",
        "static/img",
        "static/js",
        "static/vendor",
    ] {
        let dir = require(&web.join(part), PACKAGE)?;
        collect_tree(
            &dir,
            &format!("usr/share/prometheus/web/{part}"),
            PACKAGE,
            &mut files,
        )?;
    }
    let version = host_version(prometheus, &["--version"], "version ").await?;
    let mut context = scratch_context(
        &files,
        &[prometheus, promtool],
        &[("etc/prometheus/prometheus.yml", DEFAULT_PROMETHEUS_CONFIG)],
    )
    .await?;
    context.dockerfile = component_dockerfile(
        "/prometheus",
        9090,
        "/bin/prometheus",
        &[
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
        ],
    );
    Ok(Recipe {
        component_label: Component::Prometheus.as_str(),
        tag: format!("{}:{version}", HostImage::Prometheus.repository()),
        host_version: version,
        context,
    })
}

async fn alertmanager_recipe() -> Result<Recipe, DockerError> {
    const PACKAGE: &str = HostImage::Alertmanager.package();
    let alertmanager = Path::new("/usr/bin/prometheus-alertmanager");
    let amtool = Path::new("/usr/bin/amtool");
    let templates = Path::new("/usr/share/prometheus/alertmanager");
    let mut files = vec![
        HostFile {
            host: require(alertmanager, PACKAGE)?,
            image: "bin/alertmanager".to_owned(),
            mode: 0o755,
        },
        HostFile {
            host: require(amtool, PACKAGE)?,
            image: "bin/amtool".to_owned(),
            mode: 0o755,
        },
    ];
    // Both templates are required: without email.tmpl Alertmanager exits at start.
    for template in ["default.tmpl", "email.tmpl"] {
        files.push(HostFile {
            host: require(&templates.join(template), PACKAGE)?,
            image: format!("usr/share/prometheus/alertmanager/{template}"),
            mode: 0o644,
        });
    }
    let version = host_version(alertmanager, &["--version"], "version ").await?;
    let mut context = scratch_context(
        &files,
        &[alertmanager, amtool],
        &[(
            "etc/alertmanager/alertmanager.yml",
            DEFAULT_ALERTMANAGER_CONFIG,
        )],
    )
    .await?;
    context.dockerfile = component_dockerfile(
        "/alertmanager",
        9093,
        "/bin/alertmanager",
        &[
            "--config.file=/etc/alertmanager/alertmanager.yml",
            "--storage.path=/alertmanager",
        ],
    );
    Ok(Recipe {
        component_label: Component::Alertmanager.as_str(),
        tag: format!("{}:{version}", HostImage::Alertmanager.repository()),
        host_version: version,
        context,
    })
}

/// A self-scrape config so the image runs on its own, like the official one; monibox mounts its
/// own configuration over it.
const DEFAULT_PROMETHEUS_CONFIG: &str = "\
# Default of a monibox host-built image; monibox mounts its own configuration.
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['localhost:9090']
";

/// A config with one silent receiver so the image runs on its own.
const DEFAULT_ALERTMANAGER_CONFIG: &str = "\
# Default of a monibox host-built image; monibox mounts its own configuration.
route:
  receiver: default
receivers:
  - name: default
";

/// The same layout, entrypoint and command as the official image, so monibox runs either the
/// same way.
fn component_dockerfile(data_dir: &str, port: u16, entrypoint: &str, cmd: &[&str]) -> String {
    let json = |items: &[&str]| serde_json::to_string(items).unwrap_or_default();
    [
        "FROM scratch".to_owned(),
        "COPY rootfs/ /".to_owned(),
        format!("COPY --chown={NOBODY}:{NOBODY} data/ {data_dir}/"),
        format!("USER {NOBODY}:{NOBODY}"),
        format!("WORKDIR {data_dir}"),
        format!("EXPOSE {port}"),
        format!("ENTRYPOINT {}", json(&[entrypoint])),
        format!("CMD {}", json(cmd)),
    ]
    .join("\n")
}

/// The context of a component image: its files, the shared libraries of `binaries`, generated
/// files, `/tmp` and an empty data directory.
async fn scratch_context(
    files: &[HostFile],
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
    files: &mut Vec<HostFile>,
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
                files.push(HostFile {
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
