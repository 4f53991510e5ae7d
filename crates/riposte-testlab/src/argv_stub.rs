//! A stand-in for the program a printed command line runs: a script placed
//! first on PATH that writes the arguments it was given, NUL-separated, to a
//! file. A test runs the line with `sh -c` in a sandbox directory (its
//! working directory and HOME) and sees exactly what the program would have
//! received, and whether anything else ran (a file an injected `touch` made).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static STUBS: AtomicU32 = AtomicU32::new(0);

/// A stub of one program; its directory is removed when dropped.
pub struct ArgvStub {
    dir: PathBuf,
}

/// What running one line did.
#[derive(Debug)]
pub struct StubRun {
    /// The arguments the stub received (without the program name), or
    /// `None` when it never ran.
    pub argv: Option<Vec<Vec<u8>>>,
    /// Files that appeared in the sandbox: each one is a side effect.
    pub side_effects: Vec<PathBuf>,
    pub success: bool,
    pub stderr: String,
}

impl ArgvStub {
    pub fn new(program: &str) -> ArgvStub {
        let dir = std::env::temp_dir().join(format!(
            "riposte-argv-stub-{}-{}",
            std::process::id(),
            STUBS.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).expect("stub bin dir");
        std::fs::create_dir_all(dir.join("sandbox")).expect("stub sandbox dir");
        let script = dir.join("bin").join(program);
        std::fs::write(
            &script,
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$RIPOSTE_STUB_ARGV\"\n",
        )
        .expect("write stub");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod stub");
        ArgvStub { dir }
    }

    /// Runs `line` with `sh -c`, the stub first on PATH (the system's tools
    /// after it, so an injected command would work), in the sandbox.
    pub fn run_sh(&self, line: &str) -> StubRun {
        let sandbox = self.dir.join("sandbox");
        let argv_file = self.dir.join("argv");
        let _ = std::fs::remove_file(&argv_file);
        for entry in std::fs::read_dir(&sandbox).expect("sandbox").flatten() {
            let _ = std::fs::remove_dir_all(entry.path());
            let _ = std::fs::remove_file(entry.path());
        }
        let out = Command::new("sh")
            .args(["-c", line])
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/bin:/usr/bin:/bin",
                    self.dir.join("bin").display()
                ),
            )
            .env("HOME", &sandbox)
            .env("RIPOSTE_STUB_ARGV", &argv_file)
            .current_dir(&sandbox)
            .output()
            .expect("sh runs");
        let argv = std::fs::read(&argv_file).ok().map(|bytes| {
            let mut args: Vec<Vec<u8>> = bytes.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
            args.pop(); // after the last NUL
            args
        });
        StubRun {
            argv,
            side_effects: list(&sandbox),
            success: out.status.success(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

impl Drop for ArgvStub {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
