//! `monibox slo import`: a Sloth `prometheus/v1` spec (<https://sloth.dev>, `pkg/prometheus/api/v1`)
//! turned into `[[slo]]` tables with the `events` SLI.
//!
//! Per SLO: the name becomes `<service>-<name>` (Sloth's `sloth_id`), `objective` and
//! `description` carry over, `sli.events` becomes `events = { error_query, total_query }` (a
//! query on several lines is joined into one), the job is `--job` or the spec's `service`, and
//! the window is monibox's default (30d, Sloth's too). What only decorates Sloth's rules —
//! `labels`, `infoLabels`, `alerting.name`, `alerting.labels`/`annotations` and those of each
//! alert — is not carried over but listed as comments above the table, since monibox's rules
//! carry the labels `slo`, `job`, `severity` and `sloth_severity` only. What changes what is
//! measured or when it alerts is an error naming the field: `sli.raw`, `sli.plugin`, `plugins`,
//! `slo_plugins`, `interval`, an alert's `disable` or `for`. An unknown field is an error too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{DEMO_JOB, Events, Line, Objective, Slo, SloName, default_slo_window};

/// The spec version monibox reads.
pub const SLOTH_VERSION: &str = "prometheus/v1";

/// Why a spec cannot be imported; `path` is the field (`slos[1].sli.plugin`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Not YAML, or not the spec's shape (an unknown field, a wrong type); serde_norway's
    /// message names the field and the line.
    #[error("not a Sloth prometheus/v1 spec: {0}")]
    Syntax(String),
    /// A field monibox has no way to express.
    #[error("{path}: not supported: {message}")]
    Unsupported { path: String, message: String },
    /// A value monibox's configuration refuses.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The spec's SLOs as monibox configuration, and what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub slos: Vec<Slo>,
    /// Per SLO (same order), the decorating fields not carried over, as `path: value` lines.
    pub left_out: Vec<Vec<String>>,
}

type Labels = BTreeMap<String, String>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    version: String,
    service: String,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    slo_plugins: Option<serde_norway::Value>,
    #[serde(default)]
    slos: Vec<SpecSlo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecSlo {
    name: String,
    #[serde(default)]
    description: Option<String>,
    objective: f64,
    #[serde(default)]
    labels: Labels,
    #[serde(default, rename = "infoLabels")]
    info_labels: Labels,
    sli: SpecSli,
    #[serde(default)]
    alerting: Option<Alerting>,
    #[serde(default)]
    interval: Option<serde_norway::Value>,
    #[serde(default)]
    plugins: Option<serde_norway::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecSli {
    #[serde(default)]
    raw: Option<serde_norway::Value>,
    #[serde(default)]
    events: Option<SpecEvents>,
    #[serde(default)]
    plugin: Option<serde_norway::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecEvents {
    error_query: String,
    total_query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Alerting {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
    #[serde(default)]
    page_alert: Option<Alert>,
    #[serde(default)]
    ticket_alert: Option<Alert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Alert {
    #[serde(default)]
    disable: bool,
    #[serde(default, rename = "for")]
    for_: Option<serde_norway::Value>,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
}

fn unsupported(path: &str, message: &str) -> ImportError {
    ImportError::Unsupported {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// A query as one line: each line trimmed, joined by a space (PromQL ignores the whitespace
/// between tokens), and Go's `{{ .window }}` written as monibox's `{{.window}}`.
fn one_line(query: &str) -> String {
    query
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .replace("{{ .window }}", "{{.window}}")
        .replace("{{ .window}}", "{{.window}}")
        .replace("{{.window }}", "{{.window}}")
}

/// Parses `text` (a Sloth `prometheus/v1` spec) into `[[slo]]` values for job `job` (default:
/// the spec's `service`). Each SLO is checked as monibox's configuration checks it (name,
/// objective, `{{.window}}` in both queries).
pub fn import(text: &str, job: Option<&str>) -> Result<Imported, ImportError> {
    let spec: Spec =
        serde_norway::from_str(text).map_err(|error| ImportError::Syntax(error.to_string()))?;
    if spec.version != SLOTH_VERSION {
        return Err(ImportError::Invalid {
            path: "version".to_owned(),
            message: format!(
                "{:?}: monibox reads {SLOTH_VERSION:?} specs (OpenSLO and Kubernetes \
                 sloth.slok.dev/v1 are other formats)",
                spec.version
            ),
        });
    }
    if spec.slo_plugins.is_some() {
        return Err(unsupported(
            "slo_plugins",
            "monibox generates its rules itself, without Sloth's plugins",
        ));
    }
    let job = job.unwrap_or(&spec.service).to_owned();
    let mut slos = Vec::new();
    let mut left_out = Vec::new();
    for (index, spec_slo) in spec.slos.into_iter().enumerate() {
        let path = format!("slos[{index}]");
        let mut notes: Vec<String> = spec
            .labels
            .iter()
            .map(|(key, value)| format!("labels.{key}: {value}"))
            .collect();
        let (slo, own_notes) = convert(&path, &spec.service, &job, spec_slo)?;
        if slos.iter().any(|other: &Slo| other.name == slo.name) {
            return Err(ImportError::Invalid {
                path: format!("{path}.name"),
                message: format!(
                    "{:?}: another SLO of the spec has this name",
                    slo.name.as_str()
                ),
            });
        }
        notes.extend(own_notes);
        slos.push(slo);
        left_out.push(notes);
    }
    if slos.is_empty() {
        return Err(ImportError::Invalid {
            path: "slos".to_owned(),
            message: "the spec has no SLO".to_owned(),
        });
    }
    Ok(Imported { slos, left_out })
}

fn convert(
    path: &str,
    service: &str,
    job: &str,
    spec: SpecSlo,
) -> Result<(Slo, Vec<String>), ImportError> {
    let invalid = |field: &str, message: String| ImportError::Invalid {
        path: format!("{path}.{field}"),
        message,
    };
    if spec.plugins.is_some() {
        return Err(unsupported(
            &format!("{path}.plugins"),
            "monibox generates its rules itself, without Sloth's plugins",
        ));
    }
    if spec.interval.is_some() {
        return Err(unsupported(
            &format!("{path}.interval"),
            "monibox evaluates every rule at the timing profile's evaluation interval",
        ));
    }
    let events = match (spec.sli.events, spec.sli.raw, spec.sli.plugin) {
        (Some(events), None, None) => events,
        (_, Some(_), _) => {
            return Err(unsupported(
                &format!("{path}.sli.raw"),
                "monibox needs bad and total events (sli.events); a ready-made error ratio \
                 cannot be averaged over the SLO window the same way",
            ));
        }
        (_, _, Some(_)) => {
            return Err(unsupported(
                &format!("{path}.sli.plugin"),
                "monibox does not run Sloth's SLI plugins; write the plugin's queries as \
                 sli.events",
            ));
        }
        (None, None, None) => {
            return Err(invalid("sli", "give sli.events".to_owned()));
        }
    };
    let name = SloName::try_from(format!("{service}-{}", spec.name))
        .map_err(|message| invalid("name", format!("{message} (service-name, as Sloth's id)")))?;
    let objective =
        Objective::try_from(spec.objective).map_err(|message| invalid("objective", message))?;
    let description = spec
        .description
        .map(|text| Line::try_from(one_line(&text)))
        .transpose()
        .map_err(|message| invalid("description", message))?;
    let query = |field: &str, text: &str| {
        Line::try_from(one_line(text)).map_err(|message| invalid(field, message))
    };
    let slo = Slo {
        name,
        job: job.to_owned(),
        objective,
        window: default_slo_window(),
        description,
        availability: None,
        latency: None,
        events: Some(Events {
            error_query: query("sli.events.error_query", &events.error_query)?,
            total_query: query("sli.events.total_query", &events.total_query)?,
        }),
    };
    if let Err((key, message)) = slo.sli() {
        let field = match key {
            "events.error_query" => "sli.events.error_query",
            "events.total_query" => "sli.events.total_query",
            other => other,
        };
        return Err(invalid(field, message));
    }

    let mut notes = Vec::new();
    let mut note = |field: String, value: &str| notes.push(format!("{field}: {value}"));
    for (key, value) in &spec.labels {
        note(format!("{path}.labels.{key}"), value);
    }
    for (key, value) in &spec.info_labels {
        note(format!("{path}.infoLabels.{key}"), value);
    }
    if let Some(alerting) = spec.alerting {
        let at = format!("{path}.alerting");
        if let Some(name) = &alerting.name {
            note(format!("{at}.name"), name);
        }
        for (key, value) in &alerting.labels {
            note(format!("{at}.labels.{key}"), value);
        }
        for (key, value) in &alerting.annotations {
            note(format!("{at}.annotations.{key}"), value);
        }
        for (field, alert) in [
            ("page_alert", alerting.page_alert),
            ("ticket_alert", alerting.ticket_alert),
        ] {
            let Some(alert) = alert else { continue };
            let at = format!("{at}.{field}");
            if alert.disable {
                return Err(unsupported(
                    &format!("{at}.disable"),
                    "monibox always generates both the page and the ticket alert",
                ));
            }
            if alert.for_.is_some() {
                return Err(unsupported(
                    &format!("{at}.for"),
                    "monibox's for: is fixed (page 2m, ticket 15m; divided by 60 in the fast \
                     profile)",
                ));
            }
            for (key, value) in &alert.labels {
                note(format!("{at}.labels.{key}"), value);
            }
            for (key, value) in &alert.annotations {
                note(format!("{at}.annotations.{key}"), value);
            }
        }
    }
    Ok((slo, notes))
}

/// The `[[slo]]` tables as TOML, `source` named in a header comment; above each table the
/// fields not carried over. Errors only if a value cannot be written as TOML.
pub fn to_toml(imported: &Imported, source: &str) -> Result<String, toml::ser::Error> {
    #[derive(Serialize)]
    struct One<'a> {
        slo: [&'a Slo; 1],
    }
    let mut text = format!(
        "# Imported by `monibox slo import` from {source} (Sloth {SLOTH_VERSION}).\n\
         # job must be {DEMO_JOB:?} or the name of one of your [[targets]].\n"
    );
    for (slo, notes) in imported.slos.iter().zip(&imported.left_out) {
        text.push('\n');
        if !notes.is_empty() {
            text.push_str(
                "# Not carried over (monibox's rules carry only the labels slo, job, severity \
                 and sloth_severity;\n# its alert is ErrorBudgetBurn):\n",
            );
            for line in notes {
                text.push_str(&format!("#   {}\n", one_line(line)));
            }
        }
        let table = toml::to_string(&One { slo: [slo] })?;
        text.push_str(&inline_events(&table));
    }
    Ok(text)
}

/// `[slo.events]` with its two keys, as the inline table the README shows
/// (`events = { error_query = …, total_query = … }`).
fn inline_events(table: &str) -> String {
    let Some((head, events)) = table.split_once("\n[slo.events]\n") else {
        return table.to_owned();
    };
    let pairs: Vec<&str> = events.lines().filter(|line| !line.is_empty()).collect();
    format!("{}\nevents = {{ {} }}\n", head.trim_end(), pairs.join(", "))
}

#[cfg(test)]
mod tests;
