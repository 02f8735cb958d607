//! The HTTP/1.1 client a worker drives: one keep-alive connection per user (or per open-model
//! slot), reopened when the server closes it, and every failure sorted into a `Failure` kind.
//! Requests are prepared once per worker thread so sending one allocates as little as hyper lets.

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderValue, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::stats::Failure;

type RequestBody = Empty<Bytes>;

const AGENT: &str = concat!("monibox-load/", env!("CARGO_PKG_VERSION"));

/// A GET request for one mix endpoint, ready to be stamped out again and again.
pub struct RequestTemplate {
    uri: Uri,
    host: HeaderValue,
}

impl RequestTemplate {
    /// `path` is the origin-form request target and `authority` the `Host` header; both come from
    /// a validated plan, and the error says which one is unusable otherwise.
    pub fn new(path: &str, authority: &str) -> Result<RequestTemplate, String> {
        let uri = Uri::try_from(path).map_err(|error| format!("request path {path:?}: {error}"))?;
        let host = HeaderValue::try_from(authority)
            .map_err(|error| format!("host {authority:?}: {error}"))?;
        Ok(RequestTemplate { uri, host })
    }

    fn request(&self) -> Request<RequestBody> {
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        request
    }
}

/// An open HTTP/1.1 connection; its I/O is driven by a task on the worker's runtime, which ends
/// when this is dropped.
pub struct Connection {
    sender: SendRequest<RequestBody>,
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Response(u16),
    Failed(Failure),
}

/// Opens a connection to `addr`. Must run inside a `LocalSet` (the connection task is local).
pub async fn connect(addr: SocketAddr) -> Result<Connection, Failure> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|error| classify_io(&error))?;
    stream
        .set_nodelay(true)
        .map_err(|error| classify_io(&error))?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| classify_hyper(&error))?;
    tokio::task::spawn_local(async move {
        // A broken connection shows up as the failure of the request that was using it.
        let _ = connection.await;
    });
    Ok(Connection { sender })
}

/// Sends one request on `slot`'s connection, opening one if there is none or the server closed
/// it, and reads the whole answer. On failure the slot is left empty, so the next request starts
/// on a fresh connection.
pub async fn exchange(
    slot: &mut Option<Connection>,
    addr: SocketAddr,
    template: &RequestTemplate,
) -> Outcome {
    match send(slot, addr, template).await {
        Ok(status) => Outcome::Response(status),
        Err(kind) => Outcome::Failed(kind),
    }
}

async fn send(
    slot: &mut Option<Connection>,
    addr: SocketAddr,
    template: &RequestTemplate,
) -> Result<u16, Failure> {
    let mut connection = match slot.take() {
        Some(mut reused) => match reused.sender.ready().await {
            Ok(()) => reused,
            // The server closed it while idle (keep-alive timeout, restart): open a new one.
            Err(_) => connect(addr).await?,
        },
        None => connect(addr).await?,
    };
    let response = match connection.sender.try_send_request(template.request()).await {
        Ok(response) => response,
        Err(mut error) => match error.take_message() {
            // The server closed the idle connection before the request was written: nothing was
            // sent, so sending it on a new connection is the same request, not a retry.
            Some(unsent) => {
                connection = connect(addr).await?;
                connection
                    .sender
                    .send_request(unsent)
                    .await
                    .map_err(|error| classify_hyper(&error))?
            }
            None => return Err(classify_hyper(error.error())),
        },
    };
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(|error| classify_hyper(&error))?;
    }
    *slot = Some(connection);
    Ok(status)
}

/// Checks that something accepts TCP connections at `addr`, without sending a request (which
/// would show up in the server's counts).
pub async fn probe(addr: SocketAddr) -> io::Result<()> {
    TcpStream::connect(addr).await.map(drop)
}

fn classify_io(error: &io::Error) -> Failure {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Failure::ConnectRefused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => Failure::ConnectionReset,
        io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::OtherIo,
    }
}

fn classify_hyper(error: &hyper::Error) -> Failure {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io_error) = cause.downcast_ref::<io::Error>() {
            return classify_io(io_error);
        }
        source = cause.source();
    }
    if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
        Failure::ConnectionReset
    } else {
        Failure::OtherIo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_the_reported_kinds() {
        let kind = |kind| classify_io(&io::Error::from(kind));
        assert_eq!(
            kind(io::ErrorKind::ConnectionRefused),
            Failure::ConnectRefused
        );
        assert_eq!(
            kind(io::ErrorKind::ConnectionReset),
            Failure::ConnectionReset
        );
        assert_eq!(kind(io::ErrorKind::BrokenPipe), Failure::ConnectionReset);
        assert_eq!(kind(io::ErrorKind::TimedOut), Failure::Timeout);
        assert_eq!(kind(io::ErrorKind::AddrNotAvailable), Failure::OtherIo);
    }

    #[test]
    fn templates_refuse_unusable_parts() {
        assert!(RequestTemplate::new("/slow?ms=5", "127.0.0.1:5000").is_ok());
        assert!(RequestTemplate::new("/a b", "127.0.0.1:5000").is_err());
        assert!(RequestTemplate::new("/", "bad\nhost").is_err());
    }
}
