//! The riposte application: the command line (`commands`, one module per
//! command with its arguments and handler), the composition root (`app`:
//! the configuration read, the ledger opened and the directories and the
//! Runner built once, each command handed only what it needs), and the
//! helpers they share (configuration, output, who the CLI acts as).
//!
//! Exit statuses (`exit`): 0 verified or already, 3 ineffective, 4 denied,
//! 1 failed, 2 bad usage, 5 waiting for a second person's approval, 6 the
//! ledger cannot be written (disk full or read-only: nothing new was
//! accepted); for `audit verify`, 0 intact and 1 broken.
#![forbid(unsafe_code)]

/// `println!` that ends the process quietly when stdout is closed (e.g.
/// `riposte actions list | head`) instead of panicking on the broken pipe.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod admin;
pub mod app;
mod commands;
pub mod config;
mod credential;
pub mod exit;
mod live;
mod output;
mod reader;
mod signing_key;
mod since;
pub mod store;

pub use commands::Cli;
