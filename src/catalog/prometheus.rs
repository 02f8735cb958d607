//! Prometheus: scrapes every target, evaluates the recording and alert rules, and sends alerts
//! to Alertmanager. Reloads its configuration through `/-/reload` (`--web.enable-lifecycle`).

use super::{BundleMount, ComponentDef, Probe, StateMount, VersionEndpoint};
use crate::config::{Config, Ports, PrometheusMode};
use crate::docker::images::{HostFile, HostRecipe, ImageLayout, VersionProbe};

/// Copies of the user targets' credential files (bearer tokens, passwords), readable by
/// Prometheus's user: a directory, so a target added by `reload` needs no new mount.
pub const TARGET_SECRETS: StateMount = StateMount {
    dir: "target-secrets",
    target: "/run/monibox/target-secrets",
};

/// Prometheus's port inside its container.
pub const CONTAINER_PORT: u16 = 9090;

pub static DEF: ComponentDef = ComponentDef {
    name: "prometheus",
    title: "Prometheus",
    enabled: |components| components.prometheus,
    port: |ports| ports.prometheus,
    default_port: Ports::DEFAULT_PROMETHEUS,
    image: |images| &images.prometheus,
    container_port: CONTAINER_PORT,
    readiness: Probe {
        path: "/-/ready",
        expect_body: None,
    },
    version: Some(VersionEndpoint {
        path: "/api/v1/status/buildinfo",
        pointer: "/data/version",
    }),
    reload_path: Some("/-/reload"),
    bundle: Some(BundleMount {
        dir: "prometheus",
        target: "/etc/prometheus",
    }),
    data_dir: Some("/prometheus"),
    command,
    env: &[],
    secrets: &[],
    state_mounts: &[TARGET_SECRETS],
    host_mounts: &[],
    tmpfs: &[],
    // An agent answers no queries; its readiness is probed by monibox, and its exit watched.
    health_check: |config| match config.prometheus.mode {
        PrometheusMode::Server => &[
            "/bin/promtool",
            "query",
            "instant",
            "http://127.0.0.1:9090",
            "vector(1)",
        ],
        PrometheusMode::Agent => &[],
    },
    memory_limit_bytes: 1 << 30,
    host_image: Some(&HOST_RECIPE),
    log_colour: "\x1b[33m",
    scrape_job: Some("prometheus"),
    rule_file: None,
    dashboard: None,
    check_by_hand: Some("promtool check config prometheus/prometheus.yml"),
    run_by_hand: |listen, config| {
        format!(
            "prometheus --config.file=prometheus/prometheus.yml --web.listen-address={listen} {}",
            config.retention.prometheus_flags().join(" ")
        )
    },
};

/// The official image's arguments, the lifecycle API (for reloads) and the retention flags; an
/// agent's instead of the storage flags (see [`agent_flags`]).
fn command(config: &Config, image: &str) -> Option<Vec<String>> {
    let mut command: Vec<String> = vec![
        "--config.file=/etc/prometheus/prometheus.yml".to_owned(),
        "--web.enable-lifecycle".to_owned(),
    ];
    match config.prometheus.mode {
        PrometheusMode::Server => {
            command.push("--storage.tsdb.path=/prometheus".to_owned());
            command.extend(config.retention.prometheus_flags());
        }
        PrometheusMode::Agent => command.extend(agent_flags(image, "/prometheus")),
    }
    Some(command)
}

/// Agent mode's flags: `--agent` from Prometheus 3, `--enable-feature=agent` before (told from
/// the image's tag, e.g. `prom/prometheus:v2.53.0` or `monibox-local/prometheus:2.42.0`; a tag
/// without a version is taken as 3.x), and the WAL's path. Agents refuse the server's storage
/// and retention flags.
pub fn agent_flags(image: &str, wal_dir: &str) -> Vec<String> {
    let tag = image.rsplit_once(':').map_or("", |(_, tag)| tag);
    let major = tag
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok());
    let mode = match major {
        Some(major) if major < 3 => "--enable-feature=agent",
        _ => "--agent",
    };
    vec![mode.to_owned(), format!("--storage.agent.path={wal_dir}")]
}

const PACKAGE: &str = "prometheus";

/// Debian's `prometheus` package: the two binaries and the classic web UI. The UI needs the
/// templates and these static parts; the rest of `static/` is shared JS libraries (over 200 MB)
/// it does not load.
static HOST_RECIPE: HostRecipe = HostRecipe {
    component: "prometheus",
    package: PACKAGE,
    fixed_tag: None,
    binaries: &[
        HostFile {
            host: "/usr/bin/prometheus",
            image: "bin/prometheus",
        },
        HostFile {
            host: "/usr/bin/promtool",
            image: "bin/promtool",
        },
    ],
    files: &[],
    trees: &[
        HostFile {
            host: "/usr/share/prometheus/web/templates",
            image: "usr/share/prometheus/web/templates",
        },
        HostFile {
            host: "/usr/share/prometheus/web/static/css",
            image: "usr/share/prometheus/web/static/css",
        },
        HostFile {
            host: "/usr/share/prometheus/web/static/img",
            image: "usr/share/prometheus/web/static/img",
        },
        HostFile {
            host: "/usr/share/prometheus/web/static/js",
            image: "usr/share/prometheus/web/static/js",
        },
        HostFile {
            host: "/usr/share/prometheus/web/static/vendor",
            image: "usr/share/prometheus/web/static/vendor",
        },
    ],
    // A self-scrape config so the image runs on its own, like the official one; monibox mounts
    // its own configuration over it.
    generated: &[(
        "etc/prometheus/prometheus.yml",
        "# Default of a monibox host-built image; monibox mounts its own configuration.\n\
         global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: prometheus\n    \
         static_configs:\n      - targets: ['localhost:9090']\n",
    )],
    version: VersionProbe {
        binary: "/usr/bin/prometheus",
        args: &["--version"],
        marker: "version ",
    },
    layout: ImageLayout {
        data_dir: Some("/prometheus"),
        port: CONTAINER_PORT,
        entrypoint: "/bin/prometheus",
        cmd: &[
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
        ],
        static_only: false,
    },
};
