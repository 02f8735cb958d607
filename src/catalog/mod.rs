//! The component catalog: everything monibox knows about each component of the stack, in one
//! [`ComponentDef`] per containerised component ([`CATALOG`]) and one [`ListenerDef`] per
//! listener of the daemon ([`DEMO`], [`OPS`]). Planning, status, logs, images, reload and the
//! rendered Prometheus configuration iterate these entries; nothing else matches on component
//! names, and `docker/` receives plain values built from them.
//!
//! A definition is data: its name (which is also its container suffix, network alias, label
//! value, log prefix and config key in `[ports]`, `[images]` and `[components]`), container port,
//! readiness probe, version endpoint, reload endpoint, bundle directory and mount, data volume, command,
//! environment, secrets, host mounts, health check, memory limit, host-image recipe, log colour,
//! scrape job, alert rules and dashboard. testcontainers' `Image` trait (one place holds everything about an image) is the
//! model.
//!
//! # Adding a component
//!
//! 1. A module here with its `pub static DEF: ComponentDef` (see [`alertmanager`] for a short one),
//!    listed in [`CATALOG`].
//! 2. Its config fields: a key in `config::Ports`, `config::Images` and `config::Components`
//!    (with defaults, `Ports::entries`, the `MONIBOX_*` variables in `config::ENV_KEYS`, and
//!    `config/monibox.toml`), which the definition's accessors read.
//! 3. Its assets under `assets/<name>/` (if it reads configuration files) and, if it has alerts of
//!    its own, `assets/prometheus/rules/<name>.yml` named by `rule_file`, with `promtool` tests in
//!    `tests/rules/`; a dashboard of its own under `assets/grafana/dashboards/`, named by
//!    `dashboard`.
//!
//! Everything else — planning its container, its volume, probing it, scraping it, showing it in
//! `status` and `logs`, building its image from the host — follows from the entry.

pub mod alertmanager;
pub mod daemon;
pub mod grafana;
pub mod node_exporter;
pub mod prometheus;
pub mod render;
pub mod standin;

use crate::config::{Components, Config, Images, Line, Port, Ports};
use crate::docker::images::HostRecipe;

pub use daemon::{CONTAINERS, ContainerMetricsDef, DEMO, ListenerDef, OPS};

/// Every containerised component, in the order they are shown.
pub static CATALOG: [&ComponentDef; 4] = [
    &prometheus::DEF,
    &alertmanager::DEF,
    &grafana::DEF,
    &node_exporter::DEF,
];

/// How a component is probed from the host: `GET <path>` must answer 2xx (and contain
/// `expect_body`, when set). Readiness is data; one runner (`stack::readiness`) evaluates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub path: &'static str,
    pub expect_body: Option<&'static str>,
}

/// Where a running component tells its version: `GET <path>` answers JSON with the version at
/// `pointer` (RFC 6901).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionEndpoint {
    pub path: &'static str,
    pub pointer: &'static str,
}

/// A secret file from the project's state directory, bind-mounted read-only as a single file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretMount {
    /// The file's name in the state directory's `secrets/`.
    pub name: &'static str,
    /// Where the container reads it.
    pub target: &'static str,
}

/// A directory of the project's state directory, bind-mounted read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateMount {
    /// The directory's name in the project's state directory.
    pub dir: &'static str,
    pub target: &'static str,
}

/// A directory of the host system (not of monibox's state), bind-mounted read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostMount {
    /// The absolute host path, e.g. `/proc`.
    pub source: &'static str,
    pub target: &'static str,
}

/// A private in-memory filesystem, for scratch files under the read-only root filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TmpfsMount {
    pub target: &'static str,
    pub size_bytes: u64,
}

/// Everything about one containerised component.
#[derive(Debug)]
pub struct ComponentDef {
    /// `prometheus`: the container `monibox-<project>-<name>`, its network alias, the value of
    /// the `io.monibox.component` label, the `logs` prefix and the config keys
    /// `ports.<name>`, `images.<name>` and `components.<name>`.
    pub name: &'static str,
    /// How people call it: `Prometheus`.
    pub title: &'static str,
    /// `components.<name>`.
    pub enabled: fn(&Components) -> bool,
    /// `ports.<name>`: where its `container_port` is published on 127.0.0.1.
    pub port: fn(&Ports) -> Port,
    /// The port used where `auto` cannot apply (`config export`).
    pub default_port: u16,
    /// `images.<name>`.
    pub image: fn(&Images) -> &Line,
    /// The TCP port it listens on inside the container.
    pub container_port: u16,
    pub readiness: Probe,
    /// Where `status` reads the version it runs.
    pub version: Option<VersionEndpoint>,
    /// The lifecycle endpoint that reloads its configuration files in place (`POST`), if any.
    /// A component without one is recreated when its files change.
    pub reload_path: Option<&'static str>,
    /// Its directory in the bundle and where that is mounted read-only; `None` when it reads no
    /// configuration files.
    pub bundle: Option<BundleMount>,
    /// Where its named data volume `monibox-<project>-<name>-data` is mounted; `None` when it
    /// keeps no data.
    pub data_dir: Option<&'static str>,
    /// The container's command for `config` and the image it runs (the image's entrypoint
    /// stays); `None` keeps the image's.
    pub command: fn(&Config, &str) -> Option<Vec<String>>,
    pub env: &'static [(&'static str, &'static str)],
    pub secrets: &'static [SecretMount],
    pub state_mounts: &'static [StateMount],
    /// The host's own directories it reads (node_exporter's `/proc`, `/sys`, `/`).
    pub host_mounts: &'static [HostMount],
    pub tmpfs: &'static [TmpfsMount],
    /// Docker's health check for `config`, in exec form (no shell needed in the image); empty
    /// for none.
    pub health_check: fn(&Config) -> &'static [&'static str],
    pub memory_limit_bytes: u64,
    /// How `monibox images build --from-host` makes its image from Debian packages, if it can.
    pub host_image: Option<&'static HostRecipe>,
    /// ANSI colour of its prefix in `monibox logs`.
    pub log_colour: &'static str,
    /// The Prometheus job that scrapes its `/metrics`; `None` when it has no metrics.
    pub scrape_job: Option<&'static str>,
    /// Its own alert rules, `prometheus/rules/<file>` in the bundle, loaded only while it runs
    /// (an Alertmanager that is off is no reason to page).
    pub rule_file: Option<&'static str>,
    /// Its own dashboard, `grafana/dashboards/<file>` in the bundle, left out while it does not
    /// run (its panels would have no data).
    pub dashboard: Option<&'static str>,
    /// The command that checks its files in an exported bundle, if its tools have one.
    pub check_by_hand: Option<&'static str>,
    /// The command line that runs it by hand against an exported bundle, listening on `listen`
    /// (`127.0.0.1:<port>`), for the bundle's README.
    pub run_by_hand: fn(listen: &str, config: &Config) -> String,
}

/// A component's directory in the bundle and its mount point in the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleMount {
    /// Relative to the bundle's root, e.g. `prometheus`.
    pub dir: &'static str,
    /// e.g. `/etc/prometheus`: the official image reads its configuration from there.
    pub target: &'static str,
}

impl ComponentDef {
    /// Whether the configuration runs it.
    pub fn is_enabled(&self, config: &Config) -> bool {
        (self.enabled)(&config.components)
    }

    /// The configured image reference.
    pub fn configured_image<'a>(&self, config: &'a Config) -> &'a str {
        (self.image)(&config.images).as_str()
    }

    /// The configured host port (`auto` or a number).
    pub fn configured_port(&self, config: &Config) -> Port {
        (self.port)(&config.ports)
    }

    /// The container's name in `project`.
    pub fn container_name(&self, project: &str) -> String {
        format!("monibox-{project}-{}", self.name)
    }

    /// The name of its data volume in `project`.
    pub fn volume_name(&self, project: &str) -> String {
        format!("monibox-{project}-{}-data", self.name)
    }

    /// What to set to run without it.
    pub fn off_switch(&self) -> String {
        format!(
            "set components.{} = false (config file) or MONIBOX_COMPONENTS_{}=false",
            self.name,
            self.name.to_uppercase().replace('-', "_")
        )
    }
}

/// The definition named `name`.
pub fn get(name: &str) -> Option<&'static ComponentDef> {
    CATALOG.iter().copied().find(|def| def.name == name)
}

/// The components the configuration runs, in catalog order.
pub fn enabled(config: &Config) -> impl Iterator<Item = &'static ComponentDef> + '_ {
    CATALOG.iter().copied().filter(|def| def.is_enabled(config))
}

/// Every component's name, for command-line value lists.
pub fn names() -> impl Iterator<Item = &'static str> {
    CATALOG.iter().map(|def| def.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ports_and_directories_are_unique() {
        let mut names: Vec<&str> = names().chain([DEMO.name, OPS.name]).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len() + 2, "{names:?}");
        let mut ports: Vec<u16> = CATALOG.iter().map(|def| def.default_port).collect();
        ports.dedup();
        assert_eq!(ports.len(), CATALOG.len());
        for def in CATALOG {
            assert_eq!(get(def.name).map(|found| found.name), Some(def.name));
            if let Some(bundle) = def.bundle {
                assert_eq!(bundle.dir, def.name, "a component's bundle dir is its name");
            }
        }
    }

    #[test]
    fn every_component_can_be_switched_off() {
        let mut config = Config::default();
        assert_eq!(enabled(&config).count(), CATALOG.len(), "all on by default");
        config.components.grafana = false;
        let on: Vec<&str> = enabled(&config).map(|def| def.name).collect();
        assert_eq!(on, ["prometheus", "alertmanager", "node-exporter"]);
        assert!(
            grafana::DEF
                .off_switch()
                .contains("MONIBOX_COMPONENTS_GRAFANA=false")
        );
        config.components.node_exporter = false;
        assert_eq!(enabled(&config).count(), 2);
        let off = node_exporter::DEF.off_switch();
        assert!(
            off.contains("components.node-exporter = false")
                && off.contains("MONIBOX_COMPONENTS_NODE_EXPORTER=false"),
            "{off}"
        );
    }
}
