//! `monibox slo import`: any text is a Sloth spec that imports or an error, never a panic; what
//! imports writes TOML that parses back as monibox configuration into the same SLOs.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use monibox::config::Config;
use monibox::slo::import::{import, to_toml};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(imported) = import(text, Some("app")) {
        let toml = to_toml(&imported, "fuzz.yml").expect("imported SLOs serialise");
        let config = Config::from_toml(&toml, Path::new("fuzz.toml")).expect("written TOML parses");
        assert_eq!(config.slo, imported.slos);
        config.validate().expect("written TOML validates");
    }
});
