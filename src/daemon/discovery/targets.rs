//! From a labelled container to a scrape target: the `prometheus.io/*` labels read as the
//! Prometheus community's Docker and Kubernetes conventions define them, the address the daemon
//! reaches the container at, and the target group served to Prometheus's `http_sd_configs`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::docker::RunningContainer;

/// `prometheus.io/scrape=true` marks a container to scrape (the Engine-side list filter).
pub const SCRAPE_LABEL: &str = "prometheus.io/scrape";
pub const PORT_LABEL: &str = "prometheus.io/port";
pub const PATH_LABEL: &str = "prometheus.io/path";
pub const SCHEME_LABEL: &str = "prometheus.io/scheme";
const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";
const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";

/// A container to scrape, before its relay is bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Short container id and port: what identifies its relay.
    pub key: String,
    pub container: String,
    pub image: String,
    pub port: u16,
    /// Where the daemon (on the host) reaches the container's port.
    pub reach: SocketAddr,
    pub path: String,
    pub scheme: String,
    pub compose_project: Option<String>,
    pub compose_service: Option<String>,
}

/// A discovered target as the daemon serves and reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredTarget {
    pub container: String,
    pub image: String,
    /// `<container>:<port>`: the target's `instance` label.
    pub instance: String,
    /// Where the daemon reaches the container.
    pub reach: SocketAddr,
    /// The daemon's relay on the project network's gateway, which Prometheus scrapes.
    pub relay: SocketAddr,
    pub path: String,
    pub scheme: String,
    #[serde(default)]
    pub compose_project: Option<String>,
    #[serde(default)]
    pub compose_service: Option<String>,
}

/// A labelled container that is not scraped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedContainer {
    pub container: String,
    pub reason: String,
}

/// The candidate for a labelled container, or why it cannot be scraped.
pub fn candidate(container: &RunningContainer) -> Result<Candidate, String> {
    let port = match container.label(PORT_LABEL) {
        Some(text) => text
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| format!("{PORT_LABEL}={text:?} is not a port (1-65535)"))?,
        None => match container.tcp_ports.as_slice() {
            [port] => *port,
            [] => return Err(format!("no {PORT_LABEL} label and no exposed TCP port")),
            ports => {
                return Err(format!(
                    "no {PORT_LABEL} label and {} exposed TCP ports; say which one",
                    ports.len()
                ));
            }
        },
    };
    let path = container.label(PATH_LABEL).unwrap_or("/metrics").trim();
    if !path.starts_with('/') || path.chars().any(char::is_whitespace) {
        return Err(format!(
            "{PATH_LABEL}={path:?} is not a path starting with /"
        ));
    }
    let scheme = container.label(SCHEME_LABEL).unwrap_or("http").trim();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "{SCHEME_LABEL}={scheme:?} is neither http nor https"
        ));
    }
    let ip = reach_ip(container)?;
    Ok(Candidate {
        key: format!(
            "{}:{port}",
            container.id.chars().take(12).collect::<String>()
        ),
        container: container.name.clone(),
        image: container.image.clone(),
        port,
        reach: SocketAddr::new(ip.into(), port),
        path: path.to_owned(),
        scheme: scheme.to_owned(),
        compose_project: container.label(COMPOSE_PROJECT_LABEL).map(str::to_owned),
        compose_service: container.label(COMPOSE_SERVICE_LABEL).map(str::to_owned),
    })
}

/// The container's address as seen from the host: loopback for host networking, else its
/// address on its own network (the one its network mode names, else the first with one).
fn reach_ip(container: &RunningContainer) -> Result<Ipv4Addr, String> {
    let mode = container.network_mode.as_str();
    if mode == "host" {
        return Ok(Ipv4Addr::LOCALHOST);
    }
    if mode.starts_with("container:") {
        return Err("shares another container's network; label that container".to_owned());
    }
    container
        .networks
        .iter()
        .filter(|network| network.name == mode)
        .chain(&container.networks)
        .find_map(|network| network.ip)
        .ok_or_else(|| "has no IPv4 address on any network".to_owned())
}

impl DiscoveredTarget {
    pub fn new(candidate: Candidate, relay: SocketAddr) -> Self {
        Self {
            instance: format!("{}:{}", candidate.container, candidate.port),
            container: candidate.container,
            image: candidate.image,
            reach: candidate.reach,
            relay,
            path: candidate.path,
            scheme: candidate.scheme,
            compose_project: candidate.compose_project,
            compose_service: candidate.compose_service,
        }
    }
}

/// One target group of Prometheus's HTTP service discovery.
#[derive(Debug, Serialize)]
struct TargetGroup {
    targets: [String; 1],
    labels: BTreeMap<&'static str, String>,
}

/// The `http_sd_configs` body for `targets`: each relay as seen from Prometheus (through
/// `loopback_host`), with the `instance`, `container`, `image`, `compose_project`,
/// `compose_service`, `__metrics_path__` and `__scheme__` labels.
pub fn sd_body(targets: &[DiscoveredTarget], loopback_host: &str) -> String {
    let groups: Vec<TargetGroup> = targets
        .iter()
        .map(|target| {
            let mut labels = BTreeMap::from([
                ("instance", target.instance.clone()),
                ("container", target.container.clone()),
                ("image", target.image.clone()),
                ("__metrics_path__", target.path.clone()),
                ("__scheme__", target.scheme.clone()),
            ]);
            if let Some(project) = &target.compose_project {
                labels.insert("compose_project", project.clone());
            }
            if let Some(service) = &target.compose_service {
                labels.insert("compose_service", service.clone());
            }
            TargetGroup {
                targets: [format!("{loopback_host}:{}", target.relay.port())],
                labels,
            }
        })
        .collect();
    serde_json::to_string(&groups).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
mod tests {
    use crate::docker::NetworkEndpoint;

    use super::*;

    fn container(labels: &[(&str, &str)], mode: &str, ports: &[u16]) -> RunningContainer {
        RunningContainer {
            id: "0123456789abcdef".to_owned(),
            name: "shop-web-1".to_owned(),
            image: "shop:1".to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            network_mode: mode.to_owned(),
            networks: vec![
                NetworkEndpoint {
                    name: "a_other".to_owned(),
                    network_id: "n0".to_owned(),
                    ip: Some(Ipv4Addr::new(172, 19, 0, 9)),
                },
                NetworkEndpoint {
                    name: "shop_default".to_owned(),
                    network_id: "n1".to_owned(),
                    ip: Some(Ipv4Addr::new(172, 20, 0, 3)),
                },
            ],
            tcp_ports: ports.to_vec(),
        }
    }

    #[test]
    fn labels_give_port_path_scheme_and_compose_names() {
        let found = candidate(&container(
            &[
                (SCRAPE_LABEL, "true"),
                (PORT_LABEL, "9100"),
                (PATH_LABEL, "/stats"),
                (SCHEME_LABEL, "https"),
                (COMPOSE_PROJECT_LABEL, "shop"),
                (COMPOSE_SERVICE_LABEL, "web"),
            ],
            "shop_default",
            &[80, 9100],
        ))
        .expect("a candidate");
        assert_eq!(found.reach, "172.20.0.3:9100".parse().expect("addr"));
        assert_eq!(
            (found.path.as_str(), found.scheme.as_str()),
            ("/stats", "https")
        );
        assert_eq!(found.key, "0123456789ab:9100");
        let target = DiscoveredTarget::new(found, "172.18.0.1:40001".parse().expect("addr"));
        let body = sd_body(&[target], "host.docker.internal");
        let parsed: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(parsed[0]["targets"][0], "host.docker.internal:40001");
        assert_eq!(parsed[0]["labels"]["instance"], "shop-web-1:9100");
        assert_eq!(parsed[0]["labels"]["compose_service"], "web");
        assert_eq!(parsed[0]["labels"]["__metrics_path__"], "/stats");
    }

    #[test]
    fn the_only_exposed_port_is_used_and_host_networking_is_reached_on_loopback() {
        let found =
            candidate(&container(&[(SCRAPE_LABEL, "true")], "host", &[8080])).expect("a candidate");
        assert_eq!(found.reach, "127.0.0.1:8080".parse().expect("addr"));
        let default = candidate(&container(&[(SCRAPE_LABEL, "true")], "bridge", &[8080]))
            .expect("a candidate");
        assert_eq!(default.reach, "172.19.0.9:8080".parse().expect("addr"));
    }

    #[test]
    fn containers_that_cannot_be_scraped_say_why() {
        let cases = [
            (
                vec![(PORT_LABEL, "http")],
                "bridge",
                vec![80],
                "is not a port",
            ),
            (vec![(PORT_LABEL, "0")], "bridge", vec![], "is not a port"),
            (vec![], "bridge", vec![], "no exposed TCP port"),
            (vec![], "bridge", vec![80, 443], "2 exposed TCP ports"),
            (
                vec![(PORT_LABEL, "80"), (PATH_LABEL, "metrics")],
                "bridge",
                vec![],
                "path",
            ),
            (
                vec![(PORT_LABEL, "80"), (SCHEME_LABEL, "ftp")],
                "bridge",
                vec![],
                "http nor",
            ),
            (
                vec![(PORT_LABEL, "80")],
                "container:abc",
                vec![],
                "another container",
            ),
        ];
        for (labels, mode, ports, expected) in cases {
            let error = candidate(&container(&labels, mode, &ports)).expect_err("skipped");
            assert!(error.contains(expected), "{error} should say {expected}");
        }
    }
}
