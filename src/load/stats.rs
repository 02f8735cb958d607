//! What happened, counted without keeping anything per request: for each mix endpoint a latency
//! HdrHistogram (microseconds), a status-code tally and failures by kind, plus how often the open
//! model had to wait for a connection. Workers fill one `Stats` per thread; merging adds them up.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies above this are recorded as this (an hour is far beyond any sensible timeout).
const HIGHEST_LATENCY_US: u64 = 3_600_000_000;
const SIGNIFICANT_FIGURES: u8 = 3;

/// A request that got no HTTP response, by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No complete answer within `--timeout`.
    Timeout,
    /// Nothing listens at the target address.
    ConnectRefused,
    /// The server closed or reset the connection before the answer was complete.
    ConnectionReset,
    /// Any other I/O or protocol error (unreachable network, malformed response, ...).
    OtherIo,
}

impl Failure {
    pub const ALL: [Failure; 4] = [
        Failure::Timeout,
        Failure::ConnectRefused,
        Failure::ConnectionReset,
        Failure::OtherIo,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Counts for one endpoint of the mix.
#[derive(Debug, Clone)]
pub struct EndpointStats {
    latency_us: Histogram<u64>,
    /// (status code, count), in first-seen order; a service answers with a handful of codes.
    statuses: Vec<(u16, u64)>,
    failures: [u64; Failure::ALL.len()],
    /// Requests sent a second time, on a new connection, because a reused one closed before any
    /// byte of the answer came (each still counts once, by how it ended).
    retried: u64,
}

impl EndpointStats {
    fn new() -> EndpointStats {
        EndpointStats {
            latency_us: latency_histogram(),
            statuses: Vec::new(),
            failures: [0; Failure::ALL.len()],
            retried: 0,
        }
    }

    pub fn retried(&self) -> u64 {
        self.retried
    }

    /// Latencies (microseconds) of the requests that got an HTTP response, whatever its status.
    pub fn latency_us(&self) -> &Histogram<u64> {
        &self.latency_us
    }

    pub fn statuses(&self) -> &[(u16, u64)] {
        &self.statuses
    }

    pub fn failures(&self, kind: Failure) -> u64 {
        self.failures[kind.index()]
    }

    /// Responses with this status class (4 for 4xx, 5 for 5xx).
    pub fn status_class(&self, class: u16) -> u64 {
        self.statuses
            .iter()
            .filter(|(code, _)| code / 100 == class)
            .map(|(_, count)| count)
            .sum()
    }

    pub fn responses(&self) -> u64 {
        self.latency_us.len()
    }

    pub fn requests(&self) -> u64 {
        self.responses() + self.failures.iter().sum::<u64>()
    }

    /// Failed requests: no response, or a 4xx/5xx response.
    pub fn errors(&self) -> u64 {
        self.failures.iter().sum::<u64>() + self.status_class(4) + self.status_class(5)
    }

    fn record_response(&mut self, status: u16, latency: Duration) {
        let latency_us = duration_us(latency).min(HIGHEST_LATENCY_US);
        // Recording grows the histogram to fit (the clamp bounds it); should growing ever fail,
        // the request is counted at the current edge rather than lost.
        if self.latency_us.record(latency_us).is_err() {
            self.latency_us.saturating_record(latency_us);
        }
        match self.statuses.iter_mut().find(|(code, _)| *code == status) {
            Some((_, count)) => *count += 1,
            None => self.statuses.push((status, 1)),
        }
    }

    pub fn merge_from(&mut self, other: &EndpointStats) {
        add_histogram(&mut self.latency_us, &other.latency_us);
        for &(status, count) in &other.statuses {
            match self.statuses.iter_mut().find(|(code, _)| *code == status) {
                Some((_, total)) => *total += count,
                None => self.statuses.push((status, count)),
            }
        }
        for (total, count) in self.failures.iter_mut().zip(other.failures) {
            *total += count;
        }
        self.retried += other.retried;
    }

    fn reset(&mut self) {
        self.latency_us.reset();
        self.statuses.clear();
        self.failures = [0; Failure::ALL.len()];
        self.retried = 0;
    }
}

/// Open-model requests that could not start on time because every connection was busy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LateStarts {
    pub count: u64,
    pub longest_wait: Duration,
}

/// Everything counted by one worker thread, or the sum over all of them.
#[derive(Debug, Clone)]
pub struct Stats {
    endpoints: Vec<EndpointStats>,
    late_starts: LateStarts,
}

impl Stats {
    pub fn new(endpoints: usize) -> Stats {
        Stats {
            endpoints: (0..endpoints).map(|_| EndpointStats::new()).collect(),
            late_starts: LateStarts::default(),
        }
    }

    pub fn endpoints(&self) -> &[EndpointStats] {
        &self.endpoints
    }

    pub fn late_starts(&self) -> LateStarts {
        self.late_starts
    }

    pub fn record_response(&mut self, endpoint: usize, status: u16, latency: Duration) {
        self.endpoints[endpoint].record_response(status, latency);
    }

    pub fn record_failure(&mut self, endpoint: usize, kind: Failure) {
        self.endpoints[endpoint].failures[kind.index()] += 1;
    }

    pub fn record_retry(&mut self, endpoint: usize) {
        self.endpoints[endpoint].retried += 1;
    }

    pub fn record_late_start(&mut self, waited: Duration) {
        self.late_starts.count += 1;
        self.late_starts.longest_wait = self.late_starts.longest_wait.max(waited);
    }

    pub fn requests(&self) -> u64 {
        self.endpoints.iter().map(EndpointStats::requests).sum()
    }

    pub fn errors(&self) -> u64 {
        self.endpoints.iter().map(EndpointStats::errors).sum()
    }

    /// All endpoints' counts as one.
    pub fn combined(&self) -> EndpointStats {
        let mut all = EndpointStats::new();
        for endpoint in &self.endpoints {
            all.merge_from(endpoint);
        }
        all
    }

    pub fn merge_from(&mut self, other: &Stats) {
        for (mine, theirs) in self.endpoints.iter_mut().zip(&other.endpoints) {
            mine.merge_from(theirs);
        }
        self.late_starts.count += other.late_starts.count;
        self.late_starts.longest_wait = self
            .late_starts
            .longest_wait
            .max(other.late_starts.longest_wait);
    }

    /// Empties the counts but keeps the histograms' memory, so flushing allocates nothing.
    pub fn reset(&mut self) {
        self.endpoints.iter_mut().for_each(EndpointStats::reset);
        self.late_starts = LateStarts::default();
    }
}

/// An empty latency histogram (microseconds). It grows to the largest latency recorded (clamped
/// at `HIGHEST_LATENCY_US`), so an endpoint answering within milliseconds costs about 16 KB
/// rather than the 188 KB of the whole range: every worker thread keeps two per endpoint.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new(SIGNIFICANT_FIGURES).expect("3 significant figures are valid")
}

/// Adds `source` into `target`. Both come from `latency_histogram`, which grows to fit what is
/// added, so the addition cannot fail.
pub fn add_histogram(target: &mut Histogram<u64>, source: &Histogram<u64>) {
    target
        .add(source)
        .expect("latency histograms share one range");
}

fn duration_us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn merging_adds_counts_and_keeps_percentiles() {
        let mut first = Stats::new(2);
        let mut second = Stats::new(2);
        for value in 1..=50 {
            first.record_response(0, 200, ms(value));
        }
        for value in 51..=100 {
            second.record_response(0, 200, ms(value));
        }
        second.record_response(1, 500, ms(7));
        second.record_response(1, 404, ms(7));
        first.record_failure(1, Failure::Timeout);
        second.record_failure(1, Failure::ConnectionReset);
        second.record_late_start(ms(30));
        first.record_late_start(ms(10));

        let mut total = Stats::new(2);
        total.merge_from(&first);
        total.merge_from(&second);

        let slash = &total.endpoints()[0];
        assert_eq!(slash.requests(), 100);
        assert_eq!(slash.errors(), 0);
        let p95 = slash.latency_us().value_at_quantile(0.95);
        assert!((94_900..=95_100).contains(&p95), "p95 {p95}us");
        assert_eq!(
            slash.latency_us().max(),
            100_031,
            "max within 3 significant figures"
        );

        let other = &total.endpoints()[1];
        assert_eq!(other.requests(), 4);
        assert_eq!(other.errors(), 4, "two failures, one 4xx, one 5xx");
        assert_eq!(other.failures(Failure::Timeout), 1);
        assert_eq!(other.failures(Failure::ConnectionReset), 1);
        assert_eq!((other.status_class(4), other.status_class(5)), (1, 1));

        assert_eq!(total.requests(), 104);
        assert_eq!(
            total.late_starts(),
            LateStarts {
                count: 2,
                longest_wait: ms(30)
            }
        );
        let combined = total.combined();
        assert_eq!(combined.requests(), 104);
        assert_eq!(combined.statuses(), &[(200, 100), (500, 1), (404, 1)]);
    }

    #[test]
    fn reset_empties_everything() {
        let mut stats = Stats::new(1);
        stats.record_response(0, 200, ms(5));
        stats.record_failure(0, Failure::OtherIo);
        stats.record_late_start(ms(1));
        stats.reset();
        assert_eq!(stats.requests(), 0);
        assert_eq!(stats.late_starts(), LateStarts::default());
        assert!(stats.endpoints()[0].statuses().is_empty());
    }

    #[test]
    fn histograms_only_grow_as_far_as_the_latencies_go() {
        let mut fast = Stats::new(1);
        fast.record_response(0, 200, Duration::from_micros(900));
        let mut full = Stats::new(1);
        full.record_response(0, 200, Duration::from_secs(3600));
        let size = |stats: &Stats| stats.endpoints()[0].latency_us().distinct_values();
        assert!(
            size(&fast) * 8 <= size(&full),
            "{} counters for sub-millisecond latencies, {} for an hour",
            size(&fast),
            size(&full)
        );
        // Merging a wider histogram into a narrow one widens it instead of failing.
        fast.merge_from(&full);
        assert_eq!(fast.requests(), 2);
        assert!(fast.endpoints()[0].latency_us().max() >= 3_599_000_000);
    }

    #[test]
    fn extreme_latencies_are_clamped_not_lost() {
        let mut stats = Stats::new(1);
        stats.record_response(0, 200, Duration::from_secs(10 * 3600));
        stats.record_response(0, 200, Duration::ZERO);
        assert_eq!(stats.requests(), 2);
        assert!(stats.endpoints()[0].latency_us().max() >= HIGHEST_LATENCY_US);
    }
}
