//! The loopback relay: a user target that listens only on this machine's loopback (the safe
//! default of most dev servers) cannot be reached from Prometheus's container. For each such
//! target the daemon listens on the project network's gateway address at the target's port and
//! copies each connection to the target on loopback, so Prometheus scrapes
//! `host.docker.internal:<port>` and the app is not rebound or exposed beyond this machine (the
//! gateway address exists only on this host's bridge). When the gateway port is taken — the app
//! listens on all addresses, and answers there itself — no relay is needed.
//!
//! Which ports to relay is `stack.json`'s `relays`, read at start and again on every `resume`
//! (`up` and `reload` resume the daemon once they changed it). Docker discovery relays the same
//! way, from a free gateway port to a container's address ([`RelaySet`]).

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::stack::store::StackStore;

/// Connections relayed at once per port, bounding what a misbehaving client can hold.
const MAX_CONNECTIONS: usize = 64;
/// How long connecting to the target on loopback may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The loopback relays of a daemon; [`Relays::refresh`] makes them follow stack.json again.
#[derive(Debug)]
pub struct Relays {
    gateway: Option<IpAddr>,
    store: StackStore,
    refresh: Notify,
}

impl Relays {
    /// Relays on `gateway` (None: the daemon listens on no gateway, so nothing is relayed) for
    /// the targets `store`'s record names.
    pub fn new(gateway: Option<IpAddr>, store: StackStore) -> Arc<Self> {
        Arc::new(Self {
            gateway,
            store,
            refresh: Notify::new(),
        })
    }

    /// Re-reads stack.json and starts or stops relays to match it.
    pub fn refresh(&self) {
        self.refresh.notify_one();
    }

    /// Relays until `shutdown` is cancelled.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(gateway) = self.gateway else {
            return;
        };
        let mut relays = RelaySet::new(gateway, &shutdown);
        loop {
            let wanted = match self.store.read() {
                Ok(Some(record)) => Some(record.relays),
                Ok(None) => Some(Vec::new()),
                Err(error) => {
                    tracing::warn!(%error, "cannot read the relays in stack.json");
                    None
                }
            };
            if let Some(wanted) = wanted {
                let wanted = wanted
                    .iter()
                    .map(|relay| RelayWanted {
                        key: relay.port.to_string(),
                        port: relay.port,
                        to: relay.to_address(),
                    })
                    .collect();
                relays.apply(wanted).await;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.refresh.notified() => {}
            }
        }
        relays.close().await;
    }
}

/// One relay a [`RelaySet`] should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayWanted {
    /// What identifies it across [`RelaySet::apply`] calls.
    pub key: String,
    /// The port on the gateway; 0 picks a free one.
    pub port: u16,
    pub to: SocketAddr,
}

/// Relays from one gateway address, each copying connections to one address.
#[derive(Debug)]
pub struct RelaySet {
    gateway: IpAddr,
    running: BTreeMap<String, Running>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// One relay that runs: where it listens and forwards, and how to stop it.
#[derive(Debug)]
struct Running {
    port: u16,
    at: SocketAddr,
    to: SocketAddr,
    stop: CancellationToken,
}

impl RelaySet {
    /// No relays yet; all of them end when `shutdown` is cancelled.
    pub fn new(gateway: IpAddr, shutdown: &CancellationToken) -> Self {
        Self {
            gateway,
            running: BTreeMap::new(),
            tasks: TaskTracker::new(),
            shutdown: shutdown.child_token(),
        }
    }

    /// Stops the relays not in `wanted` (or wanted elsewhere) and binds the new ones; returns
    /// where each relay that runs listens, by key. A relay whose port is taken does not run: a
    /// fixed port is taken by the app itself when it listens on all addresses, so it is reached
    /// there without a relay.
    pub async fn apply(&mut self, wanted: Vec<RelayWanted>) -> BTreeMap<String, SocketAddr> {
        self.running.retain(|key, relay| {
            let keep = wanted
                .iter()
                .any(|w| &w.key == key && w.to == relay.to && w.port == relay.port);
            if !keep {
                relay.stop.cancel();
                tracing::debug!(at = %relay.at, "relay stopped");
            }
            keep
        });
        for relay in wanted {
            if self.running.contains_key(&relay.key) {
                continue;
            }
            let at = SocketAddr::new(self.gateway, relay.port);
            match TcpListener::bind(at).await {
                Ok(listener) => {
                    let stop = self.shutdown.child_token();
                    let at = listener.local_addr().unwrap_or(at);
                    self.tasks.spawn(serve(listener, relay.to, stop.clone()));
                    tracing::debug!(%at, to = %relay.to, "relaying to a target");
                    self.running.insert(
                        relay.key,
                        Running {
                            port: relay.port,
                            at,
                            to: relay.to,
                            stop,
                        },
                    );
                }
                Err(error) if error.kind() == ErrorKind::AddrInUse => {
                    tracing::info!(
                        %at,
                        "not relayed: something listens there already (the app on all addresses)"
                    );
                }
                Err(error) => tracing::warn!(%at, %error, "cannot relay to a target"),
            }
        }
        self.running
            .iter()
            .map(|(key, relay)| (key.clone(), relay.at))
            .collect()
    }

    /// Stops every relay and waits for them.
    pub async fn close(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Accepts on `listener` and copies each connection to `to`, until `stop`.
async fn serve(listener: TcpListener, to: SocketAddr, stop: CancellationToken) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((mut inbound, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await;
            let Ok(Ok(mut outbound)) = connected else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            tokio::select! {
                () = stop.cancelled() => {}
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_relay_copies_both_ways_and_stops_when_told() {
        let target = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let to = target.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = target.accept().await {
                let mut buf = [0u8; 4];
                if stream.read_exact(&mut buf).await.is_ok() {
                    let _ = stream.write_all(b"pong").await;
                }
            }
        });
        // Another loopback address stands in for the gateway.
        let listener = TcpListener::bind("127.0.0.2:0").await.expect("bind");
        let at = listener.local_addr().expect("addr");
        let stop = CancellationToken::new();
        let relay = tokio::spawn(serve(listener, to, stop.clone()));
        let mut client = TcpStream::connect(at).await.expect("connect");
        client.write_all(b"ping").await.expect("write");
        let mut answer = [0u8; 4];
        client.read_exact(&mut answer).await.expect("read");
        assert_eq!(&answer, b"pong");
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), relay)
            .await
            .expect("the relay stops")
            .expect("no panic");
    }
}
