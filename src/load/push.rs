//! The run's own figures for Prometheus: while `monibox load` drives the project's stack, it
//! sends its cumulative client-side counts ([`LoadPush`], JSON) to the daemon's ops listener
//! (`POST /load`) every [`PUSH_INTERVAL`], and the daemon exposes them on its `/metrics` (job
//! `monibox`) next to the demo service's own series. Cumulative counts make a lost push
//! harmless: the next one carries everything. [`LoadPush::parse`] is what the daemon accepts.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::ProgressProbe;
use super::plan::{LoadPlan, Model};
use super::stats::{EndpointStats, Failure, Stats};
use crate::histogram::LATENCY_BUCKETS;
use crate::httpc::HttpClient;

/// How often a running load sends its counts.
pub const PUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How long one push may take; a daemon that does not answer in time misses that push only.
const PUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest push body the daemon reads (a 64-endpoint mix is about 20 KB).
pub const MAX_PUSH_BYTES: usize = 256 * 1024;
/// Most endpoints one push may carry: the most a mix has.
const MAX_PUSH_ENDPOINTS: usize = super::plan::MAX_MIX_ENTRIES;
/// Longest run id and endpoint label accepted.
const MAX_RUN_ID_CHARS: usize = 64;
const MAX_ENDPOINT_CHARS: usize = 256;

/// One run's figures since it started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadPush {
    /// Tells runs apart: the daemon adds up each run's progress since its previous push.
    pub run: String,
    /// Closed model: the users.
    pub users: Option<u32>,
    /// Open model: the rate asked for, requests per second.
    pub rate: Option<f64>,
    /// The last push of the run: the daemon stops counting its users or rate.
    pub finished: bool,
    pub endpoints: Vec<EndpointPush>,
    /// Open model: requests that waited for a free connection.
    pub late_starts: u64,
    /// Requests sent again on a new connection after a reused one closed unanswered.
    pub retried: u64,
}

/// One endpoint label's counts (mix entries with the same path are added up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointPush {
    /// The mix path without its query: the demo service's `endpoint` label.
    pub endpoint: String,
    pub outcomes: Outcomes,
    /// Answered requests per latency bucket, for [`LATENCY_BUCKETS`] and then `+Inf`: not
    /// cumulative, one count per bucket (the last is above the highest bound).
    pub latency_buckets: Vec<u64>,
    /// Total latency of the answered requests, seconds.
    pub latency_sum_seconds: f64,
}

/// Requests by how they ended: answered (`ok` below 400, `http_4xx`, `http_5xx`) or not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcomes {
    pub ok: u64,
    pub http_4xx: u64,
    pub http_5xx: u64,
    pub timeout: u64,
    pub connect_refused: u64,
    pub connection_reset: u64,
    pub other_io: u64,
}

impl Outcomes {
    /// The outcome label values, with their counts.
    pub fn labelled(&self) -> [(&'static str, u64); 7] {
        [
            ("ok", self.ok),
            ("http_4xx", self.http_4xx),
            ("http_5xx", self.http_5xx),
            ("timeout", self.timeout),
            ("connect_refused", self.connect_refused),
            ("connection_reset", self.connection_reset),
            ("other_io", self.other_io),
        ]
    }
}

/// Why a push body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    #[error("the body is not a load push: {0}")]
    Json(String),
    #[error("{0}")]
    Invalid(&'static str),
}

impl LoadPush {
    /// The figures of `stats` (all worker threads merged) for the plan's mix.
    pub fn new(run: &str, plan: &LoadPlan, stats: &Stats, finished: bool) -> LoadPush {
        let mut endpoints: Vec<EndpointPush> = Vec::new();
        for (entry, counted) in plan.mix.entries().iter().zip(stats.endpoints()) {
            let label = entry.path.split('?').next().unwrap_or(&entry.path);
            let pushed = endpoint_push(label, counted);
            match endpoints.iter_mut().find(|known| known.endpoint == label) {
                Some(known) => known.add(&pushed),
                None => endpoints.push(pushed),
            }
        }
        let (users, rate) = match plan.model {
            Model::Closed { users, .. } => (Some(users), None),
            Model::Open { rate, .. } => (None, Some(rate)),
        };
        LoadPush {
            run: run.to_owned(),
            users,
            rate,
            finished,
            endpoints,
            late_starts: stats.late_starts().count,
            retried: stats.endpoints().iter().map(EndpointStats::retried).sum(),
        }
    }

    /// Reads and checks a push body: JSON of this shape, within the limits (run id and labels
    /// non-empty and short, at most 64 endpoints, one latency count per bucket, finite numbers).
    pub fn parse(body: &[u8]) -> Result<LoadPush, PushError> {
        if body.len() > MAX_PUSH_BYTES {
            return Err(PushError::Invalid("the body is larger than 256 KiB"));
        }
        let push: LoadPush =
            serde_json::from_slice(body).map_err(|error| PushError::Json(error.to_string()))?;
        let invalid = |reason| Err(PushError::Invalid(reason));
        if push.run.is_empty() || push.run.chars().count() > MAX_RUN_ID_CHARS {
            return invalid("run must be 1 to 64 characters");
        }
        if push.endpoints.len() > MAX_PUSH_ENDPOINTS {
            return invalid("at most 64 endpoints");
        }
        if push
            .rate
            .is_some_and(|rate| !rate.is_finite() || rate < 0.0)
        {
            return invalid("rate must be a finite number of requests per second");
        }
        for (index, endpoint) in push.endpoints.iter().enumerate() {
            if endpoint.endpoint.is_empty()
                || endpoint.endpoint.chars().count() > MAX_ENDPOINT_CHARS
            {
                return invalid("an endpoint label must be 1 to 256 characters");
            }
            if push.endpoints[..index]
                .iter()
                .any(|other| other.endpoint == endpoint.endpoint)
            {
                return invalid("an endpoint appears twice");
            }
            if endpoint.latency_buckets.len() != LATENCY_BUCKETS.len() + 1 {
                return invalid("latency_buckets needs one count per bucket and one for +Inf (14)");
            }
            if !endpoint.latency_sum_seconds.is_finite() || endpoint.latency_sum_seconds < 0.0 {
                return invalid("latency_sum_seconds must be a finite number of seconds");
            }
        }
        Ok(push)
    }
}

impl EndpointPush {
    fn add(&mut self, other: &EndpointPush) {
        let (mine, theirs) = (&mut self.outcomes, &other.outcomes);
        mine.ok += theirs.ok;
        mine.http_4xx += theirs.http_4xx;
        mine.http_5xx += theirs.http_5xx;
        mine.timeout += theirs.timeout;
        mine.connect_refused += theirs.connect_refused;
        mine.connection_reset += theirs.connection_reset;
        mine.other_io += theirs.other_io;
        for (bucket, count) in self.latency_buckets.iter_mut().zip(&other.latency_buckets) {
            *bucket += count;
        }
        self.latency_sum_seconds += other.latency_sum_seconds;
    }
}

fn endpoint_push(label: &str, stats: &EndpointStats) -> EndpointPush {
    let answered = stats.responses();
    let (http_4xx, http_5xx) = (stats.status_class(4), stats.status_class(5));
    let latency = stats.latency_us();
    let mut below = 0;
    let mut latency_buckets: Vec<u64> = LATENCY_BUCKETS
        .iter()
        .map(|&bound| {
            let up_to = latency.count_between(0, (bound * 1e6) as u64);
            let in_bucket = up_to.saturating_sub(below);
            below = below.max(up_to);
            in_bucket
        })
        .collect();
    latency_buckets.push(answered.saturating_sub(below));
    EndpointPush {
        endpoint: label.to_owned(),
        outcomes: Outcomes {
            ok: answered.saturating_sub(http_4xx + http_5xx),
            http_4xx,
            http_5xx,
            timeout: stats.failures(Failure::Timeout),
            connect_refused: stats.failures(Failure::ConnectRefused),
            connection_reset: stats.failures(Failure::ConnectionReset),
            other_io: stats.failures(Failure::OtherIo),
        },
        latency_buckets,
        latency_sum_seconds: if answered > 0 {
            latency.mean() * answered as f64 / 1e6
        } else {
            0.0
        },
    }
}

/// Sends a running load's figures to a daemon's ops listener every [`PUSH_INTERVAL`] until
/// stopped, then once more marked finished. A push that fails is logged and the run goes on.
pub struct Pusher {
    client: HttpClient,
    url: String,
    run: String,
}

impl Pusher {
    /// Pushes to `ops_url` (the ops listener's base URL, e.g. `http://127.0.0.1:5001`).
    pub fn new(ops_url: &str) -> Pusher {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Pusher {
            client: HttpClient::new(PUSH_TIMEOUT),
            url: format!("{}/load", ops_url.trim_end_matches('/')),
            run: format!("{}-{}", std::process::id(), started.as_micros()),
        }
    }

    /// Pushes every interval until `stop` is cancelled; returns without the final push (see
    /// [`Pusher::finish`]).
    pub async fn run(&self, plan: &LoadPlan, probe: ProgressProbe, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(PUSH_INTERVAL);
        let mut warned = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let push = LoadPush::new(&self.run, plan, &probe.totals(), false);
            if let Err(error) = self.send(&push).await
                && !warned
            {
                tracing::warn!(url = %self.url, %error, "cannot send the run's figures to the daemon");
                warned = true;
            }
        }
    }

    /// The last push: the run's final figures.
    pub async fn finish(&self, plan: &LoadPlan, stats: &Stats) {
        let push = LoadPush::new(&self.run, plan, stats, true);
        if let Err(error) = self.send(&push).await {
            tracing::warn!(url = %self.url, %error, "cannot send the run's final figures to the daemon");
        }
    }

    async fn send(&self, push: &LoadPush) -> Result<(), String> {
        let body = serde_json::to_vec(push).map_err(|error| error.to_string())?;
        let response = self
            .client
            .post(&self.url, "application/json", body)
            .await
            .map_err(|error| error.to_string())?;
        if response.status.is_success() {
            Ok(())
        } else {
            Err(format!(
                "HTTP {}: {}",
                response.status.as_u16(),
                response.text()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::plan::{LoadSettings, Target};

    fn plan(mix: &str) -> LoadPlan {
        let target: Target = "http://127.0.0.1:5000".parse().expect("target");
        let settings = LoadSettings {
            mix: mix.parse().ok(),
            ..LoadSettings::default()
        };
        LoadPlan::new(target, settings, 1, None).expect("plan")
    }

    #[test]
    fn a_push_adds_up_entries_of_one_label_and_buckets_latencies() {
        let plan = plan("/slow?ms=5=1,/slow?ms=50=1,/=1");
        let mut stats = Stats::new(3);
        stats.record_response(0, 200, Duration::from_millis(4));
        stats.record_response(1, 500, Duration::from_millis(40));
        stats.record_failure(1, Failure::Timeout);
        stats.record_response(2, 200, Duration::from_secs(20));
        let push = LoadPush::new("run", &plan, &stats, false);
        assert_eq!(push.users, Some(10));
        assert_eq!(push.endpoints.len(), 2);
        let slow = &push.endpoints[0];
        assert_eq!(slow.endpoint, "/slow");
        assert_eq!(
            (
                slow.outcomes.ok,
                slow.outcomes.http_5xx,
                slow.outcomes.timeout
            ),
            (1, 1, 1)
        );
        // 4 ms is in the 5 ms bucket (index 2), 40 ms in the 50 ms one (index 5).
        let mut expected = vec![0; 14];
        expected[2] = 1;
        expected[5] = 1;
        assert_eq!(slow.latency_buckets, expected);
        assert!((slow.latency_sum_seconds - 0.044).abs() < 0.001);
        assert_eq!(
            push.endpoints[1].latency_buckets[13], 1,
            "20 s is above 10 s"
        );

        let body = serde_json::to_vec(&push).expect("JSON");
        assert_eq!(LoadPush::parse(&body), Ok(push));
    }

    #[test]
    fn malformed_or_oversized_pushes_are_refused() {
        let good = LoadPush::new("run", &plan("/=1"), &Stats::new(1), true);
        let with = |change: &dyn Fn(&mut LoadPush)| {
            let mut push = good.clone();
            change(&mut push);
            serde_json::to_vec(&push).expect("JSON")
        };
        for body in [
            with(&|push| push.run.clear()),
            with(&|push| push.run = "r".repeat(65)),
            with(&|push| {
                push.endpoints[0]
                    .latency_buckets
                    .pop()
                    .map(drop)
                    .unwrap_or(())
            }),
            with(&|push| push.endpoints[0].endpoint.clear()),
            with(&|push| push.endpoints.push(push.endpoints[0].clone())),
            with(&|push| push.rate = Some(-1.0)),
            b"{}".to_vec(),
            b"not json".to_vec(),
            vec![b' '; MAX_PUSH_BYTES + 1],
        ] {
            assert!(
                LoadPush::parse(&body).is_err(),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}
