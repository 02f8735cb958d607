//! The configuration's value types, each fed the same text: project names, Prometheus durations,
//! byte sizes, URLs and one-line strings are accepted or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monibox::config::{ByteSize, Fraction, HttpUrl, Line, Positive, ProjectName, PromDuration};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ProjectName::try_from(text.to_owned());
    let _ = PromDuration::parse(text);
    let _ = ByteSize::parse(text);
    let _ = HttpUrl::try_from(text.to_owned());
    let _ = Line::try_from(text.to_owned());
    if let Ok(number) = text.trim().parse::<f64>() {
        let _ = Positive::try_from(number);
        let _ = Fraction::try_from(number);
    }
});
