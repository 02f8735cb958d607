//! Reading what a host build needs from the host: files that must exist (naming the Debian
//! package that provides them), directory trees, the shared libraries `ldd` lists for a binary,
//! and the version a binary reports — each host command bounded in time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::super::error::DockerError;
use super::CopiedFile;

/// Upper bound for `ldd` or `--version` on a host binary.
const HOST_COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// The path, if it exists (following symlinks); otherwise the error naming the package.
pub(super) fn require(path: &Path, package: &'static str) -> Result<PathBuf, DockerError> {
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
pub(super) fn collect_tree(
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
pub(super) async fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, DockerError> {
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
pub(super) async fn host_version(
    binary: &Path,
    args: &[&str],
    marker: &str,
) -> Result<String, DockerError> {
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
