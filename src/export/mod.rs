//! `monibox export`: the same stack for another engine — a Compose project ([`compose`]) or
//! kube-prometheus-stack objects ([`kubernetes`]) — rendered in memory in full, then written.
//! Nothing is written when anything is wrong: the directory is checked and every file rendered
//! before the first one is created. Dashboards for engines whose Grafana monibox does not
//! provision select their Prometheus through a `datasource` variable ([`dashboards`]).

pub mod compose;
pub mod dashboards;
pub mod kubernetes;

use std::path::{Path, PathBuf};

use crate::assets::AssetError;
use crate::stack::secrets::SecretsError;

/// One file of an export: its path relative to the export directory (`/`-separated), its
/// contents and its mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    pub path: String,
    pub contents: Vec<u8>,
    pub mode: u32,
}

impl ExportFile {
    /// A file everyone may read (0644).
    pub fn public(path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            contents: contents.into(),
            mode: 0o644,
        }
    }
}

/// Why an export was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "{} is not empty: choose an empty or new directory, or pass --force to replace the \
         export's files in it (other files are kept)",
        .0.display()
    )]
    NotEmpty(PathBuf),
    #[error("cannot export to {}: it is not a readable directory", path.display())]
    NotADirectory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Asset(#[from] AssetError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("cannot encode {file}: {message}")]
    Encode { file: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl ExportError {
    /// Whether the error is the user's input (exit 2) rather than the machine's.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::NotEmpty(_) | Self::NotADirectory { .. } | Self::Invalid(_)
        )
    }
}

/// Checks an image reference given on the command line (`--demo-image`): no spaces or control
/// characters, and a repository in lowercase, as the Engine and Kubernetes require.
pub fn check_image(reference: &str) -> Result<(), ExportError> {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let repository_len =
        without_digest.len() - last.len() + last.split(':').next().map_or(0, str::len);
    let repository = &without_digest[..repository_len];
    let valid = !reference.is_empty()
        && !reference
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        && !repository.is_empty()
        && repository
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c));
    if !valid {
        return Err(ExportError::Invalid(format!(
            "--demo-image {reference:?} is not an image reference: a lowercase repository such \
             as registry.example.com/monibox, then an optional :tag"
        )));
    }
    Ok(())
}

/// `dir` made absolute, after checking that the export may write there: it does not exist, is
/// empty, or `force` is given.
pub fn check_dir(dir: &Path, force: bool) -> Result<PathBuf, ExportError> {
    let absolute = std::path::absolute(dir).map_err(|source| ExportError::NotADirectory {
        path: dir.to_owned(),
        source,
    })?;
    let has_entries = match std::fs::read_dir(&absolute) {
        Ok(mut entries) => entries.next().is_some(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
        Err(source) => {
            return Err(ExportError::NotADirectory {
                path: absolute,
                source,
            });
        }
    };
    if has_entries && !force {
        return Err(ExportError::NotEmpty(absolute));
    }
    Ok(absolute)
}

/// Writes every file under `dir` (created as needed) with its mode, each to a temporary name and
/// renamed into place. Files not in `files` are left alone.
pub fn write_files(dir: &Path, files: &[ExportFile]) -> Result<(), ExportError> {
    for file in files {
        crate::assets::write_file(&dir.join(&file.path), &file.contents, Some(file.mode))
            .map_err(|(path, source)| ExportError::Write { path, source })?;
    }
    Ok(())
}

/// Serialises `value` as YAML for `file`, after `header` (comment lines).
fn to_yaml(file: &str, header: &str, value: &impl serde::Serialize) -> Result<String, ExportError> {
    let body = serde_norway::to_string(value).map_err(|error| ExportError::Encode {
        file: file.to_owned(),
        message: error.to_string(),
    })?;
    Ok(format!("{header}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_empty_directory_needs_force_and_a_file_is_refused() {
        let temp = tempfile::tempdir().expect("temp dir");
        let new = temp.path().join("new");
        assert_eq!(check_dir(&new, false).expect("new is fine"), new);
        std::fs::write(temp.path().join("x"), "").expect("write");
        assert!(matches!(
            check_dir(temp.path(), false),
            Err(ExportError::NotEmpty(_))
        ));
        assert!(check_dir(temp.path(), true).is_ok());
        let error = check_dir(&temp.path().join("x"), true).expect_err("a file");
        assert!(error.is_usage(), "{error}");
    }

    #[test]
    fn image_references_need_a_lowercase_repository_and_no_spaces() {
        for good in [
            "monibox-local/monibox:0.1.0",
            "registry.example:5000/a/b:v1",
            "x",
        ] {
            check_image(good).expect(good);
        }
        for bad in ["UPPER:bad tag", "Monibox:1", "", "a b", ":tag"] {
            assert!(check_image(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn files_get_their_modes() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::tempdir().expect("temp dir");
        let secret = ExportFile {
            mode: 0o600,
            ..ExportFile::public("a/b/secret", "s")
        };
        write_files(temp.path(), &[secret, ExportFile::public("c", "x")]).expect("writes");
        let mode = |path: &str| {
            std::fs::metadata(temp.path().join(path))
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!((mode("a/b/secret"), mode("c")), (0o600, 0o644));
    }
}
