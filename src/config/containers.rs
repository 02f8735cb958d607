//! `[containers]`: which of the Engine's containers the daemon reports cAdvisor-style metrics
//! for (`/metrics/containers` on the ops listener, job `containers`): every container (`all`, the
//! default), only the project's own (`project`), or only those labelled
//! [`CONTAINERS_LABEL`]`=true` (`labelled`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The label that selects a container for metrics with `scope = "labelled"`.
pub const CONTAINERS_LABEL: &str = "io.monibox.containers";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Containers {
    pub scope: ContainerScope,
}

/// Whose containers get metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerScope {
    /// Every container on the Engine.
    #[default]
    All,
    /// The containers of this monibox project (its `io.monibox.project` label).
    Project,
    /// The containers labelled `io.monibox.containers=true`.
    Labelled,
}

impl ContainerScope {
    /// The Engine's label filter for this scope in `project` (`key=value`); None: every
    /// container.
    pub fn label_filter(self, project: &str, project_label: &str) -> Option<String> {
        match self {
            Self::All => None,
            Self::Project => Some(format!("{project_label}={project}")),
            Self::Labelled => Some(format!("{CONTAINERS_LABEL}=true")),
        }
    }
}

impl fmt::Display for ContainerScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::All => "all",
            Self::Project => "project",
            Self::Labelled => "labelled",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_has_its_label_filter() {
        let filter = |scope: ContainerScope| scope.label_filter("shop", "io.monibox.project");
        assert_eq!(filter(ContainerScope::All), None);
        assert_eq!(
            filter(ContainerScope::Project).as_deref(),
            Some("io.monibox.project=shop")
        );
        assert_eq!(
            filter(ContainerScope::Labelled).as_deref(),
            Some("io.monibox.containers=true")
        );
        let parsed: Containers = toml::from_str("scope = \"project\"").expect("valid");
        assert_eq!(parsed.scope, ContainerScope::Project);
        assert!(toml::from_str::<Containers>("scope = \"some\"").is_err());
    }
}
