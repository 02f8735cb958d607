//! The crate's layering, checked from its own imports: a module may use only modules of lower
//! layers (ARCHITECTURE.md has the map and what each module owns). Every module under `src/` must
//! be placed in a layer, so a new one cannot slip in unplaced.

use std::collections::BTreeMap;
use std::path::Path;

/// Top to bottom, as in ARCHITECTURE.md.
const LAYERS: &[&[&str]] = &[
    &["app"],
    &["top"],
    &["status", "export", "slo"],
    &["daemon"],
    &["supervise"],
    &["cli", "logs", "stack"],
    &["catalog"],
    &["demo", "load", "docker", "assets"],
    &["promapi", "output", "logging"],
    &["httpd", "httpc", "config"],
    &["histogram"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `text` names as `crate::<module>`.
fn used_modules(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(at, _)| {
            text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .filter(|module| !module.is_empty())
        .collect()
}

#[test]
fn no_module_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a path");
        let module = first.trim_end_matches(".rs");
        if module == "main" || module == "lib" {
            continue;
        }
        let Some(own) = layer_of(module) else {
            panic!("src/{first} is in no layer: add it to LAYERS and ARCHITECTURE.md");
        };
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        for used in used_modules(&text) {
            if used == module {
                continue;
            }
            let Some(theirs) = layer_of(&used) else {
                panic!(
                    "{} uses crate::{used}, which is in no layer",
                    relative.display()
                );
            };
            if theirs <= own {
                violations
                    .entry(relative.display().to_string())
                    .or_insert_with(Vec::new)
                    .push(used);
            }
        }
    }
    assert!(
        violations.is_empty(),
        "modules using a module of their own or a higher layer: {violations:#?}"
    );
}

#[test]
fn the_architecture_document_names_every_module() {
    let map =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md");
    for module in LAYERS.iter().flat_map(|layer| layer.iter()) {
        assert!(
            map.contains(&format!("`{module}`")) || map.contains(&format!("`{module}/`")),
            "ARCHITECTURE.md does not describe {module}"
        );
    }
}
