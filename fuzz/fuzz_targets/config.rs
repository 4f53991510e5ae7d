//! The riposte config file (TOML) as `riposte --config` reads it.
#![no_main]
#![forbid(unsafe_code)]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use riposte::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::parse(Path::new("/nonexistent/riposte.toml"), text) {
        let _ = e.to_string();
    }
});
