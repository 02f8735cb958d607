//! `reload`'s decision: what the current configuration would run, compared with what runs. The
//! plan is made exactly as `up` makes it ([`StackPlan`]), from the network, daemon ports and
//! images the running stack already has (stack.json), so a container whose spec hash would not
//! change is one whose only difference, if any, is its configuration files. Anything else —
//! an image, a port, a flag such as retention, Grafana's files (it reads them only at start),
//! the daemon's settings — needs `monibox up`, and is named.
//!
//! Also here: keeping the files a reload replaces, to put them back if the component rejects
//! the new ones, so a later restart does not pick up a configuration that was refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::images::{ImageChoice, MissingImage};
use super::plan::{ComponentPlan, StackPlan};
use super::ports::{self, DaemonPorts, PortError};
use super::record::StackRecord;
use super::state::{ProjectDir, StateError, remove_file_if_present, write_atomic};
use crate::assets::{AssetError, Bundle};
use crate::catalog;
use crate::config::{Config, Port};
use crate::docker::{ContainerStatus, ProjectNetwork};

#[derive(Debug, thiserror::Error)]
pub enum ReloadPlanError {
    #[error(transparent)]
    Render(#[from] AssetError),
    #[error(transparent)]
    Ports(#[from] PortError),
}

/// What reloading the current configuration into the running stack means.
#[derive(Debug)]
pub struct ReloadPlan {
    pub plan: StackPlan,
    /// Changes a reload cannot apply; empty when a reload is enough.
    pub needs_up: Vec<String>,
}

impl ReloadPlan {
    /// Plans `config` for the stack described by `record`, whose containers are `running` (by
    /// component name; None for a component without a container).
    pub fn new(
        config: &Config,
        project_dir: &ProjectDir,
        record: &StackRecord,
        running: &BTreeMap<&'static str, Option<ContainerStatus>>,
    ) -> Result<ReloadPlan, ReloadPlanError> {
        let mut needs_up = Vec::new();
        for def in catalog::CATALOG {
            let was = record.component(def.name).is_some();
            let will = def.is_enabled(config);
            if was != will {
                let [from, to] = if will { ["off", "on"] } else { ["on", "off"] };
                needs_up.push(format!(
                    "components.{} changed ({from} → {to}): its container has to be {}",
                    def.name,
                    if will { "created" } else { "removed" }
                ));
            }
        }
        let network = ProjectNetwork {
            id: record.network.id.clone(),
            name: record.network.name.clone(),
            gateway: record.network.gateway,
            created: false,
            duplicates_removed: 0,
        };
        let previous_ports = record
            .daemon
            .app_port()
            .zip(record.daemon.ops_port())
            .map(|(app, ops)| DaemonPorts { app, ops });
        // `auto` keeps the ports the daemon holds; a fixed port is what the config says.
        let daemon_ports = ports::resolve_daemon_ports(
            config.ports.app,
            config.ports.ops,
            network.gateway,
            previous_ports,
            true,
        )?;
        let mut images = BTreeMap::new();
        for def in catalog::enabled(config) {
            let name = def.name;
            let configured = def.configured_image(config);
            let recorded = record.component(name);
            if let Some(recorded) = recorded.filter(|r| r.configured_image != configured) {
                needs_up.push(format!(
                    "images.{name} changed ({} → {configured})",
                    recorded.configured_image
                ));
            }
            let choice = match recorded {
                Some(recorded) => match (&recorded.image, &recorded.missing) {
                    (Some(image), _) => ImageChoice::Use(image.clone()),
                    (None, Some(missing)) => ImageChoice::Missing(missing.clone()),
                    (None, None) => ImageChoice::Missing(no_image()),
                },
                None => ImageChoice::Missing(no_image()),
            };
            images.insert(name, choice);
        }
        let plan = StackPlan::new(config, project_dir, &network, daemon_ports, &images)?;
        for component in &plan.components {
            let status = running.get(component.def.name).and_then(Option::as_ref);
            if let Some(reason) = spec_change(config, record, component, status) {
                needs_up.push(reason);
            }
        }
        if plan.daemon.settings_digest != record.daemon.settings_digest {
            needs_up.push(
                "the daemon's settings changed ([demo], ports.app or ports.ops): it has to be \
                 restarted"
                    .to_owned(),
            );
        }
        Ok(ReloadPlan { plan, needs_up })
    }
}

fn no_image() -> MissingImage {
    MissingImage {
        reason: "no image was chosen".to_owned(),
        fix: "run `monibox up`".to_owned(),
    }
}

/// Why `component`'s container would be replaced by `up`, if it would: its spec hash differs
/// from the running container's (or, without a container, from the recorded one).
fn spec_change(
    config: &Config,
    record: &StackRecord,
    component: &ComponentPlan,
    status: Option<&ContainerStatus>,
) -> Option<String> {
    let spec = component.spec.as_ref()?;
    let def = component.def;
    let name = def.name;
    let recorded = record.component(name);
    let current = status
        .and_then(ContainerStatus::spec_hash)
        .or_else(|| recorded.and_then(|recorded| recorded.spec_hash.as_deref()))?;
    if current == spec.spec_hash() {
        return None;
    }
    let configured_port = def.configured_port(config);
    let published = status.and_then(|status| status.host_address(def.container_port));
    Some(match (configured_port, published) {
        (Port::Fixed(port), Some(address)) if port.get() != address.port() => format!(
            "ports.{name} changed ({} → {port}): the container has to be recreated",
            address.port()
        ),
        _ if def.reload_path.is_none()
            && recorded
                .is_some_and(|recorded| recorded.config_digest != component.config_digest) =>
        {
            let cause = if config.timing == record.timing {
                String::new()
            } else {
                format!(
                    " (the timing profile changed, {} → {}, and its files carry the interval)",
                    record.timing, config.timing
                )
            };
            format!(
                "{name}'s configuration changed{cause}, which it reads only when it starts: its \
                 container has to be recreated"
            )
        }
        _ => format!(
            "{name}'s container settings changed (image, ports, flags such as retention): its \
             container has to be recreated"
        ),
    })
}

/// The files of some bundle directories as they were before a reload wrote new ones.
#[derive(Debug)]
pub struct BundleBackup {
    bundle_dir: PathBuf,
    /// Relative path and the previous contents (None: the file did not exist).
    files: Vec<(String, Option<Vec<u8>>)>,
}

impl BundleBackup {
    /// Reads the current version of every file `bundle` has under `dirs`.
    pub fn take(bundle_dir: &Path, bundle: &Bundle, dirs: &[&str]) -> Result<Self, StateError> {
        let mut files = Vec::new();
        for file in bundle.files() {
            if !dirs
                .iter()
                .any(|dir| file.path.starts_with(&format!("{dir}/")))
            {
                continue;
            }
            let path = bundle_dir.join(&file.path);
            let previous = match std::fs::read(&path) {
                Ok(contents) => Some(contents),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => return Err(StateError::Io { path, error }),
            };
            files.push((file.path.clone(), previous));
        }
        Ok(Self {
            bundle_dir: bundle_dir.to_owned(),
            files,
        })
    }

    /// Puts back the files under `dir` as they were.
    pub fn restore(&self, dir: &str) -> Result<(), StateError> {
        let prefix = format!("{dir}/");
        for (relative, previous) in &self.files {
            if !relative.starts_with(&prefix) {
                continue;
            }
            let path = self.bundle_dir.join(relative);
            match previous {
                Some(contents) => write_atomic(&path, contents, 0o644)?,
                None => remove_file_if_present(&path)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_puts_back_exactly_its_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config::default();
        let context = crate::catalog::render::for_stack(&config, 5000, 5001, &[]);
        let bundle = Bundle::render(&config, &context).expect("render");
        bundle.write_to(dir.path()).expect("write");
        let prometheus_yml = dir.path().join("prometheus/prometheus.yml");
        let alertmanager_yml = dir.path().join("alertmanager/alertmanager.yml");
        let original = std::fs::read(&prometheus_yml).expect("read");
        let backup = BundleBackup::take(dir.path(), &bundle, &["prometheus"]).expect("backup");
        std::fs::write(&prometheus_yml, "rejected").expect("write");
        std::fs::write(&alertmanager_yml, "kept").expect("write");
        backup.restore("prometheus").expect("restore");
        assert_eq!(std::fs::read(&prometheus_yml).expect("read"), original);
        assert_eq!(
            std::fs::read_to_string(&alertmanager_yml).expect("read"),
            "kept"
        );
    }
}
