//! `--target` and `--prometheus`: any text parses or is refused; a parsed target's URL parses to
//! the same target, and request paths under it are built without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monibox::load::plan::Target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(target) = text.parse::<Target>() {
        let again: Target = target.url().parse().expect("a target's URL parses");
        assert_eq!(again, target, "{text}");
        let _ = target.request_path("/slow?ms=5");
    }
});
