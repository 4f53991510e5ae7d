//! CSV cells (RFC 4180) that a spreadsheet never runs as a formula: one rule
//! for every export (the Action Center's jobs, readiness gap groups).

/// The text with a leading `'` when a spreadsheet would read it as a formula
/// (or a control character that some spreadsheets strip before reading).
fn defused(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// A cell, quoted only when it must be.
pub fn cell(text: &str) -> String {
    let text = defused(text);
    if text.contains([',', '"', '\n', '\r']) {
        quote(&text)
    } else {
        text
    }
}

/// A cell, always quoted.
pub fn quoted_cell(text: &str) -> String {
    quote(&defused(text))
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_quotes_doubled() {
        assert_eq!(cell("=1+2"), "'=1+2");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("plain"), "plain");
        assert_eq!(quoted_cell("plain"), "\"plain\"");
        assert_eq!(quoted_cell("a\"b"), "\"a\"\"b\"");
        assert_eq!(quoted_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
    }
}
