//! `--mix`: any text either parses or is refused with an error; what parses prints back as text
//! that parses to the same mix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monibox::load::plan::Mix;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mix) = text.parse::<Mix>() {
        let shown = mix.to_string();
        let again: Mix = shown.parse().expect("a shown mix parses");
        assert_eq!(again, mix, "{shown}");
    }
});
