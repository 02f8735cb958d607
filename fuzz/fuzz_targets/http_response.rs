//! What a server answers the load client: any bytes, delivered in any split, are read as one
//! response or refused, never a panic; a response is never longer than the bytes given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monibox::load::client::response::ResponseReader;

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let step = usize::from(split).max(1);
    let mut reader = ResponseReader::new();
    let mut pending: Vec<u8> = Vec::new();
    for piece in bytes.chunks(step) {
        pending.extend_from_slice(piece);
        match reader.feed(&pending) {
            Ok(fed) => {
                assert!(fed.consumed <= pending.len());
                pending.drain(..fed.consumed);
                if fed.complete {
                    return;
                }
            }
            Err(_) => return,
        }
    }
    let _ = reader.finish_at_close();
});
