//! The plan: from the configuration, the resolved ports, the project network and the images,
//! everything `up` will run — the rendered bundle, each component's [`ContainerSpec`] and how it
//! is probed, and the daemon's settings. Pure: nothing here touches Docker or the disk.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::ports::DaemonPorts;
use super::record::{DaemonRecord, MissingImage};
use super::state::ProjectDir;
use crate::assets::{AssetError, Bundle, RenderContext, container_paths, paths};
use crate::config::{Config, Port};
use crate::docker::images::Component;
use crate::docker::volume::volume_name;
use crate::docker::{
    ContainerSpec, ExtraHost, HealthCheck, HttpReadiness, Mount, NetworkAttachment, PortPublish,
    ProjectNetwork, Readiness,
};

/// Label holding the digest of a component's configuration files, for components that cannot
/// reload them: a changed digest changes the spec hash, so the container is recreated.
pub const CONFIG_DIGEST_LABEL: &str = "io.monibox.config-digest";
/// Where Grafana reads its admin password (`GF_SECURITY_ADMIN_PASSWORD__FILE`).
pub const GRAFANA_PASSWORD_PATH: &str = "/run/secrets/grafana-admin-password";
/// The Grafana admin user.
pub const GRAFANA_ADMIN_USER: &str = "admin";
/// How often readiness is probed while `up` waits.
pub const READINESS_INTERVAL: Duration = Duration::from_millis(25);
/// Limit of one readiness probe.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a component's image comes from, as decided before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChoice {
    Use(String),
    Missing(MissingImage),
}

/// Everything one component needs.
#[derive(Debug, Clone)]
pub struct ComponentPlan {
    pub component: Component,
    pub container: String,
    pub configured_image: String,
    pub image: ImageChoice,
    /// None when there is no image to run.
    pub spec: Option<ContainerSpec>,
    pub readiness: Readiness,
    pub container_port: u16,
    /// Digest of the component's files in the bundle.
    pub config_digest: String,
    /// The lifecycle endpoint that reloads the configuration in place (POST), if it has one.
    pub reload_path: Option<&'static str>,
}

/// What `up` will run.
#[derive(Debug, Clone)]
pub struct StackPlan {
    pub bundle: Bundle,
    pub daemon: DaemonRecord,
    pub components: Vec<ComponentPlan>,
}

/// The name of a component's container.
pub fn container_name(project: &str, component: Component) -> String {
    format!("monibox-{project}-{}", component.as_str())
}

impl StackPlan {
    /// Plans the stack. `images` holds a choice for every component.
    pub fn new(
        config: &Config,
        project_dir: &ProjectDir,
        network: &ProjectNetwork,
        daemon_ports: DaemonPorts,
        images: &BTreeMap<&'static str, ImageChoice>,
    ) -> Result<StackPlan, AssetError> {
        let context = RenderContext::stack(daemon_ports.app, daemon_ports.ops);
        let bundle = Bundle::render(config, &context)?;
        let daemon = daemon_record(config, network.gateway, daemon_ports);
        let components = Component::ALL
            .iter()
            .map(|&component| {
                let image = images.get(component.as_str()).cloned().unwrap_or_else(|| {
                    ImageChoice::Missing(MissingImage {
                        reason: "no image was chosen".to_owned(),
                        fix: "run `monibox images list` to see why".to_owned(),
                    })
                });
                component_plan(config, project_dir, network, &bundle, component, image)
            })
            .collect();
        Ok(StackPlan {
            bundle,
            daemon,
            components,
        })
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
    component: Component,
    image: ImageChoice,
) -> ComponentPlan {
    let project = config.project.as_str();
    let container = container_name(project, component);
    let config_digest = bundle_digest(bundle, component_dir(component));
    let (container_port, readiness_path, expect_body, reload_path) = match component {
        Component::Prometheus => (9090, "/-/ready", None, Some("/-/reload")),
        Component::Alertmanager => (9093, "/-/ready", None, Some("/-/reload")),
        Component::Grafana => (3000, "/api/health", Some("\"database\""), None),
    };
    let readiness = Readiness::Http(HttpReadiness {
        container_port,
        path: readiness_path.to_owned(),
        expect_body: expect_body.map(str::to_owned),
        interval: READINESS_INTERVAL,
        timeout: READINESS_TIMEOUT,
    });
    let spec = match &image {
        ImageChoice::Use(image) => {
            let mut spec = ContainerSpec::new(project, component.as_str(), &container, image);
            spec.network = Some(NetworkAttachment {
                network_id: network.id.clone(),
                aliases: vec![component.as_str().to_owned()],
            });
            spec.extra_hosts.push(ExtraHost {
                hostname: "host.docker.internal".to_owned(),
                address: IpAddr::V4(network.gateway),
            });
            spec.ports.push(PortPublish {
                container_port,
                host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                host_port: host_port(config, component),
            });
            spec.mounts.push(Mount::ReadOnlyBind {
                source: project_dir.bundle_dir().join(component_dir(component)),
                target: mount_target(component).to_owned(),
            });
            spec.mounts.push(Mount::Volume {
                name: volume_name(project, component.as_str()),
                target: data_dir(component).to_owned(),
            });
            let seconds = Duration::from_secs;
            let health = |command: &[&str]| HealthCheck {
                command: command.iter().map(|part| (*part).to_owned()).collect(),
                interval: seconds(10),
                timeout: seconds(5),
                retries: 3,
                start_period: Duration::ZERO,
            };
            match component {
                Component::Prometheus => {
                    let mut cmd = vec![
                        "--config.file=/etc/prometheus/prometheus.yml".to_owned(),
                        "--storage.tsdb.path=/prometheus".to_owned(),
                        "--web.enable-lifecycle".to_owned(),
                    ];
                    cmd.extend(config.retention.prometheus_flags());
                    spec.cmd = Some(cmd);
                    spec.memory_limit_bytes = Some(1 << 30);
                    spec.health_check = Some(health(&[
                        "/bin/promtool",
                        "query",
                        "instant",
                        "http://127.0.0.1:9090",
                        "vector(1)",
                    ]));
                }
                Component::Alertmanager => {
                    spec.cmd = Some(
                        [
                            "--config.file=/etc/alertmanager/alertmanager.yml",
                            "--storage.path=/alertmanager",
                            // A single instance: no gossip to wait for.
                            "--cluster.listen-address=",
                        ]
                        .map(str::to_owned)
                        .to_vec(),
                    );
                    spec.memory_limit_bytes = Some(256 << 20);
                    spec.health_check = Some(health(&[
                        "/bin/amtool",
                        "config",
                        "show",
                        "--alertmanager.url=http://127.0.0.1:9093",
                    ]));
                }
                Component::Grafana => {
                    for (key, value) in [
                        ("GF_PATHS_CONFIG", "/etc/grafana/grafana.ini"),
                        ("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"),
                        ("GF_SECURITY_ADMIN_USER", GRAFANA_ADMIN_USER),
                        ("GF_SECURITY_ADMIN_PASSWORD__FILE", GRAFANA_PASSWORD_PATH),
                        // The root filesystem is read-only: log to the console only.
                        ("GF_LOG_MODE", "console"),
                    ] {
                        spec.env.insert(key.to_owned(), value.to_owned());
                    }
                    spec.mounts.push(Mount::ReadOnlyBind {
                        source: project_dir.mounted_password_file(),
                        target: GRAFANA_PASSWORD_PATH.to_owned(),
                    });
                    spec.mounts.push(Mount::Tmpfs {
                        target: "/tmp".to_owned(),
                        size_bytes: 64 << 20,
                    });
                    spec.memory_limit_bytes = Some(512 << 20);
                    spec.health_check = Some(health(&[
                        "wget",
                        "-q",
                        "-O",
                        "/dev/null",
                        "http://127.0.0.1:3000/api/health",
                    ]));
                }
            }
            if reload_path.is_none() {
                spec.labels
                    .insert(CONFIG_DIGEST_LABEL.to_owned(), config_digest.clone());
            }
            Some(spec)
        }
        ImageChoice::Missing(_) => None,
    };
    ComponentPlan {
        component,
        container,
        configured_image: configured_image(config, component),
        image,
        spec,
        readiness,
        container_port,
        config_digest,
        reload_path,
    }
}

fn configured_image(config: &Config, component: Component) -> String {
    match component {
        Component::Prometheus => config.images.prometheus.as_str(),
        Component::Alertmanager => config.images.alertmanager.as_str(),
        Component::Grafana => config.images.grafana.as_str(),
    }
    .to_owned()
}

/// The configured host port, or 0 (Docker picks one) for `auto`.
fn host_port(config: &Config, component: Component) -> u16 {
    let port = match component {
        Component::Prometheus => config.ports.prometheus,
        Component::Alertmanager => config.ports.alertmanager,
        Component::Grafana => config.ports.grafana,
    };
    match port {
        Port::Fixed(port) => port.get(),
        Port::Auto => 0,
    }
}

fn component_dir(component: Component) -> &'static str {
    match component {
        Component::Prometheus => paths::PROMETHEUS_DIR,
        Component::Alertmanager => paths::ALERTMANAGER_DIR,
        Component::Grafana => paths::GRAFANA_DIR,
    }
}

fn mount_target(component: Component) -> &'static str {
    match component {
        Component::Prometheus => container_paths::PROMETHEUS_DIR,
        Component::Alertmanager => container_paths::ALERTMANAGER_DIR,
        Component::Grafana => container_paths::GRAFANA_DIR,
    }
}

fn data_dir(component: Component) -> &'static str {
    match component {
        Component::Prometheus => "/prometheus",
        Component::Alertmanager => "/alertmanager",
        Component::Grafana => "/var/lib/grafana",
    }
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
        };
        (config, dir, network)
    }

    fn images() -> BTreeMap<&'static str, ImageChoice> {
        BTreeMap::from([
            ("prometheus", ImageChoice::Use("p:1".to_owned())),
            ("alertmanager", ImageChoice::Use("a:1".to_owned())),
            (
                "grafana",
                ImageChoice::Missing(MissingImage {
                    reason: "r".to_owned(),
                    fix: "f".to_owned(),
                }),
            ),
        ])
    }

    fn plan(config: &Config, dir: &ProjectDir, network: &ProjectNetwork) -> StackPlan {
        let ports = DaemonPorts {
            app: 5000,
            ops: 5001,
        };
        StackPlan::new(config, dir, network, ports, &images()).expect("plans")
    }

    #[test]
    fn containers_are_hardened_published_on_loopback_and_reach_the_gateway() {
        let (config, dir, network) = inputs();
        let plan = plan(&config, &dir, &network);
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
        assert_eq!(plan.components[1].reload_path, Some("/-/reload"));
        assert!(plan.components[2].spec.is_none(), "grafana has no image");
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
        let ports = DaemonPorts {
            app: 5000,
            ops: 5001,
        };
        let plan = StackPlan::new(&config, &dir, &network, ports, &images).expect("plans");
        let grafana = plan.components[2].spec.as_ref().expect("grafana runs");
        assert_eq!(grafana.ports[0].host_port, 0, "auto: Docker picks the port");
        assert_eq!(
            grafana.env["GF_SECURITY_ADMIN_PASSWORD__FILE"],
            GRAFANA_PASSWORD_PATH
        );
        assert!(grafana.mounts.contains(&Mount::ReadOnlyBind {
            source: dir.mounted_password_file(),
            target: GRAFANA_PASSWORD_PATH.to_owned(),
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
}
