//! `[discovery]`: Docker service discovery, on by default. Every running container labelled
//! `prometheus.io/scrape=true` is scraped (job `docker`); `docker_labels` narrows that to the
//! containers with every one of these labels as well (the Engine's `label` filter syntax).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Discovery {
    /// Scrape running containers labelled `prometheus.io/scrape=true`.
    pub docker: bool,
    /// More labels a container must have (`key` or `key=value`), e.g.
    /// `["com.docker.compose.project=shop"]`.
    pub docker_labels: Vec<DockerLabel>,
}

impl Default for Discovery {
    fn default() -> Self {
        Self {
            docker: true,
            docker_labels: Vec::new(),
        }
    }
}

/// A Docker label filter: `key` (the container has the label) or `key=value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DockerLabel(String);

impl DockerLabel {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DockerLabel {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let key = text.split_once('=').map_or(text.as_str(), |(key, _)| key);
        let valid_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
        if !valid_key || text.chars().any(char::is_control) {
            return Err(format!(
                "invalid Docker label filter {text:?}: use key or key=value, the key of letters, \
                 digits and . - _ / (e.g. com.docker.compose.project=shop)"
            ));
        }
        Ok(Self(text))
    }
}

impl From<DockerLabel> for String {
    fn from(label: DockerLabel) -> Self {
        label.0
    }
}

impl fmt::Display for DockerLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_filters_are_keys_or_key_value_pairs() {
        for good in ["team", "com.docker.compose.project=shop", "a/b_c-d=x y"] {
            assert!(DockerLabel::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["", "=x", "a b", "k=\n"] {
            assert!(DockerLabel::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
