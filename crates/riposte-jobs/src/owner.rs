//! Who holds a job: `host:pid:start-time`. On the same host a dead holder is
//! seen at once through /proc; elsewhere only its lease running out tells.

use std::fs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerId(String);

impl WorkerId {
    pub fn current() -> Self {
        let pid = std::process::id();
        WorkerId(format!(
            "{}:{pid}:{}",
            hostname(),
            start_time(pid).unwrap_or_default()
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A process's start time in clock ticks since boot (field 22 of /proc/PID/stat),
/// which tells a reused pid from the original process.
fn start_time(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: skip past its last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19).map(String::from)
}

/// The holder ran on this host and its process no longer exists.
pub fn owner_is_gone(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != hostname() {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    start_time(pid).as_deref() != Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_child_is_gone() {
        let me = WorkerId::current();
        assert!(!owner_is_gone(me.as_str()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid);
        child.wait().unwrap();
        let owner = format!("{}:{pid}:{}", hostname(), start.unwrap_or_default());
        assert!(owner_is_gone(&owner));
        // Another host's worker is never judged from here.
        assert!(!owner_is_gone("some-other-host:1:1"));
    }
}
