//! The configuration file: any text parses (and validates) or is refused with an error naming
//! the place; a configuration that parses and validates writes back as TOML that does too.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use monibox::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    if let Ok(config) = Config::from_toml(text, path)
        && config.validate().is_ok()
    {
        let written = config.to_toml();
        let again = Config::from_toml(&written, path).expect("written config parses");
        again.validate().expect("written config validates");
    }
});
