//! Pass/fail expressions over a load report, such as `p95<300ms`, `error_rate<1%`, `rps>100` or
//! `/slow:p99<1s`: their grammar, and checking them against measured values.

use std::fmt;
use std::str::FromStr;

use super::plan::parse_duration;

/// The grammar, shown whenever an expression cannot be read.
pub const GRAMMAR: &str = "\
a threshold is [ENDPOINT:]METRIC OP VALUE
  METRIC  p50 p90 p95 p99 max mean (VALUE a duration: 300ms, 1s)
          error_rate (VALUE a percentage like 1% or a fraction like 0.01)
          rps (VALUE requests per second)
  OP      <  <=  >  >=
  ENDPOINT  a path from the mix, e.g. /slow (default: all requests)
  examples: p95<300ms  p99<1s  error_rate<1%  rps>100  /slow:p95<600ms";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid threshold {input:?}: {reason}\n{GRAMMAR}")]
pub struct ThresholdError {
    input: String,
    reason: String,
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Latency(LatencyStatistic),
    ErrorRate,
    Rps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyStatistic {
    P50,
    P90,
    P95,
    P99,
    Max,
    Mean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Below,
    AtMost,
    Above,
    AtLeast,
}

impl Comparison {
    fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Comparison::Below => observed < limit,
            Comparison::AtMost => observed <= limit,
            Comparison::Above => observed > limit,
            Comparison::AtLeast => observed >= limit,
        }
    }
}

/// One parsed threshold. `limit` is in the metric's unit: milliseconds for latency, a fraction
/// for the error rate, requests per second for throughput.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    endpoint: Option<String>,
    metric: Metric,
    comparison: Comparison,
    limit: f64,
    text: String,
}

/// The measured values a threshold can be checked against, for all requests or one endpoint.
pub trait Observed {
    /// Latency in milliseconds; `None` when nothing was answered.
    fn latency_ms(&self, statistic: LatencyStatistic) -> Option<f64>;
    fn error_rate(&self) -> f64;
    fn rps(&self) -> f64;
    fn requests(&self) -> u64;
}

/// Why a threshold had nothing to judge: then it fails, whatever its metric, since nothing was
/// shown to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum NoData {
    /// No request went to the endpoint (or none at all).
    #[serde(rename = "no requests")]
    NoRequests,
    /// Requests went out but none got an HTTP answer, so there is no latency.
    #[serde(rename = "no responses")]
    NoResponses,
}

impl NoData {
    pub fn as_str(self) -> &'static str {
        match self {
            NoData::NoRequests => "no requests",
            NoData::NoResponses => "no responses",
        }
    }
}

/// A threshold checked: the observed value in the metric's unit (`None` with the reason in
/// `no_data`) and whether it held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub observed: Option<f64>,
    pub passed: bool,
    pub no_data: Option<NoData>,
}

impl Threshold {
    /// The mix path this threshold is about, or `None` for all requests.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Judges the threshold. One rule for every metric: with no requests in its scope (or, for
    /// a latency, no responses) there is nothing to judge, and the threshold fails with nothing
    /// observed: a CI gate must not pass on an endpoint the run never reached.
    pub fn check(&self, observed: &impl Observed) -> Verdict {
        let value = if observed.requests() == 0 {
            Err(NoData::NoRequests)
        } else {
            match self.metric {
                Metric::Latency(statistic) => {
                    observed.latency_ms(statistic).ok_or(NoData::NoResponses)
                }
                Metric::ErrorRate => Ok(observed.error_rate()),
                Metric::Rps => Ok(observed.rps()),
            }
        };
        match value {
            Ok(value) => Verdict {
                observed: Some(value),
                passed: self.comparison.holds(value, self.limit),
                no_data: None,
            },
            Err(no_data) => Verdict {
                observed: None,
                passed: false,
                no_data: Some(no_data),
            },
        }
    }
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |reason: &str| ThresholdError {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let text: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        let (endpoint, expression) = match text.rsplit_once(':') {
            Some((endpoint, expression)) => {
                if !endpoint.starts_with('/') {
                    return Err(error(
                        "the endpoint before ':' must be a path starting with /",
                    ));
                }
                (Some(endpoint.to_owned()), expression)
            }
            None => (None, text.as_str()),
        };
        let operator_at = expression
            .find(['<', '>'])
            .ok_or_else(|| error("no comparison (<, <=, >, >=)"))?;
        let (name, rest) = expression.split_at(operator_at);
        let (comparison, value) = if let Some(value) = rest.strip_prefix("<=") {
            (Comparison::AtMost, value)
        } else if let Some(value) = rest.strip_prefix(">=") {
            (Comparison::AtLeast, value)
        } else if let Some(value) = rest.strip_prefix('<') {
            (Comparison::Below, value)
        } else if let Some(value) = rest.strip_prefix('>') {
            (Comparison::Above, value)
        } else {
            return Err(error("no comparison (<, <=, >, >=)"));
        };
        let metric = match name {
            "p50" => Metric::Latency(LatencyStatistic::P50),
            "p90" => Metric::Latency(LatencyStatistic::P90),
            "p95" => Metric::Latency(LatencyStatistic::P95),
            "p99" => Metric::Latency(LatencyStatistic::P99),
            "max" => Metric::Latency(LatencyStatistic::Max),
            "mean" => Metric::Latency(LatencyStatistic::Mean),
            "error_rate" => Metric::ErrorRate,
            "rps" => Metric::Rps,
            "" => return Err(error("no metric before the comparison")),
            _ => return Err(error("unknown metric")),
        };
        let limit = match metric {
            Metric::Latency(_) => {
                parse_duration(value)
                    .map_err(|_| error("the value must be a duration like 300ms"))?
                    .as_secs_f64()
                    * 1000.0
            }
            Metric::ErrorRate => {
                let fraction = match value.strip_suffix('%') {
                    Some(percent) => percent.parse::<f64>().map(|p| p / 100.0),
                    None => value.parse::<f64>(),
                }
                .map_err(|_| {
                    error("the value must be a percentage like 1% or a fraction like 0.01")
                })?;
                if !(0.0..=1.0).contains(&fraction) {
                    return Err(error("an error rate lies between 0% and 100%"));
                }
                fraction
            }
            Metric::Rps => value
                .parse::<f64>()
                .ok()
                .filter(|rps| rps.is_finite() && *rps >= 0.0)
                .ok_or_else(|| error("the value must be a number of requests per second"))?,
        };
        Ok(Threshold {
            endpoint,
            metric,
            comparison,
            limit,
            text,
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Values {
        p95_ms: Option<f64>,
        error_rate: f64,
        rps: f64,
        requests: u64,
    }

    impl Observed for Values {
        fn latency_ms(&self, statistic: LatencyStatistic) -> Option<f64> {
            assert_eq!(
                statistic,
                LatencyStatistic::P95,
                "only p95 is set in these tests"
            );
            self.p95_ms
        }
        fn error_rate(&self) -> f64 {
            self.error_rate
        }
        fn rps(&self) -> f64 {
            self.rps
        }
        fn requests(&self) -> u64 {
            self.requests
        }
    }

    const VALUES: Values = Values {
        p95_ms: Some(250.0),
        error_rate: 0.02,
        rps: 120.0,
        requests: 1200,
    };

    fn check(text: &str) -> bool {
        text.parse::<Threshold>().expect(text).check(&VALUES).passed
    }

    #[test]
    fn parses_metrics_units_and_endpoints() {
        let t: Threshold = "/slow: p95 < 1.5s".parse().expect("valid");
        assert_eq!(t.endpoint(), Some("/slow"));
        assert_eq!(t.metric(), Metric::Latency(LatencyStatistic::P95));
        assert_eq!(t.limit, 1500.0);
        assert_eq!(t.to_string(), "/slow:p95<1.5s");
        let rate: Threshold = "error_rate<=1%".parse().expect("valid");
        assert_eq!((rate.comparison, rate.limit), (Comparison::AtMost, 0.01));
        let fraction: Threshold = "error_rate<0.05".parse().expect("valid");
        assert_eq!(fraction.limit, 0.05);
        let with_query: Threshold = "/slow?ms=5:max<1s".parse().expect("valid");
        assert_eq!(with_query.endpoint(), Some("/slow?ms=5"));
    }

    #[test]
    fn checks_each_comparison() {
        assert!(check("p95<300ms"));
        assert!(!check("p95<250ms"));
        assert!(check("p95<=250ms"));
        assert!(!check("p95>=251ms"));
        assert!(check("error_rate<3%"));
        assert!(!check("error_rate<1%"));
        assert!(check("rps>100"));
        assert!(!check("rps>=121"));
    }

    #[test]
    fn nothing_to_judge_fails_every_metric_alike() {
        let silent = Values {
            p95_ms: None,
            error_rate: 1.0,
            rps: 0.5,
            requests: 3,
        };
        let threshold: Threshold = "p95<1s".parse().expect("valid");
        let verdict = threshold.check(&silent);
        assert_eq!((verdict.observed, verdict.passed), (None, false));
        assert_eq!(verdict.no_data, Some(NoData::NoResponses));
        let idle = Values {
            p95_ms: None,
            error_rate: 0.0,
            rps: 0.0,
            requests: 0,
        };
        for text in ["p95<1s", "error_rate<1%", "rps<100", "rps>=0", "max<1h"] {
            let verdict = text.parse::<Threshold>().expect(text).check(&idle);
            assert_eq!(
                verdict,
                Verdict {
                    observed: None,
                    passed: false,
                    no_data: Some(NoData::NoRequests)
                },
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_expressions_explain_the_grammar() {
        for bad in [
            "",
            "p95",
            "p95<",
            "p95<300",
            "p42<1s",
            "<1s",
            "error_rate<150%",
            "rps>fast",
            "slow:p95<1s",
            "p95=1s",
        ] {
            let error = bad.parse::<Threshold>().expect_err(bad);
            assert!(
                error.to_string().contains("[ENDPOINT:]METRIC OP VALUE"),
                "{bad:?}: {error}"
            );
        }
    }
}
