//! The inputs every crate's fuzz regression test replays.

use std::path::Path;

/// Every file of `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` (the minimised inputs
/// that once crashed a fuzz target; see RELIABILITY.md), with its path for messages, in order.
pub fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a fuzz input's directory entry").path();
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            out.push((path.display().to_string(), bytes));
        }
    }
    out.sort();
    out
}
