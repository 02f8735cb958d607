//! The demo service's metrics: typed label sets over the bounded label values of [`labels`],
//! every series known in advance created at 0, and pre-resolved handles so the request path
//! never hashes label sets.
//!
//! [`labels`]: super::labels

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::exposition::ExpositionFormat;
use super::labels::{Endpoint, ErrorType, Method, known_statuses};
use super::system::SystemCollector;
use crate::histogram::LATENCY_BUCKETS;

/// Injected `/slow` delays: up to the 10 s cap.
const DELAY_BUCKETS: [f64; 9] = [0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0];

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
}
