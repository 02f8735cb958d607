//! The daemon's two listeners, as readiness entries like the containers': the demo service
//! (`ports.app`, scraped as job `app`) and the ops listener (`ports.ops`: self-metrics, the
//! Alertmanager webhook and the runbooks, scraped as job `monibox`). Both listen on 127.0.0.1
//! and on the project network's gateway address, which containers reach as
//! `host.docker.internal`.

use super::Probe;
use crate::config::{Port, Ports};

/// One listener of the daemon.
#[derive(Debug)]
pub struct ListenerDef {
    /// How `status` names it: `demo`, or `daemon` for the ops listener (it stands for the
    /// process).
    pub name: &'static str,
    /// `ports.<key>`.
    pub key: &'static str,
    pub port: fn(&Ports) -> Port,
    pub default_port: u16,
    pub readiness: Probe,
    /// The Prometheus job that scrapes it.
    pub scrape_job: &'static str,
}

/// The demo service: what the stack monitors and `monibox load` drives.
pub static DEMO: ListenerDef = ListenerDef {
    name: "demo",
    key: "app",
    port: |ports| ports.app,
    default_port: Ports::DEFAULT_APP,
    readiness: Probe {
        path: "/",
        expect_body: None,
    },
    scrape_job: "app",
};

/// The ops listener: `/metrics` (self-metrics), `/alerts` (webhook), `/runbooks`, `/-/healthy`.
pub static OPS: ListenerDef = ListenerDef {
    name: "daemon",
    key: "ops",
    port: |ports| ports.ops,
    default_port: Ports::DEFAULT_OPS,
    readiness: Probe {
        path: "/-/healthy",
        expect_body: None,
    },
    scrape_job: "monibox",
};
