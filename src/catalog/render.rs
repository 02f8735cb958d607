//! The bundle's [`RenderContext`] from the catalog: which components run, where Prometheus
//! reaches each of them, and how each is run by hand — for the stack `monibox up` runs and for an
//! export to the user's own tools.

use std::path::Path;

use super::{CATALOG, CONTAINERS, ComponentDef, DEMO, OPS, alertmanager, prometheus};
use crate::assets::{RenderContext, ScrapeTarget, file_url, paths};
use crate::config::Config;
use crate::docker::HOST_ALIAS;

/// Where Grafana reads dashboards inside its container.
pub const GRAFANA_DASHBOARDS_IN_CONTAINER: &str = "/etc/grafana/dashboards";

/// The stack `monibox up` runs: Prometheus reaches the daemon's listeners on the host as
/// `host.docker.internal` (mapped to the project network's gateway) and every other component
/// by its network alias (its name) on its container port. `app_port` and `ops_port` are the
/// daemon's actual ports (after `auto` was resolved); runbook links point at the daemon's
/// `/runbooks` page, which a browser on this machine opens. Components named in `without` (those
/// no image could be had for) are left out like those switched off: nothing would answer there.
pub fn for_stack(config: &Config, app_port: u16, ops_port: u16, without: &[&str]) -> RenderContext {
    let on_host = |port: u16| format!("host.docker.internal:{port}");
    let in_network = |def: &ComponentDef| format!("{}:{}", def.name, def.container_port);
    context(
        config,
        without,
        Addresses {
            demo: on_host(app_port),
            ops: on_host(ops_port),
            component: &in_network,
            webhook_url: format!("http://{HOST_ALIAS}:{ops_port}/alerts"),
            grafana_dashboards_dir: GRAFANA_DASHBOARDS_IN_CONTAINER.to_owned(),
            runbooks_url: format!("http://127.0.0.1:{ops_port}/runbooks"),
            loopback_host: Some(HOST_ALIAS.to_owned()),
            target_secrets_dir: Some(prometheus::TARGET_SECRETS.target.to_owned()),
            docker_sd_url: Some(format!("http://{HOST_ALIAS}:{ops_port}/sd/docker")),
            host_name: host_name(),
        },
    )
}

/// A bundle for the user's own Prometheus, Alertmanager and Grafana on this machine
/// (`monibox config export`): every address is `localhost:<configured port>`, where a port set to
/// `auto` takes its standard number. `dir` is the absolute directory the bundle is written to;
/// Grafana reads the dashboards from it, and runbook links point at its `runbooks.md`.
pub fn for_export(config: &Config, dir: &Path) -> RenderContext {
    let port = |def: &ComponentDef| {
        def.configured_port(config)
            .number()
            .unwrap_or(def.default_port)
    };
    let listener = |port: crate::config::Port, default: u16| port.number().unwrap_or(default);
    let ops_port = listener((OPS.port)(&config.ports), OPS.default_port);
    let local = |def: &ComponentDef| format!("localhost:{}", port(def));
    context(
        config,
        &[],
        Addresses {
            demo: format!(
                "localhost:{}",
                listener((DEMO.port)(&config.ports), DEMO.default_port)
            ),
            ops: format!("localhost:{ops_port}"),
            component: &local,
            webhook_url: format!("http://localhost:{ops_port}/alerts"),
            grafana_dashboards_dir: dir
                .join(paths::GRAFANA_DASHBOARDS_DIR)
                .display()
                .to_string(),
            runbooks_url: file_url(&dir.join(paths::RUNBOOKS)),
            loopback_host: None,
            target_secrets_dir: None,
            docker_sd_url: Some(format!("http://localhost:{ops_port}/sd/docker")),
            host_name: host_name(),
        },
    )
}

/// A bundle for the same containers run by another engine (the Compose and Kubernetes exports):
/// the demo service and the ops listener are the monibox image's, reached as `demo_host` on its
/// ports; every other component by its service name; runbook links at `runbooks_url`; user
/// targets on "this machine's loopback" at `host.docker.internal`; no Docker discovery (no daemon
/// follows the Engine there). `host_name` is the `host` external label (`None` where Prometheus
/// runs on no particular machine).
pub fn for_containers(
    config: &Config,
    demo_host: &str,
    runbooks_url: String,
    host_name: Option<String>,
) -> RenderContext {
    let in_network = |def: &ComponentDef| format!("{}:{}", def.name, def.container_port);
    context(
        config,
        &[],
        Addresses {
            demo: format!("{demo_host}:{}", super::daemon::IMAGE_APP_PORT),
            ops: format!("{demo_host}:{}", super::daemon::IMAGE_OPS_PORT),
            component: &in_network,
            webhook_url: format!(
                "http://{demo_host}:{}/alerts",
                super::daemon::IMAGE_OPS_PORT
            ),
            grafana_dashboards_dir: GRAFANA_DASHBOARDS_IN_CONTAINER.to_owned(),
            runbooks_url,
            loopback_host: Some(HOST_ALIAS.to_owned()),
            target_secrets_dir: Some(prometheus::TARGET_SECRETS.target.to_owned()),
            docker_sd_url: None,
            host_name,
        },
    )
}

/// How one kind of bundle addresses things.
struct Addresses<'a> {
    demo: String,
    ops: String,
    /// A component's `host:port` as Prometheus and Grafana reach it.
    component: &'a dyn Fn(&ComponentDef) -> String,
    webhook_url: String,
    grafana_dashboards_dir: String,
    runbooks_url: String,
    loopback_host: Option<String>,
    target_secrets_dir: Option<String>,
    docker_sd_url: Option<String>,
    host_name: Option<String>,
}

/// This machine's host name, when it has a readable one.
pub fn host_name() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
}

fn context(config: &Config, without: &[&str], addresses: Addresses<'_>) -> RenderContext {
    let runs = |def: &ComponentDef| def.is_enabled(config) && !without.contains(&def.name);
    let mut scrape_targets = vec![
        ScrapeTarget {
            job: DEMO.scrape_job.to_owned(),
            address: addresses.demo,
            metrics_path: None,
        },
        ScrapeTarget {
            job: OPS.scrape_job.to_owned(),
            address: addresses.ops.clone(),
            metrics_path: None,
        },
    ];
    // Only a daemon beside the Engine has container metrics (as it has Docker discovery).
    if addresses.docker_sd_url.is_some() {
        scrape_targets.push(ScrapeTarget {
            job: CONTAINERS.scrape_job.to_owned(),
            address: addresses.ops,
            metrics_path: Some(CONTAINERS.path),
        });
    }
    scrape_targets.extend(CATALOG.iter().filter(|def| runs(def)).filter_map(|def| {
        Some(ScrapeTarget {
            job: def.scrape_job?.to_owned(),
            address: (addresses.component)(def),
            metrics_path: None,
        })
    }));
    let run_commands = CATALOG
        .iter()
        .filter(|def| runs(def))
        .map(|def| {
            let listen = (addresses.component)(def).replace("localhost:", "127.0.0.1:");
            (def.run_by_hand)(&listen, config)
        })
        .collect();
    let check_commands = CATALOG
        .iter()
        .filter(|def| runs(def))
        .filter_map(|def| def.check_by_hand.map(str::to_owned))
        .collect();
    RenderContext {
        scrape_targets,
        check_commands,
        webhook_url: addresses.webhook_url,
        alertmanager_address: runs(&alertmanager::DEF)
            .then(|| (addresses.component)(&alertmanager::DEF)),
        prometheus_url: format!("http://{}", (addresses.component)(&prometheus::DEF)),
        grafana_dashboards_dir: addresses.grafana_dashboards_dir,
        runbooks_url: addresses.runbooks_url,
        run_commands,
        skipped_dirs: CATALOG
            .iter()
            .filter(|def| !runs(def))
            .filter_map(|def| def.bundle.map(|bundle| bundle.dir))
            .collect(),
        skipped_rule_files: CATALOG
            .iter()
            .filter(|def| !runs(def))
            .filter_map(|def| def.rule_file)
            .collect(),
        skipped_dashboards: CATALOG
            .iter()
            .filter(|def| !runs(def))
            .filter_map(|def| def.dashboard)
            .collect(),
        loopback_host: addresses.loopback_host,
        target_secrets_dir: addresses.target_secrets_dir,
        docker_sd_url: addresses.docker_sd_url,
        host_name: addresses.host_name,
    }
}

#[cfg(test)]
mod tests {
    use super::super::grafana;
    use super::*;

    #[test]
    fn a_component_that_is_off_is_neither_scraped_nor_alerted_on() {
        let mut config = Config::default();
        let all = for_stack(&config, 5000, 5001, &[]);
        let jobs = |context: &RenderContext| -> Vec<String> {
            context
                .scrape_targets
                .iter()
                .map(|t| t.job.clone())
                .collect()
        };
        assert_eq!(
            jobs(&all),
            [
                "app",
                "monibox",
                "containers",
                "prometheus",
                "alertmanager",
                "grafana",
                "node"
            ]
        );
        assert_eq!(
            all.alertmanager_address.as_deref(),
            Some("alertmanager:9093")
        );
        config.components.alertmanager = false;
        config.components.grafana = false;
        config.components.node_exporter = false;
        let some = for_stack(&config, 5000, 5001, &[]);
        assert_eq!(jobs(&some), ["app", "monibox", "containers", "prometheus"]);
        assert_eq!(some.alertmanager_address, None);
        assert_eq!(some.skipped_dirs, ["alertmanager", "grafana"]);
        assert_eq!(some.skipped_rule_files, ["alertmanager.yml", "node.yml"]);
        assert_eq!(some.skipped_dashboards, ["host.json"]);
        let no_image = for_stack(&Config::default(), 5000, 5001, &["grafana"]);
        assert_eq!(
            jobs(&no_image),
            [
                "app",
                "monibox",
                "containers",
                "prometheus",
                "alertmanager",
                "node"
            ]
        );
        assert_eq!(grafana::DEF.name, "grafana");
    }

    #[test]
    fn an_export_uses_the_configured_ports_and_the_standard_ones_for_auto() {
        let mut config = Config::default();
        config.ports.prometheus = crate::config::Port::Auto;
        config.ports.grafana = crate::config::Port::fixed(3300);
        config.ports.app = crate::config::Port::fixed(7000);
        let context = for_export(&config, Path::new("/x"));
        let address = |job: &str| {
            context
                .scrape_targets
                .iter()
                .find(|t| t.job == job)
                .map(|t| t.address.clone())
        };
        assert_eq!(address("prometheus").as_deref(), Some("localhost:9090"));
        assert_eq!(address("app").as_deref(), Some("localhost:7000"));
        assert_eq!(address("grafana").as_deref(), Some("localhost:3300"));
        assert_eq!(context.webhook_url, "http://localhost:5001/alerts");
        assert!(
            context.run_commands[0].contains("--web.listen-address=127.0.0.1:9090"),
            "{:?}",
            context.run_commands
        );
        assert!(context.run_commands[2].ends_with("cfg:server.http_port=3300"));
    }
}
