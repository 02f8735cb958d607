//! Durations (`--duration`, `--ramp-up`, `--timeout`) and `--think-time`: any text parses or is
//! refused, within a year; a parsed duration formats back to text that parses to it (to the
//! microsecond the format keeps).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use monibox::load::plan::{MAX_DURATION, ThinkTime, format_duration, parse_duration};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(duration) = parse_duration(text) {
        assert!(duration <= MAX_DURATION);
        let micros = Duration::from_micros(duration.as_micros() as u64);
        let again = parse_duration(&format_duration(duration)).expect("a formatted duration parses");
        assert_eq!(again, micros, "{text}");
    }
    if let Ok(think) = text.parse::<ThinkTime>() {
        assert!(think.min <= think.max && think.max <= MAX_DURATION);
        let _ = think.to_string().parse::<ThinkTime>().expect("a shown think time parses");
    }
});
