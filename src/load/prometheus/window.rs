//! The exact server-side figures of a run from Prometheus's raw samples: which two scrapes bound
//! the run (the last one that finished before it started, the first one that began after it
//! ended), each counter's increase between them (counter resets included), and p95 from the
//! histogram buckets' increases, interpolated as `histogram_quantile` does. Pure: samples in,
//! figures out.

use std::collections::BTreeMap;

/// One series' samples as the query API returns them: labels, and (Unix seconds, value) pairs in
/// time order.
pub use crate::promapi::RawSamples as Series;

/// Prometheus stores timestamps in whole milliseconds, truncated: a scrape may have begun up to
/// this much after its stored timestamp.
const TIMESTAMP_RESOLUTION: f64 = 0.001;

/// One scrape of the target: when it began (Prometheus's timestamp), how long it took, and
/// whether it succeeded (`up` was 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scrape {
    pub at: f64,
    pub duration: f64,
    pub up: bool,
}

/// The scrapes of a target, from its `up` and `scrape_duration_seconds` samples (same timestamps).
pub fn scrapes(up: &[(f64, f64)], durations: &[(f64, f64)]) -> Vec<Scrape> {
    let durations: BTreeMap<i64, f64> = durations
        .iter()
        .map(|&(at, duration)| (millis(at), duration))
        .collect();
    up.iter()
        .map(|&(at, value)| Scrape {
            at,
            duration: durations.get(&millis(at)).copied().unwrap_or(f64::INFINITY),
            up: value == 1.0,
        })
        .collect()
}

/// The last successful scrape that had finished before `run_start` (so it counted none of the
/// run's requests).
pub fn scrape_before(scrapes: &[Scrape], run_start: f64) -> Option<Scrape> {
    scrapes
        .iter()
        .filter(|scrape| {
            scrape.up && scrape.at + scrape.duration + TIMESTAMP_RESOLUTION <= run_start
        })
        .max_by(|a, b| a.at.total_cmp(&b.at))
        .copied()
}

/// The first successful scrape that began after `run_end` (so it counted all of the run's
/// requests).
pub fn scrape_after(scrapes: &[Scrape], run_end: f64) -> Option<Scrape> {
    scrapes
        .iter()
        .filter(|scrape| scrape.up && scrape.at >= run_end)
        .min_by(|a, b| a.at.total_cmp(&b.at))
        .copied()
}

/// How much a counter grew from `from` to `to` (Unix seconds, both scrapes' timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Increase {
    pub value: f64,
    /// The counter went down in between (the service restarted): what it counted between its
    /// last scrape before the restart and the restart is missing.
    pub reset: bool,
}

impl Increase {
    fn add(&mut self, other: Increase) {
        self.value += other.value;
        self.reset |= other.reset;
    }
}

/// The increase of one series between the scrapes at `from` and `to`. A series with no sample at
/// `from` that appears later was created in between, at 0.
pub fn increase(samples: &[(f64, f64)], from: f64, to: f64) -> Increase {
    let (from, to) = (millis(from), millis(to));
    let mut previous = None;
    let mut increase = Increase::default();
    for &(at, value) in samples {
        let at = millis(at);
        if at < from || at > to {
            continue;
        }
        let before = match previous {
            Some(before) => before,
            None if at == from => {
                previous = Some(value);
                continue;
            }
            None => 0.0,
        };
        if value >= before {
            increase.value += value - before;
        } else {
            increase.value += value;
            increase.reset = true;
        }
        previous = Some(value);
    }
    increase
}

/// Each series' increase, summed by the value of `label` (e.g. `endpoint`).
pub fn increases_by(
    series: &[Series],
    label: &str,
    from: f64,
    to: f64,
) -> BTreeMap<String, Increase> {
    let mut sums: BTreeMap<String, Increase> = BTreeMap::new();
    for one in series {
        let key = one.labels.get(label).cloned().unwrap_or_default();
        sums.entry(key)
            .or_default()
            .add(increase(&one.samples, from, to));
    }
    sums
}

/// The `quantile` (0 to 1) of each `endpoint`'s latency from histogram bucket series (labels
/// `endpoint` and `le`): the buckets' increases between the two scrapes, summed over the other
/// labels, interpolated linearly within the bucket as `histogram_quantile` does. `None` for an
/// endpoint without observations in the window.
pub fn quantiles_by_endpoint(
    buckets: &[Series],
    quantile: f64,
    from: f64,
    to: f64,
) -> BTreeMap<String, Option<f64>> {
    let mut by_endpoint: BTreeMap<String, BTreeMap<UpperBound, f64>> = BTreeMap::new();
    for one in buckets {
        let (Some(endpoint), Some(le)) = (one.labels.get("endpoint"), one.labels.get("le")) else {
            continue;
        };
        let Some(upper) = parse_le(le) else {
            continue;
        };
        *by_endpoint
            .entry(endpoint.clone())
            .or_default()
            .entry(UpperBound(upper))
            .or_default() += increase(&one.samples, from, to).value;
    }
    by_endpoint
        .into_iter()
        .map(|(endpoint, buckets)| {
            let buckets: Vec<(f64, f64)> = buckets.into_iter().map(|(le, n)| (le.0, n)).collect();
            (endpoint, bucket_quantile(quantile, &buckets))
        })
        .collect()
}

/// `histogram_quantile` over cumulative buckets `(upper bound, count)`, sorted by bound, the last
/// one `+Inf`.
pub fn bucket_quantile(quantile: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let &(last_bound, total) = buckets.last()?;
    if last_bound != f64::INFINITY || buckets.len() < 2 || total.is_nan() || total <= 0.0 {
        return None;
    }
    // Cumulative counts can dip where buckets were read a moment apart; like Prometheus, take the
    // running maximum.
    let mut running = 0.0f64;
    let cumulative: Vec<(f64, f64)> = buckets
        .iter()
        .map(|&(bound, count)| {
            running = running.max(count);
            (bound, running)
        })
        .collect();
    let rank = quantile.clamp(0.0, 1.0) * running;
    let index = cumulative.iter().position(|&(_, count)| count >= rank)?;
    if index == cumulative.len() - 1 {
        return Some(cumulative[index - 1].0);
    }
    let (upper, count) = cumulative[index];
    let (lower, below) = if index == 0 {
        (if upper > 0.0 { 0.0 } else { upper }, 0.0)
    } else {
        cumulative[index - 1]
    };
    if count == below {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below) / (count - below))
}

/// A bucket bound that sorts as a number (`+Inf` last).
#[derive(Debug, Clone, Copy, PartialEq)]
struct UpperBound(f64);

impl Eq for UpperBound {}

impl PartialOrd for UpperBound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for UpperBound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn parse_le(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        number => number.parse().ok().filter(|value: &f64| !value.is_nan()),
    }
}

fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], samples: &[(f64, f64)]) -> Series {
        Series {
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            samples: samples.to_vec(),
        }
    }

    #[test]
    fn the_window_is_the_scrape_finished_before_and_the_scrape_begun_after() {
        let scrapes = scrapes(
            &[(100.0, 1.0), (115.0, 1.0), (130.0, 0.0), (145.0, 1.0)],
            &[
                (100.0, 0.002),
                (115.0, 0.002),
                (130.0, 0.002),
                (145.0, 0.002),
            ],
        );
        assert_eq!(
            scrape_before(&scrapes, 115.001).map(|s| s.at),
            Some(100.0),
            "115 not finished"
        );
        assert_eq!(scrape_before(&scrapes, 115.010).map(|s| s.at), Some(115.0));
        assert_eq!(
            scrape_after(&scrapes, 120.0).map(|s| s.at),
            Some(145.0),
            "130 failed"
        );
        assert_eq!(scrape_after(&scrapes, 145.0).map(|s| s.at), Some(145.0));
        assert_eq!(scrape_before(&scrapes, 99.0), None);
        assert_eq!(scrape_after(&scrapes, 146.0), None);
    }

    #[test]
    fn increases_are_exact_and_survive_resets_and_late_series() {
        let samples = [(1.0, 5.0), (2.0, 7.0), (3.0, 10.0), (4.0, 10.0)];
        assert_eq!(
            increase(&samples, 2.0, 4.0),
            Increase {
                value: 3.0,
                reset: false
            }
        );
        assert_eq!(
            increase(&[(1.0, 5.0), (2.0, 9.0), (3.0, 2.0)], 1.0, 3.0),
            Increase {
                value: 6.0,
                reset: true
            }
        );
        // Created after the first scrape: it started at 0.
        assert_eq!(increase(&[(3.0, 4.0)], 2.0, 3.0).value, 4.0);
        let by = increases_by(
            &[
                series(
                    &[("endpoint", "/"), ("status", "200")],
                    &[(1.0, 1.0), (2.0, 4.0)],
                ),
                series(
                    &[("endpoint", "/"), ("status", "500")],
                    &[(1.0, 0.0), (2.0, 2.0)],
                ),
                series(&[("endpoint", "/slow")], &[(1.0, 3.0), (2.0, 3.0)]),
            ],
            "endpoint",
            1.0,
            2.0,
        );
        assert_eq!(by["/"].value, 5.0);
        assert_eq!(by["/slow"].value, 0.0);
    }

    #[test]
    fn quantiles_interpolate_like_histogram_quantile() {
        // 100 observations: 50 under 0.1, 40 between 0.1 and 0.5, 10 between 0.5 and 1.
        let buckets = [
            (0.1, 50.0),
            (0.5, 90.0),
            (1.0, 100.0),
            (f64::INFINITY, 100.0),
        ];
        let p95 = bucket_quantile(0.95, &buckets).expect("p95");
        assert!((p95 - 0.75).abs() < 1e-9, "{p95}");
        let p50 = bucket_quantile(0.5, &buckets).expect("p50");
        assert!((p50 - 0.1).abs() < 1e-9, "{p50}");
        // In the +Inf bucket: the highest finite bound.
        assert_eq!(
            bucket_quantile(0.99, &[(1.0, 1.0), (f64::INFINITY, 10.0)]),
            Some(1.0)
        );
        assert_eq!(
            bucket_quantile(0.95, &[(1.0, 0.0), (f64::INFINITY, 0.0)]),
            None
        );
        assert_eq!(bucket_quantile(0.95, &[(1.0, 3.0)]), None, "no +Inf bucket");

        let by = quantiles_by_endpoint(
            &[
                series(
                    &[("endpoint", "/"), ("le", "0.1")],
                    &[(1.0, 10.0), (2.0, 60.0)],
                ),
                series(
                    &[("endpoint", "/"), ("le", "+Inf")],
                    &[(1.0, 10.0), (2.0, 60.0)],
                ),
                series(
                    &[("endpoint", "/idle"), ("le", "+Inf")],
                    &[(1.0, 3.0), (2.0, 3.0)],
                ),
            ],
            0.95,
            1.0,
            2.0,
        );
        assert!((by["/"].expect("observed") - 0.095).abs() < 1e-9);
        assert_eq!(by["/idle"], None);
    }
}
