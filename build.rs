//! Rebuilds when anything under `assets/` changes, including added or removed files, which
//! `include_dir!` alone does not tell Cargo about.

fn main() {
    println!("cargo::rerun-if-changed=assets");
    println!("cargo::rerun-if-changed=docs/runbooks.md");
}
