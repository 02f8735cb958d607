//! The plan: from the configuration, the resolved ports, the project network and the images,
//! everything `up` will run — the rendered bundle, each running component's [`ContainerSpec`]
//! (built from its catalog entry), and the daemon's settings. Pure: nothing here touches Docker
//! or the disk.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::images::{ImageChoice, MissingImage};
use super::ports::DaemonPorts;
use super::record::DaemonRecord;
use super::state::ProjectDir;
use crate::assets::{AssetError, Bundle};
use crate::catalog::{self, ComponentDef};
use crate::config::{Config, Port};
use crate::docker::{
    ContainerSpec, ExtraHost, HOST_ALIAS, HealthCheck, Mount, NetworkAttachment, PortPublish,
    ProjectNetwork,
};

/// Label holding the digest of a component's configuration files, for components that cannot
/// reload them: a changed digest changes the spec hash, so the container is recreated.
pub const CONFIG_DIGEST_LABEL: &str = "io.monibox.config-digest";

/// Everything one component needs.
#[derive(Debug, Clone)]
pub struct ComponentPlan {
    pub def: &'static ComponentDef,
    pub container: String,
    pub configured_image: String,
    pub image: ImageChoice,
    /// None when there is no image to run.
    pub spec: Option<ContainerSpec>,
    /// Digest of the component's files in the bundle.
    pub config_digest: String,
    /// Host ports its `auto` ports had (container port → host port), asked for again when its
    /// container is created, so URLs stay the same; the caller fills them from stack.json.
    pub preferred_ports: BTreeMap<u16, u16>,
}

/// What `up` will run.
#[derive(Debug, Clone)]
pub struct StackPlan {
    pub bundle: Bundle,
    pub daemon: DaemonRecord,
    /// The components the configuration runs, in catalog order.
    pub components: Vec<ComponentPlan>,
    /// The catalog's other components: switched off, so not run (and removed if they ran).
    pub disabled: Vec<&'static ComponentDef>,
}

impl StackPlan {
    /// Plans the stack. `images` holds a choice for every component that runs.
    pub fn new(
        config: &Config,
        project_dir: &ProjectDir,
        network: &ProjectNetwork,
        daemon_ports: DaemonPorts,
        images: &BTreeMap<&'static str, ImageChoice>,
    ) -> Result<StackPlan, AssetError> {
        let missing: Vec<&str> = catalog::enabled(config)
            .filter(|def| !matches!(images.get(def.name), Some(ImageChoice::Use(_))))
            .map(|def| def.name)
            .collect();
        let context =
            catalog::render::for_stack(config, daemon_ports.app, daemon_ports.ops, &missing);
        let bundle = Bundle::render(config, &context)?;
        let daemon = daemon_record(config, network.gateway, daemon_ports);
        let components = catalog::enabled(config)
            .map(|def| {
                let image = images.get(def.name).cloned().unwrap_or_else(|| {
                    ImageChoice::Missing(MissingImage {
                        reason: "no image was chosen".to_owned(),
                        fix: "run `monibox images list` to see why".to_owned(),
                    })
                });
                component_plan(config, project_dir, network, &bundle, def, image)
            })
            .collect();
        Ok(StackPlan {
            bundle,
            daemon,
            components,
            disabled: catalog::CATALOG
                .iter()
                .copied()
                .filter(|def| !def.is_enabled(config))
                .collect(),
        })
    }

    pub fn component(&self, name: &str) -> Option<&ComponentPlan> {
        self.components.iter().find(|plan| plan.def.name == name)
    }
}

fn daemon_record(config: &Config, gateway: Ipv4Addr, ports: DaemonPorts) -> DaemonRecord {
    let on_both = |port: u16| {
        vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            SocketAddr::new(IpAddr::V4(gateway), port),
        ]
    };
    let app_listen = on_both(ports.app);
    let ops_listen = on_both(ports.ops);
    let digest_input = serde_json::json!({
        "app": app_listen,
        "ops": ops_listen,
        "demo": config.demo,
        "version": env!("CARGO_PKG_VERSION"),
    });
    DaemonRecord {
        settings_digest: hex_digest(digest_input.to_string().as_bytes()),
        app_listen,
        ops_listen,
        demo: config.demo.clone(),
    }
}

fn component_plan(
    config: &Config,
    project_dir: &ProjectDir,
    network: &ProjectNetwork,
    bundle: &Bundle,
    def: &'static ComponentDef,
    image: ImageChoice,
) -> ComponentPlan {
    let config_digest = def
        .bundle
        .map(|mount| bundle_digest(bundle, mount.dir))
        .unwrap_or_default();
    let spec = match &image {
        ImageChoice::Use(image) => Some(container_spec(
            config,
            project_dir,
            network,
            def,
            image,
            &config_digest,
        )),
        ImageChoice::Missing(_) => None,
    };
    ComponentPlan {
        def,
        container: def.container_name(config.project.as_str()),
        configured_image: def.configured_image(config).to_owned(),
        image,
        spec,
        config_digest,
        preferred_ports: BTreeMap::new(),
    }
}

/// The container of `def` in the stack `up` runs: [`component_spec`] on the project network
/// under its name, reaching the host as `host.docker.internal` (the network's gateway).
fn container_spec(
    config: &Config,
    project_dir: &ProjectDir,
    network: &ProjectNetwork,
    def: &ComponentDef,
    image: &str,
    config_digest: &str,
) -> ContainerSpec {
    let mut spec = component_spec(config, project_dir, def, image, config_digest);
    spec.network = Some(NetworkAttachment {
        network_id: network.id.clone(),
        aliases: vec![def.name.to_owned()],
    });
    spec.extra_hosts.push(ExtraHost {
        hostname: HOST_ALIAS.to_owned(),
        address: IpAddr::V4(network.gateway),
    });
    spec
}

/// The container of `def` on no particular network: hardened (see [`ContainerSpec::new`]),
/// published on 127.0.0.1 (`auto` as port 0: Docker picks), with its bundle directory read-only
/// (from `project_dir`'s `bundle/`), its data volume, secrets (from `secrets/`), the host
/// directories it reads, scratch space,
/// command, environment, memory limit and health check. The Compose export builds its services
/// from this too, so both run the components the same way.
pub fn component_spec(
    config: &Config,
    project_dir: &ProjectDir,
    def: &ComponentDef,
    image: &str,
    config_digest: &str,
) -> ContainerSpec {
    let project = config.project.as_str();
    let mut spec = ContainerSpec::new(project, def.name, &def.container_name(project), image);
    spec.ports.push(PortPublish {
        container_port: def.container_port,
        host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        host_port: match def.configured_port(config) {
            Port::Fixed(port) => port.get(),
            // Docker picks a free port.
            Port::Auto => 0,
        },
    });
    if let Some(mount) = def.bundle {
        spec.mounts.push(Mount::ReadOnlyBind {
            source: project_dir.bundle_dir().join(mount.dir),
            target: mount.target.to_owned(),
        });
    }
    if let Some(data_dir) = def.data_dir {
        spec.mounts.push(Mount::Volume {
            name: def.volume_name(project),
            target: data_dir.to_owned(),
        });
    }
    for secret in def.secrets {
        spec.mounts.push(Mount::ReadOnlyBind {
            source: project_dir.secret_file(secret.name),
            target: secret.target.to_owned(),
        });
    }
    for mount in def.state_mounts {
        spec.mounts.push(Mount::ReadOnlyBind {
            source: project_dir.path().join(mount.dir),
            target: mount.target.to_owned(),
        });
    }
    for mount in def.host_mounts {
        spec.mounts.push(Mount::HostReadOnly {
            source: mount.source.into(),
            target: mount.target.to_owned(),
        });
    }
    for tmpfs in def.tmpfs {
        spec.mounts.push(Mount::Tmpfs {
            target: tmpfs.target.to_owned(),
            size_bytes: tmpfs.size_bytes,
        });
    }
    spec.cmd = (def.command)(config, image);
    spec.env = def
        .env
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    spec.memory_limit_bytes = Some(def.memory_limit_bytes);
    let health_check = (def.health_check)(config);
    spec.health_check = (!health_check.is_empty()).then(|| HealthCheck {
        command: health_check.iter().map(|part| (*part).to_owned()).collect(),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        retries: 3,
        start_period: Duration::ZERO,
    });
    if def.reload_path.is_none() {
        spec.labels
            .insert(CONFIG_DIGEST_LABEL.to_owned(), config_digest.to_owned());
    }
    spec
}

/// The digest of every bundle file under `dir/`, names and contents.
fn bundle_digest(bundle: &Bundle, dir: &str) -> String {
    let prefix = format!("{dir}/");
    let mut hasher = Sha256::new();
    for file in bundle.files() {
        if file.path.starts_with(&prefix) {
            hasher.update(file.path.as_bytes());
            hasher.update([0]);
            hasher.update((file.contents.len() as u64).to_le_bytes());
            hasher.update(&file.contents);
        }
    }
    hex(&hasher.finalize()[..16])
}

fn hex_digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes)[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::grafana;
    use crate::stack::state::StateRoot;

    fn inputs() -> (Config, ProjectDir, ProjectNetwork) {
        let mut config = Config::default();
        config.ports.grafana = Port::Auto;
        let dir = StateRoot::resolve(Some(std::path::Path::new("/state")), None, None)
            .expect("root")
            .project("default");
        let network = ProjectNetwork {
            id: "net-id".to_owned(),
            name: "monibox-default".to_owned(),
            gateway: Ipv4Addr::new(172, 20, 0, 1),
            created: false,
            duplicates_removed: 0,
        };
        (config, dir, network)
    }

    fn images() -> BTreeMap<&'static str, ImageChoice> {
        BTreeMap::from([
            ("prometheus", ImageChoice::Use("p:1".to_owned())),
            ("alertmanager", ImageChoice::Use("a:1".to_owned())),
            ("node-exporter", ImageChoice::Use("n:1".to_owned())),
            (
                "grafana",
                ImageChoice::Missing(MissingImage {
                    reason: "r".to_owned(),
                    fix: "f".to_owned(),
                }),
            ),
        ])
    }

    const PORTS: DaemonPorts = DaemonPorts {
        app: 5000,
        ops: 5001,
    };

    #[test]
    fn containers_are_hardened_published_on_loopback_and_reach_the_gateway() {
        let (config, dir, network) = inputs();
        let plan = StackPlan::new(&config, &dir, &network, PORTS, &images()).expect("plans");
        let prometheus = plan.components[0].spec.as_ref().expect("prometheus runs");
        assert_eq!(prometheus.name, "monibox-default-prometheus");
        assert!(prometheus.read_only_rootfs && prometheus.cap_drop_all && prometheus.init);
        assert_eq!(
            prometheus.ports,
            [PortPublish {
                container_port: 9090,
                host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                host_port: 9090,
            }]
        );
        assert_eq!(
            prometheus.extra_hosts[0].address,
            IpAddr::V4(network.gateway)
        );
        let cmd = prometheus.cmd.as_ref().expect("cmd");
        assert!(
            cmd.contains(&"--web.enable-lifecycle".to_owned()),
            "{cmd:?}"
        );
        assert!(
            cmd.iter()
                .any(|flag| flag.starts_with("--storage.tsdb.retention.time="))
        );
        assert!(prometheus.mounts.contains(&Mount::ReadOnlyBind {
            source: "/state/default/bundle/prometheus".into(),
            target: "/etc/prometheus".to_owned(),
        }));
        assert_eq!(plan.components[1].def.reload_path, Some("/-/reload"));
        assert!(plan.components[2].spec.is_none(), "grafana has no image");
        let node = plan.components[3]
            .spec
            .as_ref()
            .expect("node-exporter runs");
        assert!(node.read_only_rootfs && node.cap_drop_all);
        assert!(node.mounts.contains(&Mount::HostReadOnly {
            source: "/".into(),
            target: "/host/root".to_owned(),
        }));
        assert!(
            node.cmd
                .as_ref()
                .is_some_and(|cmd| cmd.contains(&"--path.rootfs=/host/root".to_owned()))
        );
        assert!(plan.disabled.is_empty());
        assert_eq!(
            plan.daemon.app_listen,
            [
                "127.0.0.1:5000".parse::<SocketAddr>().expect("addr"),
                "172.20.0.1:5000".parse().expect("addr"),
            ]
        );
    }

    #[test]
    fn grafana_gets_its_password_file_and_a_config_digest_in_its_spec() {
        let (config, dir, network) = inputs();
        let mut images = images();
        images.insert("grafana", ImageChoice::Use("g:1".to_owned()));
        let plan = StackPlan::new(&config, &dir, &network, PORTS, &images).expect("plans");
        let grafana = plan.components[2].spec.as_ref().expect("grafana runs");
        assert_eq!(grafana.ports[0].host_port, 0, "auto: Docker picks the port");
        assert_eq!(
            grafana.env["GF_SECURITY_ADMIN_PASSWORD__FILE"],
            grafana::PASSWORD_SECRET.target
        );
        assert!(grafana.mounts.contains(&Mount::ReadOnlyBind {
            source: dir.secret_file(grafana::PASSWORD_SECRET.name),
            target: grafana::PASSWORD_SECRET.target.to_owned(),
        }));
        assert_eq!(
            grafana.labels[CONFIG_DIGEST_LABEL],
            plan.components[2].config_digest
        );

        let other_ports = DaemonPorts {
            app: 6000,
            ops: 6001,
        };
        let moved = StackPlan::new(&config, &dir, &network, other_ports, &images).expect("plans");
        assert_ne!(
            moved.components[0].config_digest, plan.components[0].config_digest,
            "Prometheus scrapes the daemon's ports"
        );
        assert_eq!(
            moved.components[0]
                .spec
                .as_ref()
                .map(ContainerSpec::spec_hash),
            plan.components[0]
                .spec
                .as_ref()
                .map(ContainerSpec::spec_hash),
            "Prometheus reloads instead of being recreated"
        );
        assert_ne!(moved.daemon.settings_digest, plan.daemon.settings_digest);
    }

    #[test]
    fn a_component_switched_off_is_not_planned_nor_scraped() {
        let (mut config, dir, network) = inputs();
        config.components.grafana = false;
        let plan = StackPlan::new(&config, &dir, &network, PORTS, &images()).expect("plans");
        let names: Vec<&str> = plan.components.iter().map(|c| c.def.name).collect();
        assert_eq!(names, ["prometheus", "alertmanager", "node-exporter"]);
        assert_eq!(plan.disabled.len(), 1);
        let prometheus_yml = String::from_utf8_lossy(
            plan.bundle
                .get(crate::assets::paths::PROMETHEUS_CONFIG)
                .expect("prometheus.yml"),
        )
        .into_owned();
        assert!(!prometheus_yml.contains("grafana"), "{prometheus_yml}");
        let all =
            StackPlan::new(&Config::default(), &dir, &network, PORTS, &images()).expect("plans");
        let scraped = String::from_utf8_lossy(
            all.bundle
                .get(crate::assets::paths::PROMETHEUS_CONFIG)
                .expect("prometheus.yml"),
        )
        .into_owned();
        assert!(
            !scraped.contains("grafana:3000"),
            "a component without an image is not scraped: {scraped}"
        );
        assert!(
            plan.bundle
                .files()
                .iter()
                .all(|f| !f.path.starts_with("grafana/")),
            "no grafana files"
        );
    }
}
