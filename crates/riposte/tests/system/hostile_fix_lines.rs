//! Misuse: OUs whose names are shell code. Anyone delegated to create an OU
//! names it; `riposte readiness` prints delegation fixes for it that an
//! administrator pastes as Administrator. Against the real lab: every printed
//! samba-tool line, run with `sh -c` against a stub `samba-tool`, passes the
//! DN as Samba returned it through as one argument, byte for byte, and runs
//! nothing else; every dsacls and PowerShell line quotes it or is left out
//! with the reason.

use crate::harness::riposte_config;
use riposte_testlab::argv_stub::ArgvStub;
use riposte_testlab::{Lab, base64, utf16_quoted};
use serde_json::Value;

/// OU names, each a way out of a quote in one of the shells.
const HOSTILE_NAMES: &[&str] = &[
    "x'$(touch ~/pwned)'",
    "q\"&touch pwned&\"%PATH%!x!",
    "b`touch pwned`;touch pwned|c",
    "p\u{2019}; New-Item pwned; \u{2018}",
    "n\n$(touch pwned)",
    "Tier0,OU=Staff",
];

/// An RDN value escaped as RFC 4514 wants it.
fn escape_value(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        match c {
            '\\' | ',' | '+' | '"' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The hostile OUs and one user in each; all deleted when dropped.
struct HostileOus<'a> {
    lab: &'a Lab,
    /// Users first, then OUs: the order they are deleted in.
    entries: Vec<String>,
}

impl HostileOus<'_> {
    fn add(&mut self, ldif_body: &str, dn: &str) {
        let corp = self.lab.forest("corp");
        self.lab.modify(
            corp,
            &format!(
                "dn:: {}\nchangetype: add\n{ldif_body}",
                base64(dn.as_bytes())
            ),
        );
        self.entries.push(dn.to_string());
    }
}

impl Drop for HostileOus<'_> {
    fn drop(&mut self) {
        let corp = self.lab.forest("corp");
        for dn in self.entries.iter().rev() {
            let ldif = format!("dn:: {}\nchangetype: delete\n", base64(dn.as_bytes()));
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.lab.modify(corp, &ldif)
            }));
        }
    }
}

/// What PowerShell reads back as the text, doubled single quotes included.
fn powershell_quoted(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

#[test]
fn fix_lines_for_ous_named_as_shell_code_run_nothing_else() {
    let lab = crate::harness::lab();
    let corp = lab.forest("corp");
    let tag = format!("hx{}", std::process::id() % 100_000);
    let mut ous = HostileOus {
        lab: &lab,
        entries: Vec::new(),
    };
    let password = format!("Hx-{tag}-x!Q9z");
    for (i, name) in HOSTILE_NAMES.iter().enumerate() {
        let ou = format!("OU={}{tag},{}", escape_value(name), corp.base_dn);
        ous.add("objectClass: organizationalUnit\n", &ou);
        let user = format!("{tag}u{i}");
        ous.add(
            &format!(
                "objectClass: user\nsAMAccountName: {user}\nunicodePwd:: {}\nuserAccountControl: 512\n",
                base64(&utf16_quoted(&password))
            ),
            &format!("CN={user},{ou}"),
        );
    }
    // Deleted users first, then their OUs.
    let (users, ou_dns): (Vec<String>, Vec<String>) = ous
        .entries
        .iter()
        .cloned()
        .partition(|dn| dn.starts_with("CN="));
    ous.entries = ou_dns.into_iter().chain(users).collect();

    let dir = tempfile::tempdir().unwrap();
    let config = lab.private_config(dir.path(), |text| text);
    let run = riposte_config(&config, &["--json", "readiness"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let mut fixes: Vec<&Value> = report["forests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == "corp")
        .flat_map(|f| f["fixes"].as_array().unwrap())
        .filter(|f| f["scope"].as_str().unwrap().contains(&tag))
        .collect();
    assert_eq!(fixes.len(), HOSTILE_NAMES.len(), "{report}");
    // The README's example first: its samba-tool line is the one that ran code before.
    fixes.sort_by_key(|f| !f["scope"].as_str().unwrap().starts_with("OU=x'"));

    let stub = ArgvStub::new("samba-tool");
    let (mut passed, mut refused) = (0, 0);
    for fix in &fixes {
        let dn = fix["scope"].as_str().unwrap();
        let lines = |k: &str| -> Vec<String> {
            fix["delegation"][k]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect()
        };
        let control = dn.chars().any(char::is_control);
        for line in lines("samba_tool") {
            let run = stub.run_sh(&line);
            assert!(
                run.side_effects.is_empty(),
                "{line} made {:?}",
                run.side_effects
            );
            if control {
                assert!(
                    line.starts_with("# riposte left out this samba-tool line: "),
                    "{line}"
                );
                assert!(run.argv.is_none(), "{line}");
                refused += 1;
                continue;
            }
            let argv = run
                .argv
                .unwrap_or_else(|| panic!("{line} did not run: {}", run.stderr));
            let objectdn = format!("--objectdn={dn}").into_bytes();
            assert_eq!(
                argv.iter().filter(|a| **a == objectdn).count(),
                1,
                "{line}: {:?}",
                argv.iter()
                    .map(|a| String::from_utf8_lossy(a))
                    .collect::<Vec<_>>()
            );
            assert_eq!(argv.len(), 9, "{line}");
            passed += 1;
        }
        for line in lines("dsacls") {
            // The quotes PowerShell knows are not letters: cmd.exe gets no line for them either.
            let cmd_unsafe =
                |c: char| matches!(c, '"' | '%' | '!') || (!c.is_ascii() && !c.is_alphanumeric());
            if control || dn.chars().any(cmd_unsafe) {
                assert!(
                    line.starts_with("REM riposte left out this dsacls line: "),
                    "{line}"
                );
                assert!(line.contains("Instead, use the PowerShell line"), "{line}");
                assert!(!line.contains(['%', '!', '"', '&', '|', '\n']), "{line}");
                refused += 1;
            } else {
                assert!(
                    line.starts_with(&format!("dsacls \"{dn}\" /I:S /G \"")),
                    "{line}"
                );
            }
        }
        for line in lines("powershell") {
            if control {
                assert!(
                    line.starts_with("# riposte left out this PowerShell line: "),
                    "{line}"
                );
                refused += 1;
            } else {
                let quoted = powershell_quoted(&format!("AD:{dn}"));
                assert!(
                    line.starts_with(&format!("$p = {quoted}; $acl = Get-Acl -LiteralPath $p; ")),
                    "{line}"
                );
            }
        }
    }
    assert!(
        passed > 0 && refused > 0,
        "passed {passed}, refused {refused}"
    );

    // The text output prints the same lines (each on a line of its own).
    let human = riposte_config(&config, &["readiness", "--quiet", "--all"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    for fix in &fixes {
        for line in fix["delegation"]["samba_tool"].as_array().unwrap() {
            let line = line.as_str().unwrap();
            assert!(
                human.stdout.lines().any(|l| l.trim_start() == line),
                "{line} not in the text output"
            );
        }
    }
}
