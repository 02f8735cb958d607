//! Copies of the user targets' credential files (bearer tokens, basic-auth passwords) in the
//! project's `target-secrets/` directory, which Prometheus's container mounts read-only: the
//! originals may be readable only by their owner, and Prometheus runs as nobody. The directory
//! is 0755 inside the 0700 project directory (so no other user of this machine reaches it), the
//! copies 0644; `up` and `reload` refresh them, and remove copies no target needs any more.

use std::path::PathBuf;

use super::state::{ProjectDir, StateError, create_dir, remove_file_if_present, write_atomic};
use crate::catalog::prometheus::TARGET_SECRETS;
use crate::config::Target;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "cannot read {} ({key} of target {target}): {error}; check the path and that monibox \
         may read it",
        path.display()
    )]
    Read {
        target: String,
        key: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

/// Makes the copies of every credential file `targets` read, and removes the others.
pub fn sync(project_dir: &ProjectDir, targets: &[Target]) -> Result<(), SecretsError> {
    let dir = project_dir.path().join(TARGET_SECRETS.dir);
    create_dir(&dir, 0o755)?;
    let mut wanted = Vec::new();
    for target in targets {
        for (copy, original) in target.credential_files() {
            let key = if copy == target.bearer_token_copy() {
                "bearer_token_file"
            } else {
                "basic_auth.password_file"
            };
            let contents = std::fs::read(original).map_err(|error| SecretsError::Read {
                target: target.name.to_string(),
                key,
                path: original.to_owned(),
                error,
            })?;
            write_atomic(&dir.join(&copy), &contents, 0o644)?;
            wanted.push(copy);
        }
    }
    let entries = std::fs::read_dir(&dir).map_err(|error| StateError::Io {
        path: dir.clone(),
        error,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !wanted.contains(&name) {
            remove_file_if_present(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::state::StateRoot;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn copies_are_readable_refreshed_and_pruned() {
        let temp = tempfile::tempdir().expect("temp dir");
        let project = StateRoot::resolve(Some(temp.path()), None, None)
            .expect("root")
            .project("p");
        project.create().expect("create");
        let token = temp.path().join("token");
        std::fs::write(&token, "s3cret").expect("write");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let with_token: Target = toml::from_str(&format!(
            "name = \"shop\"\naddress = \"127.0.0.1:8080\"\nbearer_token_file = {:?}\n",
            token.display().to_string()
        ))
        .expect("a target");
        sync(&project, std::slice::from_ref(&with_token)).expect("sync");
        let copy = project.path().join("target-secrets/shop-bearer-token");
        assert_eq!(std::fs::read_to_string(&copy).expect("copy"), "s3cret");
        let mode = std::fs::metadata(&copy).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        sync(&project, &[]).expect("sync");
        assert!(!copy.exists(), "a copy no target needs is removed");
        std::fs::remove_file(&token).expect("remove");
        let error = sync(&project, &[with_token]).expect_err("the file is gone");
        assert!(
            error
                .to_string()
                .contains("bearer_token_file of target shop"),
            "{error}"
        );
    }
}
