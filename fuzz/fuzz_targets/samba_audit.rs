//! A Samba audit log (or any JSON log: NDJSON, evtx_dump output) read as a stream: the object
//! scanner, then each object normalised.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use riposte_events::Ingest;

fuzz_target!(|data: &[u8]| {
    // EVTX has its own target; keep this one on the text path.
    if data.starts_with(b"ElfFile\0") {
        return;
    }
    let mut ingest = Ingest::from_bytes("samba.log", data.to_vec());
    for item in ingest.by_ref() {
        match item {
            Ok(ev) => {
                let _ = (ev.failed(), ev.target.display(), ev.source());
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    let s = ingest.stats();
    assert!(s.events + s.errors + s.ignored <= s.records + 1);
});
