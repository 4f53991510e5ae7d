//! The one place where values riposte did not choose (DNs read from the
//! directory, names from the config) are quoted into the command lines it
//! prints for a person to paste: POSIX sh (samba-tool), cmd.exe (dsacls) and
//! PowerShell. The directory is hostile input: anyone delegated to create an
//! OU chooses its name, and the printed line runs as Administrator.
//!
//! A value that cannot be quoted safely for a shell is refused, and the line
//! becomes a comment in that shell's syntax saying why and what to do
//! instead: pasting it does nothing.

use std::fmt;

/// The shell a printed line is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// POSIX sh (and bash, dash, zsh): samba-tool lines. Not fish or csh,
    /// whose single quotes follow other rules.
    Posix,
    /// Windows cmd.exe: dsacls lines.
    Cmd,
    /// Windows PowerShell and PowerShell 7.
    PowerShell,
}

impl fmt::Display for Shell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Shell::Posix => "sh",
            Shell::Cmd => "cmd.exe",
            Shell::PowerShell => "PowerShell",
        })
    }
}

/// Why a value cannot be quoted for a shell. The messages hold no character
/// any of the shells treats specially: they end up in comment lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unquotable {
    #[error(
        "a value in it contains a control character, such as a line break or a terminal escape, which would split the line or hide part of it"
    )]
    ControlCharacter,
    #[error(
        "a value in it contains an invisible character that reorders or breaks displayed text, so the line would not read as it runs"
    )]
    DisplayControl,
    #[error(
        "a value in it contains a double quote, a percent sign or an exclamation mark, which cmd.exe ends a quoted string on or expands, with no reliable escape"
    )]
    CmdMetacharacter,
    #[error(
        "a value in it contains a character outside ASCII that is not a letter or digit, which Windows may turn into a quote or another cmd.exe metacharacter"
    )]
    CmdNonAscii,
}

/// Characters PowerShell takes as a single quote (it also ends a
/// single-quoted string on the typographic ones).
const POWERSHELL_SINGLE_QUOTES: [char; 5] = ['\'', '\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}'];

/// Invisible characters that change how a line is displayed (bidirectional
/// overrides and isolates, line and paragraph separators).
fn is_display_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}'
    )
}

fn check_visible(value: &str) -> Result<(), Unquotable> {
    if value.chars().any(char::is_control) {
        return Err(Unquotable::ControlCharacter);
    }
    if value.chars().any(is_display_control) {
        return Err(Unquotable::DisplayControl);
    }
    Ok(())
}

/// Whether cmd.exe leaves `c` alone inside double quotes whatever its
/// settings (delayed expansion, code page): printable ASCII but `"`, `%`
/// and `!`, or a letter or digit of another script. Modifier letters and
/// fullwidth forms are left out: Windows' best-fit conversion maps some of
/// them to `"` and other metacharacters.
fn cmd_safe(c: char) -> Result<(), Unquotable> {
    match c {
        '"' | '%' | '!' => Err(Unquotable::CmdMetacharacter),
        ' '..='~' => Ok(()),
        '\u{02B0}'..='\u{02FF}' | '\u{FF00}'..='\u{FFEF}' => Err(Unquotable::CmdNonAscii),
        c if c.is_alphanumeric() => Ok(()),
        _ => Err(Unquotable::CmdNonAscii),
    }
}

/// `value` as one word of `shell`, passed through byte for byte, or why it
/// cannot be.
pub fn quote(shell: Shell, value: &str) -> Result<String, Unquotable> {
    check_visible(value)?;
    Ok(match shell {
        // Nothing is special inside single quotes but the quote itself.
        Shell::Posix => format!("'{}'", value.replace('\'', r"'\''")),
        Shell::Cmd => {
            value.chars().try_for_each(cmd_safe)?;
            // The program's own argument parser (MSVC rules) reads backslashes
            // before the closing quote as escapes: 2n of them give n.
            let trailing = value.len() - value.trim_end_matches('\\').len();
            format!("\"{value}{}\"", "\\".repeat(trailing))
        }
        // A doubled quote character stands for itself.
        Shell::PowerShell => {
            let mut out = String::with_capacity(value.len() + 2);
            out.push('\'');
            for c in value.chars() {
                if POWERSHELL_SINGLE_QUOTES.contains(&c) {
                    out.push(c);
                }
                out.push(c);
            }
            out.push('\'');
            out
        }
    })
}

/// The line to print: the command `built` from quoted values, or, when a
/// value could not be quoted, a comment in `shell`'s syntax naming the
/// `program` whose line was left out, why, and what to do instead.
pub fn printable(shell: Shell, program: &str, built: Result<String, Unquotable>) -> String {
    match built {
        Ok(line) => line,
        Err(why) => {
            let (comment, instead) = match shell {
                Shell::Posix | Shell::PowerShell => (
                    "#",
                    "grant the right by hand, for example with the Delegation of Control wizard, or rename the object",
                ),
                Shell::Cmd => (
                    "REM",
                    "use the PowerShell line, which quotes it safely, or grant the right by hand",
                ),
            };
            format!("{comment} riposte left out this {program} line: {why}. Instead, {instead}.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_single_quotes_everything() {
        assert_eq!(
            quote(Shell::Posix, "OU=x'$(touch ~/pwned)',DC=corp").unwrap(),
            r"'OU=x'\''$(touch ~/pwned)'\'',DC=corp'"
        );
        assert_eq!(quote(Shell::Posix, "").unwrap(), "''");
        assert_eq!(
            quote(Shell::Posix, "a\nb"),
            Err(Unquotable::ControlCharacter)
        );
        assert_eq!(
            quote(Shell::Posix, "a\u{202E}b"),
            Err(Unquotable::DisplayControl)
        );
    }

    #[test]
    fn cmd_refuses_what_it_cannot_quote() {
        assert_eq!(
            quote(Shell::Cmd, "OU=a & b | c ^ (d) <e>,DC=corp").unwrap(),
            "\"OU=a & b | c ^ (d) <e>,DC=corp\""
        );
        assert_eq!(
            quote(Shell::Cmd, "OU=Québec,DC=corp").unwrap(),
            "\"OU=Québec,DC=corp\""
        );
        assert_eq!(quote(Shell::Cmd, "a\\").unwrap(), "\"a\\\\\"");
        for hostile in ["a\"&calc", "%PATH%", "!x!"] {
            assert_eq!(
                quote(Shell::Cmd, hostile),
                Err(Unquotable::CmdMetacharacter),
                "{hostile}"
            );
        }
        for hostile in ["a\u{FF02}b", "a\u{02BA}b", "a\u{201C}b"] {
            assert_eq!(
                quote(Shell::Cmd, hostile),
                Err(Unquotable::CmdNonAscii),
                "{hostile}"
            );
        }
    }

    #[test]
    fn powershell_doubles_every_single_quote_it_knows() {
        assert_eq!(
            quote(Shell::PowerShell, "AD:OU=x'; calc; '").unwrap(),
            "'AD:OU=x''; calc; '''"
        );
        assert_eq!(
            quote(
                Shell::PowerShell,
                "a\u{2018}b\u{2019}c\u{201A}d\u{201B}$(x)"
            )
            .unwrap(),
            "'a\u{2018}\u{2018}b\u{2019}\u{2019}c\u{201A}\u{201A}d\u{201B}\u{201B}$(x)'"
        );
    }

    #[test]
    fn refusals_are_inert_comments() {
        for shell in [Shell::Posix, Shell::Cmd, Shell::PowerShell] {
            for why in [
                Unquotable::ControlCharacter,
                Unquotable::DisplayControl,
                Unquotable::CmdMetacharacter,
                Unquotable::CmdNonAscii,
            ] {
                let line = printable(shell, "dsacls", Err(why));
                assert!(line.starts_with('#') || line.starts_with("REM "), "{line}");
                // Letters, digits, spaces and plain punctuation only: nothing any shell expands.
                assert!(
                    line.chars()
                        .skip(1)
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | ',' | '.' | ':')),
                    "{line}"
                );
            }
        }
    }
}
