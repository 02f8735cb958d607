//! `--threshold`: any text parses or is refused; what parses shows as itself without spaces and
//! parses again to the same threshold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monibox::load::threshold::Threshold;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(threshold) = text.parse::<Threshold>() {
        let shown = threshold.to_string();
        let again: Threshold = shown.parse().expect("a shown threshold parses");
        assert_eq!(again, threshold, "{shown}");
    }
});
