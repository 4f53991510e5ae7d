//! Parsers never panic on hostile input, report bad records with their location, and keep
//! reading after them.

use std::io::Write;

use proptest::prelude::*;
use riposte_events::{Ingest, Location, parse_json_event};

fn loc() -> Location {
    Location {
        file: "t".into(),
        record: None,
        line: Some(1),
    }
}

#[test]
fn bad_json_lines_are_reported_with_their_line_and_the_rest_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("events.json");
    let mut f = std::fs::File::create(&p).unwrap();
    writeln!(f, r#"{{"EventID": 4624, "TargetUserName": "ann"}}"#).unwrap();
    writeln!(f, r#"{{"EventID": "not a number"}}"#).unwrap();
    writeln!(f, r#"{{"EventID": 4625, "TargetUserName": "a\u0000b"}}"#).unwrap();
    writeln!(f, r#"{{"winlog": {{"event_id": "4771", "computer_name": "dc1", "event_data": {{"TargetUserName": "bob", "Status": "0x18", "IpAddress": "::ffff:10.0.0.9"}}}}, "@timestamp": "2026-01-01T00:00:00Z"}}"#).unwrap();
    writeln!(f, r#"{{"truncated": "#).unwrap();
    drop(f);
    let mut ingest = Ingest::new([&p]);
    let items: Vec<_> = ingest.by_ref().collect();
    let ok: Vec<_> = items.iter().filter_map(|r| r.as_ref().ok()).collect();
    let errs: Vec<_> = items.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(ok.len(), 3);
    assert_eq!(ok[2].event_id, 4771);
    assert_eq!(ok[2].source_ip.as_deref(), Some("10.0.0.9"));
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].location.line, Some(2));
    assert!(
        errs[0].to_string().contains("events.json line 2"),
        "{}",
        errs[0]
    );
    assert_eq!(errs[1].location.line, Some(5));
    assert_eq!(ingest.stats().errors, 2);
}

#[test]
fn truncated_and_garbage_evtx_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/datasets/evtx-dev/bruteforce-4625.evtx"
    ))
    .unwrap();
    let mut files = Vec::new();
    for (i, cut) in [8usize, 100, 4096, 4096 + 600, 20_000, real.len() - 1]
        .iter()
        .enumerate()
    {
        let p = dir.path().join(format!("cut{i}.evtx"));
        std::fs::write(&p, &real[..*cut]).unwrap();
        files.push(p);
    }
    let mut flipped = real.clone();
    for i in (4096 + 512..flipped.len()).step_by(97) {
        flipped[i] ^= 0x5a;
    }
    let p = dir.path().join("flipped.evtx");
    std::fs::write(&p, &flipped).unwrap();
    files.push(p);
    let p = dir.path().join("zeros.evtx");
    std::fs::write(&p, vec![0u8; 70_000]).unwrap();
    files.push(p);
    files.push(dir.path().join("missing.evtx"));
    let mut ingest = Ingest::new(files);
    for item in ingest.by_ref() {
        if let Err(e) = item {
            assert!(!e.message.is_empty());
        }
    }
    assert!(ingest.stats().errors >= 2);
}

#[test]
fn huge_fields_are_bounded() {
    let big = "x".repeat(100_000);
    let line = format!(r#"{{"EventID": 4625, "TargetUserName": "{big}"}}"#);
    let ev = parse_json_event(line.as_bytes(), loc()).unwrap().unwrap();
    assert!(ev.data["TargetUserName"].len() <= 8 * 1024);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_json_event(&bytes, loc());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        std::fs::write(&p, &bytes).unwrap();
        for _ in Ingest::new([&p]) {}
        let mut with_magic = b"ElfFile\0".to_vec();
        with_magic.extend_from_slice(&bytes);
        let p = dir.path().join("x.evtx");
        std::fs::write(&p, &with_magic).unwrap();
        for _ in Ingest::new([&p]) {}
    }

    #[test]
    fn json_shaped_noise_never_panics(s in r#"[{}\[\]":,0-9a-zA-Z\\ \n%]{0,400}"#) {
        let _ = parse_json_event(s.as_bytes(), loc());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        std::fs::write(&p, s.as_bytes()).unwrap();
        for _ in Ingest::new([&p]) {}
    }
}
