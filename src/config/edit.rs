//! Adding and removing one `[[targets]]` entry in a TOML file's text, keeping everything else
//! (comments, order, layout) as the user wrote it ([`toml_edit`]). `monibox targets add` and
//! `remove` use it on the config file or the project's targets file.

use toml_edit::{ArrayOfTables, DocumentMut, Item};

use super::Target;

/// Why a file could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("it is not valid TOML: {0}")]
    Syntax(String),
    #[error("its `targets` is not an array of tables ([[targets]])")]
    NotAnArrayOfTables,
}

fn document(text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>()
        .map_err(|error| EditError::Syntax(error.to_string().trim_end().to_owned()))
}

/// `text` with `target` appended as a new `[[targets]]` table at its end.
pub fn add_target(text: &str, target: &Target) -> Result<String, EditError> {
    let mut doc = document(text)?;
    let entry = toml::to_string(target).map_err(|error| EditError::Syntax(error.to_string()))?;
    let mut table = document(&entry)?.as_table().clone();
    // Nested tables (labels, basic_auth) inline, as `labels = { team = "web" }`: a sub-table
    // header would be placed by its position in the snippet, among the file's other tables.
    let nested: Vec<String> = table
        .iter()
        .filter(|(_, item)| item.is_table())
        .map(|(key, _)| key.to_owned())
        .collect();
    for key in nested {
        if let Some(Item::Table(nested)) = table.remove(&key) {
            let mut inline = nested.into_inline_table();
            inline.fmt();
            table.insert(&key, Item::Value(toml_edit::Value::InlineTable(inline)));
        }
    }
    table.set_position(None);
    let targets = doc
        .entry("targets")
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
    let array = targets
        .as_array_of_tables_mut()
        .ok_or(EditError::NotAnArrayOfTables)?;
    array.push(table);
    let mut edited = doc.to_string();
    if !edited.ends_with('\n') {
        edited.push('\n');
    }
    Ok(edited)
}

/// `text` without the target named `name`, or None when it has no such target.
pub fn remove_target(text: &str, name: &str) -> Result<Option<String>, EditError> {
    let mut doc = document(text)?;
    let Some(targets) = doc.get_mut("targets") else {
        return Ok(None);
    };
    let named = |value: Option<&toml_edit::Item>| {
        value
            .and_then(Item::as_str)
            .is_some_and(|value| value == name)
    };
    let removed = match targets {
        Item::ArrayOfTables(array) => {
            let before = array.len();
            array.retain(|table| !named(table.get("name")));
            let removed = array.len() < before;
            if array.is_empty() {
                doc.remove("targets");
            }
            removed
        }
        Item::Value(toml_edit::Value::Array(array)) => {
            let before = array.len();
            array.retain(|value| {
                value
                    .as_inline_table()
                    .and_then(|table| table.get("name"))
                    .and_then(toml_edit::Value::as_str)
                    .is_none_or(|value| value != name)
            });
            let removed = array.len() < before;
            if array.is_empty() {
                doc.remove("targets");
            }
            removed
        }
        _ => return Err(EditError::NotAnArrayOfTables),
    };
    Ok(removed.then(|| doc.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, address: &str) -> Target {
        toml::from_str(&format!("name = {name:?}\naddress = {address:?}\n")).expect("a target")
    }

    const CONFIG: &str = "# my stack\nproject = \"shop\"  # keep this\n\n[ports]\napp = 5000\n";

    #[test]
    fn adding_keeps_the_rest_of_the_file_and_reads_back() {
        let labelled: Target = toml::from_str(
            "name = \"web\"\naddress = \"w:1\"\nlabels = { team = \"web\" }\n\
             basic_auth = { username = \"u\", password_file = \"/p\" }\n",
        )
        .expect("a target");
        let with_tables = "[ports]\napp = 5000\n\n[images]\ngrafana = \"g\"\n";
        let added = add_target(with_tables, &labelled).expect("added");
        assert!(added.contains("labels = { team = \"web\" }"), "{added}");
        let config =
            crate::config::Config::from_toml(&added, std::path::Path::new("t")).expect("valid");
        assert_eq!(config.targets, vec![labelled]);
        let added = add_target(CONFIG, &target("shop", "127.0.0.1:8080")).expect("added");
        assert!(added.starts_with(CONFIG), "{added}");
        let again = add_target(&added, &target("db", "db:9187")).expect("added");
        let config =
            crate::config::Config::from_toml(&again, std::path::Path::new("t")).expect("valid");
        let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["shop", "db"]);
    }

    #[test]
    fn removing_takes_out_one_target_and_keeps_comments() {
        let two = add_target(
            &add_target(CONFIG, &target("shop", "127.0.0.1:8080")).expect("added"),
            &target("db", "db:9187"),
        )
        .expect("added");
        let one = remove_target(&two, "shop")
            .expect("parses")
            .expect("removed");
        assert!(
            one.contains("# keep this") && !one.contains("127.0.0.1:8080"),
            "{one}"
        );
        assert!(one.contains("db:9187"));
        let none = remove_target(&one, "db").expect("parses").expect("removed");
        assert!(!none.contains("targets"), "{none}");
        assert_eq!(remove_target(&none, "db").expect("parses"), None);
        let inline = "targets = [{ name = \"a\", address = \"a:1\" }, { name = \"b\", address = \"b:1\" }]\n";
        let kept = remove_target(inline, "a")
            .expect("parses")
            .expect("removed");
        assert!(kept.contains("b:1") && !kept.contains("a:1"), "{kept}");
    }

    #[test]
    fn files_that_are_not_toml_or_use_targets_otherwise_are_refused() {
        assert!(matches!(
            add_target("project = ", &target("a", "a:1")),
            Err(EditError::Syntax(_))
        ));
        assert!(matches!(
            add_target("targets = 3\n", &target("a", "a:1")),
            Err(EditError::NotAnArrayOfTables)
        ));
    }
}
