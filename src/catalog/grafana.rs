//! Grafana: the dashboards, provisioned from the bundle (datasource and dashboard files), with
//! its admin password read from a secret file, never from its configuration. It reads its files
//! only when it starts, so a change recreates its container. No Debian package provides it: its
//! image is pulled or `docker load`ed.

use super::{BundleMount, ComponentDef, Probe, SecretMount, TmpfsMount, VersionEndpoint};
use crate::config::Ports;

/// Grafana's port inside its container.
pub const CONTAINER_PORT: u16 = 3000;
/// The admin user; the password is generated once per project (see `stack::state`).
pub const ADMIN_USER: &str = "admin";
/// The secret holding the admin password, and where Grafana reads it
/// (`GF_SECURITY_ADMIN_PASSWORD__FILE`).
pub const PASSWORD_SECRET: SecretMount = SecretMount {
    name: "grafana-admin-password",
    target: "/run/secrets/grafana-admin-password",
};

pub static DEF: ComponentDef = ComponentDef {
    name: "grafana",
    title: "Grafana",
    enabled: |components| components.grafana,
    port: |ports| ports.grafana,
    default_port: Ports::DEFAULT_GRAFANA,
    image: |images| &images.grafana,
    container_port: CONTAINER_PORT,
    readiness: Probe {
        path: "/api/health",
        expect_body: Some("\"database\""),
    },
    version: Some(VersionEndpoint {
        path: "/api/health",
        pointer: "/version",
    }),
    reload_path: None,
    bundle: Some(BundleMount {
        dir: "grafana",
        target: "/etc/grafana",
    }),
    data_dir: Some("/var/lib/grafana"),
    command: |_, _| None,
    env: &[
        ("GF_PATHS_CONFIG", "/etc/grafana/grafana.ini"),
        ("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"),
        ("GF_SECURITY_ADMIN_USER", ADMIN_USER),
        ("GF_SECURITY_ADMIN_PASSWORD__FILE", PASSWORD_SECRET.target),
        // The root filesystem is read-only: log to the console only.
        ("GF_LOG_MODE", "console"),
    ],
    secrets: &[PASSWORD_SECRET],
    state_mounts: &[],
    host_mounts: &[],
    tmpfs: &[TmpfsMount {
        target: "/tmp",
        size_bytes: 64 << 20,
    }],
    health_check: |_| {
        &[
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "http://127.0.0.1:3000/api/health",
        ]
    },
    memory_limit_bytes: 512 << 20,
    host_image: None,
    log_colour: "\x1b[32m",
    scrape_job: Some("grafana"),
    rule_file: None,
    dashboard: None,
    check_by_hand: None,
    run_by_hand: |listen, _| {
        let port = listen.rsplit_once(':').map_or(listen, |(_, port)| port);
        format!(
            "grafana server --homepath /usr/share/grafana --config grafana/grafana.ini \
             cfg:paths.provisioning=\"$PWD/grafana/provisioning\" cfg:server.http_port={port}"
        )
    },
};
