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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::stack::store::StackStore;

/// Connections relayed at once per port, bounding what a misbehaving client can hold.
const MAX_CONNECTIONS: usize = 64;
/// A draining relay's answer: a valid, empty text exposition.
const EMPTY_SCRAPE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; \
charset=utf-8\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
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
        let mut relays = RelaySet::new(gateway, None, &shutdown);
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
    /// How long a relay no longer wanted keeps answering, with an empty scrape (see
    /// [`RelaySet::new`]); None: it stops at once.
    drain: Option<Duration>,
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
    /// Set while it drains: each connection gets an empty `200` instead of the target.
    draining: Arc<AtomicBool>,
    drain_until: Option<Instant>,
}

impl Running {
    fn set_draining(&mut self, until: Option<Instant>) {
        self.drain_until = until;
        self.draining.store(until.is_some(), Ordering::Relaxed);
    }
}

impl RelaySet {
    /// No relays yet; all of them end when `shutdown` is cancelled. With `drain`, a relay no
    /// longer wanted answers every scrape with an empty `200` for that long before it stops: a
    /// stopped container's target stays in Prometheus until its next discovery update (up to
    /// about 10 s with Prometheus's throttles), and its series should end then, not turn into
    /// failed scrapes that alert.
    pub fn new(gateway: IpAddr, drain: Option<Duration>, shutdown: &CancellationToken) -> Self {
        Self {
            gateway,
            running: BTreeMap::new(),
            drain,
            tasks: TaskTracker::new(),
            shutdown: shutdown.child_token(),
        }
    }

    /// Drains (or stops) the relays not in `wanted` and binds the new ones; returns where each
    /// wanted relay listens, by key. A relay whose port is taken does not run: a fixed port is
    /// taken by the app itself when it listens on all addresses, so it is reached there without
    /// a relay.
    pub async fn apply(&mut self, wanted: Vec<RelayWanted>) -> BTreeMap<String, SocketAddr> {
        let now = Instant::now();
        let drain = self.drain;
        self.running.retain(|key, relay| {
            let same = |w: &&RelayWanted| w.to == relay.to && w.port == relay.port;
            let wanted_here = wanted.iter().find(|w| &w.key == key);
            let keep = match (wanted_here, drain, relay.drain_until) {
                (Some(w), _, _) if same(&w) => {
                    relay.set_draining(None);
                    true
                }
                // Wanted elsewhere: the old one goes at once.
                (Some(_), _, _) => false,
                (None, Some(drain), None) => {
                    relay.set_draining(Some(now + drain));
                    true
                }
                (None, Some(_), Some(until)) => now < until,
                (None, None, _) => false,
            };
            if !keep {
                relay.stop.cancel();
                tracing::debug!(at = %relay.at, "relay stopped");
            }
            keep
        });
        for relay in wanted.iter().cloned() {
            if self.running.contains_key(&relay.key) {
                continue;
            }
            let at = SocketAddr::new(self.gateway, relay.port);
            match TcpListener::bind(at).await {
                Ok(listener) => {
                    let stop = self.shutdown.child_token();
                    let at = listener.local_addr().unwrap_or(at);
                    let draining = Arc::new(AtomicBool::new(false));
                    self.tasks
                        .spawn(serve(listener, relay.to, draining.clone(), stop.clone()));
                    tracing::debug!(%at, to = %relay.to, "relaying to a target");
                    self.running.insert(
                        relay.key,
                        Running {
                            port: relay.port,
                            at,
                            to: relay.to,
                            stop,
                            draining,
                            drain_until: None,
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
            .filter(|(_, relay)| relay.drain_until.is_none())
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

/// Accepts on `listener` and copies each connection to `to` (or, while `draining`, answers it
/// with an empty scrape), until `stop`.
async fn serve(
    listener: TcpListener,
    to: SocketAddr,
    draining: Arc<AtomicBool>,
    stop: CancellationToken,
) {
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
        let drained = draining.load(Ordering::Relaxed);
        tokio::spawn(async move {
            let _permit = permit;
            if drained {
                answer_empty(inbound).await;
                return;
            }
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

/// Reads the request's head (bounded) and answers `200` with no samples: the scrape of a target
/// that is gone, whose series end with it.
async fn answer_empty(mut inbound: TcpStream) {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(CONNECT_TIMEOUT, async {
        while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < 8192 {
            match inbound.read(&mut buffer).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        true
    })
    .await;
    if matches!(read, Ok(true)) {
        let _ = inbound.write_all(EMPTY_SCRAPE).await;
        let _ = inbound.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let draining = Arc::new(AtomicBool::new(false));
        let relay = tokio::spawn(serve(listener, to, draining.clone(), stop.clone()));
        let mut client = TcpStream::connect(at).await.expect("connect");
        client.write_all(b"ping").await.expect("write");
        let mut answer = [0u8; 4];
        client.read_exact(&mut answer).await.expect("read");
        assert_eq!(&answer, b"pong");
        draining.store(true, Ordering::Relaxed);
        let mut scrape = TcpStream::connect(at).await.expect("connect");
        scrape
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut answer = String::new();
        scrape.read_to_string(&mut answer).await.expect("read");
        assert!(
            answer.starts_with("HTTP/1.1 200 OK") && answer.contains("Content-Length: 0"),
            "a draining relay answers with an empty scrape: {answer:?}"
        );
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), relay)
            .await
            .expect("the relay stops")
            .expect("no panic");
    }
}
