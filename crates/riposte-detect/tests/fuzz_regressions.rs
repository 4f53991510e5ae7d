//! The sigma_rule fuzz target's seeds and every input that once crashed it (`fuzz/`), loaded as
//! `[detect] sigma_rules` are and run over an event: a bad file is a clean error naming it.

use std::path::Path;

use riposte_detect::SigmaRules;
use riposte_events::{Location, parse_json_event};

#[test]
fn sigma_rule_inputs_load_or_fail_cleanly() {
    let inputs = riposte_testlab::fuzz::inputs("sigma_rule");
    assert!(inputs.len() >= 3, "the seeds are missing");
    let ev = parse_json_event(
        br#"{"EventID": 4625, "Computer": "dc1", "TargetUserName": "ann", "TimeCreated": "2026-01-01T00:00:00Z"}"#,
        Location { file: "t".into(), record: None, line: Some(1) },
    )
    .unwrap()
    .unwrap();
    for (name, bytes) in inputs {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        match SigmaRules::from_yaml(text, Path::new(&name)) {
            Ok(mut rules) => {
                let _ = rules.process(&ev);
            }
            Err(e) => assert!(e.to_string().contains(&name), "{e}"),
        }
    }
}
