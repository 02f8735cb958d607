//! Checks that span several keys of the configuration; single values were checked while they
//! were parsed.

use super::{Config, ConfigError, DEMO_SLOW_MAX_MS};

impl Config {
    /// Checks that span several keys; single values were checked while parsing.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            message,
        };
        let mut seen: Vec<(&str, u16)> = Vec::new();
        for (name, port, _) in self.ports.entries() {
            // A component switched off holds no port.
            if self.components.is_off(name) {
                continue;
            }
            if let Some(number) = port.number() {
                if let Some((other, _)) = seen.iter().find(|(_, taken)| *taken == number) {
                    return Err(invalid(
                        &format!("ports.{name}"),
                        format!(
                            "port {number} is also used by ports.{other}; give each component \
                             its own port or \"auto\""
                        ),
                    ));
                }
                seen.push((name, number));
            }
        }
        if self.demo.slow_min_ms > self.demo.slow_max_ms {
            return Err(invalid(
                "demo.slow_min_ms",
                format!(
                    "{} is above demo.slow_max_ms ({})",
                    self.demo.slow_min_ms, self.demo.slow_max_ms
                ),
            ));
        }
        if self.demo.slow_max_ms > DEMO_SLOW_MAX_MS {
            return Err(invalid(
                "demo.slow_max_ms",
                format!(
                    "{} is above the demo service's limit of {DEMO_SLOW_MAX_MS} ms",
                    self.demo.slow_max_ms
                ),
            ));
        }
        if self.alerts.error_ratio.get() <= 0.0 {
            return Err(invalid(
                "alerts.error_ratio",
                "it must be above 0, or the alert would always fire".to_owned(),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (index, target) in self.targets.iter().enumerate() {
            if !names.insert(target.name.as_str()) {
                return Err(invalid(
                    &format!("targets[{index}].name"),
                    format!(
                        "a target named {:?} is already configured; each target needs its own \
                         name (it becomes the Prometheus job)",
                        target.name.as_str()
                    ),
                ));
            }
            if let Err((key, message)) = target.check() {
                return Err(invalid(&format!("targets[{index}].{key}"), message));
            }
        }
        let mut slo_names = std::collections::BTreeSet::new();
        for (index, slo) in self.slo.iter().enumerate() {
            if !slo_names.insert(slo.name.as_str()) {
                return Err(invalid(
                    &format!("slo[{index}].name"),
                    format!("another SLO is named {:?} too", slo.name.as_str()),
                ));
            }
            let known = slo.job == super::DEMO_JOB || names.contains(slo.job.as_str());
            if !known {
                return Err(invalid(
                    &format!("slo[{index}].job"),
                    format!(
                        "{:?} is neither the demo service (\"app\") nor a [[targets]] name",
                        slo.job
                    ),
                ));
            }
            if let Err((key, message)) = slo.sli() {
                return Err(invalid(&format!("slo[{index}].{key}"), message));
            }
        }
        let mut remote_names = std::collections::BTreeSet::new();
        let mut remote_urls = std::collections::BTreeSet::new();
        for (index, remote) in self.remote_write.iter().enumerate() {
            if !remote_urls.insert(remote.url.as_str()) {
                return Err(invalid(
                    &format!("remote_write[{index}].url"),
                    format!(
                        "another remote_write sends to {:?} too (Prometheus refuses the same \
                         destination twice)",
                        remote.url.as_str()
                    ),
                ));
            }
            if let Some(name) = &remote.name {
                if !remote_names.insert(name.as_str()) {
                    return Err(invalid(
                        &format!("remote_write[{index}].name"),
                        format!("another remote_write is named {:?} too", name.as_str()),
                    ));
                }
            }
            if let Err((key, message)) = remote.check() {
                return Err(invalid(&format!("remote_write[{index}].{key}"), message));
            }
        }
        if self.prometheus.mode == super::PrometheusMode::Agent && self.remote_write.is_empty() {
            return Err(invalid(
                "prometheus.mode",
                "an agent only forwards samples: add a [[remote_write]] to send them to".to_owned(),
            ));
        }
        if let Some(email) = &self.receivers.email {
            for (key, address) in [("to", &email.to), ("from", &email.from)] {
                if !address.as_str().contains('@') {
                    return Err(invalid(
                        &format!("receivers.email.{key}"),
                        format!("{:?} is not an e-mail address", address.as_str()),
                    ));
                }
            }
            let has_port = email
                .smarthost
                .as_str()
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !has_port {
                return Err(invalid(
                    "receivers.email.smarthost",
                    format!(
                        "{:?} must be host:port, e.g. smtp.example.com:587",
                        email.smarthost.as_str()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Port;
    use std::path::Path;

    #[test]
    fn cross_key_checks() {
        let mut config = Config::default();
        config.ports.grafana = Port::fixed(5000);
        assert!(
            matches!(config.validate(), Err(ConfigError::Invalid { key, .. }) if key == "ports.grafana")
        );
        let mut config = Config::default();
        config.demo.slow_min_ms = 900;
        assert!(config.validate().is_err());
        let config = Config::from_toml(
            "[receivers.email]\nto = \"ops@example.com\"\nfrom = \"monibox@example.com\"\nsmarthost = \"smtp.example.com\"\n",
            Path::new("t"),
        )
        .expect("parses");
        assert!(
            matches!(config.validate(), Err(ConfigError::Invalid { key, .. }) if key == "receivers.email.smarthost")
        );
    }

    #[test]
    fn slo_errors_name_the_key_and_line_of_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("monibox.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).expect("write");
            match Config::load(&crate::config::Sources {
                file: Some(path.clone()),
                ..Default::default()
            }) {
                Err(ConfigError::File {
                    key, line, message, ..
                }) => (key, line, message),
                other => panic!("expected a file error, got {other:?}"),
            }
        };
        let head = "[[slo]]\nname = \"a\"\njob = \"app\"\nobjective = 99\navailability = {}\n\n";
        let (key, line, message) = load(&format!(
            "{head}[[slo]]\nname = \"b\"\njob = \"app\"\nobjective = 99\nlatency = {{ threshold = 0.3 }}\n"
        ));
        assert_eq!((key.as_str(), line), ("slo[1].latency.threshold", 11));
        assert!(message.contains("0.25, 0.5, 1"), "{message}");
        let (key, line, _) = load(&format!(
            "{head}[[slo]]\nname = \"a\"\njob = \"app\"\nobjective = 99\navailability = {{}}\n"
        ));
        assert_eq!((key.as_str(), line), ("slo[1].name", 8));
        let (key, line, _) = load(&format!(
            "{head}[[slo]]\nname = \"b\"\njob = \"shop\"\nobjective = 99\navailability = {{}}\n"
        ));
        assert_eq!((key.as_str(), line), ("slo[1].job", 9));
        let (key, line, _) = load("[[slo]]\nname = \"a\"\njob = \"app\"\nobjective = 100\n");
        assert_eq!((key.as_str(), line), ("slo[0].objective", 4));
    }
}
