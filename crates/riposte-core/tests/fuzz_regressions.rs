//! The identity_ref and dacl fuzz targets' seeds and every input that once crashed them
//! (`fuzz/`), through the same entry points: parsed, or refused with a typed error.

use riposte_core::identity::IdentityRef;
use riposte_core::security_descriptor::parse_dacl;

/// Every file of `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` (the minimised inputs that
/// once crashed a fuzz target; see RELIABILITY.md), with its path for messages.
fn fuzz_inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn identity_ref_inputs_parse_round_trip_or_are_refused() {
    let inputs = fuzz_inputs("identity_ref");
    assert!(inputs.len() >= 5, "the seeds are missing");
    for (name, bytes) in inputs {
        let text = String::from_utf8_lossy(&bytes);
        match IdentityRef::parse(&text) {
            Ok(r) => assert_eq!(IdentityRef::parse(&r.to_string()), Ok(r), "{name}"),
            Err(e) => assert!(!e.to_string().is_empty(), "{name}"),
        }
    }
}

#[test]
fn dacl_inputs_parse_or_are_refused() {
    let inputs = fuzz_inputs("dacl");
    assert!(inputs.len() >= 3, "the seeds are missing");
    let mut parsed = 0;
    for (name, bytes) in inputs {
        match parse_dacl(&bytes) {
            Ok(_) => parsed += 1,
            Err(e) => assert!(!e.to_string().is_empty(), "{name}"),
        }
    }
    assert!(parsed >= 3, "the seeds are valid descriptors");
}
