//! The benchmark baseline: only iterate the records of EVTX files with the `evtx` crate
//! (rendered to JSON values, as riposte does), no normalisation, no detection.
#![forbid(unsafe_code)]

use std::time::Instant;

fn main() {
    let start = Instant::now();
    let (mut ok, mut bad) = (0u64, 0u64);
    for path in std::env::args().skip(1) {
        match riposte_events::evtx_record_count(std::path::Path::new(&path)) {
            Ok((o, b)) => {
                ok += o;
                bad += b;
            }
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "records={ok} errors={bad} seconds={secs:.3} records_per_second={:.0}",
        ok as f64 / secs.max(1e-9)
    );
}
