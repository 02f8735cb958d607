//! The load report as a person reads it: a short aligned table per endpoint, the status codes
//! and error kinds, saturation, retries, the server-side comparison and the threshold verdicts.

use std::fmt::Write as _;

use super::server::ServerReport;
use super::{LoadReport, ModelReport, ThresholdReport, ThresholdUnit};

impl LoadReport {
    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let model = match &self.model {
            ModelReport::Closed { users, think_time } => {
                format!("{users} users, think time {think_time}")
            }
            ModelReport::Open { rate, connections } => {
                format!(
                    "open model, {} req/s asked, up to {connections} connections",
                    number(*rate)
                )
            }
        };
        let interrupted = if self.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        let drain = if self.drain_seconds >= 0.05 {
            format!(" (+{:.1}s for requests in flight)", self.drain_seconds)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{}: {model}, {:.1}s{drain}{interrupted}",
            self.target, self.duration_seconds
        );
        let width = column_width(self.endpoints.iter().map(|row| row.endpoint.as_str()));
        let _ = writeln!(
            out,
            "{:<width$} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "endpoint", "requests", "req/s", "errors", "p50", "p90", "p95", "p99", "max"
        );
        for row in self.endpoints.iter().chain(std::iter::once(&self.totals)) {
            let latency = row.latency_ms;
            let _ = writeln!(
                out,
                "{:<width$} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
                row.endpoint,
                count(row.requests),
                number(row.rps),
                percent(row.error_rate),
                latency_text(latency.p50),
                latency_text(latency.p90),
                latency_text(latency.p95),
                latency_text(latency.p99),
                latency_text(latency.max),
            );
        }
        let codes: Vec<String> = self
            .status_codes
            .iter()
            .map(|(code, n)| format!("{code} × {}", count(*n)))
            .collect();
        let _ = writeln!(
            out,
            "status codes: {}",
            if codes.is_empty() {
                "none".to_owned()
            } else {
                codes.join(", ")
            }
        );
        let e = self.errors;
        let kinds: Vec<String> = [
            ("timeout", e.timeout),
            ("connect refused", e.connect_refused),
            ("connection reset", e.connection_reset),
            ("other I/O", e.other_io),
            ("HTTP 4xx", e.http_4xx),
            ("HTTP 5xx", e.http_5xx),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| format!("{kind} {}", count(n)))
        .collect();
        let _ = writeln!(
            out,
            "errors: {}",
            if kinds.is_empty() {
                "none".to_owned()
            } else {
                kinds.join(", ")
            }
        );
        if let ModelReport::Open { rate, .. } = self.model {
            let _ = writeln!(
                out,
                "rate: {} req/s asked, {} req/s achieved",
                number(rate),
                number(self.totals.rps)
            );
        }
        if self.totals.retried > 0 {
            let _ = writeln!(
                out,
                "retried: {} requests sent again on a new connection (the server closed a kept-alive one before answering)",
                count(self.totals.retried)
            );
        }
        if let Some(late) = self.late_starts.filter(|late| late.count > 0) {
            let _ = writeln!(
                out,
                "saturated: {} requests waited up to {} for a free connection (their latency includes the wait); raise --connections or lower --rate",
                count(late.count),
                latency_text(Some(late.longest_wait_ms)),
            );
        }
        if let Some(server) = &self.server {
            render_server(&mut out, server);
        }
        for threshold in &self.thresholds {
            let verdict = if threshold.passed { "pass" } else { "FAIL" };
            let _ = writeln!(
                out,
                "threshold {verdict}: {} (observed {})",
                threshold.threshold,
                observed_text(threshold)
            );
        }
        out
    }
}

fn render_server(out: &mut String, server: &ServerReport) {
    let Some(window) = server.window.as_ref().filter(|_| server.error.is_none()) else {
        let error = server.error.as_deref().unwrap_or("no figures");
        let _ = writeln!(
            out,
            "server side ({}): unavailable: {error}",
            server.prometheus
        );
        return;
    };
    let _ = writeln!(
        out,
        "server side (Prometheus {}, {}, {:.1}s between the scrapes before and after the run):",
        server.prometheus,
        server.instance.as_deref().unwrap_or("?"),
        window.seconds
    );
    let width = column_width(server.endpoints.iter().map(|row| row.endpoint.as_str()));
    let _ = writeln!(
        out,
        "{:<width$} {:>15} {:>15} {:>11} {:>11}",
        "endpoint", "client requests", "server requests", "client p95", "server p95"
    );
    for row in &server.endpoints {
        let _ = writeln!(
            out,
            "{:<width$} {:>15} {:>15} {:>11} {:>11}",
            row.endpoint,
            count(row.client_requests),
            row.server_requests.map_or_else(|| "-".to_owned(), count),
            latency_text(row.client_p95_ms),
            latency_text(row.server_p95_ms),
        );
    }
    for row in &server.endpoints {
        if let Some(note) = &row.note {
            let _ = writeln!(out, "  {}: {note}", row.endpoint);
        }
    }
}

fn observed_text(threshold: &ThresholdReport) -> String {
    let Some(value) = threshold.observed else {
        return threshold
            .no_data
            .map_or("nothing", |no_data| no_data.as_str())
            .to_owned();
    };
    match threshold.unit {
        ThresholdUnit::Milliseconds => latency_text(Some(value)),
        ThresholdUnit::Fraction => percent(value),
        ThresholdUnit::RequestsPerSecond => format!("{} req/s", number(value)),
    }
}

/// Width of the endpoint column: the longest name, at least as wide as its heading.
fn column_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(str::len).max().unwrap_or(0).max("endpoint".len())
}

/// Milliseconds as a short latency: 0.42ms, 12.3ms, 1.25s.
pub fn latency_text(ms: Option<f64>) -> String {
    match ms {
        None => "-".to_owned(),
        Some(ms) if ms < 10.0 => format!("{ms:.2}ms"),
        Some(ms) if ms < 1000.0 => format!("{ms:.1}ms"),
        Some(ms) => format!("{:.2}s", ms / 1000.0),
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

fn number(value: f64) -> String {
    if value >= 100.0 {
        count(value.round() as u64)
    } else {
        format!("{value:.1}")
    }
}

/// A count with thousands separators: 12,345.
fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_readable() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(latency_text(Some(0.421)), "0.42ms");
        assert_eq!(latency_text(Some(123.44)), "123.4ms");
        assert_eq!(latency_text(Some(1250.0)), "1.25s");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(1234.4), "1,234");
    }
}
