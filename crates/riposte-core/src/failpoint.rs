//! Named pauses for crash tests. `RIPOSTE_FAILPOINTS="after-write=sleep:30000"`
//! makes the process announce and sleep at that point, so a test can kill it
//! there. Unset (always, in production), a failpoint costs one check.

use std::sync::OnceLock;
use std::time::Duration;

pub const ENV: &str = "RIPOSTE_FAILPOINTS";

fn configured() -> &'static Vec<(String, u64)> {
    static POINTS: OnceLock<Vec<(String, u64)>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var(ENV)
            .unwrap_or_default()
            .split(',')
            .filter_map(|entry| {
                let (name, action) = entry.trim().split_once('=')?;
                let millis = action.strip_prefix("sleep:")?.parse().ok()?;
                Some((name.to_string(), millis))
            })
            .collect()
    })
}

/// Pauses here if the failpoint `name` is configured.
pub async fn hit(name: &str) {
    if let Some((_, millis)) = configured().iter().find(|(n, _)| n == name) {
        eprintln!("riposte: failpoint {name}: sleeping {millis} ms");
        tokio::time::sleep(Duration::from_millis(*millis)).await;
    }
}
