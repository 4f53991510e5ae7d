//! Sigma rule files (YAML, several documents) loaded as `[detect] sigma_rules` are; a rule set
//! that loads is then run over a few events.
#![no_main]
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use riposte_detect::sigma::SigmaRules;
use riposte_events::{IdentityEvent, Location, parse_json_event};

fn events() -> &'static [IdentityEvent] {
    static EVENTS: OnceLock<Vec<IdentityEvent>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        [
            r#"{"EventID": 4625, "Computer": "dc1", "TargetUserName": "ann", "IpAddress": "10.0.0.9", "Status": "0xc000006d", "SubStatus": "0xc000006a", "TimeCreated": "2026-01-01T00:00:00Z"}"#,
            r#"{"EventID": 4769, "Computer": "dc1", "TargetUserName": "ann@CORP", "ServiceName": "svc_sql", "TicketEncryptionType": "0x17", "TimeCreated": "2026-01-01T00:00:01Z"}"#,
            r#"{"EventID": 4662, "Computer": "dc1", "SubjectUserName": "mallory", "Properties": "{1131f6aa-9c07-11d1-f79f-00c04fc2dcd2}", "TimeCreated": "2026-01-01T00:00:02Z"}"#,
        ]
        .iter()
        .filter_map(|t| {
            let loc = Location { file: "seed".into(), record: None, line: Some(1) };
            parse_json_event(t.as_bytes(), loc).ok().flatten()
        })
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(yaml) = std::str::from_utf8(data) else {
        return;
    };
    match SigmaRules::from_yaml(yaml, Path::new("fuzz.yml")) {
        Ok(mut rules) => {
            for ev in events() {
                let _ = rules.process(ev);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
