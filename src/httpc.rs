//! A small HTTP/1.1 client for talking to the stack's own HTTP APIs (Prometheus, Alertmanager,
//! Grafana health, the demo service): plain `http://` only, every call bounded by a deadline,
//! response bodies capped, errors that name the URL.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Largest response body read; the APIs monibox reads answer in kilobytes.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url} is not a valid http:// URL")]
    BadUrl { url: String },
    #[error("no answer from {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the response from {url} is larger than {MAX_BODY_BYTES} bytes or broke off")]
    Body { url: String },
}

impl HttpError {
    /// What went wrong without the URL, for a report that already names the server:
    /// `no answer within 2s`, `connection refused (os error 111)`.
    pub fn reason(&self) -> String {
        match self {
            Self::BadUrl { .. } => "not a valid http:// URL".to_owned(),
            Self::Timeout { timeout, .. } => format!("no answer within {timeout:?}"),
            Self::Unreachable { reason, .. } => reason.clone(),
            Self::Body { .. } => {
                format!("the response is larger than {MAX_BODY_BYTES} bytes or broke off")
            }
        }
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A connection-pooling client; clone it freely.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose every request (connect, send, read the whole body) ends within `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self { client, timeout }
    }

    pub async fn get(&self, url: &str) -> Result<HttpResponse, HttpError> {
        self.send(Method::GET, url, &[], Bytes::new(), None).await
    }

    /// GET with request headers, e.g. `Accept`.
    pub async fn get_with(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, HttpError> {
        self.send(Method::GET, url, headers, Bytes::new(), None)
            .await
    }

    /// POST a body with the given content type (empty body allowed).
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Result<HttpResponse, HttpError> {
        self.send(Method::POST, url, &[], body.into(), Some(content_type))
            .await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<HttpResponse, HttpError> {
        let bad_url = || HttpError::BadUrl {
            url: url.to_owned(),
        };
        let uri: Uri = url.parse().map_err(|_| bad_url())?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(bad_url());
        }
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(content_type) = content_type {
            let value = HeaderValue::from_str(content_type).map_err(|_| bad_url())?;
            builder = builder.header(CONTENT_TYPE, value);
        }
        let request = builder.body(Full::new(body)).map_err(|_| bad_url())?;
        let exchange = async {
            let response =
                self.client
                    .request(request)
                    .await
                    .map_err(|error| HttpError::Unreachable {
                        url: url.to_owned(),
                        reason: root_cause(&error),
                    })?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|_| HttpError::Body {
                    url: url.to_owned(),
                })?
                .to_bytes();
            Ok(HttpResponse {
                status,
                content_type,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout {
                url: url.to_owned(),
                timeout: self.timeout,
            })?
    }
}

/// The innermost error message ("Connection refused (os error 111)"), which is what a person
/// can act on; the outer layers only say "client error (Connect)".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// RFC 3986 unreserved characters (letters, digits, `-._~`): what percent-encoding leaves as is.
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query parameter value: everything but [`UNRESERVED`] characters, e.g. a
/// PromQL expression for `/api/v1/query?query=`.
pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_query_value("sum by (le) (x[5s])"),
            "sum%20by%20%28le%29%20%28x%5B5s%5D%29"
        );
        assert_eq!(encode_query_value("a_b-c.d~"), "a_b-c.d~");
        assert_eq!(encode_query_value("é&="), "%C3%A9%26%3D");
    }
}
