//! The endpoint mix: `PATH=WEIGHT,...` parsed and checked (paths the client can send, weights,
//! at most [`MAX_MIX_ENTRIES`] entries), and shown back the same way.

use std::fmt;
use std::str::FromStr;

use hyper::http::uri::PathAndQuery;

use super::PlanError;

/// The most endpoints a mix may have.
pub const MAX_MIX_ENTRIES: usize = 64;

/// One endpoint of the mix: a path (optionally with a query) and its relative weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixEntry {
    pub path: String,
    pub weight: u32,
}

/// The endpoints to request and how often, by weight. Paths are relative to the target's base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    entries: Vec<MixEntry>,
}

impl Mix {
    /// The default: mostly cheap requests, with enough slow, failing and CPU-heavy ones that
    /// every panel and alert of the demo dashboard has something to show.
    pub fn realistic() -> Mix {
        let entry = |path: &str, weight| MixEntry {
            path: path.to_owned(),
            weight,
        };
        Mix {
            entries: vec![
                entry("/", 50),
                entry("/slow", 20),
                entry("/error", 20),
                entry("/cpu-intensive", 10),
            ],
        }
    }

    pub fn entries(&self) -> &[MixEntry] {
        &self.entries
    }

    pub fn position(&self, path: &str) -> Option<usize> {
        self.entries.iter().position(|entry| entry.path == path)
    }
}

impl FromStr for Mix {
    type Err = PlanError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let count = input.split(',').count();
        if count > MAX_MIX_ENTRIES {
            return Err(PlanError::MixTooLong { count });
        }
        let mut entries: Vec<MixEntry> = Vec::with_capacity(count);
        for raw in input.split(',').map(str::trim) {
            let error = |reason: &str| PlanError::Mix {
                entry: raw.to_owned(),
                reason: reason.to_owned(),
            };
            if raw.is_empty() {
                return Err(error("empty entry"));
            }
            let (path, weight) = match raw.rsplit_once('=') {
                Some((path, weight)) => {
                    let weight: u32 = weight
                        .trim()
                        .parse()
                        .map_err(|_| error("the weight must be a whole number"))?;
                    (path.trim(), weight)
                }
                None => (raw, 1),
            };
            if !path.starts_with('/') {
                return Err(error("the path must start with /"));
            }
            // "/slow?ms=300" would read as path "/slow?ms" with weight 300; a query whose last
            // parameter has no value almost always means the weight was left out.
            if let Some((_, query)) = path.split_once('?')
                && !query.rsplit('&').next().unwrap_or(query).contains('=')
            {
                return Err(error(
                    "a path with a query needs a weight, e.g. /slow?ms=300=1",
                ));
            }
            if !path.is_ascii() || path.contains('#') || PathAndQuery::from_str(path).is_err() {
                return Err(error(
                    "not a valid URL path (ASCII only, percent-encode the rest; no #fragment)",
                ));
            }
            if weight == 0 {
                return Err(error("the weight must be at least 1"));
            }
            if entries.iter().any(|entry| entry.path == path) {
                return Err(error("this path appears twice"));
            }
            entries.push(MixEntry {
                path: path.to_owned(),
                weight,
            });
        }
        Ok(Mix { entries })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, entry) in self.entries.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={}", entry.path, entry.weight)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_weights_queries_and_defaults_weight_to_one() {
        let mix: Mix = "/=50, /slow?ms=100=20,/error".parse().expect("valid mix");
        let entries = mix.entries();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0],
            MixEntry {
                path: "/".into(),
                weight: 50
            }
        );
        assert_eq!(
            entries[1],
            MixEntry {
                path: "/slow?ms=100".into(),
                weight: 20
            }
        );
        assert_eq!(
            entries[2],
            MixEntry {
                path: "/error".into(),
                weight: 1
            }
        );
        assert_eq!(mix.to_string(), "/=50,/slow?ms=100=20,/error=1");
    }

    #[test]
    fn mix_rejects_what_cannot_be_sent() {
        for bad in [
            "",
            "/=0",
            "slow=1",
            "/=x",
            "/a=1,/a=2",
            "/=1,,/b=1",
            "/a b=1",
            "/caf\u{e9}=1",
            "/a#b=1",
        ] {
            let error = bad.parse::<Mix>().expect_err(bad);
            assert!(matches!(error, PlanError::Mix { .. }), "{bad:?}: {error}");
        }
    }

    #[test]
    fn mix_has_at_most_64_entries() {
        let mix = |count: usize| {
            (0..count)
                .map(|i| format!("/e{i}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(
            mix(MAX_MIX_ENTRIES)
                .parse::<Mix>()
                .expect("64 entries")
                .entries()
                .len(),
            64
        );
        let error = mix(MAX_MIX_ENTRIES + 1)
            .parse::<Mix>()
            .expect_err("65 entries");
        assert_eq!(error, PlanError::MixTooLong { count: 65 });
        assert!(error.to_string().contains("at most 64"), "{error}");
    }
}
