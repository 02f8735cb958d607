//! Host ports: checking that the configured fixed ports are free before anything is created, and
//! choosing the daemon's `auto` ports (free on 127.0.0.1 and on the network gateway alike, since
//! the daemon listens on both). The containers' `auto` ports are left to Docker (host port 0).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};

use crate::catalog::{self, DEMO, OPS};
use crate::config::{Config, Port};

/// Attempts at finding a port free on both addresses before giving up.
const PICK_ATTEMPTS: usize = 50;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    #[error(
        "port {port} (ports.{key}) is already in use on 127.0.0.1: stop what listens there \
         (`ss -ltnp 'sport = :{port}'` shows it), or set ports.{key} to another port or \"auto\""
    )]
    Taken { key: &'static str, port: u16 },
    #[error(
        "port {port} (ports.{key}) cannot be bound on {address}: {reason}. Set ports.{key} to \
         another port or \"auto\""
    )]
    Unavailable {
        key: &'static str,
        port: u16,
        address: IpAddr,
        reason: String,
    },
    #[error("no port is free on both 127.0.0.1 and {gateway} after {PICK_ATTEMPTS} tries")]
    NoneFree { gateway: Ipv4Addr },
}

/// The daemon's two ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonPorts {
    pub app: u16,
    pub ops: u16,
}

/// The host ports the configuration asks for, with their keys: the daemon's two and those of
/// the components that run (a component switched off holds no port).
pub fn wanted_ports(config: &Config) -> Vec<(&'static str, Port)> {
    let mut wanted = vec![
        (DEMO.key, (DEMO.port)(&config.ports)),
        (OPS.key, (OPS.port)(&config.ports)),
    ];
    wanted.extend(catalog::enabled(config).map(|def| (def.name, def.configured_port(config))));
    wanted
}

/// Checks every fixed port of the configuration that will be used on 127.0.0.1, except those
/// in `ours` (held by this project's own running stack, which `up` reconciles rather than
/// replaces).
pub fn check_fixed_ports(config: &Config, ours: &[u16]) -> Result<(), PortError> {
    for (key, port) in wanted_ports(config) {
        let Some(number) = port.number() else {
            continue;
        };
        if ours.contains(&number) {
            continue;
        }
        if let Err(error) = TcpListener::bind((Ipv4Addr::LOCALHOST, number)) {
            return Err(match error.kind() {
                std::io::ErrorKind::AddrInUse => PortError::Taken { key, port: number },
                _ => PortError::Unavailable {
                    key,
                    port: number,
                    address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    reason: error.to_string(),
                },
            });
        }
    }
    Ok(())
}

/// The daemon's ports: fixed ones as configured; `auto` ones reuse `previous` (the ports of the
/// last `up`, so the rendered configuration stays the same) when `previous_in_use` says the
/// running daemon holds them or they are still free, else fresh ports free on 127.0.0.1 and on
/// `gateway`.
pub fn resolve_daemon_ports(
    app: Port,
    ops: Port,
    gateway: Ipv4Addr,
    previous: Option<DaemonPorts>,
    previous_in_use: bool,
) -> Result<DaemonPorts, PortError> {
    let reusable = |port: u16| previous_in_use || free_on_both(port, gateway);
    // Held until both are chosen, so `auto` cannot pick the same port twice.
    let mut held = Vec::new();
    let mut choose = |port: Port, previous: Option<u16>| -> Result<u16, PortError> {
        if let Some(number) = port.number() {
            return Ok(number);
        }
        if let Some(previous) = previous.filter(|&p| reusable(p)) {
            return Ok(previous);
        }
        let (number, listeners) = pick_free(gateway)?;
        held.extend(listeners);
        Ok(number)
    };
    let app = choose(app, previous.map(|p| p.app))?;
    let ops = choose(ops, previous.map(|p| p.ops).filter(|&p| p != app))?;
    Ok(DaemonPorts { app, ops })
}

fn free_on_both(port: u16, gateway: Ipv4Addr) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
        && TcpListener::bind((gateway, port)).is_ok()
}

/// A port the kernel gives on 127.0.0.1 that is also free on `gateway`, with both listeners.
fn pick_free(gateway: Ipv4Addr) -> Result<(u16, [TcpListener; 2]), PortError> {
    for _ in 0..PICK_ATTEMPTS {
        let Ok(loopback) = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) else {
            continue;
        };
        let Ok(port) = loopback.local_addr().map(|addr: SocketAddr| addr.port()) else {
            continue;
        };
        if let Ok(on_gateway) = TcpListener::bind((gateway, port)) {
            return Ok((port, [loopback, on_gateway]));
        }
    }
    Err(PortError::NoneFree { gateway })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_fixed_port_is_named_with_its_key_unless_it_is_ours() {
        let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let taken = holder.local_addr().expect("addr").port();
        let mut config = Config::default();
        config.ports = crate::config::Ports {
            app: Port::Auto,
            ops: Port::Auto,
            prometheus: Port::Auto,
            alertmanager: Port::fixed(taken),
            grafana: Port::Auto,
            node_exporter: Port::Auto,
        };
        let error = check_fixed_ports(&config, &[]).expect_err("taken");
        assert_eq!(
            error,
            PortError::Taken {
                key: "alertmanager",
                port: taken
            }
        );
        assert!(error.to_string().contains("ports.alertmanager"), "{error}");
        check_fixed_ports(&config, &[taken]).expect("our own port is not checked");
        config.components.alertmanager = false;
        check_fixed_ports(&config, &[]).expect("a component switched off holds no port");
    }

    #[test]
    fn auto_ports_are_distinct_free_and_reused_while_free() {
        // Another loopback address stands in for the gateway: Linux routes all of 127/8 locally.
        let gateway = Ipv4Addr::new(127, 0, 0, 2);
        let ports =
            resolve_daemon_ports(Port::Auto, Port::Auto, gateway, None, false).expect("free ports");
        assert_ne!(ports.app, ports.ops);
        let again = resolve_daemon_ports(Port::Auto, Port::Auto, gateway, Some(ports), false)
            .expect("reuse");
        assert_eq!(again, ports);
        let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, ports.app)).expect("hold app");
        let moved = resolve_daemon_ports(Port::Auto, Port::Auto, gateway, Some(ports), false)
            .expect("a new port for app");
        assert_ne!(moved.app, ports.app);
        assert_eq!(moved.ops, ports.ops);
        let kept = resolve_daemon_ports(Port::Auto, Port::Auto, gateway, Some(ports), true)
            .expect("the running daemon holds them");
        assert_eq!(kept, ports);
        drop(holder);
        let fixed = resolve_daemon_ports(Port::fixed(7000), Port::Auto, gateway, None, false)
            .expect("fixed");
        assert_eq!(fixed.app, 7000);
    }
}
