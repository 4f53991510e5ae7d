//! The delegation fixes riposte prints are pasted by an administrator: a DN
//! from the directory (whoever may create an OU names it) must reach the
//! program as one argument, byte for byte, and run nothing else. Each
//! samba-tool line is run with `sh -c` against a stub `samba-tool`; the
//! dsacls and PowerShell lines are read back by models of cmd.exe (with the
//! MSVC argument rules) and of PowerShell's single-quoted strings.

use proptest::prelude::*;
use riposte_core::rights::{
    ActionAccount, DelegationAdvice, RESET_PASSWORD, WRITE_USER_ACCOUNT_CONTROL,
    delegation_for_container,
};
use riposte_testlab::argv_stub::ArgvStub;

const DOMAIN_TAIL: &str = ",DC=corp,DC=example,DC=test";
const SID: &str = "S-1-5-21-1-2-3-1110";

/// Every character sh, cmd.exe, PowerShell or a DN treats specially.
const METACHARACTERS: &[char] = &[
    '\'', '"', '`', '$', '\\', ';', '&', '|', '<', '>', '(', ')', '{', '}', '[', ']', '*', '?',
    '~', '#', '!', '%', '^', '=', ',', '+', ' ', '\t', '\n', '\r', '@', ':', '/', '-', '\u{0}',
    '\u{1b}', '\u{7f}', '\u{85}', '\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}', '\u{201C}',
    '\u{201D}', '\u{FF02}', '\u{02BA}', '\u{202E}', '\u{2028}', 'é', 'ß', '字',
];

/// Fragments that would run something if a quote were broken.
const INJECTIONS: &[&str] = &[
    "$(touch pwned)",
    "`touch pwned`",
    "';touch pwned;'",
    "'$(touch ~/pwned)'",
    "\"&touch pwned&\"",
    "'; New-Item pwned; '",
    "\u{2019}; touch pwned; \u{2018}",
    "%PATH%",
    "!x!",
    "\\'",
];

fn value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::sample::select(METACHARACTERS).prop_map(String::from),
        2 => any::<char>().prop_map(String::from),
        2 => "[A-Za-z0-9]{1,4}",
        1 => proptest::sample::select(INJECTIONS).prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|p| p.concat())
}

fn advice(container: &str, trustee: &str) -> DelegationAdvice {
    let account = ActionAccount {
        dn: trustee.to_string(),
        sam_account_name: Some("riposte-action".into()),
        sid: Some(SID.into()),
    };
    delegation_for_container(
        &account,
        "corp.example.test",
        "ldaps://dc1.corp.example.test:636",
        container,
        &[WRITE_USER_ACCOUNT_CONTROL, RESET_PASSWORD],
        None,
    )
}

fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// cmd.exe then the program's MSVC argument parser, as a model: `None` when
/// cmd.exe would expand or act on something (a `%` or `!` anywhere, a
/// metacharacter or line break outside quotes).
fn cmd_argv(line: &str) -> Option<Vec<String>> {
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '%' | '!' | '\n' | '\r' => return None,
            '"' => quoted = !quoted,
            '&' | '|' | '<' | '>' | '^' | '(' | ')' if !quoted => return None,
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    // CommandLineToArgvW's rules (arguments after the program name).
    let chars: Vec<char> = line.chars().collect();
    let (mut args, mut current, mut in_arg, mut quoted, mut i) =
        (Vec::new(), String::new(), false, false, 0);
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let run = chars[i..].iter().take_while(|c| **c == '\\').count();
            if chars.get(i + run) == Some(&'"') {
                current.extend(std::iter::repeat_n('\\', run / 2));
                if run % 2 == 1 {
                    current.push('"');
                    i += run + 1;
                } else {
                    i += run;
                }
            } else {
                current.extend(std::iter::repeat_n('\\', run));
                i += run;
            }
            in_arg = true;
            continue;
        }
        match c {
            '"' => {
                quoted = !quoted;
                in_arg = true;
            }
            ' ' | '\t' if !quoted => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            c => {
                current.push(c);
                in_arg = true;
            }
        }
        i += 1;
    }
    if in_arg {
        args.push(current);
    }
    Some(args)
}

/// Reads a PowerShell single-quoted string at the start of `text`: its value
/// and the rest of the line after it.
fn powershell_string(text: &str) -> Option<(String, &str)> {
    let quote = |c: char| matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}');
    let mut chars = text.char_indices().peekable();
    let (_, first) = chars.next()?;
    if !quote(first) {
        return None;
    }
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        if quote(c) {
            match chars.peek() {
                Some((_, next)) if quote(*next) => {
                    value.push(*next);
                    chars.next();
                }
                _ => return Some((value, &text[i + c.len_utf8()..])),
            }
        } else {
            value.push(c);
        }
    }
    None
}

fn check(container: &str, trustee: &str) -> Result<(), TestCaseError> {
    let advice = advice(container, trustee);
    let stub = ArgvStub::new("samba-tool");

    // samba-tool: run for real, against the stub.
    let hidden = container.chars().any(invisible) || trustee.chars().any(invisible);
    for (line, sddl) in advice.samba_tool.iter().zip([
        format!("(OA;CI;RPWP;bf967a68-0de6-11d0-a285-00aa003049e2;bf967aba-0de6-11d0-a285-00aa003049e2;{SID})"),
        format!("(OA;CI;CR;00299570-246d-11d0-a768-00aa006e0529;bf967aba-0de6-11d0-a285-00aa003049e2;{SID})"),
    ]) {
        let run = stub.run_sh(line);
        prop_assert!(run.side_effects.is_empty(), "{line}: {:?}", run.side_effects);
        if hidden {
            prop_assert!(line.starts_with("# riposte left out this samba-tool line"), "{line}");
            prop_assert!(run.argv.is_none(), "{line}");
            continue;
        }
        let expected: Vec<Vec<u8>> = [
            "dsacl".to_string(),
            "set".into(),
            "-H".into(),
            "ldap://dc1.corp.example.test".into(),
            "-U".into(),
            "Administrator".into(),
            format!("--objectdn={container}"),
            format!("--trusteedn={trustee}"),
            format!("--sddl={sddl}"),
        ]
        .into_iter()
        .map(String::into_bytes)
        .collect();
        prop_assert_eq!(run.argv.as_ref(), Some(&expected), "{} ({})", line, run.stderr);
    }

    // dsacls: quoted so that cmd.exe acts on nothing, or left out with a reason.
    let cmd_unsafe = |c: char| {
        invisible(c)
            || matches!(c, '"' | '%' | '!')
            || (!c.is_ascii()
                && (!c.is_alphanumeric()
                    || ('\u{02B0}'..='\u{02FF}').contains(&c)
                    || ('\u{FF00}'..='\u{FFEF}').contains(&c)))
    };
    for (line, permission) in advice.dsacls.iter().zip([
        "riposte-action@corp.example.test:RPWP;userAccountControl;user",
        "riposte-action@corp.example.test:CA;Reset Password;user",
    ]) {
        if container.chars().any(cmd_unsafe) {
            prop_assert!(
                line.starts_with("REM riposte left out this dsacls line: "),
                "{line}"
            );
            prop_assert!(
                cmd_argv(line).is_some(),
                "the refusal itself is inert: {line}"
            );
            continue;
        }
        let argv = cmd_argv(line);
        prop_assert!(argv.is_some(), "cmd.exe would act on {line}");
        let expected: Vec<String> = ["dsacls", container, "/I:S", "/G", permission]
            .iter()
            .map(|s| s.to_string())
            .collect();
        prop_assert_eq!(argv.unwrap(), expected, "{}", line);
    }

    // PowerShell: the path is one single-quoted string holding exactly AD:<DN>.
    for line in &advice.powershell {
        if container.chars().any(invisible) {
            prop_assert!(
                line.starts_with("# riposte left out this PowerShell line"),
                "{line}"
            );
            continue;
        }
        let rest = line.strip_prefix("$p = ");
        prop_assert!(rest.is_some(), "{line}");
        let parsed = powershell_string(rest.unwrap());
        prop_assert!(parsed.is_some(), "{line}");
        let (path, after) = parsed.unwrap();
        prop_assert_eq!(path, format!("AD:{container}"));
        prop_assert!(
            after.starts_with("; $acl = Get-Acl -LiteralPath $p; "),
            "{line}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn printed_lines_pass_any_dn_through_as_one_argument(ou in value(), trustee in value()) {
        check(
            &format!("OU={ou}{DOMAIN_TAIL}"),
            &format!("CN={trustee},OU=Service{DOMAIN_TAIL}"),
        )?;
    }
}

#[test]
fn every_metacharacter_at_once() {
    let all: String = METACHARACTERS.iter().filter(|c| !invisible(**c)).collect();
    for ou in [
        all.clone(),
        INJECTIONS.concat(),
        "x'$(touch ~/pwned)'".to_string(),
    ] {
        check(
            &format!("OU={ou}{DOMAIN_TAIL}"),
            "CN=riposte-action,OU=Service,DC=corp,DC=example,DC=test",
        )
        .unwrap();
    }
    // A line break is refused everywhere, with the reason.
    let advice = advice(
        "OU=a\n$(touch pwned),DC=corp,DC=example,DC=test",
        "CN=riposte-action,DC=corp,DC=example,DC=test",
    );
    for line in advice
        .samba_tool
        .iter()
        .chain(&advice.dsacls)
        .chain(&advice.powershell)
    {
        assert!(line.contains("control character"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}
