//! The labels monibox puts on everything it creates. They are how `status` finds a project's
//! resources and how `down` removes them, even when no state file survived.

use std::collections::{BTreeMap, HashMap};

/// The project a container, network or volume belongs to (`--project`, `default` otherwise).
pub const PROJECT: &str = "io.monibox.project";
/// The component within the project: `prometheus`, `alertmanager`, `grafana`, ...
pub const COMPONENT: &str = "io.monibox.component";
/// Hash of the container spec the container was created from; a changed hash means recreate.
pub const SPEC_HASH: &str = "io.monibox.spec-hash";
/// On images monibox built: which component the image is for.
pub const IMAGE_COMPONENT: &str = "io.monibox.image.component";
/// On host-built images: fingerprint of the host files and recipe the image was built from.
pub const IMAGE_HOST_FINGERPRINT: &str = "io.monibox.image.host-fingerprint";
/// On host-built images: the version the host binary reported.
pub const IMAGE_HOST_VERSION: &str = "io.monibox.image.host-version";

/// The two labels every project resource carries.
pub fn resource_labels(project: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PROJECT.to_owned(), project.to_owned()),
        (COMPONENT.to_owned(), component.to_owned()),
    ])
}

/// An Engine list filter selecting a project's resources.
pub(super) fn project_filter(project: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{PROJECT}={project}")])])
}

/// An Engine list filter selecting every resource that carries a project label.
pub(super) fn any_project_filter() -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![PROJECT.to_owned()])])
}
