//! `prometheus/rules/slo.yml`: the recording rules and multi-window, multi-burn-rate alerts of
//! every `[[slo]]`, as typed structs serialised by `serde_norway` (Prometheus's rule file fields).
//!
//! Names follow Sloth's, so its dashboards and habits carry over: per SLO (label `slo`, and
//! `job`) the error ratio `slo:sli_error:ratio_rate<window>` over 5m, 30m, 1h, 2h, 6h, 1d, 3d
//! and the SLO window; `slo:objective:ratio`, `slo:error_budget:ratio`, `slo:time_period:days`;
//! `slo:current_burn_rate:ratio` (over 5m), `slo:period_burn_rate:ratio` and
//! `slo:period_error_budget_remaining:ratio` (over the SLO window). The error ratio over the SLO
//! window is the mean of the 5m ratio (Sloth's way), so no rule reads a month of raw samples.
//! Without traffic a ratio has no sample rather than NaN (the total must be above 0), so an idle
//! hour does not poison the window's mean; a service without any 5xx series yet counts 0 errors.
//!
//! Alerts (`ErrorBudgetBurn`), from the SRE workbook's "Alerting on SLOs": page (`critical`) when
//! the budget burns faster than 14.4× over 1h and 5m, or 6× over 6h and 30m; ticket (`warning`)
//! when faster than 3× over 1d and 2h, or 1× over 3d and 6h. A condition of an availability or
//! latency SLI also needs its short window to hold at least [`MIN_EVENTS`] events: a ratio of
//! fewer is noise (at a true 6% error
//! ratio, 20 events show 15% or more one time in 35), and every window holds the same few events
//! right after traffic starts. The fast timing profile divides every
//! window by 60 (1h → 1m, 5m → 5s, the SLO window 30d → 12h; the shortest stays 5× its 1 s scrape
//! interval) and keeps the names, so queries and alerts read the same series in both profiles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::values::format_number;
use crate::config::{
    Config, DEMO_JOB, DEMO_LATENCY, DEMO_REQUESTS, PromDuration, Sli, Slo, Timing,
    WINDOW_PLACEHOLDER,
};

/// The windows the alerts read, as their recording rules name them, in seconds.
pub const ALERT_WINDOWS: [(&str, u64); 7] = [
    ("5m", 300),
    ("30m", 1800),
    ("1h", 3600),
    ("2h", 7200),
    ("6h", 6 * 3600),
    ("1d", 24 * 3600),
    ("3d", 3 * 24 * 3600),
];

/// The fewest events a burn-rate condition's short window must hold for its ratio to count.
/// At a true error ratio of 6%, 100 events show more than 15% with a probability of 3·10⁻⁴
/// (binomial), 20 events with 0.03.
pub const MIN_EVENTS: u64 = 100;

/// The alert every SLO's burn-rate rules raise.
pub const ALERT_NAME: &str = "ErrorBudgetBurn";

/// One severity of burn-rate alert: two (long window, short window, burn rate) conditions, any
/// of which fires it.
pub struct BurnAlert {
    pub severity: &'static str,
    /// Sloth's name for the severity: `page` or `ticket`.
    pub sloth_severity: &'static str,
    pub conditions: [(&'static str, &'static str, f64); 2],
    /// `for:` in the standard profile, in seconds (the fast one divides it by 60).
    for_secs: u64,
}

/// The SRE workbook's recommended multi-window, multi-burn-rate alerts.
pub const BURN_ALERTS: [BurnAlert; 2] = [
    BurnAlert {
        severity: "critical",
        sloth_severity: "page",
        conditions: [("1h", "5m", 14.4), ("6h", "30m", 6.0)],
        for_secs: 120,
    },
    BurnAlert {
        severity: "warning",
        sloth_severity: "ticket",
        conditions: [("1d", "2h", 3.0), ("3d", "6h", 1.0)],
        for_secs: 15 * 60,
    },
];

/// The whole rule file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleGroup {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alerting rule (`alert`, `for`, `annotations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub expr: String,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A window as the rules evaluate it in `timing`: the fast profile divides it by 60.
pub fn scaled(timing: Timing, secs: u64) -> PromDuration {
    match timing {
        Timing::Standard => PromDuration::from_secs(secs),
        Timing::Fast => PromDuration::from_millis(secs * 1000 / 60),
    }
}

/// The seconds of a window named as in [`ALERT_WINDOWS`].
fn window_secs(name: &str) -> u64 {
    ALERT_WINDOWS
        .iter()
        .find(|(known, _)| *known == name)
        .map_or(0, |(_, secs)| *secs)
}

/// The name of the error-ratio recording over `window` (`5m`, or the SLO window as configured).
pub fn error_ratio_record(window: &str) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

impl RuleFile {
    /// The rules of every SLO in `config`, or `None` when it has none. `runbook_url` is the
    /// link every alert carries. An SLO whose SLI does not resolve is an error naming it (the
    /// configuration's validation refuses it first).
    pub fn new(config: &Config, runbook_url: &str) -> Result<Option<Self>, String> {
        if config.slo.is_empty() {
            return Ok(None);
        }
        let mut groups = Vec::new();
        for slo in &config.slo {
            let sli = slo
                .sli()
                .map_err(|(key, message)| format!("SLO {}: {key}: {message}", slo.name))?;
            groups.push(slo_group(slo, sli, config.timing, runbook_url));
        }
        Ok(Some(Self { groups }))
    }

    /// The file's text: a comment saying where it comes from, then the YAML.
    pub fn to_yaml(&self, header: &str) -> Result<String, serde_norway::Error> {
        Ok(format!("{header}{}", serde_norway::to_string(self)?))
    }
}

/// The label matchers of `metric`'s series of `job`: the demo service's requests without
/// Prometheus's own scrapes of `/metrics`, which are no user's (as `monibox top` counts them).
fn matchers(job: &str, metric: &str) -> String {
    let demo_metric = metric == DEMO_REQUESTS.0 || metric.starts_with(DEMO_LATENCY);
    if job == DEMO_JOB && demo_metric {
        format!("job=\"{job}\",endpoint!=\"/metrics\"")
    } else {
        format!("job=\"{job}\"")
    }
}

/// The SLI's error ratio over `range` as PromQL.
fn error_ratio(sli: Sli<'_>, job: &str, range: PromDuration) -> String {
    match sli {
        Sli::Availability {
            metric,
            status_label,
        } => {
            let matchers = matchers(job, metric);
            format!(
                "(sum(rate({metric}{{{matchers},{status_label}=~\"5..\"}}[{range}])) or vector(0))\n  /\n\
                 (sum(rate({metric}{{{matchers}}}[{range}])) > 0)"
            )
        }
        Sli::Latency { metric, threshold } => {
            // Prometheus 3 writes `le` as a float (`1.0`), earlier versions as exposed (`1`).
            let bound = format_number(threshold);
            let le = if bound.contains('.') {
                bound.replace('.', "\\\\.")
            } else {
                format!("{bound}(\\\\.0)?")
            };
            let matchers = matchers(job, metric);
            format!(
                "1 - (\n  sum(rate({metric}_bucket{{{matchers},le=~\"{le}\"}}[{range}]))\n  /\n  \
                 (sum(rate({metric}_count{{{matchers}}}[{range}])) > 0)\n)"
            )
        }
        Sli::Events {
            error_query,
            total_query,
        } => {
            let window = range.to_string();
            format!(
                "({})\n  /\n({})",
                error_query.replace(WINDOW_PLACEHOLDER, &window),
                total_query.replace(WINDOW_PLACEHOLDER, &window)
            )
        }
    }
}

/// The SLI's events per second over `range` as PromQL, when monibox knows the counter: an
/// `events` SLI's total query may count events or rate them (Sloth's examples do both), so it
/// gets no minimum.
fn total_rate(sli: Sli<'_>, job: &str, range: PromDuration) -> Option<String> {
    match sli {
        Sli::Availability { metric, .. } => Some(format!(
            "sum(rate({metric}{{{}}}[{range}]))",
            matchers(job, metric)
        )),
        Sli::Latency { metric, .. } => Some(format!(
            "sum(rate({metric}_count{{{}}}[{range}]))",
            matchers(job, metric)
        )),
        Sli::Events { .. } => None,
    }
}

fn slo_group(slo: &Slo, sli: Sli<'_>, timing: Timing, runbook_url: &str) -> RuleGroup {
    let name = slo.name.as_str();
    let labels = BTreeMap::from([
        ("slo".to_owned(), name.to_owned()),
        ("job".to_owned(), slo.job.clone()),
    ]);
    let record = |record: String, expr: String| Rule {
        record: Some(record),
        alert: None,
        expr,
        for_: None,
        labels: labels.clone(),
        annotations: BTreeMap::new(),
    };
    let selector = format!("{{slo=\"{name}\"}}");
    let budget = format_number(slo.objective.error_budget());
    let period = slo.window.to_string();
    let period_range = match timing {
        Timing::Standard => slo.window,
        Timing::Fast => PromDuration::from_millis(slo.window.as_millis() / 60),
    };

    let mut sli_rules: Vec<Rule> = ALERT_WINDOWS
        .iter()
        .map(|(window, secs)| {
            record(
                error_ratio_record(window),
                error_ratio(sli, &slo.job, scaled(timing, *secs)),
            )
        })
        .collect();
    let short = error_ratio_record("5m");
    // A window that is also an alert window (3d) has its ratio of rates recorded already, under
    // the same name.
    if !ALERT_WINDOWS.iter().any(|(window, _)| *window == period) {
        sli_rules.push(record(
            error_ratio_record(&period),
            format!(
                "sum_over_time({short}{selector}[{period_range}])\n  /\n\
                 count_over_time({short}{selector}[{period_range}])"
            ),
        ));
    }

    let days = period_range.as_millis() as f64 / 86_400_000.0;
    let meta_rules = vec![
        record(
            "slo:objective:ratio".to_owned(),
            format!("vector({})", format_number(slo.objective.ratio())),
        ),
        record(
            "slo:error_budget:ratio".to_owned(),
            format!("vector({budget})"),
        ),
        record(
            "slo:time_period:days".to_owned(),
            format!("vector({})", format_number(days)),
        ),
        record(
            "slo:current_burn_rate:ratio".to_owned(),
            format!("{short}{selector} / {budget}"),
        ),
        record(
            "slo:period_burn_rate:ratio".to_owned(),
            format!("{}{selector} / {budget}", error_ratio_record(&period)),
        ),
        record(
            "slo:period_error_budget_remaining:ratio".to_owned(),
            format!("1 - slo:period_burn_rate:ratio{selector}"),
        ),
    ];

    let alert_rules: Vec<Rule> = BURN_ALERTS
        .iter()
        .map(|alert| {
            let enough_events = |short: &str| {
                let range = scaled(timing, window_secs(short));
                total_rate(sli, &slo.job, range).map(|rate| {
                    format!(
                        "\n  and on ()\n  {rate} * {} >= {MIN_EVENTS}",
                        format_number(range.as_millis() as f64 / 1000.0)
                    )
                })
            };
            burn_alert(
                slo,
                alert,
                timing,
                &budget,
                &labels,
                runbook_url,
                &enough_events,
            )
        })
        .collect();
    // One group, evaluated in order: the alerts read this evaluation's ratios, not the last one's.
    let mut rules = sli_rules;
    rules.extend(meta_rules);
    rules.extend(alert_rules);
    RuleGroup {
        name: format!("monibox-slo-{name}"),
        rules,
    }
}

fn burn_alert(
    slo: &Slo,
    alert: &BurnAlert,
    timing: Timing,
    budget: &str,
    labels: &BTreeMap<String, String>,
    runbook_url: &str,
    enough_events: &dyn Fn(&str) -> Option<String>,
) -> Rule {
    let selector = format!("{{slo=\"{}\"}}", slo.name);
    let shown = |window: &str| scaled(timing, window_secs(window)).to_string();
    let expr = alert
        .conditions
        .iter()
        .map(|(long, short, factor)| {
            let factor = format_number(*factor);
            format!(
                "(\n  {long_ratio}{selector} / {budget} > {factor}\n  and\n  \
                 {short_ratio}{selector} / {budget} > {factor}{events}\n)",
                long_ratio = error_ratio_record(long),
                short_ratio = error_ratio_record(short),
                events = enough_events(short).unwrap_or_default(),
            )
        })
        .collect::<Vec<_>>()
        .join("\nor\n");
    let method = alert
        .conditions
        .iter()
        .map(|(long, short, factor)| {
            format!(
                "{}× over {} and {}",
                format_number(*factor),
                shown(long),
                shown(short)
            )
        })
        .collect::<Vec<_>>()
        .join(", or ");
    let mut alert_labels = labels.clone();
    alert_labels.insert("severity".to_owned(), alert.severity.to_owned());
    alert_labels.insert("sloth_severity".to_owned(), alert.sloth_severity.to_owned());
    let summary = match alert.sloth_severity {
        "page" => "The {{ $labels.slo }} SLO burns its error budget fast",
        _ => "The {{ $labels.slo }} SLO burns its error budget steadily",
    };
    let description = format!(
        "{{{{ $labels.job }}}} spends the error budget of the {{{{ $labels.slo }}}} SLO \
         ({objective}% over {window}) {{{{ $value | printf \"%.1f\" }}}}× as fast as the \
         objective allows ({sloth_severity} at {method}); \
         {{{{ with printf \"slo:period_error_budget_remaining:ratio{{slo=%q}}\" $labels.slo | query }}}}\
         {{{{ . | first | value | humanizePercentage }}}}{{{{ else }}}}an unknown share{{{{ end }}}} \
         of the budget is left.",
        objective = format_number(slo.objective.percent()),
        window = match timing {
            Timing::Standard => slo.window,
            Timing::Fast => PromDuration::from_millis(slo.window.as_millis() / 60),
        },
        sloth_severity = alert.sloth_severity,
    );
    Rule {
        record: None,
        alert: Some(ALERT_NAME.to_owned()),
        expr,
        for_: Some(scaled(timing, alert.for_secs)),
        labels: alert_labels,
        annotations: BTreeMap::from([
            ("summary".to_owned(), summary.to_owned()),
            ("description".to_owned(), description),
            ("runbook_url".to_owned(), runbook_url.to_owned()),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yaml_reads_back_and_names_follow_sloth() {
        let config = Config::default();
        let file = RuleFile::new(&config, "https://r/x#errorbudgetburn")
            .expect("renders")
            .expect("the demo SLOs");
        let text = file.to_yaml("# h\n").expect("serialises");
        let back: RuleFile = serde_norway::from_str(&text).expect("parses");
        assert_eq!(back, file);
        assert_eq!(file.groups.len(), 2, "one group per SLO");
        let records: Vec<&str> = file.groups[0]
            .rules
            .iter()
            .filter_map(|rule| rule.record.as_deref())
            .collect();
        assert!(
            records.contains(&"slo:sli_error:ratio_rate30d"),
            "{records:?}"
        );
        assert!(records.contains(&"slo:period_error_budget_remaining:ratio"));
        let page = &file.groups[0].rules[14];
        assert!(
            page.expr
                .contains("slo:sli_error:ratio_rate1h{slo=\"demo-availability\"} / 0.025 > 14.4"),
            "{}",
            page.expr
        );
        assert!(
            page.expr
                .contains("sum(rate(app_request_count_total{job=\"app\",endpoint!=\"/metrics\"}[30m])) * 1800 >= 100"),
            "the short window's minimum of events: {}",
            page.expr
        );
    }

    #[test]
    fn a_3d_window_is_recorded_once() {
        let mut config = Config::default();
        for slo in &mut config.slo {
            slo.window = PromDuration::parse("72h").expect("a duration");
        }
        let file = RuleFile::new(&config, "http://runbooks")
            .expect("rules")
            .expect("the demo's SLOs");
        for group in &file.groups {
            let records: Vec<&str> = group
                .rules
                .iter()
                .filter_map(|r| r.record.as_deref())
                .collect();
            let mut unique = records.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), records.len(), "{records:?}");
            assert!(
                records.contains(&"slo:sli_error:ratio_rate3d"),
                "{records:?}"
            );
        }
    }

    #[test]
    fn the_fast_profile_divides_windows_by_60() {
        assert_eq!(scaled(Timing::Fast, 300).to_string(), "5s");
        assert_eq!(scaled(Timing::Fast, 3 * 24 * 3600).to_string(), "1h12m");
        let config = Config {
            timing: Timing::Fast,
            ..Config::default()
        };
        let file = RuleFile::new(&config, "u")
            .expect("renders")
            .expect("rules");
        let latency = &file.groups[1].rules[0].expr;
        assert!(latency.contains("le=~\"1(\\\\.0)?\"}[5s]"), "{latency}");
        let period = &file.groups[0].rules[7].expr;
        assert!(period.contains("[12h]"), "{period}");
    }
}
