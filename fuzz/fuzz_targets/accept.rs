//! The `Accept` header a scraper sends to `/metrics` (demo service and ops listener): any value
//! picks one of the two exposition formats.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monibox::demo::ExpositionFormat;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ExpositionFormat::negotiate(Some(text));
    }
});
