//! The identity_ref and dacl fuzz targets' seeds and every input that once crashed them
//! (`fuzz/`), through the same entry points: parsed, or refused with a typed error.

use riposte_core::identity::IdentityRef;
use riposte_core::security_descriptor::parse_dacl;

#[test]
fn identity_ref_inputs_parse_round_trip_or_are_refused() {
    let inputs = riposte_testlab::fuzz::inputs("identity_ref");
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
    let inputs = riposte_testlab::fuzz::inputs("dacl");
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
