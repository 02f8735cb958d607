//! The figures `monibox load` pushes while it drives the stack ([`LoadPush`], `POST /load` on
//! the ops listener), exposed on the daemon's `/metrics` (job `monibox`) for Prometheus:
//!
//! - `monibox_load_requests_total{endpoint,outcome}`: requests by endpoint label and outcome
//!   (`ok`, `http_4xx`, `http_5xx`, `timeout`, `connect_refused`, `connection_reset`, `other_io`);
//! - `monibox_load_request_duration_seconds{endpoint}`: the client's latency of answered
//!   requests (from when each was due: corrected for coordinated omission), in the demo
//!   service's buckets, so client and server histograms compare bucket for bucket;
//! - `monibox_load_late_starts_total`, `monibox_load_retried_requests_total`;
//! - `monibox_load_users`, `monibox_load_asked_rate_requests_per_second` and `monibox_load_runs`:
//!   the runs pushing now (one that has not pushed for 10 s is no longer counted).
//!
//! Pushes carry each run's totals since its start; the daemon adds each run's progress since its
//! previous push to counters of its own, which therefore only grow, across runs too. The demo
//! service's endpoint labels exist at 0 from the start; other labels (another target's paths)
//! appear with their first push, at most [`MAX_EXTRA_ENDPOINTS`] of them, then `other`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::demo::Endpoint;
use crate::histogram::LATENCY_BUCKETS;
use crate::load::push::{EndpointPush, LoadPush, Outcomes};

/// A run that has not pushed for this long is over (it was killed, or its last push was lost).
const RUN_EXPIRY: Duration = Duration::from_secs(10);
/// Runs counted at once; a push from one more while all are active is refused.
pub const MAX_RUNS: usize = 32;
/// Endpoint labels beyond the demo service's; further ones are counted as `other`.
const MAX_EXTRA_ENDPOINTS: usize = 64;
const OTHER_ENDPOINT: &str = "other";

/// Why a push was not counted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{MAX_RUNS} load runs are already pushing; this one is not counted")]
pub struct TooManyRuns;

/// The pushed figures; clones share them.
#[derive(Debug, Clone, Default)]
pub struct LoadMetrics {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    runs: BTreeMap<String, Run>,
    endpoints: BTreeMap<String, EndpointTotals>,
    late_starts: u64,
    retried: u64,
}

#[derive(Debug)]
struct Run {
    last: LoadPush,
    seen: Instant,
}

#[derive(Debug, Clone, Default)]
struct EndpointTotals {
    outcomes: Outcomes,
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum_seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    endpoint: String,
    outcome: &'static str,
}

impl LoadMetrics {
    /// Metrics with the demo service's endpoint labels at 0.
    pub fn new() -> Self {
        let mut state = State::default();
        for endpoint in Endpoint::ALL {
            state
                .endpoints
                .insert(endpoint.as_str().to_owned(), EndpointTotals::default());
        }
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Counts a push: what its run did since its previous one.
    pub fn record(&self, push: LoadPush) -> Result<(), TooManyRuns> {
        self.record_at(push, Instant::now())
    }

    fn record_at(&self, push: LoadPush, now: Instant) -> Result<(), TooManyRuns> {
        let mut state = self.state();
        state
            .runs
            .retain(|_, run| now.duration_since(run.seen) < RUN_EXPIRY && !run.last.finished);
        let previous = state.runs.get(&push.run).map(|run| &run.last);
        if previous.is_none() && state.runs.len() >= MAX_RUNS {
            return Err(TooManyRuns);
        }
        let previous = previous.cloned();
        state.late_starts += push
            .late_starts
            .saturating_sub(previous.as_ref().map_or(0, |p| p.late_starts));
        state.retried += push
            .retried
            .saturating_sub(previous.as_ref().map_or(0, |p| p.retried));
        for endpoint in &push.endpoints {
            let before = previous
                .as_ref()
                .and_then(|p| p.endpoints.iter().find(|e| e.endpoint == endpoint.endpoint));
            let label = state.label_for(&endpoint.endpoint);
            state
                .endpoints
                .entry(label)
                .or_default()
                .add_progress(endpoint, before);
        }
        state.runs.insert(
            push.run.clone(),
            Run {
                last: push,
                seen: now,
            },
        );
        Ok(())
    }
}

impl State {
    /// The label a pushed endpoint is counted under: itself while labels are few, else `other`.
    fn label_for(&self, endpoint: &str) -> String {
        let known = Endpoint::ALL.len();
        if self.endpoints.contains_key(endpoint)
            || self.endpoints.len() < known + MAX_EXTRA_ENDPOINTS
        {
            endpoint.to_owned()
        } else {
            OTHER_ENDPOINT.to_owned()
        }
    }
}

impl EndpointTotals {
    /// Adds what `now` counted beyond `before` (the same run's previous push, if any). A count
    /// lower than before (a run id reused) counts as new.
    fn add_progress(&mut self, now: &EndpointPush, before: Option<&EndpointPush>) {
        let grown = |now: u64, before: Option<u64>| match before {
            Some(before) if now >= before => now - before,
            _ => now,
        };
        let was = before.map(|before| before.outcomes);
        let mine = &mut self.outcomes;
        let theirs = now.outcomes;
        mine.ok += grown(theirs.ok, was.map(|w| w.ok));
        mine.http_4xx += grown(theirs.http_4xx, was.map(|w| w.http_4xx));
        mine.http_5xx += grown(theirs.http_5xx, was.map(|w| w.http_5xx));
        mine.timeout += grown(theirs.timeout, was.map(|w| w.timeout));
        mine.connect_refused += grown(theirs.connect_refused, was.map(|w| w.connect_refused));
        mine.connection_reset += grown(theirs.connection_reset, was.map(|w| w.connection_reset));
        mine.other_io += grown(theirs.other_io, was.map(|w| w.other_io));
        for (index, bucket) in self.buckets.iter_mut().enumerate() {
            let count = now.latency_buckets.get(index).copied().unwrap_or(0);
            *bucket += grown(
                count,
                before.and_then(|b| b.latency_buckets.get(index).copied()),
            );
        }
        let sum_before = before.map_or(0.0, |before| before.latency_sum_seconds);
        self.sum_seconds += if now.latency_sum_seconds >= sum_before {
            now.latency_sum_seconds - sum_before
        } else {
            now.latency_sum_seconds
        };
    }
}

impl Collector for LoadMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut state = self.state();
        let now = Instant::now();
        state
            .runs
            .retain(|_, run| now.duration_since(run.seen) < RUN_EXPIRY && !run.last.finished);

        let mut requests = encoder.encode_descriptor(
            "monibox_load_requests",
            "Requests monibox load sent, by endpoint label and outcome (client side)",
            None,
            MetricType::Counter,
        )?;
        for (endpoint, totals) in &state.endpoints {
            for (outcome, count) in totals.outcomes.labelled() {
                let labels = OutcomeLabels {
                    endpoint: endpoint.clone(),
                    outcome,
                };
                ConstCounter::new(count).encode(requests.encode_family(&labels)?)?;
            }
        }
        let mut durations = encoder.encode_descriptor(
            "monibox_load_request_duration_seconds",
            "Latency monibox load saw for answered requests, from when each was due (client side)",
            None,
            MetricType::Histogram,
        )?;
        for (endpoint, totals) in &state.endpoints {
            let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
                .iter()
                .copied()
                .chain(std::iter::once(f64::INFINITY))
                .zip(totals.buckets)
                .collect();
            let count = totals.buckets.iter().sum();
            durations
                .encode_family(&EndpointLabels {
                    endpoint: endpoint.clone(),
                })?
                .encode_histogram::<EndpointLabels>(totals.sum_seconds, count, &buckets, None)?;
        }
        for (name, help, value) in [
            (
                "monibox_load_late_starts",
                "Open-model requests monibox load started late because every connection was busy",
                state.late_starts,
            ),
            (
                "monibox_load_retried_requests",
                "Requests monibox load sent again on a new connection after a reused one closed unanswered",
                state.retried,
            ),
        ] {
            ConstCounter::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Counter,
            )?)?;
        }
        let active = state.runs.values().map(|run| &run.last);
        let users: u64 = active
            .clone()
            .filter_map(|push| push.users)
            .map(u64::from)
            .sum();
        let rate: f64 = active.filter_map(|push| push.rate).sum();
        let gauges: [(&str, &str, f64); 3] = [
            (
                "monibox_load_users",
                "Users of the closed-model load runs pushing now",
                users as f64,
            ),
            (
                "monibox_load_asked_rate_requests_per_second",
                "Request rate the open-model load runs pushing now ask for",
                rate,
            ),
            (
                "monibox_load_runs",
                "Load runs pushing their figures now",
                state.runs.len() as f64,
            ),
        ];
        for (name, help, value) in gauges {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(run: &str, ok: u64, finished: bool) -> LoadPush {
        let mut buckets = vec![0; LATENCY_BUCKETS.len() + 1];
        buckets[0] = ok;
        LoadPush {
            run: run.to_owned(),
            users: Some(4),
            rate: None,
            finished,
            endpoints: vec![EndpointPush {
                endpoint: "/".to_owned(),
                outcomes: Outcomes {
                    ok,
                    ..Outcomes::default()
                },
                latency_buckets: buckets,
                latency_sum_seconds: ok as f64 * 0.001,
            }],
            late_starts: 0,
            retried: ok / 10,
        }
    }

    fn text(metrics: &LoadMetrics) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(metrics.clone()));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encode");
        out
    }

    #[test]
    fn runs_add_their_progress_and_known_labels_start_at_zero() {
        let metrics = LoadMetrics::new();
        let fresh = text(&metrics);
        assert!(
            fresh
                .contains(r#"monibox_load_requests_total{endpoint="/error",outcome="http_5xx"} 0"#),
            "{fresh}"
        );
        assert!(fresh.contains("monibox_load_users 0"), "{fresh}");
        assert!(
            fresh.contains(
                r#"monibox_load_request_duration_seconds_bucket{le="+Inf",endpoint="/slow"} 0"#
            ),
            "{fresh}"
        );

        let now = Instant::now();
        metrics
            .record_at(push("a", 10, false), now)
            .expect("counted");
        metrics
            .record_at(push("a", 25, false), now)
            .expect("counted");
        metrics
            .record_at(push("b", 5, false), now)
            .expect("counted");
        let during = text(&metrics);
        assert!(
            during.contains(r#"monibox_load_requests_total{endpoint="/",outcome="ok"} 30"#),
            "{during}"
        );
        assert!(during.contains("monibox_load_users 8"), "{during}");
        assert!(during.contains("monibox_load_runs 2"), "{during}");
        assert!(
            during.contains("monibox_load_retried_requests_total 2"),
            "{during}"
        );

        metrics
            .record_at(push("a", 40, true), now)
            .expect("counted");
        let after = text(&metrics);
        assert!(
            after.contains(r#"monibox_load_requests_total{endpoint="/",outcome="ok"} 45"#),
            "{after}"
        );
        assert!(
            after.contains("monibox_load_users 4"),
            "a finished run counts no users: {after}"
        );
        assert!(
            after.contains(r#"monibox_load_request_duration_seconds_count{endpoint="/"} 45"#),
            "{after}"
        );
    }

    #[test]
    fn runs_and_labels_are_bounded() {
        let metrics = LoadMetrics::new();
        let now = Instant::now();
        for run in 0..MAX_RUNS {
            metrics
                .record_at(push(&run.to_string(), 1, false), now)
                .expect("room");
        }
        assert_eq!(
            metrics.record_at(push("one more", 1, false), now),
            Err(TooManyRuns)
        );
        // Expired runs make room.
        let later = now + RUN_EXPIRY;
        metrics
            .record_at(push("one more", 1, false), later)
            .expect("room again");

        let labels = LoadMetrics::new();
        for n in 0..MAX_EXTRA_ENDPOINTS + 5 {
            let mut one = push(&format!("r{n}"), 1, true);
            one.endpoints[0].endpoint = format!("/path{n}");
            labels.record_at(one, now).expect("counted");
        }
        let text = text(&labels);
        assert!(
            text.contains(r#"monibox_load_requests_total{endpoint="other",outcome="ok"} 5"#),
            "{text}"
        );
    }
}
