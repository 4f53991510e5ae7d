//! Reading Sigma rule files: every problem named by file and line, so `riposte detect
//! --check-rules` can list them all and a start refused over one says where to look.

use std::fmt;
use std::path::{Path, PathBuf};

use rsigma_parser::SigmaCollection;

/// One rule file that cannot be used, and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub path: PathBuf,
    /// 1-based; the line the parser named, else the best guess (the offending key, the
    /// document's first line).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} line {}: {}",
            self.path.display(),
            self.line,
            self.message
        )
    }
}

/// What a folder (or file) of rules holds: the files' texts in a stable order, and the
/// problems of those that do not parse.
pub(crate) struct Scanned {
    pub(crate) files: Vec<(PathBuf, String)>,
    pub(crate) problems: Vec<RuleProblem>,
}

fn is_rule_file(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}

/// Every `*.yml` / `*.yaml` under each path (a folder, recursively, or one file), sorted
/// per path for a stable result. Unreadable paths are `Err` (nothing to check).
pub(crate) fn scan(paths: &[PathBuf]) -> Result<Scanned, (PathBuf, std::io::Error)> {
    let mut scanned = Scanned {
        files: Vec::new(),
        problems: Vec::new(),
    };
    for root in paths {
        let meta = std::fs::metadata(root).map_err(|e| (root.clone(), e))?;
        let mut found = Vec::new();
        if meta.is_file() {
            found.push(root.clone());
        } else {
            let mut stack = vec![root.clone()];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d).map_err(|e| (d.clone(), e))? {
                    let p = entry.map_err(|e| (d.clone(), e))?.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if is_rule_file(&p) {
                        found.push(p);
                    }
                }
            }
            found.sort();
        }
        for p in found {
            let text = std::fs::read_to_string(&p).map_err(|e| (p.clone(), e))?;
            match check_text(&text) {
                Ok(_) => scanned.files.push((p, text)),
                Err((line, message)) => scanned.problems.push(RuleProblem {
                    path: p,
                    line,
                    message,
                }),
            }
        }
    }
    Ok(scanned)
}

/// Parses one file's text and compiles its detection rules (correlations may name rules of
/// other files, so they are compiled with the whole set); `Err((line, message))` when it
/// cannot be used.
pub(crate) fn check_text(text: &str) -> Result<SigmaCollection, (usize, String)> {
    let message = match parse_and_compile(text) {
        Ok(c) => return Ok(c),
        Err(m) => m,
    };
    Err((locate(text, &message), message))
}

fn parse_and_compile(text: &str) -> Result<SigmaCollection, String> {
    let collection = match rsigma_parser::parse_sigma_yaml(text) {
        Ok(c) if c.errors.is_empty() => c,
        Ok(c) => return Err(c.errors.join("; ")),
        Err(e) => return Err(e.to_string()),
    };
    let mut engine = rsigma_eval::CorrelationEngine::new(Default::default());
    for rule in &collection.rules {
        engine
            .add_rule(rule)
            .map_err(|e| format!("in rule {}: {e}", rule.title))?;
    }
    Ok(collection)
}

/// The line a parser message points at: the one it names (YAML errors say `line N`), else
/// a line of the first document that fails alone holding a token the message quotes (an
/// unknown modifier, a field), else that document's `condition:` line for condition
/// errors, else its first line.
fn locate(text: &str, message: &str) -> usize {
    if let Some(n) = named_line(message) {
        return n;
    }
    let docs = documents(text);
    let Some((start, doc)) = docs.iter().find(|(_, doc)| parse_and_compile(doc).is_err()) else {
        return 1;
    };
    let lines = || doc.lines().enumerate().map(|(i, l)| (start + i, l));
    // The quoted tokens, then the message's last word (`unknown detection identifier: x`).
    let last_word = message
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '_'))
        .filter(|w| w.len() >= 2);
    for token in quoted(message).into_iter().chain(last_word) {
        if let Some((n, _)) = lines().find(|(_, l)| l.contains(token)) {
            return n;
        }
    }
    if message.to_ascii_lowercase().contains("condition")
        && let Some((n, _)) = lines().find(|(_, l)| l.trim_start().starts_with("condition"))
    {
        return n;
    }
    *start
}

/// `... at line 3 column 7` -> 3.
fn named_line(message: &str) -> Option<usize> {
    let (_, rest) = message.split_once("line ")?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok().filter(|n| *n > 0)
}

/// Tokens quoted in a message: 'x', "x" or `x` (at least two characters, so a stray quote
/// does not match every line).
fn quoted(message: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for q in ['\'', '"', '`'] {
        let parts: Vec<&str> = message.split(q).collect();
        for inner in parts.iter().skip(1).step_by(2).take(parts.len() / 2) {
            if inner.len() >= 2 {
                out.push(*inner);
            }
        }
    }
    out
}

/// The YAML documents of a text with their first line (1-based), split at `---` lines.
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = vec![(1, String::new())];
    for (i, line) in text.lines().enumerate() {
        if line.trim_end() == "---" {
            docs.push((i + 2, String::new()));
        } else if let Some((_, doc)) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.retain(|(_, d)| !d.trim().is_empty());
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "title: ok\nid: ok-1\nlogsource: {product: windows, service: security}\ndetection:\n    sel:\n        EventID: 4625\n    condition: sel\n";

    #[test]
    fn problems_name_the_line_of_the_fault() {
        assert!(check_text(GOOD).is_ok());
        // YAML syntax: the parser's own line.
        let (line, _) = check_text("title: x\ndetection:\n  sel: [1, 2\n").unwrap_err();
        assert!((3..=4).contains(&line), "{line}");
        // An unknown modifier, in the second document.
        let bad = format!(
            "{GOOD}---\ntitle: two\nlogsource: {{product: windows}}\ndetection:\n    sel:\n        TargetUserName|bogusmod: x\n    condition: sel\n"
        );
        let (line, message) = check_text(&bad).unwrap_err();
        assert_eq!(line, 13, "{message}");
        // A condition naming no selection: the condition line of that document.
        let (line, message) =
            check_text(&GOOD.replace("condition: sel", "condition: nothere")).unwrap_err();
        assert_eq!(line, 7, "{message}");
    }
}
