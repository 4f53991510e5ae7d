//! One Windows event as JSON (evtx_dump, Winlogbeat/ECS, flat) or one Samba audit record.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use riposte_events::{Location, parse_json_event};

fuzz_target!(|data: &[u8]| {
    let origin = Location {
        file: "fuzz.json".into(),
        record: None,
        line: Some(1),
    };
    match parse_json_event(data, origin) {
        Ok(Some(ev)) => {
            let _ = (
                ev.failed(),
                ev.bad_password(),
                ev.auth_failure(),
                ev.source(),
            );
            let _ = (ev.target.key(), ev.target.display(), ev.actor.key());
        }
        Ok(None) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
