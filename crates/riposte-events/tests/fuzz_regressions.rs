//! The fuzz targets' seeds and every input that once crashed them (`fuzz/`), replayed through
//! the same entry points in every test run: each is read to the end, bad records are errors that
//! say where and what, nothing panics.

use riposte_events::{Ingest, Location, parse_json_event};

fn read_all(name: &str, bytes: &[u8]) -> (u64, u64) {
    let mut ingest = Ingest::from_bytes(name, bytes.to_vec());
    for item in ingest.by_ref() {
        if let Err(e) = item {
            assert!(!e.message.is_empty(), "{name}: an error without a message");
            assert!(e.to_string().starts_with(name), "{name}: {e}");
        }
    }
    let s = ingest.stats();
    (s.events, s.errors)
}

#[test]
fn evtx_regressions_are_errors_not_panics() {
    // The evtx target's seeds are the shared datasets, not in the repository: only regressions.
    for (name, bytes) in riposte_testlab::fuzz::inputs("evtx") {
        read_all(&name, &bytes);
    }
}

#[test]
fn samba_audit_inputs_read_to_the_end() {
    let inputs = riposte_testlab::fuzz::inputs("samba_audit");
    assert!(inputs.len() >= 4, "the seeds are missing");
    let mut events = 0;
    for (name, bytes) in &inputs {
        events += read_all(name, bytes).0;
    }
    assert!(events >= 5, "the seeds hold real events; {events} read");
}

#[test]
fn event_json_inputs_parse_or_fail_cleanly() {
    let inputs = riposte_testlab::fuzz::inputs("event_json");
    assert!(inputs.len() >= 6, "the seeds are missing");
    for (name, bytes) in inputs {
        let origin = Location {
            file: name.clone(),
            record: None,
            line: Some(1),
        };
        match parse_json_event(&bytes, origin) {
            Ok(_) => {}
            Err(e) => assert!(!e.message.is_empty(), "{name}"),
        }
    }
}

#[test]
fn in_memory_evtx_reads_like_the_file() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/datasets/evtx-dev/bruteforce-4625.evtx"
    );
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let from_file: Vec<_> = Ingest::new([path]).collect();
    let from_bytes: Vec<_> = Ingest::from_bytes(path, bytes).collect();
    assert!(!from_file.is_empty());
    assert_eq!(from_file, from_bytes);
}
