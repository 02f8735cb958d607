//! Latency histogram bucket boundaries (seconds) shared by everything that measures HTTP latency
//! for Prometheus: the demo service's `app_request_latency_seconds` and the load generator's
//! pushed `monibox_load_request_duration_seconds`, so the dashboards compare client and server
//! side bucket for bucket.

/// Request latency buckets, 1 ms to 10 s: the range the demo endpoints can produce.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
