//! The one owner of a project's `stack.json`: every read and write goes through [`StackStore`].
//!
//! The discipline, for the record's three writers:
//! - `up` and `reload` hold the project's lock ([`super::lock`]), so only one of them runs, and
//!   hold the daemon's supervisor while they change containers or the record, resuming it once
//!   the record is final (the supervisor then re-reads it: new specs, new timing).
//! - The supervisor writes only the host ports of containers it recreated, and never while held.
//! - Every write is a read-modify-write under an exclusive lock on `stack.json.lock`
//!   ([`StackStore::update`]), applied to the record as it is on disk at that moment, and the
//!   file is replaced atomically: a writer never loses another's change, readers never see half
//!   a file.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::record::{RecordError, StackRecord};
use super::state::{ProjectDir, StateError};

/// A project's `stack.json`.
#[derive(Debug, Clone)]
pub struct StackStore {
    path: PathBuf,
    project: String,
}

impl StackStore {
    pub fn new(project_dir: &ProjectDir, project: &str) -> Self {
        Self {
            path: project_dir.stack_file(),
            project: project.to_owned(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The project's record; `Ok(None)` when there is none, it is from an incompatible version,
    /// or it describes another project.
    pub fn read(&self) -> Result<Option<StackRecord>, RecordError> {
        Ok(StackRecord::read(&self.path)?.filter(|record| record.project == self.project))
    }

    /// The record, with a warning instead of an error when it cannot be read: for commands
    /// that only look (`status`, `logs`, `load`) or that rewrite it anyway (`up`).
    pub fn read_or_warn(&self) -> Option<StackRecord> {
        self.read().unwrap_or_else(|error| {
            tracing::warn!(%error, "ignoring stack.json");
            None
        })
    }

    /// Writes `record` as the whole new record (`up`, which decided every field).
    pub fn replace(&self, record: &StackRecord) -> Result<(), RecordError> {
        let _guard = self.exclusive()?;
        record.write(&self.path)
    }

    /// Applies `change` to the record as it is on disk now and writes the result, all under the
    /// record's lock; `Ok(None)` (and nothing written) when there is no record.
    pub fn update(
        &self,
        change: impl FnOnce(&mut StackRecord),
    ) -> Result<Option<StackRecord>, RecordError> {
        let _guard = self.exclusive()?;
        let Some(mut record) = self.read()? else {
            return Ok(None);
        };
        change(&mut record);
        record.write(&self.path)?;
        Ok(Some(record))
    }

    /// The record's own lock, held for one read-modify-write (milliseconds).
    fn exclusive(&self) -> Result<Flock<std::fs::File>, RecordError> {
        let path = self.path.with_extension("json.lock");
        let locked = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .and_then(|file| {
                Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| errno.into())
            });
        locked.map_err(|error| RecordError::Write(StateError::Io { path, error }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::record::tests::record;
    use crate::stack::state::StateRoot;

    #[test]
    fn an_update_applies_to_the_record_on_disk_not_to_a_stale_copy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let project_dir = StateRoot::resolve(Some(dir.path()), None, None)
            .expect("root")
            .project("p");
        project_dir.create().expect("create");
        let store = StackStore::new(&project_dir, "p");
        assert_eq!(store.update(|_| {}).expect("no record"), None);
        store.replace(&record()).expect("write");
        let stale = store.read().expect("read").expect("a record");
        // The supervisor records a port; another writer then changes the digest.
        store
            .update(|record| record.components[0].host_port = Some(40000))
            .expect("update");
        store
            .update(|record| record.components[0].config_digest = "new".to_owned())
            .expect("update");
        let now = store.read().expect("read").expect("a record");
        assert_eq!(now.components[0].host_port, Some(40000), "not lost");
        assert_eq!(now.components[0].config_digest, "new");
        assert_ne!(now, stale);
        let other = StackStore::new(&project_dir, "other");
        assert_eq!(
            other.read().expect("read"),
            None,
            "another project's record"
        );
    }
}
