//! `monibox export compose DIR`: the whole stack as a Compose project (the Compose
//! Specification, which docker-compose 1.27+ and Compose v2 read). Each component's service is
//! built from the same [`component_spec`] `monibox up` creates its container from — image,
//! command, environment, health check, memory limit, read-only root filesystem, no capabilities
//! — with ports on 127.0.0.1, the bundle mounted read-only from `bundle/`, a named volume per
//! data directory and the Grafana password as a Compose secret (`secrets/`). The demo service
//! and the ops listener (the Alertmanager webhook, runbooks) run from the monibox image.
//!
//! Layout of `DIR`: `compose.yaml`, `README.md`, `bundle/` (the rendered bundle), `secrets/`,
//! and the copies of credential files the configuration names (see `stack::secrets`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::{ExportError, ExportFile, to_yaml};
use crate::assets::Bundle;
use crate::catalog::{self, DEMO, OPS, daemon, grafana};
use crate::config::{Config, Port};
use crate::docker::{ContainerSpec, HOST_ALIAS, HealthCheck, Mount, PortPublish};
use crate::stack::plan::component_spec;
use crate::stack::state::ProjectDir;

/// The Compose file's name in the export.
pub const COMPOSE_FILE: &str = "compose.yaml";
/// The demo service's name in the Compose project, which Prometheus and Alertmanager reach.
pub const DEMO_SERVICE: &str = "demo";
/// How often Docker runs each health check. The Engine's API 1.41 has no faster first check
/// (`start_interval`), so this is also how soon a service can be `healthy` after it starts.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// What the export is made from.
pub struct ComposeInputs<'a> {
    pub config: &'a Config,
    /// The absolute export directory.
    pub dir: &'a Path,
    /// The image each running component uses (what `monibox up` would run), by name.
    pub images: &'a BTreeMap<&'static str, String>,
    pub monibox_image: &'a str,
    /// The Grafana admin password: an earlier export's, kept, or a new one.
    pub grafana_password: String,
}

/// Every file of the export, rendered.
pub fn render(inputs: &ComposeInputs<'_>) -> Result<Vec<ExportFile>, ExportError> {
    let config = inputs.config;
    let ops_port = host_port((OPS.port)(&config.ports), OPS.default_port);
    let context = catalog::render::for_containers(
        config,
        DEMO_SERVICE,
        format!("http://127.0.0.1:{ops_port}/runbooks"),
        catalog::render::host_name(),
    );
    let bundle = Bundle::render(config, &context)?;
    let layout = ProjectDir::at(inputs.dir.to_owned());
    let mut file = ComposeFile::default();
    for def in catalog::enabled(config) {
        let image = inputs
            .images
            .get(def.name)
            .map_or_else(|| def.configured_image(config).to_owned(), Clone::clone);
        let mut spec = component_spec(config, &layout, def, &image, "");
        for publish in &mut spec.ports {
            publish.host_port = host_port(def.configured_port(config), def.default_port);
        }
        let mut service = file.service(inputs.dir, &spec)?;
        if def.name == catalog::prometheus::DEF.name {
            // User targets on "this machine's loopback"; `host-gateway` is Docker's own name.
            service.extra_hosts = vec![format!("{HOST_ALIAS}:host-gateway")];
        }
        file.services.insert(def.name.to_owned(), service);
    }
    let demo = demo_spec(config, inputs.monibox_image);
    let demo_service = file.service(inputs.dir, &demo)?;
    file.services.insert(DEMO_SERVICE.to_owned(), demo_service);

    let mut files: Vec<ExportFile> = bundle
        .files()
        .iter()
        .map(|bundled| {
            ExportFile::public(format!("bundle/{}", bundled.path), bundled.contents.clone())
        })
        .collect();
    if grafana::DEF.is_enabled(config) {
        files.push(ExportFile::public(
            format!("secrets/{}", grafana::PASSWORD_SECRET.name),
            inputs.grafana_password.clone(),
        ));
    }
    let header = format!(
        "# The monibox stack of project {} as a Compose project, written by `monibox export \
         compose`.\n# Run: docker-compose -p {} up -d   (see README.md)\n",
        config.project, config.project
    );
    files.push(ExportFile::public(
        COMPOSE_FILE,
        to_yaml(COMPOSE_FILE, &header, &file)?,
    ));
    files.push(ExportFile::public(
        "README.md",
        readme(config, &file, ops_port),
    ));
    Ok(files)
}

/// The Compose service of the demo service and the ops listener.
fn demo_spec(config: &Config, image: &str) -> ContainerSpec {
    let project = config.project.as_str();
    let mut spec = ContainerSpec::new(project, DEMO_SERVICE, DEMO_SERVICE, image);
    let publish = |container_port: u16, host_port: u16| PortPublish {
        container_port,
        host_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        host_port,
    };
    spec.ports = vec![
        publish(
            daemon::IMAGE_APP_PORT,
            host_port((DEMO.port)(&config.ports), DEMO.default_port),
        ),
        publish(
            daemon::IMAGE_OPS_PORT,
            host_port((OPS.port)(&config.ports), OPS.default_port),
        ),
    ];
    spec.cmd = Some(daemon::serve_command(&config.demo));
    spec.memory_limit_bytes = Some(daemon::IMAGE_MEMORY_LIMIT_BYTES);
    spec.health_check = Some(HealthCheck {
        command: daemon::image_health_check(),
        interval: HEALTH_INTERVAL,
        timeout: Duration::from_secs(5),
        retries: 3,
        start_period: Duration::ZERO,
    });
    spec
}

/// A configured host port; `auto` takes the standard number (Compose has no "any free port"
/// that stays the same across restarts).
fn host_port(port: Port, default: u16) -> u16 {
    port.number().unwrap_or(default)
}

/// The Compose file (only the keys monibox writes).
#[derive(Debug, Default, Serialize)]
struct ComposeFile {
    services: BTreeMap<String, Service>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    volumes: BTreeMap<String, VolumeDef>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    secrets: BTreeMap<String, SecretDef>,
}

#[derive(Debug, Serialize)]
struct Service {
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    environment: BTreeMap<String, String>,
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<VolumeMount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<SecretUse>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extra_hosts: Vec<String>,
    read_only: bool,
    cap_drop: Vec<&'static str>,
    security_opt: Vec<&'static str>,
    init: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    mem_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: Option<Healthcheck>,
    /// monibox's supervisor does not run here: Docker restarts what crashes.
    restart: &'static str,
}

#[derive(Debug, Serialize)]
struct VolumeMount {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tmpfs: Option<TmpfsOptions>,
}

#[derive(Debug, Serialize)]
struct TmpfsOptions {
    size: u64,
}

#[derive(Debug, Default, Serialize)]
struct VolumeDef {}

#[derive(Debug, Serialize)]
struct SecretDef {
    file: String,
}

#[derive(Debug, Serialize)]
struct SecretUse {
    source: String,
    /// Relative: Compose mounts it at `/run/secrets/<target>`.
    target: String,
}

#[derive(Debug, Serialize)]
struct Healthcheck {
    test: Vec<String>,
    interval: String,
    timeout: String,
    retries: u32,
}

impl ComposeFile {
    /// The service for `spec`, registering the volumes and secrets it uses. Bind mounts must
    /// come from inside `dir` (they become relative paths, so the directory can move); the
    /// host's own directories ([`Mount::HostReadOnly`]) stay absolute.
    fn service(&mut self, dir: &Path, spec: &ContainerSpec) -> Result<Service, ExportError> {
        let mut volumes = Vec::new();
        let mut secrets = Vec::new();
        for mount in &spec.mounts {
            match mount {
                Mount::ReadOnlyBind { source, target } => {
                    let relative = source.strip_prefix(dir).map_err(|_| {
                        ExportError::Invalid(format!(
                            "{} is outside the export directory",
                            source.display()
                        ))
                    })?;
                    let relative = relative.to_string_lossy().into_owned();
                    if let Some(name) = target.strip_prefix("/run/secrets/") {
                        self.secrets.insert(
                            name.to_owned(),
                            SecretDef {
                                file: format!("./{relative}"),
                            },
                        );
                        secrets.push(SecretUse {
                            source: name.to_owned(),
                            target: name.to_owned(),
                        });
                        continue;
                    }
                    volumes.push(VolumeMount {
                        kind: "bind",
                        source: Some(format!("./{relative}")),
                        target: target.clone(),
                        read_only: true,
                        tmpfs: None,
                    });
                }
                Mount::HostReadOnly { source, target } => volumes.push(VolumeMount {
                    kind: "bind",
                    source: Some(source.display().to_string()),
                    target: target.clone(),
                    read_only: true,
                    tmpfs: None,
                }),
                Mount::Volume { target, .. } => {
                    let name = format!("{}-data", spec.component);
                    self.volumes.insert(name.clone(), VolumeDef::default());
                    volumes.push(VolumeMount {
                        kind: "volume",
                        source: Some(name),
                        target: target.clone(),
                        read_only: false,
                        tmpfs: None,
                    });
                }
                Mount::Tmpfs { target, size_bytes } => volumes.push(VolumeMount {
                    kind: "tmpfs",
                    source: None,
                    target: target.clone(),
                    read_only: false,
                    tmpfs: Some(TmpfsOptions { size: *size_bytes }),
                }),
            }
        }
        let seconds = |duration: Duration| format!("{}s", duration.as_secs().max(1));
        Ok(Service {
            image: spec.image.clone(),
            command: spec.cmd.clone(),
            environment: spec.env.clone(),
            ports: spec
                .ports
                .iter()
                .map(|p| format!("{}:{}:{}", p.host_ip, p.host_port, p.container_port))
                .collect(),
            volumes,
            secrets,
            extra_hosts: Vec::new(),
            read_only: spec.read_only_rootfs,
            cap_drop: if spec.cap_drop_all {
                vec!["ALL"]
            } else {
                vec![]
            },
            security_opt: vec!["no-new-privileges:true"],
            init: spec.init,
            mem_limit: spec.memory_limit_bytes,
            healthcheck: spec.health_check.as_ref().map(|check| Healthcheck {
                test: std::iter::once("CMD".to_owned())
                    .chain(check.command.iter().cloned())
                    .collect(),
                interval: seconds(HEALTH_INTERVAL),
                timeout: seconds(check.timeout),
                retries: check.retries,
            }),
            restart: "unless-stopped",
        })
    }
}

/// The export's README: how to run it, where things are, what differs from `monibox up`.
fn readme(config: &Config, file: &ComposeFile, ops_port: u16) -> String {
    let project = config.project.as_str();
    let mut urls = String::new();
    for (name, service) in &file.services {
        for port in &service.ports {
            let host = port
                .rsplit_once(':')
                .map_or(port.as_str(), |(host, _)| host);
            urls.push_str(&format!("- {name}: http://{host}\n"));
        }
    }
    let images: Vec<String> = file
        .services
        .iter()
        .map(|(name, service)| format!("- {name}: `{}`", service.image))
        .collect();
    format!(
        "# monibox stack `{project}` for Compose\n\n\
         Written by `monibox export compose`. The same components as `monibox up`, with the \
         same images, commands, health checks and limits; Docker's restart policy stands in \
         for monibox's supervisor.\n\n\
         ```sh\n\
         docker-compose -p {project} up -d      # start; `docker-compose -p {project} ps` shows health\n\
         docker-compose -p {project} down       # stop and remove the containers; data is kept\n\
         docker-compose -p {project} down -v    # ... and the volumes\n\
         ```\n\n\
         Grafana's user is `{user}`, its password is in `secrets/{secret}`.\n\n\
         ## Addresses (127.0.0.1 only)\n\n{urls}\n\
         Runbooks: http://127.0.0.1:{ops_port}/runbooks; Alertmanager's webhook posts to \
         `http://{DEMO_SERVICE}:{ops}/alerts`.\n\n\
         ## Images\n\n{images}\n\n\
         On a machine without registry access, build them from the host first: \
         `monibox images build --from-host` and \
         `monibox images build --from-host --component monibox`.\n\n\
         ## Differences from `monibox up`\n\n\
         - No Docker discovery: no daemon follows the Engine here (label your containers for \
         `monibox up`, or add them as `[[targets]]`).\n\
         - A target on this machine's loopback is reached as `{HOST_ALIAS}` (Docker's \
         `host-gateway`): it must listen on the Docker bridge's address too, since no relay \
         runs.\n\
         - Ports set to `auto` take their standard numbers.\n",
        user = grafana::ADMIN_USER,
        secret = grafana::PASSWORD_SECRET.name,
        ops = daemon::IMAGE_OPS_PORT,
        images = images.join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(config: &Config) -> (Vec<ExportFile>, serde_json::Value) {
        let images = BTreeMap::from([("prometheus", "local/prometheus:1".to_owned())]);
        let files = render(&ComposeInputs {
            config,
            dir: Path::new("/export"),
            images: &images,
            monibox_image: "local/monibox:1",
            grafana_password: "pw".to_owned(),
        })
        .expect("renders");
        let compose = files
            .iter()
            .find(|file| file.path == COMPOSE_FILE)
            .expect("compose file");
        let value = serde_norway::from_slice(&compose.contents).expect("YAML");
        (files, value)
    }

    #[test]
    fn services_run_like_up_on_loopback_with_relative_mounts_and_a_secret() {
        let (files, compose) = export(&Config::default());
        let services = &compose["services"];
        let names: Vec<&String> = services.as_object().expect("services").keys().collect();
        assert_eq!(
            names,
            [
                "alertmanager",
                "demo",
                "grafana",
                "node-exporter",
                "prometheus"
            ]
        );
        // The host's own directories stay absolute, read-only.
        let host = &services["node-exporter"]["volumes"];
        assert_eq!(host[0]["source"], "/proc");
        assert_eq!(host[0]["target"], "/host/proc");
        assert_eq!(host[2]["source"], "/");
        assert_eq!(host[2]["read_only"], true);
        let prometheus = &services["prometheus"];
        assert_eq!(prometheus["image"], "local/prometheus:1");
        assert_eq!(prometheus["ports"][0], "127.0.0.1:9090:9090");
        assert_eq!(prometheus["read_only"], true);
        assert_eq!(prometheus["volumes"][0]["source"], "./bundle/prometheus");
        assert_eq!(prometheus["volumes"][0]["read_only"], true);
        assert_eq!(
            services["grafana"]["secrets"][0]["target"],
            "grafana-admin-password"
        );
        assert_eq!(
            compose["secrets"]["grafana-admin-password"]["file"],
            "./secrets/grafana-admin-password"
        );
        assert_eq!(services["demo"]["image"], "local/monibox:1");
        assert_eq!(services["demo"]["ports"][1], "127.0.0.1:5001:5001");
        let prometheus_yml = files
            .iter()
            .find(|file| file.path == "bundle/prometheus/prometheus.yml")
            .expect("prometheus.yml");
        let text = String::from_utf8_lossy(&prometheus_yml.contents);
        assert!(
            text.contains("demo:5000") && !text.contains("/sd/docker"),
            "{text}"
        );
        assert!(compose["volumes"]["prometheus-data"].is_object());
    }

    #[test]
    fn a_component_switched_off_has_no_service_and_grafana_no_secret() {
        let mut config = Config::default();
        config.components.grafana = false;
        let (files, compose) = export(&config);
        assert!(compose["services"]["grafana"].is_null());
        assert!(compose["secrets"].is_null());
        assert!(files.iter().all(|file| !file.path.starts_with("secrets/")));
    }
}
