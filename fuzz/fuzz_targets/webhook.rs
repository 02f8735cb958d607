//! Alertmanager's webhook body (`POST /alerts` on the ops listener): any bytes are taken or
//! refused with an error, and what is taken is bounded as the alert log promises.
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use monibox::daemon::alerts::parse_payload;

fuzz_target!(|data: &[u8]| {
    if let Ok(alerts) = parse_payload(data, SystemTime::UNIX_EPOCH) {
        for alert in alerts {
            assert!(alert.labels.len() <= 32);
            assert!(alert.labels.values().all(|value| value.chars().count() <= 512));
        }
    }
});
