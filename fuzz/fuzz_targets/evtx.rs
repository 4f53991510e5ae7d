//! EVTX files (as uploaded or ingested) through `Ingest`, record by record.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use riposte_events::Ingest;

fuzz_target!(|data: &[u8]| {
    let mut ingest = Ingest::from_bytes("fuzz.evtx", data.to_vec());
    let mut items = 0u64;
    for item in ingest.by_ref() {
        if let Err(e) = item {
            // Errors render (Display) without panicking.
            let _ = e.to_string();
        }
        items += 1;
    }
    assert_eq!(ingest.stats().events + ingest.stats().errors, items);
});
