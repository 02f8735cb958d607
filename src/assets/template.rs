//! `${name}` substitution over the embedded text files whose structure is fixed, with every value
//! escaped for the format of the file it lands in. Templates stay readable as the files they
//! become; there are no conditionals, loops or blocks: files whose structure depends on the
//! configuration are typed structs instead (see the module docs of `assets`).

/// A value for one placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Free text from the configuration or the environment (names, URLs, paths): quoted for
    /// the target format.
    Text(String),
    /// A number, duration or size monibox formatted itself: inserted as it is, so it can also
    /// sit inside a quoted string or a PromQL expression. Only `[A-Za-z0-9._:-]` is allowed.
    Token(String),
}

/// How text values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A YAML double-quoted scalar (JSON string syntax, which YAML reads the same way).
    Yaml,
    /// An INI value in double quotes; values containing quotes are refused.
    Ini,
    /// Human-readable text: inserted as it is.
    Plain,
}

impl Format {
    /// The format of a template, from its file name.
    pub fn of(path: &str) -> Option<Format> {
        let extension = path.rsplit_once('.').map(|(_, extension)| extension)?;
        match extension {
            "yml" | "yaml" => Some(Format::Yaml),
            "ini" => Some(Format::Ini),
            "txt" => Some(Format::Plain),
            _ => None,
        }
    }
}

/// Why a template could not be rendered; all of these are bugs in the embedded assets or in
/// the values monibox passes, except a refused text value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("line {line}: placeholder `${{{name}}}` has no value")]
    Unknown { line: usize, name: String },
    #[error("line {line}: `${{` without a closing `}}`")]
    Unterminated { line: usize },
    #[error("line {line}: value of `${{{name}}}` cannot be written here: {reason}")]
    BadValue {
        line: usize,
        name: String,
        reason: String,
    },
}

/// Replaces every `${name}` in `template` with `lookup(name)`, escaped for `format`.
pub fn render(
    template: &str,
    format: Format,
    lookup: impl Fn(&str) -> Option<Value>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    for (index, line) in template.split_inclusive('\n').enumerate() {
        let line_number = index + 1;
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or(TemplateError::Unterminated { line: line_number })?;
            let name = &after[..end];
            let value = lookup(name).ok_or_else(|| TemplateError::Unknown {
                line: line_number,
                name: name.to_owned(),
            })?;
            let before = &rest[..start];
            let tail = &after[end + 1..];
            let bad = |reason: &str| TemplateError::BadValue {
                line: line_number,
                name: name.to_owned(),
                reason: reason.to_owned(),
            };
            match value {
                Value::Text(text) => {
                    out.push_str(before);
                    out.push_str(&escape(&text, format).map_err(bad)?);
                }
                Value::Token(token) => {
                    let safe = !token.is_empty()
                        && token
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
                    if !safe {
                        return Err(bad("a token may only hold letters, digits and . _ : -"));
                    }
                    out.push_str(before);
                    out.push_str(&token);
                }
            }
            rest = tail;
        }
        out.push_str(rest);
    }
    Ok(out)
}

/// `text` escaped for `format`, or why it cannot be.
fn escape(text: &str, format: Format) -> Result<String, &'static str> {
    match format {
        Format::Yaml => Ok(yaml_string(text)),
        Format::Ini => {
            if text.contains('"') || text.chars().any(char::is_control) {
                return Err("an INI value cannot hold quotes or control characters");
            }
            Ok(format!("\"{text}\""))
        }
        Format::Plain => Ok(text.to_owned()),
    }
}

/// A YAML double-quoted scalar. JSON string escaping is a subset of YAML's, so the result reads
/// back as exactly `text` whatever it contains.
fn yaml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(name: &str) -> Option<Value> {
        match name {
            "text" => Some(Value::Text("a \"quoted\"\nline: {x}".to_owned())),
            "token" => Some(Value::Token("2m".to_owned())),
            "evil" => Some(Value::Token("1 or vector(1)".to_owned())),
            _ => None,
        }
    }

    #[test]
    fn text_is_quoted_for_yaml_and_reads_back_unchanged() {
        let out = render("key: ${text}\nfor: ${token}\n", Format::Yaml, values).expect("renders");
        let parsed: serde_json::Value = serde_norway::from_str(&out).expect("valid YAML");
        assert_eq!(parsed["key"], "a \"quoted\"\nline: {x}");
        assert_eq!(parsed["for"], "2m");
    }

    #[test]
    fn unknown_unterminated_and_unsafe_values_are_errors() {
        assert!(matches!(
            render("a\nb: ${missing}\n", Format::Yaml, values),
            Err(TemplateError::Unknown { line: 2, .. })
        ));
        assert!(matches!(
            render("b: ${token\n", Format::Yaml, values),
            Err(TemplateError::Unterminated { line: 1 })
        ));
        assert!(matches!(
            render("expr: up > ${evil}\n", Format::Yaml, values),
            Err(TemplateError::BadValue { .. })
        ));
        assert!(matches!(
            render("path = ${text}\n", Format::Ini, values),
            Err(TemplateError::BadValue { .. })
        ));
    }
}
