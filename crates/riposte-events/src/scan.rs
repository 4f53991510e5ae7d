//! Finds JSON objects in a text stream without reading it whole: one object per line
//! (NDJSON), pretty-printed objects (evtx_dump's `Record N` + indented JSON), or objects
//! embedded in log lines (Samba's `  {"timestamp": ...}` after a `[date] file:line` header).

use std::io::{self, BufRead};

/// One object's bytes and the line it starts on (1-based).
pub struct Found {
    pub line: u64,
    pub bytes: Vec<u8>,
}

/// What went wrong with one object: too big. Reading goes on after it.
pub enum ScanError {
    TooLong { line: u64, limit: usize },
    Io(io::Error),
}

pub struct JsonObjects<R> {
    reader: R,
    line: u64,
    max_len: usize,
    /// After a `{` we wait to see a `"` or `}` to know it opens JSON, not prose.
    pending_open: bool,
    done: bool,
}

impl<R: BufRead> JsonObjects<R> {
    pub fn new(reader: R, max_len: usize) -> Self {
        JsonObjects {
            reader,
            line: 1,
            max_len,
            pending_open: false,
            done: false,
        }
    }

    /// Scans forward to the next object; `None` at the end of input.
    fn next_object(&mut self) -> Option<Result<Found, ScanError>> {
        let mut buf: Vec<u8> = Vec::new();
        let mut depth = 0usize;
        let mut in_str = false;
        let mut escape = false;
        let mut start_line = 0;
        let mut too_long = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(ScanError::Io(e)));
                }
            };
            if chunk.is_empty() {
                self.done = true;
                // A truncated object at the end is reported, not silently dropped.
                if depth > 0 {
                    return Some(Ok(Found {
                        line: start_line,
                        bytes: buf,
                    }));
                }
                return None;
            }
            let mut used = 0;
            let mut finished = false;
            for &c in chunk {
                used += 1;
                if depth == 0 {
                    if self.pending_open {
                        if c.is_ascii_whitespace() {
                            if c == b'\n' {
                                self.line += 1;
                            }
                            buf.push(c);
                            continue;
                        }
                        self.pending_open = false;
                        if c == b'"' || c == b'}' {
                            depth = 1;
                            in_str = c == b'"';
                            if c == b'}' {
                                buf.push(c);
                                finished = true;
                                break;
                            }
                            buf.push(c);
                            continue;
                        }
                        buf.clear();
                    }
                    if c == b'\n' {
                        self.line += 1;
                    } else if c == b'{' {
                        self.pending_open = true;
                        start_line = self.line;
                        buf.clear();
                        buf.push(c);
                    }
                    continue;
                }
                if c == b'\n' {
                    self.line += 1;
                }
                if !too_long {
                    if buf.len() >= self.max_len {
                        too_long = true;
                        buf = Vec::new();
                    } else {
                        buf.push(c);
                    }
                }
                if in_str {
                    if escape {
                        escape = false;
                    } else if c == b'\\' {
                        escape = true;
                    } else if c == b'"' {
                        in_str = false;
                    } else if c == b'\n' {
                        // JSON strings hold no raw newline: this object was cut off and a
                        // new record follows. Give back what we have as a broken object.
                        finished = true;
                        break;
                    }
                } else {
                    match c {
                        b'"' => in_str = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                finished = true;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            self.reader.consume(used);
            if finished {
                if too_long {
                    return Some(Err(ScanError::TooLong {
                        line: start_line,
                        limit: self.max_len,
                    }));
                }
                return Some(Ok(Found {
                    line: start_line,
                    bytes: buf,
                }));
            }
        }
    }
}

impl<R: BufRead> Iterator for JsonObjects<R> {
    type Item = Result<Found, ScanError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.next_object()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &str) -> Vec<(u64, String)> {
        JsonObjects::new(input.as_bytes(), 1 << 20)
            .map(|r| match r {
                Ok(f) => (f.line, String::from_utf8(f.bytes).unwrap()),
                Err(_) => (0, "ERR".into()),
            })
            .collect()
    }

    #[test]
    fn finds_objects_in_samba_log_text() {
        let input = "[2026/11/26 18:19:23.729300,  0] x.c:363(f)\n  /usr/sbin/samba_spnupdate: {\"a\": \"}\"}\n  {\"b\": {\"c\": 1}}\nprose {not json} here\n{\"d\":\n  2}\n";
        assert_eq!(
            lines(input),
            vec![
                (2, "{\"a\": \"}\"}".to_string()),
                (3, "{\"b\": {\"c\": 1}}".to_string()),
                (5, "{\"d\":\n  2}".to_string()),
            ]
        );
    }

    #[test]
    fn an_object_cut_by_a_newline_in_a_string_does_not_swallow_the_next() {
        let input = "{\"a\": \"cut\n{\"b\": 1}\n";
        let got = lines(input);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], (2, "{\"b\": 1}".to_string()));
    }

    #[test]
    fn oversized_objects_are_reported_and_skipped() {
        let big = format!("{{\"a\": \"{}\"}}\n{{\"b\": 1}}\n", "x".repeat(100));
        let got: Vec<_> = JsonObjects::new(big.as_bytes(), 50).collect();
        assert!(matches!(got[0], Err(ScanError::TooLong { line: 1, .. })));
        assert!(matches!(&got[1], Ok(f) if f.bytes == b"{\"b\": 1}"));
    }
}
