//! The prologue every project command shares: the configuration (defaults ← file ← environment
//! ← flags), the state root and the project's directory, its `stack.json` store and its daemon —
//! and, for commands that change the project, its lock.

use std::time::Duration;

use super::config;
use crate::cli::{ConfigArgs, LockArgs, StateArgs};
use crate::config::Config;
use crate::daemon::client::DaemonClient;
use crate::stack::lock::{Holder, ProjectLock};
use crate::stack::record::StackRecord;
use crate::stack::state::{ProjectDir, StateRoot};
use crate::stack::store::StackStore;

/// One project, as a command sees it.
#[derive(Debug)]
pub struct ProjectContext {
    pub config: Config,
    pub root: StateRoot,
    pub dir: ProjectDir,
    pub store: StackStore,
    /// The flags that name this project and configuration, for hints.
    flags: String,
    /// `--timing` as given, for the hints of commands that take it.
    timing_flag: String,
}

impl ProjectContext {
    /// Loads the configuration (the project's targets file included) and finds the project's
    /// state (nothing is created).
    pub fn load(config_args: &ConfigArgs, state_args: &StateArgs) -> anyhow::Result<Self> {
        let (loaded, dir, root) = config::load_project(config_args, state_args)?;
        let config = loaded.config;
        let store = StackStore::new(&dir, config.project.as_str());
        let (flags, timing_flag) = super::same_project_flags(config_args, state_args);
        Ok(Self {
            config,
            root,
            dir,
            store,
            flags,
            timing_flag,
        })
    }

    /// `monibox <command>` with the flags that name this project, quoted for a message.
    /// `load` takes no `--timing`: it reads the running stack's.
    pub fn command(&self, command: &str) -> String {
        let timing = if command.starts_with("load") {
            ""
        } else {
            &self.timing_flag
        };
        format!("`monibox {command}{}{timing}`", self.flags)
    }

    pub fn project(&self) -> &str {
        self.config.project.as_str()
    }

    /// The project's daemon.
    pub fn daemon(&self) -> DaemonClient {
        DaemonClient::new(&self.dir, self.project())
    }

    /// The recorded stack, with a warning instead of an error if it cannot be read.
    pub fn record(&self) -> Option<StackRecord> {
        self.store.read_or_warn()
    }

    /// Takes the project's lock for `command` (see `stack::lock`), saying on stderr when it has
    /// to wait for another command.
    pub async fn lock(&self, command: &str, args: &LockArgs) -> anyhow::Result<ProjectLock> {
        let project = self.project().to_owned();
        let recorded = std::env::args().collect::<Vec<_>>().join(" ");
        let timeout: Duration = args.lock_timeout;
        let lock = ProjectLock::acquire(
            self.dir.lock_file(),
            &project,
            &recorded,
            timeout,
            |holder: Option<&Holder>| {
                let who =
                    holder.map_or_else(|| "another monibox command".to_owned(), Holder::to_string);
                eprintln!(
                    "{command}: waiting for {who} to finish with project {project} (up to {})",
                    humantime::format_duration(timeout)
                );
            },
        )
        .await?;
        Ok(lock)
    }
}
