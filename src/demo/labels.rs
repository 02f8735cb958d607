//! The demo service's label values, each a bounded enum: endpoints (every unknown path is
//! `other`), methods, the error types `/error` injects, and which statuses the routes answer
//! each method and endpoint with (the series created at 0 from the start).

use std::fmt;

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// The routes of the demo service; every other path is `Other`, so label values stay bounded
/// whatever clients send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Health,
    Slow,
    Error,
    CpuIntensive,
    Metrics,
    Other,
}

impl Endpoint {
    pub const ALL: [Endpoint; 6] = [
        Endpoint::Health,
        Endpoint::Slow,
        Endpoint::Error,
        Endpoint::CpuIntensive,
        Endpoint::Metrics,
        Endpoint::Other,
    ];

    pub fn from_path(path: &str) -> Self {
        match path {
            "/" => Endpoint::Health,
            "/slow" => Endpoint::Slow,
            "/error" => Endpoint::Error,
            "/cpu-intensive" => Endpoint::CpuIntensive,
            "/metrics" => Endpoint::Metrics,
            _ => Endpoint::Other,
        }
    }

    /// The `endpoint` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Health => "/",
            Endpoint::Slow => "/slow",
            Endpoint::Error => "/error",
            Endpoint::CpuIntensive => "/cpu-intensive",
            Endpoint::Metrics => "/metrics",
            Endpoint::Other => "other",
        }
    }
}

/// Request methods as a bounded label; anything unusual is `OTHER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Other,
}

impl Method {
    pub const COUNT: usize = 8;

    pub fn from_http(method: &hyper::Method) -> Self {
        match *method {
            hyper::Method::GET => Method::Get,
            hyper::Method::HEAD => Method::Head,
            hyper::Method::POST => Method::Post,
            hyper::Method::PUT => Method::Put,
            hyper::Method::DELETE => Method::Delete,
            hyper::Method::PATCH => Method::Patch,
            hyper::Method::OPTIONS => Method::Options,
            _ => Method::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        }
    }
}

/// The failures `/error` injects, each a realistic kind of backend trouble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    DatabaseTimeout,
    UpstreamUnavailable,
    ValidationFailed,
}

impl ErrorType {
    pub const ALL: [ErrorType; 3] = [
        ErrorType::DatabaseTimeout,
        ErrorType::UpstreamUnavailable,
        ErrorType::ValidationFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::DatabaseTimeout => "database_timeout",
            ErrorType::UpstreamUnavailable => "upstream_unavailable",
            ErrorType::ValidationFailed => "validation_failed",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            ErrorType::DatabaseTimeout => "the database did not answer within 2 s",
            ErrorType::UpstreamUnavailable => "the upstream service refused the connection",
            ErrorType::ValidationFailed => "the stored record failed validation",
        }
    }
}

macro_rules! label_value_from_as_str {
    ($($t:ty),*) => {$(
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
                fmt::Write::write_str(encoder, self.as_str())
            }
        }
    )*};
}
label_value_from_as_str!(Endpoint, Method, ErrorType);

impl Method {
    pub const ALL: [Method; Method::COUNT] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Options,
        Method::Other,
    ];
}

/// The statuses the routes (`routes.rs`) answer `method` on `endpoint` with: what their series
/// are created at 0 for, so `rate()` and `increase()` see the first such answer after a start.
/// An unknown path is a 404 whatever the method; a known one takes GET and HEAD (a bad or
/// unknown query parameter is a 400; `/error` fails with 500, `/cpu-intensive` and `/metrics`
/// when their work fails) and answers 405 to every other method.
pub(super) fn known_statuses(method: Method, endpoint: Endpoint) -> &'static [u16] {
    match (endpoint, method) {
        (Endpoint::Other, _) => &[404],
        (Endpoint::Health | Endpoint::Slow, Method::Get | Method::Head) => &[200, 400],
        (_, Method::Get | Method::Head) => &[200, 400, 500],
        _ => &[405],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_maps_to_a_bounded_endpoint() {
        assert_eq!(Endpoint::from_path("/slow"), Endpoint::Slow);
        assert_eq!(Endpoint::from_path("/slow/"), Endpoint::Other);
        assert_eq!(Endpoint::from_path("/../etc/passwd"), Endpoint::Other);
        for endpoint in Endpoint::ALL {
            assert_eq!(
                Endpoint::ALL[endpoint as usize],
                endpoint,
                "handle slots are indexed by discriminant"
            );
        }
    }
}
