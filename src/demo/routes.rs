//! Request handling for the demo service: routing, strict query parsing (a bad or unknown
//! parameter is a 400 that says what is allowed), the endpoints themselves, and the
//! instrumentation around every request.

use std::borrow::Cow;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::exposition::ExpositionFormat;
use super::labels::{Endpoint, ErrorType, Method};
use super::{DemoState, MAX_CPU_ITERATIONS, MAX_SLOW_MS, work};
use crate::httpd::Handler;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const ROUTES: &str = "/, /slow, /error, /cpu-intensive, /metrics";

impl Handler for DemoState {
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        // The demo endpoints take no body; dropping it unread keeps memory bounded.
        let (parts, _body) = request.into_parts();
        let method = Method::from_http(&parts.method);
        let endpoint = Endpoint::from_path(parts.uri.path());
        if !self.settings.instrumented {
            return self.route(method, endpoint, &parts).await;
        }
        let _active = self.metrics.request_started();
        let response = self.route(method, endpoint, &parts).await;
        self.metrics.request_finished(
            method,
            endpoint,
            response.status().as_u16(),
            started.elapsed(),
        );
        response
    }
}

impl DemoState {
    async fn route(
        self: &Arc<Self>,
        method: Method,
        endpoint: Endpoint,
        parts: &Parts,
    ) -> Response<Full<Bytes>> {
        if endpoint == Endpoint::Other {
            return not_found();
        }
        if !matches!(method, Method::Get | Method::Head) {
            let mut response = problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                &format!("{} takes GET or HEAD", endpoint.as_str()),
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let query = match Query::parse(parts.uri.query(), allowed_params(endpoint)) {
            Ok(query) => query,
            Err(message) => return problem(StatusCode::BAD_REQUEST, "bad_request", &message),
        };
        let result = match endpoint {
            Endpoint::Health => Ok(self.health()),
            Endpoint::Slow => self.slow(&query).await,
            Endpoint::Error => self.error(&query),
            Endpoint::CpuIntensive => self.cpu_intensive(&query).await,
            Endpoint::Metrics => Ok(self.metrics_page(parts)),
            Endpoint::Other => Ok(not_found()),
        };
        result.unwrap_or_else(|message| problem(StatusCode::BAD_REQUEST, "bad_request", &message))
    }

    fn health(&self) -> Response<Full<Bytes>> {
        // Integer formatting: this is the hottest endpoint, and float formatting shows in profiles.
        let uptime_ms = self.uptime().as_millis();
        let body = format!(
            r#"{{"status":"healthy","version":"{}","uptime_seconds":{}.{:03}}}"#,
            env!("CARGO_PKG_VERSION"),
            uptime_ms / 1000,
            uptime_ms % 1000
        );
        json_response(StatusCode::OK, body)
    }

    async fn slow(&self, query: &Query<'_>) -> Result<Response<Full<Bytes>>, String> {
        let ms = match query.number("ms", 0..=MAX_SLOW_MS)? {
            Some(ms) => ms,
            None => rand::random_range(self.settings.slow_ms.clone()),
        };
        let delay = Duration::from_millis(ms);
        tokio::time::sleep(delay).await;
        if self.settings.instrumented {
            self.metrics.delay_injected(delay);
        }
        Ok(json_response(
            StatusCode::OK,
            json!({"status": "ok", "delay_ms": ms}).to_string(),
        ))
    }

    fn error(&self, query: &Query<'_>) -> Result<Response<Full<Bytes>>, String> {
        let rate = match query.get("rate") {
            Some(raw) => parse_rate(raw)?,
            None => self.settings.error_rate,
        };
        if !rand::random_bool(rate) {
            return Ok(json_response(
                StatusCode::OK,
                r#"{"status":"ok"}"#.to_owned(),
            ));
        }
        let error_type = ErrorType::ALL[rand::random_range(0..ErrorType::ALL.len())];
        if self.settings.instrumented {
            self.metrics.error_injected(error_type);
        }
        let body = json!({
            "status": "error",
            "error_type": error_type.as_str(),
            "message": error_type.message(),
        });
        Ok(json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            body.to_string(),
        ))
    }

    async fn cpu_intensive(
        self: &Arc<Self>,
        query: &Query<'_>,
    ) -> Result<Response<Full<Bytes>>, String> {
        let iterations = match query.number("n", 0..=MAX_CPU_ITERATIONS)? {
            Some(n) => n,
            None => rand::random_range(self.settings.cpu_iterations.clone()),
        };
        let Ok(slot) = self.cpu_slots.clone().acquire_owned().await else {
            return Ok(internal_error("the CPU work queue is closed"));
        };
        let seed: u64 = rand::random();
        let work = tokio::task::spawn_blocking(move || {
            // The slot is held by the work itself, so a client that gives up does not free it
            // while the core is still busy.
            let _slot = slot;
            let started = Instant::now();
            let result = work::spin(iterations, seed);
            (result, started.elapsed())
        });
        let Ok((result, elapsed)) = work.await else {
            return Ok(internal_error("the CPU work failed"));
        };
        if self.settings.instrumented {
            self.metrics.cpu_work_done(iterations, elapsed);
        }
        let body = json!({
            "status": "ok",
            "iterations": iterations,
            "result": format!("{result:016x}"),
            "elapsed_ms": (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        });
        Ok(json_response(StatusCode::OK, body.to_string()))
    }

    fn metrics_page(&self, parts: &Parts) -> Response<Full<Bytes>> {
        let accept = parts.headers.get(ACCEPT).and_then(|v| v.to_str().ok());
        let format = ExpositionFormat::negotiate(accept);
        match self.metrics.encode(format) {
            Ok(text) => {
                let mut response = Response::new(Full::new(Bytes::from(text)));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(format.content_type()),
                );
                response
            }
            Err(_) => internal_error("encoding the metrics failed"),
        }
    }
}

fn not_found() -> Response<Full<Bytes>> {
    problem(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no such route; the routes are {ROUTES}"),
    )
}

fn allowed_params(endpoint: Endpoint) -> &'static [&'static str] {
    match endpoint {
        Endpoint::Slow => &["ms"],
        Endpoint::Error => &["rate"],
        Endpoint::CpuIntensive => &["n"],
        Endpoint::Health | Endpoint::Metrics | Endpoint::Other => &[],
    }
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "query parameter 'rate' must be a number from 0 to 1, got '{}'",
            shorten(raw)
        )),
    }
}

/// A parsed query string: percent-decoded, known keys only, each at most once.
#[derive(Debug)]
struct Query<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Query<'a> {
    fn parse(query: Option<&'a str>, allowed: &[&str]) -> Result<Self, String> {
        let mut pairs: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(raw_key)?;
            if !allowed.contains(&key.as_ref()) {
                let allowed = if allowed.is_empty() {
                    "this endpoint takes no parameters".to_owned()
                } else {
                    format!("allowed: {}", allowed.join(", "))
                };
                return Err(format!(
                    "unknown query parameter '{}'; {allowed}",
                    shorten(&key)
                ));
            }
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(format!("query parameter '{key}' is given more than once"));
            }
            let value = percent_decode(raw_value)?;
            pairs.push((key, value));
        }
        Ok(Self { pairs })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    fn number(&self, key: &str, range: RangeInclusive<u64>) -> Result<Option<u64>, String> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        // Digits only: `u64::from_str` would also take a leading '+'.
        let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
        match raw.parse::<u64>() {
            Ok(n) if digits && range.contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "query parameter '{key}' must be a whole number from {} to {}, got '{}'",
                range.start(),
                range.end(),
                shorten(raw)
            )),
        }
    }
}

/// Decodes `%XX` escapes and `+` (a space in form encoding); borrows when there is nothing to
/// decode, which is the usual case.
fn percent_decode(raw: &str) -> Result<Cow<'_, str>, String> {
    if !raw.contains(['%', '+']) {
        return Ok(Cow::Borrowed(raw));
    }
    let bad = || format!("'{}' is not valid percent-encoding", shorten(raw));
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                decoded.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                decoded.push(b' ');
                i += 1;
            }
            byte => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded)
        .map(Cow::Owned)
        .map_err(|_| bad())
}

/// Echoing client input back is useful up to a point.
fn shorten(raw: &str) -> &str {
    match raw.char_indices().nth(64) {
        Some((end, _)) => &raw[..end],
        None => raw,
    }
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, JSON);
    response
}

fn problem(status: StatusCode, error: &str, message: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        json!({"error": error, "message": message}).to_string(),
    )
}

fn internal_error(message: &str) -> Response<Full<Bytes>> {
    problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_accepts_known_keys_once() {
        let q = Query::parse(Some("ms=5"), &["ms"]).unwrap();
        assert_eq!(q.number("ms", 0..=10).unwrap(), Some(5));
        assert!(Query::parse(Some("ms=5&ms=6"), &["ms"]).is_err());
        assert!(Query::parse(Some("x=1"), &["ms"]).is_err());
        assert!(
            Query::parse(Some("x=1"), &[])
                .unwrap_err()
                .contains("no parameters")
        );
        let q = Query::parse(Some("ms=11"), &["ms"]).unwrap();
        assert!(q.number("ms", 0..=10).is_err());
        let q = Query::parse(Some("ms=-1"), &["ms"]).unwrap();
        assert!(q.number("ms", 0..=10).is_err());
        assert!(Query::parse(None, &[]).unwrap().get("ms").is_none());
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let q = Query::parse(Some("m%73=%35"), &["ms"]).unwrap();
        assert_eq!(q.number("ms", 0..=10).unwrap(), Some(5));
        let q = Query::parse(Some("ms=+5"), &["ms"]).unwrap();
        assert!(
            q.number("ms", 0..=10).is_err(),
            "a plus is a space, not a sign"
        );
        assert!(Query::parse(Some("ms=%3"), &["ms"]).is_err());
        assert!(Query::parse(Some("ms=%zz"), &["ms"]).is_err());
        assert!(Query::parse(Some("ms=%ff"), &["ms"]).is_err(), "not UTF-8");
        assert_eq!(percent_decode("0%2E5").unwrap(), "0.5");
        assert!(matches!(percent_decode("plain").unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn rate_must_be_a_probability() {
        assert_eq!(parse_rate("0.25"), Ok(0.25));
        assert!(parse_rate("1.5").is_err());
        assert!(parse_rate("NaN").is_err());
        assert!(parse_rate("").is_err());
    }

    #[test]
    fn long_input_is_shortened_on_a_char_boundary() {
        let long = "é".repeat(100);
        assert_eq!(shorten(&long).chars().count(), 64);
    }
}
