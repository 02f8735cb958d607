//! A load run's push (`POST /load` on the ops listener): any bytes are taken or refused, and the
//! daemon's metrics count what is taken and still encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monibox::daemon::load_metrics::LoadMetrics;
use monibox::load::push::LoadPush;

fuzz_target!(|data: &[u8]| {
    if let Ok(push) = LoadPush::parse(data) {
        let metrics = LoadMetrics::new();
        let _ = metrics.record(push.clone());
        let _ = metrics.record(push);
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(metrics));
        monibox::demo::ExpositionFormat::Classic
            .encode(&registry)
            .expect("pushed figures encode");
    }
});
