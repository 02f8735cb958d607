//! A small hardened HTTP/1.1 server loop shared by every listener monibox runs (the demo service
//! and the daemon's ops listener): binding with clear errors, a bounded number of connections,
//! header size and read-time limits, and a graceful shutdown that stops accepting, lets in-flight
//! requests finish and cuts off whatever is left after a deadline.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a listener may bind to fail with, phrased for the person who chose the address.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "{addr} is already in use; stop what listens there or choose another address (port 0 picks a free one)"
    )]
    AddressInUse { addr: SocketAddr },
    #[error(
        "not allowed to listen on {addr} (ports below 1024 need privileges); choose a port above 1024"
    )]
    PermissionDenied { addr: SocketAddr },
    #[error(
        "{addr} is not an address of this machine; use 127.0.0.1 or an address `ip addr` lists"
    )]
    AddressNotAvailable { addr: SocketAddr },
    #[error("{addr} is given twice; each address can be listened on once")]
    Duplicate { addr: SocketAddr },
    #[error("cannot listen on {addr}")]
    Other { addr: SocketAddr, source: io::Error },
}

/// Limits that keep one client from exhausting the server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A client must send a complete request head within this time; it also closes idle
    /// keep-alive connections, since hyper starts the timer when it waits for the next request.
    pub header_read_timeout: Duration,
    /// Largest request head (start line and headers) accepted; larger ones get 431.
    pub max_header_bytes: usize,
    /// Connections served at once; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for in-flight requests before cutting them off.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_connections: 4096,
            drain_timeout: Duration::from_secs(11),
        }
    }
}

/// Listeners bound and ready; nothing is served until [`serve`] runs.
#[derive(Debug)]
pub struct Bound {
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
}

impl Bound {
    /// Binds every address (port 0 picks a free port) or fails naming the one that could not be
    /// bound; nothing stays bound on failure.
    pub async fn bind(addrs: &[SocketAddr]) -> Result<Self, BindError> {
        let mut listeners = Vec::with_capacity(addrs.len());
        let mut bound = Vec::with_capacity(addrs.len());
        // Port 0 twice is two different free ports; any other repeat is a mistake that would
        // otherwise read as "already in use" by monibox itself.
        for (index, &addr) in addrs.iter().enumerate() {
            if addr.port() != 0 && addrs[..index].contains(&addr) {
                return Err(BindError::Duplicate { addr });
            }
        }
        for &addr in addrs {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| match source.kind() {
                    io::ErrorKind::AddrInUse => BindError::AddressInUse { addr },
                    io::ErrorKind::PermissionDenied => BindError::PermissionDenied { addr },
                    io::ErrorKind::AddrNotAvailable => BindError::AddressNotAvailable { addr },
                    _ => BindError::Other { addr, source },
                })?;
            let local = listener
                .local_addr()
                .map_err(|source| BindError::Other { addr, source })?;
            listeners.push(listener);
            bound.push(local);
        }
        Ok(Self {
            listeners,
            addrs: bound,
        })
    }

    /// The addresses actually bound, in the order asked (with real ports where 0 was asked).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
}

/// A request handler: one call per request, always answers (errors become responses).
pub trait Handler: Send + Sync + 'static {
    fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> impl Future<Output = Response<Full<Bytes>>> + Send + 'static;
}

/// Serves every bound listener until `shutdown` is cancelled, then drains: stops accepting,
/// lets in-flight requests finish within `limits.drain_timeout`, closes the rest.
pub async fn serve<H: Handler>(
    bound: Bound,
    handler: Arc<H>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_header_size(limits.max_header_bytes);
    let ctx = Arc::new(ConnectionContext {
        builder,
        handler,
        slots: Arc::new(Semaphore::new(limits.max_connections)),
        connections: TaskTracker::new(),
        shutdown,
        cut_off: CancellationToken::new(),
    });

    let accept_loops = TaskTracker::new();
    for listener in bound.listeners {
        accept_loops.spawn(accept_loop(listener, ctx.clone()));
    }
    accept_loops.close();
    accept_loops.wait().await;

    // The listeners are closed now: new clients are refused while open connections drain.
    ctx.connections.close();
    let drained = tokio::time::timeout(limits.drain_timeout, ctx.connections.wait()).await;
    if drained.is_err() {
        tracing::warn!(
            remaining = ctx.connections.len(),
            "in-flight requests did not finish within {:?}; closing them",
            limits.drain_timeout
        );
        ctx.cut_off.cancel();
        ctx.connections.wait().await;
    }
}

struct ConnectionContext<H> {
    builder: http1::Builder,
    handler: Arc<H>,
    slots: Arc<Semaphore>,
    connections: TaskTracker,
    /// Graceful: finish the request in flight, then close.
    shutdown: CancellationToken,
    /// Hard: close now (after the drain deadline).
    cut_off: CancellationToken,
}

async fn accept_loop<H: Handler>(listener: TcpListener, ctx: Arc<ConnectionContext<H>>) {
    loop {
        let permit = tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            permit = ctx.slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let connection = serve_connection(stream, ctx.clone());
        ctx.connections.spawn(async move {
            connection.await;
            drop(permit);
        });
    }
}

async fn serve_connection<H: Handler>(stream: TcpStream, ctx: Arc<ConnectionContext<H>>) {
    // Responses are small: send them at once rather than wait to coalesce.
    let _ = stream.set_nodelay(true);
    let handler = ctx.handler.clone();
    let service = service_fn(move |request| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(request).await) }
    });
    let connection = ctx.builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = ctx.shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                result = connection.as_mut() => result,
                _ = ctx.cut_off.cancelled() => Ok(()),
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}
