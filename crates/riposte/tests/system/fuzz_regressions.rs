//! The config fuzz target's seeds and every input that once crashed it (`fuzz/`), through
//! `Config::parse`: a config, or an error naming the file.

use std::path::Path;

use riposte::config::Config;

#[test]
fn config_inputs_parse_or_fail_with_the_file_named() {
    let inputs = riposte_testlab::fuzz::inputs("config");
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
