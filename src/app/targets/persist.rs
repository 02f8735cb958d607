//! Where `monibox targets` keeps a change, and writing it: into the `--config` file when one is
//! given (the user's file stays the one source of truth), else into the state root's
//! `targets/<project>.toml`. Files are edited in place ([`crate::config::add_target`]), checked by
//! the config file's rules before they are written, written atomically (a temporary file renamed
//! over the old one, keeping its permissions), and can be put back ([`Edit::undo`]).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::app::context::ProjectContext;
use crate::cli::ConfigArgs;
use crate::config::{Config, Target, TargetsFile, add_target, remove_target};

/// The files a project's targets can live in.
#[derive(Debug)]
pub struct TargetsFileChoice {
    config_file: Option<PathBuf>,
    targets_file: PathBuf,
    project: String,
}

/// A file as it was before a change, so the change can be undone.
#[derive(Debug)]
pub struct Edit {
    path: PathBuf,
    /// None: the change created the file.
    previous: Option<String>,
}

impl TargetsFileChoice {
    pub fn new(config: &ConfigArgs, project: &ProjectContext) -> Self {
        Self {
            config_file: config.config.clone(),
            targets_file: project.dir.targets_file(),
            project: project.project().to_owned(),
        }
    }

    /// Appends `target` to the config file, or to the targets file.
    pub fn add(&self, target: &Target) -> anyhow::Result<Edit> {
        let path = self.config_file.as_ref().unwrap_or(&self.targets_file);
        let previous = read_if_exists(path)?;
        let edited = add_target(previous.as_deref().unwrap_or_default(), target)
            .with_context(|| format!("cannot add the target to {}", path.display()))?;
        // A new file starts with what it is (a comment-only document would put it last).
        let edited = match previous {
            Some(_) => edited,
            None => format!("{}\n{edited}", self.targets_file_header()),
        };
        self.check(path, &edited)?;
        write_atomically(path, &edited)?;
        Ok(Edit {
            path: path.clone(),
            previous,
        })
    }

    /// Takes the target named `name` out of whichever file holds it.
    pub fn remove(&self, name: &str) -> anyhow::Result<Edit> {
        for path in self.config_file.iter().chain([&self.targets_file]) {
            let Some(previous) = read_if_exists(path)? else {
                continue;
            };
            let edited = remove_target(&previous, name)
                .with_context(|| format!("cannot remove the target from {}", path.display()))?;
            if let Some(edited) = edited {
                self.check(path, &edited)?;
                write_atomically(path, &edited)?;
                return Ok(Edit {
                    path: path.clone(),
                    previous: Some(previous),
                });
            }
        }
        anyhow::bail!(
            "target {name:?} is in neither {} nor {}",
            self.config_file
                .as_ref()
                .map_or_else(|| "a config file".to_owned(), |p| p.display().to_string()),
            self.targets_file.display()
        )
    }

    /// Parses the edited text by the rules its file follows.
    fn check(&self, path: &Path, text: &str) -> anyhow::Result<()> {
        if Some(path) == self.config_file.as_deref() {
            Config::from_toml(text, path)?;
        } else {
            toml::from_str::<TargetsFile>(text)
                .with_context(|| format!("the edited {} would not parse", path.display()))?;
        }
        Ok(())
    }

    fn targets_file_header(&self) -> String {
        format!(
            "# The scrape targets of monibox project {:?}, kept by `monibox targets add` and\n\
             # `monibox targets remove` (used when no --config file is given). Edit freely: the\n\
             # same [[targets]] tables as in monibox.toml.\n",
            self.project
        )
    }
}

impl Edit {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Puts the file back as it was (removes it if the change created it).
    pub fn undo(&self) -> anyhow::Result<()> {
        match &self.previous {
            Some(text) => write_atomically(&self.path, text),
            None => std::fs::remove_file(&self.path)
                .with_context(|| format!("cannot remove {}", self.path.display())),
        }
    }
}

fn read_if_exists(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `text` to a temporary file beside `path` and renames it over `path`, so a reader sees
/// the old file or the new one, never half of one; the old file's permissions are kept.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("targets");
    let temporary = path.with_file_name(format!(".{name}.monibox-{}.tmp", std::process::id()));
    let written = (|| {
        std::fs::write(&temporary, text)?;
        if let Ok(metadata) = std::fs::metadata(path) {
            std::fs::set_permissions(&temporary, metadata.permissions())?;
        }
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_keeps_the_permissions_and_leaves_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("monibox.toml");
        std::fs::write(&path, "project = \"a\"\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        write_atomically(&path, "project = \"b\"\n").expect("written");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "project = \"b\"\n"
        );
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let entries = std::fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(entries, 1, "no temporary file is left behind");
    }
}
