//! The demo service's metrics: typed label sets over bounded enums, pre-resolved handles so the
//! request path never hashes label sets, and exposition in OpenMetrics or the classic text format.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::system::SystemCollector;

/// Request latency buckets, 1 ms to 10 s: the range the demo endpoints can produce.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Injected `/slow` delays: up to the 10 s cap.
const DELAY_BUCKETS: [f64; 9] = [0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0];

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
    const COUNT: usize = 8;

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

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: Method,
    endpoint: Endpoint,
    status: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LatencyLabels {
    method: Method,
    endpoint: Endpoint,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    endpoint: Endpoint,
    error_type: ErrorType,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// The statuses the service answers with; each gets a pre-resolved counter. Anything else still
/// counts, through the family's (slower) lookup.
const COMMON_STATUSES: [u16; 5] = [200, 400, 404, 405, 500];

impl Method {
    const ALL: [Method; Method::COUNT] = [
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
fn known_statuses(method: Method, endpoint: Endpoint) -> &'static [u16] {
    match (endpoint, method) {
        (Endpoint::Other, _) => &[404],
        (Endpoint::Health | Endpoint::Slow, Method::Get | Method::Head) => &[200, 400],
        (_, Method::Get | Method::Head) => &[200, 400, 500],
        _ => &[405],
    }
}

/// Which exposition format a scraper gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// `application/openmetrics-text; version=1.0.0`, what Prometheus asks for.
    OpenMetrics,
    /// `text/plain; version=0.0.4`, for curl, promtool and older agents.
    Classic,
}

impl ExpositionFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
            ExpositionFormat::Classic => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }

    /// Renders every metric of `registry` in this format.
    pub fn encode(self, registry: &Registry) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        match self {
            ExpositionFormat::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, registry)?
            }
            ExpositionFormat::Classic => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, registry)?
            }
        }
        Ok(out)
    }

    /// Picks the format from an `Accept` header the way the official Go and Python clients do:
    /// the acceptable type with the highest quality wins (the earlier one on a tie), and the
    /// classic format is the default for anything else, `*/*` included.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return ExpositionFormat::Classic;
        };
        let mut best: Option<(f32, ExpositionFormat)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let format = match parts.next().map(str::to_ascii_lowercase).as_deref() {
                Some("application/openmetrics-text") => ExpositionFormat::OpenMetrics,
                Some("text/plain") => ExpositionFormat::Classic,
                _ => continue,
            };
            let quality = parts
                .filter_map(|param| param.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, format));
            }
        }
        best.map_or(ExpositionFormat::Classic, |(_, format)| format)
    }
}

/// Every metric the demo service exports, registered once at start.
#[derive(Debug)]
pub struct DemoMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_handles: Box<[OnceLock<Counter>]>,
    latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    latency_handles: Box<[OnceLock<Histogram>]>,
    active: Gauge,
    /// `/error`'s injected failures, by `ErrorType` discriminant.
    error_handles: [Counter; ErrorType::ALL.len()],
    cpu_iterations: Counter,
    cpu_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    injected_delay: Histogram,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl DemoMetrics {
    pub fn new(version: &'static str, system: SystemCollector) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "app_request_count",
            "Requests answered, by method, endpoint and HTTP status",
            requests.clone(),
        );
        let latency: Family<LatencyLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "app_request_latency_seconds",
            "Time from receiving a request to having its response ready",
            latency.clone(),
        );
        let active = Gauge::default();
        registry.register(
            "app_active_requests",
            "Requests being handled right now",
            active.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "app_error_count",
            "Failures the service answered with HTTP 500, by endpoint and error type",
            errors.clone(),
        );
        let cpu_iterations = Counter::default();
        registry.register(
            "app_cpu_work_iterations",
            "Iterations of CPU work done by /cpu-intensive",
            cpu_iterations.clone(),
        );
        let cpu_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "app_cpu_work_seconds",
            "Wall time spent computing in /cpu-intensive",
            cpu_seconds.clone(),
        );
        let injected_delay = Histogram::new(DELAY_BUCKETS);
        registry.register(
            "app_injected_delay_seconds",
            "Delays /slow waited before answering",
            injected_delay.clone(),
        );
        registry.register(
            "app",
            "Version of the demo service",
            Info::new(VersionLabels { version }),
        );
        registry.register_collector(Box::new(system));

        let request_handles: Box<[OnceLock<Counter>]> =
            (0..Method::COUNT * Endpoint::ALL.len() * COMMON_STATUSES.len())
                .map(|_| OnceLock::new())
                .collect();
        let latency_handles: Box<[OnceLock<Histogram>]> = (0..Method::COUNT * Endpoint::ALL.len())
            .map(|_| OnceLock::new())
            .collect();
        // Every series whose labels are known in advance exists from the start, at 0.
        for method in Method::ALL {
            for endpoint in Endpoint::ALL {
                let route = route_index(method, endpoint);
                let _ = latency_handles[route]
                    .set(latency.get_or_create_owned(&LatencyLabels { method, endpoint }));
                for &status in known_statuses(method, endpoint) {
                    let counter = requests.get_or_create_owned(&RequestLabels {
                        method,
                        endpoint,
                        status,
                    });
                    if let Some(slot) = COMMON_STATUSES.iter().position(|&s| s == status) {
                        let _ = request_handles[route * COMMON_STATUSES.len() + slot].set(counter);
                    }
                }
            }
        }
        let error_handles = ErrorType::ALL.map(|error_type| {
            errors.get_or_create_owned(&ErrorLabels {
                endpoint: Endpoint::Error,
                error_type,
            })
        });
        Self {
            registry,
            requests,
            request_handles,
            latency,
            latency_handles,
            active,
            error_handles,
            cpu_iterations,
            cpu_seconds,
            injected_delay,
        }
    }

    /// Marks a request as in flight until the returned guard is dropped, which also covers
    /// requests whose client went away mid-way.
    pub fn request_started(&self) -> ActiveRequest<'_> {
        self.active.inc();
        ActiveRequest {
            gauge: &self.active,
        }
    }

    /// Counts a finished request and records its latency.
    pub fn request_finished(
        &self,
        method: Method,
        endpoint: Endpoint,
        status: u16,
        elapsed: Duration,
    ) {
        let route = route_index(method, endpoint);
        let latency = self.latency_handles[route].get_or_init(|| {
            self.latency
                .get_or_create_owned(&LatencyLabels { method, endpoint })
        });
        latency.observe(elapsed.as_secs_f64());
        let labels = || RequestLabels {
            method,
            endpoint,
            status,
        };
        match COMMON_STATUSES.iter().position(|&s| s == status) {
            Some(slot) => {
                let index = route * COMMON_STATUSES.len() + slot;
                self.request_handles[index]
                    .get_or_init(|| self.requests.get_or_create_owned(&labels()))
                    .inc();
            }
            None => {
                self.requests.get_or_create(&labels()).inc();
            }
        }
    }

    /// Counts a failure `/error` injected (the only endpoint that injects them).
    pub fn error_injected(&self, error_type: ErrorType) {
        self.error_handles[error_type as usize].inc();
    }

    pub fn cpu_work_done(&self, iterations: u64, elapsed: Duration) {
        self.cpu_iterations.inc_by(iterations);
        self.cpu_seconds.inc_by(elapsed.as_secs_f64());
    }

    pub fn delay_injected(&self, delay: Duration) {
        self.injected_delay.observe(delay.as_secs_f64());
    }

    /// Renders every metric in the given format.
    pub fn encode(&self, format: ExpositionFormat) -> Result<String, fmt::Error> {
        format.encode(&self.registry)
    }
}

/// The slot of a (method, endpoint) pair in the pre-resolved handle tables.
fn route_index(method: Method, endpoint: Endpoint) -> usize {
    method as usize * Endpoint::ALL.len() + endpoint as usize
}

/// Holds one request in the `app_active_requests` gauge.
pub struct ActiveRequest<'a> {
    gauge: &'a Gauge,
}

impl Drop for ActiveRequest<'_> {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_quality_and_defaults_to_classic() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(
            ExpositionFormat::negotiate(Some(prometheus)),
            ExpositionFormat::OpenMetrics
        );
        assert_eq!(ExpositionFormat::negotiate(None), ExpositionFormat::Classic);
        assert_eq!(
            ExpositionFormat::negotiate(Some("*/*")),
            ExpositionFormat::Classic
        );
        assert_eq!(
            ExpositionFormat::negotiate(Some(
                "text/plain;q=0.9, application/openmetrics-text;q=0.5"
            )),
            ExpositionFormat::Classic
        );
        assert_eq!(
            ExpositionFormat::negotiate(Some("application/openmetrics-text; q=0")),
            ExpositionFormat::Classic
        );
        assert_eq!(
            ExpositionFormat::negotiate(Some("Application/OpenMetrics-Text")),
            ExpositionFormat::OpenMetrics
        );
    }

    #[test]
    fn known_series_exist_at_zero_from_the_start() {
        let metrics = DemoMetrics::new("test", SystemCollector::new());
        let text = metrics.encode(ExpositionFormat::Classic).expect("encode");
        for series in [
            r#"app_error_count_total{endpoint="/error",error_type="database_timeout"} 0"#,
            r#"app_error_count_total{endpoint="/error",error_type="validation_failed"} 0"#,
            r#"app_request_count_total{method="GET",endpoint="/error",status="500"} 0"#,
            r#"app_request_count_total{method="HEAD",endpoint="/slow",status="400"} 0"#,
            r#"app_request_count_total{method="POST",endpoint="/",status="405"} 0"#,
            r#"app_request_count_total{method="GET",endpoint="other",status="404"} 0"#,
            r#"app_request_latency_seconds_count{method="GET",endpoint="/cpu-intensive"} 0"#,
            r#"app_request_latency_seconds_bucket{method="OPTIONS",endpoint="other",le="+Inf"} 0"#,
        ] {
            assert!(text.contains(series), "{series} in\n{text}");
        }
        assert!(
            !text.contains(r#"method="GET",endpoint="/",status="500""#),
            "/ never fails: no series for it"
        );
        for (index, method) in Method::ALL.iter().enumerate() {
            assert_eq!(
                *method as usize, index,
                "handle slots are indexed by discriminant"
            );
        }
        for (index, error_type) in ErrorType::ALL.iter().enumerate() {
            assert_eq!(
                *error_type as usize, index,
                "handle slots are indexed by discriminant"
            );
        }
    }

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
