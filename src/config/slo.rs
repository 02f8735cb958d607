//! Service-level objectives (`[[slo]]`): a name, the job it is about, an objective in percent over
//! a window, and the SLI, one of an availability counter, a latency histogram or two PromQL
//! queries. Each value checks itself while it is parsed (so a bad one is reported with its key
//! and line); [`Slo::sli`] adds what spans several keys, such as a latency threshold that is not
//! one of the histogram's bucket bounds.
//!
//! ```toml
//! [[slo]]
//! name = "shop-availability"    # the `slo` label of its rules and alerts
//! job = "shop"                  # "app" (the demo service) or a [[targets]] name
//! objective = 99.9              # percent of good events, above 0 and below 100
//! window = "30d"                # optional: the SLO window (at least 3d)
//! description = "Orders are accepted"       # optional
//! availability = { metric = "http_requests_total", status_label = "code" }
//! # or latency = { metric = "http_request_duration_seconds", threshold = 0.5, buckets = [0.1, 0.5, 1] }
//! # or events = { error_query = "sum(rate(x_errors[{{.window}}]))", total_query = "sum(rate(x[{{.window}}]))" }
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{LabelName, Line, MetricName, Positive, PromDuration};
use crate::histogram::LATENCY_BUCKETS;

/// The job of the demo service the daemon runs.
pub const DEMO_JOB: &str = "app";
/// The demo service's request counter and its status label.
pub const DEMO_REQUESTS: (&str, &str) = ("app_request_count_total", "status");
/// The demo service's latency histogram (base name).
pub const DEMO_LATENCY: &str = "app_request_latency_seconds";
/// The placeholder an `events` query has for the window it is evaluated over (Sloth's).
pub const WINDOW_PLACEHOLDER: &str = "{{.window}}";
/// The shortest SLO window: the ticket alert looks back 3 days.
const MIN_WINDOW: PromDuration = PromDuration::from_secs(3 * 24 * 3600);

/// One service-level objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Lowercase letters, digits, `-` and `_`; the `slo` label of every series and alert.
    pub name: SloName,
    /// The Prometheus job whose series the SLI reads: `app` or a `[[targets]]` name.
    pub job: String,
    pub objective: Objective,
    /// The SLO window the error budget is spent over.
    #[serde(default = "default_window")]
    pub window: PromDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Line>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Availability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Events>,
}

/// The SLO window when none is given: 30 days (Sloth's default too).
pub fn default_window() -> PromDuration {
    PromDuration::from_secs(30 * 24 * 3600)
}

/// The share of responses without a 5xx status, from a request counter with a status label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// The counter (`_total`); the demo's `app_request_count_total` for job `app`, required
    /// for other jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricName>,
    /// The label holding the HTTP status: `status` for the demo, `code` (the Prometheus client
    /// libraries' convention) for other jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_label: Option<LabelName>,
}

/// The share of requests faster than `threshold` seconds, from a histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// The histogram's base name (without `_bucket`); the demo's for job `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricName>,
    /// Seconds; must be one of the histogram's bucket bounds (`le`).
    pub threshold: Positive,
    /// The histogram's bucket bounds in seconds; the demo's for job `app`, required otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<Positive>>,
}

/// Bad and total events as PromQL, each with `{{.window}}` where the range goes (Sloth's form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Events {
    pub error_query: Line,
    pub total_query: Line,
}

/// The SLI of an SLO with its defaults applied: what the rules are rendered from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sli<'a> {
    Availability {
        metric: &'a str,
        status_label: &'a str,
    },
    Latency {
        metric: &'a str,
        threshold: f64,
    },
    Events {
        error_query: &'a str,
        total_query: &'a str,
    },
}

impl Slo {
    /// The SLI with its defaults applied, or the key (relative to the `[[slo]]` table) and why
    /// it is wrong: no SLI or more than one, a metric a user job must name, a latency threshold
    /// that is not a bucket bound, an `events` query without `{{.window}}`, a window too short.
    pub fn sli(&self) -> Result<Sli<'_>, (&'static str, String)> {
        if self.window < MIN_WINDOW {
            return Err((
                "window",
                format!(
                    "{} is shorter than the 3d the ticket alert looks back over; use 3d or more",
                    self.window
                ),
            ));
        }
        let demo = self.job == DEMO_JOB;
        let required = |key: &'static str, what: &str| {
            Err((
                key,
                format!(
                    "job {:?} is not the demo service: give the {what} to read",
                    self.job
                ),
            ))
        };
        match (&self.availability, &self.latency, &self.events) {
            (Some(availability), None, None) => {
                let metric = match (&availability.metric, demo) {
                    (Some(metric), _) => metric.as_str(),
                    (None, true) => DEMO_REQUESTS.0,
                    (None, false) => return required("availability.metric", "request counter"),
                };
                let status_label = match (&availability.status_label, demo) {
                    (Some(label), _) => label.as_str(),
                    (None, true) => DEMO_REQUESTS.1,
                    (None, false) => "code",
                };
                Ok(Sli::Availability {
                    metric,
                    status_label,
                })
            }
            (None, Some(latency), None) => {
                let metric = match (&latency.metric, demo) {
                    (Some(metric), _) => metric.as_str(),
                    (None, true) => DEMO_LATENCY,
                    (None, false) => return required("latency.metric", "histogram"),
                };
                if ["_bucket", "_count", "_sum"]
                    .iter()
                    .any(|suffix| metric.ends_with(suffix))
                {
                    return Err((
                        "latency.metric",
                        format!("{metric:?}: give the histogram's base name, without the suffix"),
                    ));
                }
                let bounds: Vec<f64> = match (&latency.buckets, demo && metric == DEMO_LATENCY) {
                    (Some(buckets), _) => buckets.iter().map(|bound| bound.get()).collect(),
                    (None, true) => LATENCY_BUCKETS.to_vec(),
                    (None, false) => {
                        return required("latency.buckets", "histogram's bucket bounds");
                    }
                };
                let threshold = latency.threshold.get();
                if !bounds.contains(&threshold) {
                    let listed: Vec<String> = bounds.iter().map(f64::to_string).collect();
                    return Err((
                        "latency.threshold",
                        format!(
                            "{threshold} s is not a bucket bound of {metric}, so the share of \
                             faster requests cannot be counted; use one of {}",
                            listed.join(", ")
                        ),
                    ));
                }
                Ok(Sli::Latency { metric, threshold })
            }
            (None, None, Some(events)) => {
                for (key, query) in [
                    ("events.error_query", &events.error_query),
                    ("events.total_query", &events.total_query),
                ] {
                    if !query.as_str().contains(WINDOW_PLACEHOLDER) {
                        return Err((
                            key,
                            format!(
                                "{:?} has no {WINDOW_PLACEHOLDER} where the range goes, e.g. \
                                 rate(x[{WINDOW_PLACEHOLDER}])",
                                query.as_str()
                            ),
                        ));
                    }
                    if let Some(reason) = super::values::unpaired_delimiter(query.as_str()) {
                        return Err((key, format!("{:?}: {reason}", query.as_str())));
                    }
                }
                Ok(Sli::Events {
                    error_query: events.error_query.as_str(),
                    total_query: events.total_query.as_str(),
                })
            }
            (None, None, None) => Err((
                "name",
                "give the SLI: availability, latency or events".to_owned(),
            )),
            _ => Err((
                "name",
                "give one SLI only: availability, latency or events".to_owned(),
            )),
        }
    }
}

/// The SLOs of the demo service, on by default.
///
/// The demo answers 500 on `/error` with probability `demo.error_rate` (0.3) and never
/// elsewhere. `monibox load --scenario steady` sends `/error` 20% of the time, so 6% of its
/// responses are 5xx; `--scenario errors` sends it 70% of the time: 21%. With an availability
/// objective of 97.5% the error budget is 2.5%, so steady burns it 0.06 / 0.025 = 2.4× — below
/// the page's 14.4× and 6×; a ticket at most (1× over 3d and 6h: it would spend 2.4 budgets a
/// window) — while errors burns it 0.21 / 0.025 = 8.4×, above the page's 6× over 6h and 30m. The page's
/// threshold (15% errors) is 2.5 times steady's ratio and 0.7 times errors', a margin the
/// randomness of the error injection does not cross once a window holds the 100 events a
/// condition needs (`assets::slo_rules::MIN_EVENTS`).
///
/// Latency: `/slow` sleeps up to 500 ms and every other endpoint answers in milliseconds, so in
/// steady load practically no request takes a second; 99% within 1 s (a bucket bound) pages
/// only when the service saturates (`--scenario stress`).
pub fn demo_slos() -> Vec<Slo> {
    let objective = |percent| Objective::try_from(percent).expect("valid built-in objective");
    let name = |name: &str| SloName::try_from(name.to_owned()).expect("valid built-in name");
    let metric = |name: &str| MetricName::try_from(name.to_owned()).expect("valid metric");
    vec![
        Slo {
            name: name("demo-availability"),
            job: DEMO_JOB.to_owned(),
            objective: objective(97.5),
            window: default_window(),
            description: Some(Line::from(
                "Responses of the demo service without a 5xx status",
            )),
            availability: Some(Availability {
                metric: Some(metric(DEMO_REQUESTS.0)),
                status_label: Some(
                    LabelName::try_from(DEMO_REQUESTS.1.to_owned()).expect("valid label"),
                ),
            }),
            latency: None,
            events: None,
        },
        Slo {
            name: name("demo-latency"),
            job: DEMO_JOB.to_owned(),
            objective: objective(99.0),
            window: default_window(),
            description: Some(Line::from(
                "Requests to the demo service answered within 1 s",
            )),
            availability: None,
            latency: Some(Latency {
                metric: Some(metric(DEMO_LATENCY)),
                threshold: Positive::try_from(1.0).expect("valid built-in threshold"),
                buckets: None,
            }),
            events: None,
        },
    ]
}

/// An SLO's name: lowercase letters, digits, `-` and `_`, starting with a letter, at most 64.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SloName(String);

impl SloName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SloName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && name.len() <= 64;
        if !valid {
            return Err(format!(
                "invalid SLO name {name:?}: use up to 64 lowercase letters, digits, `-` and `_`, \
                 starting with a letter (it becomes the slo label)"
            ));
        }
        Ok(Self(name))
    }
}

impl From<SloName> for String {
    fn from(name: SloName) -> Self {
        name.0
    }
}

impl fmt::Display for SloName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An objective in percent of good events, above 0 and below 100 (`99.9`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Objective(f64);

impl Objective {
    pub fn percent(self) -> f64 {
        self.0
    }

    /// The objective as a ratio (`0.999`).
    pub fn ratio(self) -> f64 {
        self.0 / 100.0
    }

    /// The error budget as a ratio: the share of bad events allowed (`0.001` for 99.9%).
    pub fn error_budget(self) -> f64 {
        (100.0 - self.0) / 100.0
    }
}

impl TryFrom<f64> for Objective {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        if value > 0.0 && value < 100.0 {
            Ok(Self(value))
        } else {
            Err(format!(
                "invalid objective {value}: give a percentage above 0 and below 100 (99.9 means \
                 99.9% of events are good)"
            ))
        }
    }
}

impl From<Objective> for f64 {
    fn from(value: Objective) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo(text: &str) -> Result<Slo, String> {
        toml::from_str(text).map_err(|error| error.message().to_owned())
    }

    fn sli_error(text: &str) -> &'static str {
        slo(text).expect("parses").sli().expect_err("refused").0
    }

    #[test]
    fn the_demo_slos_resolve_to_the_demo_metrics() {
        let slos = demo_slos();
        assert_eq!(
            slos[0].sli(),
            Ok(Sli::Availability {
                metric: "app_request_count_total",
                status_label: "status"
            })
        );
        assert_eq!(
            slos[1].sli(),
            Ok(Sli::Latency {
                metric: "app_request_latency_seconds",
                threshold: 1.0
            })
        );
        assert!((slos[0].objective.error_budget() - 0.025).abs() < 1e-15);
    }

    #[test]
    fn single_values_are_checked_while_parsing() {
        let base = "name = \"a\"\njob = \"app\"\navailability = {}\n";
        assert!(slo(&format!("{base}objective = 99.9\n")).is_ok());
        assert!(
            slo(&format!("{base}objective = 99\n")).is_ok(),
            "an integer"
        );
        for bad in ["100", "0", "-1", "100.5"] {
            assert!(slo(&format!("{base}objective = {bad}\n")).is_err(), "{bad}");
        }
        assert!(SloName::try_from("Shop".to_owned()).is_err());
        assert!(MetricName::try_from("9x".to_owned()).is_err());
        assert!(MetricName::try_from("http:requests_total".to_owned()).is_ok());
    }

    #[test]
    fn what_spans_keys_names_the_key() {
        let head = "name = \"a\"\nobjective = 99\n";
        assert_eq!(
            sli_error(&format!(
                "{head}job = \"app\"\nlatency = {{ threshold = 0.3 }}\n"
            )),
            "latency.threshold"
        );
        let message = slo(&format!(
            "{head}job = \"app\"\nlatency = {{ threshold = 0.3 }}\n"
        ))
        .expect("parses")
        .sli()
        .expect_err("not a bound")
        .1;
        assert!(message.contains("0.25, 0.5"), "{message}");
        assert_eq!(
            sli_error(&format!(
                "{head}job = \"shop\"\nlatency = {{ metric = \"h\", threshold = 0.3, buckets = [0.1, 1] }}\n"
            )),
            "latency.threshold"
        );
        assert!(
            slo(&format!("{head}job = \"shop\"\nlatency = {{ metric = \"h\", threshold = 1, buckets = [0.1, 1] }}\n"))
                .expect("parses")
                .sli()
                .is_ok()
        );
        assert_eq!(
            sli_error(&format!(
                "{head}job = \"shop\"\nlatency = {{ threshold = 1, buckets = [1] }}\n"
            )),
            "latency.metric"
        );
        assert_eq!(
            sli_error(&format!(
                "{head}job = \"shop\"\nlatency = {{ metric = \"h_bucket\", threshold = 1, buckets = [1] }}\n"
            )),
            "latency.metric"
        );
        assert_eq!(
            sli_error(&format!("{head}job = \"shop\"\navailability = {{}}\n")),
            "availability.metric"
        );
        assert_eq!(
            sli_error(&format!(
                "{head}job = \"shop\"\nevents = {{ error_query = \"sum(rate(e[5m]))\", total_query = \"sum(rate(t[{{{{.window}}}}]))\" }}\n"
            )),
            "events.error_query"
        );
        assert_eq!(sli_error(&format!("{head}job = \"app\"\n")), "name");
        assert_eq!(
            sli_error(&format!(
                "{head}job = \"app\"\navailability = {{}}\nlatency = {{ threshold = 1 }}\n"
            )),
            "name"
        );
        assert_eq!(
            sli_error(&format!(
                "{head}job = \"app\"\nwindow = \"1d\"\navailability = {{}}\n"
            )),
            "window"
        );
    }
}
