//! Finds JSON objects in a text stream without reading it whole: one object per line
//! (NDJSON), pretty-printed objects (evtx_dump's `Record N` + indented JSON), or objects
//! embedded in log lines (Samba's `  {"timestamp": ...}` after a `[date] file:line` header).

use std::collections::VecDeque;
use std::io::{self, Read};

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
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Bytes taken for a look-ahead that did not match, to be read again.
    replay: VecDeque<u8>,
    eof: bool,
    line: u64,
    max_len: usize,
    /// The current line's text before an object starts (Samba's `  /usr/sbin/x: ` prefix).
    line_prefix: Vec<u8>,
    done: bool,
}

const MAX_PREFIX: usize = 256;
const MAX_HEADER: usize = 4096;

impl<R: Read> JsonObjects<R> {
    pub fn new(reader: R, max_len: usize) -> Self {
        JsonObjects {
            reader,
            buf: vec![0; 256 * 1024],
            pos: 0,
            len: 0,
            replay: VecDeque::new(),
            eof: false,
            line: 1,
            max_len,
            line_prefix: Vec::new(),
            done: false,
        }
    }

    fn next_byte(&mut self) -> io::Result<Option<u8>> {
        if let Some(b) = self.replay.pop_front() {
            return Ok(Some(b));
        }
        if self.pos == self.len {
            if self.eof {
                return Ok(None);
            }
            loop {
                match self.reader.read(&mut self.buf) {
                    Ok(0) => {
                        self.eof = true;
                        return Ok(None);
                    }
                    Ok(n) => {
                        self.pos = 0;
                        self.len = n;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(Some(b))
    }

    /// After a line break inside a JSON string: is this Samba splitting one message over
    /// log entries (`[date] header` line, then the same prefix, then the rest)? If so, skip
    /// the header and the prefix and return true; if not, give the bytes back and return false.
    fn continuation(&mut self, prefix: &[u8]) -> io::Result<bool> {
        if prefix.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        let mut held = Vec::new();
        let give_back = |me: &mut Self, held: Vec<u8>| {
            for b in held.into_iter().rev() {
                me.replay.push_front(b);
            }
        };
        // The header line.
        match self.next_byte()? {
            Some(b'[') => held.push(b'['),
            Some(b) => {
                held.push(b);
                give_back(self, held);
                return Ok(false);
            }
            None => return Ok(false),
        }
        loop {
            match self.next_byte()? {
                Some(b'\n') => {
                    held.push(b'\n');
                    break;
                }
                Some(b) if held.len() < MAX_HEADER => held.push(b),
                Some(b) => {
                    held.push(b);
                    give_back(self, held);
                    return Ok(false);
                }
                None => {
                    give_back(self, held);
                    return Ok(false);
                }
            }
        }
        let header_len = held.len();
        for &want in prefix {
            match self.next_byte()? {
                Some(b) => {
                    held.push(b);
                    if b != want {
                        give_back(self, held);
                        return Ok(false);
                    }
                }
                None => {
                    give_back(self, held);
                    return Ok(false);
                }
            }
        }
        // Joined: the header line's break is behind us.
        let _ = header_len;
        self.line += 1;
        Ok(true)
    }

    /// Scans forward to the next object; `None` at the end of input.
    fn next_object(&mut self) -> Option<Result<Found, ScanError>> {
        let mut buf: Vec<u8> = Vec::new();
        let mut depth = 0usize;
        let mut in_str = false;
        let mut escape = false;
        let mut start_line = 0;
        let mut too_long = false;
        let mut pending_open = false;
        let mut prefix: Vec<u8> = Vec::new();
        loop {
            let c = match self.next_byte() {
                Ok(Some(c)) => c,
                Ok(None) => {
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
                Err(e) => {
                    self.done = true;
                    return Some(Err(ScanError::Io(e)));
                }
            };
            if depth == 0 {
                if pending_open {
                    if c.is_ascii_whitespace() {
                        if c == b'\n' {
                            self.line += 1;
                        }
                        buf.push(c);
                        continue;
                    }
                    pending_open = false;
                    // `{` followed by `"` or `}` opens JSON; `{anything else` is prose.
                    if c == b'"' || c == b'}' {
                        buf.push(c);
                        if c == b'}' {
                            return Some(Ok(Found {
                                line: start_line,
                                bytes: buf,
                            }));
                        }
                        depth = 1;
                        in_str = true;
                        continue;
                    }
                    buf.clear();
                }
                if c == b'\n' {
                    self.line += 1;
                    self.line_prefix.clear();
                } else if c == b'{' {
                    pending_open = true;
                    start_line = self.line;
                    prefix = std::mem::take(&mut self.line_prefix);
                    buf.clear();
                    buf.push(c);
                } else if self.line_prefix.len() < MAX_PREFIX {
                    self.line_prefix.push(c);
                }
                continue;
            }
            if c == b'\n' {
                self.line += 1;
            }
            if in_str && !escape && c == b'\n' {
                // JSON strings hold no raw line break: either Samba split the message over
                // two log entries (join them), or this object was cut off (return it as is,
                // broken, so the next record is not swallowed).
                match self.continuation(&prefix) {
                    Ok(true) => continue,
                    Ok(false) => {
                        self.line_prefix.clear();
                        return Some(Ok(Found {
                            line: start_line,
                            bytes: buf,
                        }));
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(ScanError::Io(e)));
                    }
                }
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
                }
            } else {
                match c {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
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
                    _ => {}
                }
            }
        }
    }
}

impl<R: Read> Iterator for JsonObjects<R> {
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
    fn samba_messages_split_over_log_entries_are_joined() {
        let input = "  /usr/sbin/samba_spnupdate: {\"a\": \"first par\n[2026/11/26 18:19:23.729426,  0] ../../lib/util/util_runcmd.c:355(h)\n  /usr/sbin/samba_spnupdate: t\", \"b\": {\"c\": 1}}\n  {\"d\": 2}\n";
        assert_eq!(
            lines(input),
            vec![
                (1, "{\"a\": \"first part\", \"b\": {\"c\": 1}}".to_string()),
                (4, "{\"d\": 2}".to_string()),
            ]
        );
    }

    #[test]
    fn oversized_objects_are_reported_and_skipped() {
        let big = format!("{{\"a\": \"{}\"}}\n{{\"b\": 1}}\n", "x".repeat(100));
        let got: Vec<_> = JsonObjects::new(big.as_bytes(), 50).collect();
        assert!(matches!(got[0], Err(ScanError::TooLong { line: 1, .. })));
        assert!(matches!(&got[1], Ok(f) if f.bytes == b"{\"b\": 1}"));
    }
}
