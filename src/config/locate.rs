//! Where in a configuration file a key is: the key, line and column of a parse error, and of
//! an error found after parsing (a cross-key check such as a duplicate target name).

use std::path::{Path, PathBuf};

use super::ConfigError;

/// `text` (from `path`) as a `T`, or the error naming the key, line and column.
pub(super) fn parse<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|error| {
        let offset = error.span().map(|span| span.start).unwrap_or(0);
        let (line, column) = line_and_column(text, offset);
        ConfigError::File {
            path: path.to_owned(),
            key: key_at(text, offset)
                .or_else(|| key_on_line(text, offset))
                .unwrap_or_else(|| "(document)".to_owned()),
            line,
            column,
            message: error.message().trim_end().to_owned(),
        }
    })
}

/// A cross-key error with the file, line and column of its key, when one of `texts` holds it
/// (a key set by the environment or a flag stays as it is). `targets[N]` counts across the
/// files, each starting at its first target index.
pub(super) fn located(error: ConfigError, texts: &[(PathBuf, String, usize)]) -> ConfigError {
    let ConfigError::Invalid { key, message } = error else {
        return error;
    };
    for (path, text, first) in texts.iter().rev() {
        let key_in_file = match key.strip_prefix("targets[") {
            Some(rest) => {
                let Some((index, tail)) = rest.split_once(']') else {
                    continue;
                };
                match index.parse::<usize>() {
                    Ok(index) if index >= *first => format!("targets[{}]{tail}", index - first),
                    _ => continue,
                }
            }
            None => key.clone(),
        };
        if let Some(offset) = offset_of(text, &key_in_file) {
            let (line, column) = line_and_column(text, offset);
            return ConfigError::File {
                path: path.clone(),
                key: key_in_file,
                line,
                column,
                message,
            };
        }
    }
    ConfigError::Invalid { key, message }
}

/// The byte offset of the key `targets[1].name` (dots and `[index]`) in `text`.
fn offset_of(text: &str, key: &str) -> Option<usize> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (name, index) = match part.split_once('[') {
            Some((name, index)) => (name, index.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let (found_key, value) = table.iter().find(|(k, _)| k.get_ref() == name)?;
        let value = match index {
            Some(index) => value.get_ref().as_array()?.get(index)?,
            None => value,
        };
        if parts.peek().is_none() {
            return Some(if index.is_some() {
                value.span().start
            } else {
                found_key.span().start
            });
        }
        table = value.get_ref().as_table()?;
    }
    None
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// The dotted key whose name or value covers `offset`, found by parsing the text again with
/// spans; `None` when the text does not parse as TOML at all.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    find_key(document.get_ref(), offset, &mut path).then(|| path.join("."))
}

/// The dotted key on the line holding `offset`, read from the text itself: the table header
/// above it and the key before `=`, or the header when the line is one. For documents that do
/// not parse as TOML at all, such as one with a duplicate key.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let line_start = text
        .get(..offset)?
        .rfind('\n')
        .map_or(0, |newline| newline + 1);
    let line = text[line_start..].lines().next().unwrap_or_default().trim();
    let header = |line: &str| {
        let inner = line.strip_prefix('[')?.trim_start_matches('[');
        let name = inner.split(']').next().unwrap_or_default().trim();
        (!name.is_empty()).then(|| name.to_owned())
    };
    if line.starts_with('[') {
        return header(line);
    }
    let key = line.split_once('=')?.0.trim();
    if key.is_empty() {
        return None;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find_map(header);
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_owned(),
    })
}

fn find_key(table: &toml::de::DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        if let Some(inner) = value.get_ref().as_table()
            && find_key(inner, offset, path)
        {
            return true;
        }
        // An array of tables: the key of the table holding the offset, as `name[index].key`.
        if let Some(items) = value.get_ref().as_array() {
            for (index, item) in items.iter().enumerate() {
                if let Some(inner) = item.get_ref().as_table() {
                    let name = path.pop().unwrap_or_default();
                    path.push(format!("{name}[{index}]"));
                    if find_key(inner, offset, path) {
                        return true;
                    }
                    path.pop();
                    path.push(name);
                }
            }
        }
        if key.span().contains(&offset) || value.span().contains(&offset) {
            return true;
        }
        path.pop();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn file_error(text: &str) -> (String, usize) {
        match Config::from_toml(text, Path::new("test.toml")) {
            Err(ConfigError::File { key, line, .. }) => (key, line),
            other => panic!("expected a file error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn file_errors_name_the_key_and_line() {
        assert_eq!(
            file_error("project = \"x\"\n\n[ports]\napp = 5000\nap = 5001\n"),
            ("ports.ap".to_owned(), 5)
        );
        assert_eq!(
            file_error("[ports]\napp = \"five\"\n"),
            ("ports.app".to_owned(), 2)
        );
        assert_eq!(
            file_error("[ports]\napp = 70000\n"),
            ("ports.app".to_owned(), 2)
        );
        assert_eq!(file_error("timing = \"slow\"\n"), ("timing".to_owned(), 1));
        assert_eq!(
            file_error("[alerts]\nerror_ratio = 1.5\n"),
            ("alerts.error_ratio".to_owned(), 2)
        );
        assert_eq!(
            file_error("[receivers]\nwebhooks = [\"http://a\", \"nope\"]\n"),
            ("receivers.webhooks".to_owned(), 2)
        );
        assert_eq!(
            file_error(
                "[receivers.slack]\napi_url = \"https://hooks.example/x\"\nchanel = \"#a\"\n"
            ),
            ("receivers.slack.chanel".to_owned(), 3)
        );
        assert_eq!(file_error("color = 1\n"), ("color".to_owned(), 1));
        assert_eq!(
            file_error("[retention]\ntime = \"300y\"\n"),
            ("retention.time".to_owned(), 2),
            "longer than Prometheus accepts"
        );
        assert_eq!(
            file_error("[ports]\napp = 5000\nops = 5001\napp = 6000\n"),
            ("ports.app".to_owned(), 4),
            "a duplicate key is named"
        );
        assert_eq!(
            file_error("project = \"a\"\nproject = \"b\"\n"),
            ("project".to_owned(), 2)
        );
        assert_eq!(
            file_error("[ports]\napp = 5000\n\n[ports]\nops = 1\n"),
            ("ports".to_owned(), 4),
            "a duplicate table is named"
        );
        assert_eq!(file_error("[ports\n").1, 1);
    }
}
