//! Copies of the credential files of the user's targets and `[[remote_write]]` destinations
//! (bearer tokens, basic-auth passwords) in the project's `target-secrets/` directory, which Prometheus's container mounts read-only: the
//! originals may be readable only by their owner, and Prometheus runs as nobody. The directory
//! is 0755 inside the 0700 project directory (so no other user of this machine reaches it), the
//! copies 0644; `up` and `reload` refresh them, and remove copies no target needs any more.

use std::path::{Path, PathBuf};

use super::state::{ProjectDir, StateError, create_dir, remove_file_if_present, write_atomic};
use crate::catalog::prometheus::TARGET_SECRETS;
use crate::config::{Config, RemoteWrite};

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "cannot read {} ({key} of {target}): {error}; check the path and that monibox may read \
         it",
        path.display()
    )]
    Read {
        /// `target shop`, `remote_write[0]`.
        target: String,
        key: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

/// One credential file Prometheus reads: whose, which key, monibox's copy and the original.
struct Credential<'a> {
    owner: String,
    key: &'static str,
    copy: String,
    original: &'a Path,
}

/// Every credential file `config` names.
fn credentials(config: &Config) -> Vec<Credential<'_>> {
    let mut all = Vec::new();
    for target in &config.targets {
        for (copy, original) in target.credential_files() {
            let key = if copy == target.bearer_token_copy() {
                "bearer_token_file"
            } else {
                "basic_auth.password_file"
            };
            all.push(Credential {
                owner: format!("target {}", target.name),
                key,
                copy,
                original,
            });
        }
    }
    for (index, remote) in config.remote_write.iter().enumerate() {
        if let Some(file) = &remote.bearer_token_file {
            all.push(Credential {
                owner: format!("remote_write[{index}]"),
                key: "bearer_token_file",
                copy: RemoteWrite::bearer_token_copy(index),
                original: file,
            });
        }
        if let Some(auth) = &remote.basic_auth {
            all.push(Credential {
                owner: format!("remote_write[{index}]"),
                key: "basic_auth.password_file",
                copy: RemoteWrite::password_copy(index),
                original: &auth.password_file,
            });
        }
    }
    all
}

/// Checks that every credential file `config` names can be read, before anything is created
/// (the error names the target or destination, the key and the file).
pub fn check(config: &Config) -> Result<(), SecretsError> {
    for credential in credentials(config) {
        std::fs::read(credential.original).map_err(|error| SecretsError::Read {
            target: credential.owner,
            key: credential.key,
            path: credential.original.to_owned(),
            error,
        })?;
    }
    Ok(())
}

/// Makes the copies of every credential file `config` names, and removes the others.
pub fn sync(project_dir: &ProjectDir, config: &Config) -> Result<(), SecretsError> {
    let dir = project_dir.path().join(TARGET_SECRETS.dir);
    create_dir(&dir, 0o755)?;
    let mut wanted = Vec::new();
    for credential in credentials(config) {
        let contents = std::fs::read(credential.original).map_err(|error| SecretsError::Read {
            target: credential.owner,
            key: credential.key,
            path: credential.original.to_owned(),
            error,
        })?;
        write_atomic(&dir.join(&credential.copy), &contents, 0o644)?;
        wanted.push(credential.copy);
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
        let with_token = Config::from_toml(
            &format!(
                "[[targets]]\nname = \"shop\"\naddress = \"127.0.0.1:8080\"\n\
                 bearer_token_file = {token:?}\n\n[[remote_write]]\nurl = \"http://r:9/w\"\n\
                 basic_auth = {{ username = \"u\", password_file = {token:?} }}\n",
                token = token.display().to_string()
            ),
            Path::new("t"),
        )
        .expect("a config");
        sync(&project, &with_token).expect("sync");
        let copy = project.path().join("target-secrets/shop-bearer-token");
        assert_eq!(std::fs::read_to_string(&copy).expect("copy"), "s3cret");
        let mode = std::fs::metadata(&copy).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let remote = project
            .path()
            .join("target-secrets/remote-write-0-password");
        assert_eq!(std::fs::read_to_string(&remote).expect("copy"), "s3cret");
        sync(&project, &Config::default()).expect("sync");
        assert!(!copy.exists(), "a copy nothing needs is removed");
        assert!(!remote.exists());
        std::fs::remove_file(&token).expect("remove");
        let error = sync(&project, &with_token).expect_err("the file is gone");
        assert!(
            error
                .to_string()
                .contains("bearer_token_file of target shop"),
            "{error}"
        );
    }
}
