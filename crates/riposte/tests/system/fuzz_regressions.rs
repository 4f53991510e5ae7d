//! The config fuzz target's seeds and every input that once crashed it (`fuzz/`), through
//! `Config::parse`: a config, or an error naming the file.

use std::path::Path;

use riposte::config::Config;

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
fn config_inputs_parse_or_fail_with_the_file_named() {
    let inputs = fuzz_inputs("config");
    assert!(inputs.len() >= 2, "the seeds are missing");
    for (name, bytes) in inputs {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let path = Path::new("/nonexistent/riposte.toml");
        if let Err(e) = Config::parse(path, text) {
            assert!(
                e.to_string().contains("/nonexistent/riposte.toml"),
                "{name}: {e}"
            );
        }
    }
}
