//! The two exposition formats a scraper can get (OpenMetrics, what Prometheus asks for, or the
//! classic text format), chosen from its `Accept` header.

use std::fmt;

use prometheus_client::registry::Registry;

/// Which exposition format a scraper gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// `application/openmetrics-text; version=1.0.0`, what Prometheus asks for.
    OpenMetrics,
    /// `text/plain; version=0.0.4`, for curl, promtool and older agents.
    Classic,
}

impl ExpositionFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
            ExpositionFormat::Classic => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }

    /// Renders every metric of `registry` in this format.
    pub fn encode(self, registry: &Registry) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        match self {
            ExpositionFormat::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, registry)?
            }
            ExpositionFormat::Classic => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, registry)?
            }
        }
        Ok(out)
    }

    /// Picks the format from an `Accept` header the way the official Go and Python clients do:
    /// the acceptable type with the highest quality wins (the earlier one on a tie), and the
    /// classic format is the default for anything else, `*/*` included.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return ExpositionFormat::Classic;
        };
        let mut best: Option<(f32, ExpositionFormat)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let format = match parts.next().map(str::to_ascii_lowercase).as_deref() {
                Some("application/openmetrics-text") => ExpositionFormat::OpenMetrics,
                Some("text/plain") => ExpositionFormat::Classic,
                _ => continue,
            };
            let quality = parts
                .filter_map(|param| param.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, format));
            }
        }
        best.map_or(ExpositionFormat::Classic, |(_, format)| format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_quality_and_defaults_to_classic() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(
            ExpositionFormat::negotiate(Some(prometheus)),
            ExpositionFormat::OpenMetrics
        );
        assert_eq!(ExpositionFormat::negotiate(None), ExpositionFormat::Classic);
        assert_eq!(
            ExpositionFormat::negotiate(Some("*/*")),
            ExpositionFormat::Classic
        );
        assert_eq!(
            ExpositionFormat::negotiate(Some(
                "text/plain;q=0.9, application/openmetrics-text;q=0.5"
            )),
            ExpositionFormat::Classic
        );
        assert_eq!(
            ExpositionFormat::negotiate(Some("application/openmetrics-text; q=0")),
            ExpositionFormat::Classic
        );
        assert_eq!(
            ExpositionFormat::negotiate(Some("Application/OpenMetrics-Text")),
            ExpositionFormat::OpenMetrics
        );
    }
}
