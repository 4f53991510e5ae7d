//! Sources -> a stream of [`IdentityEvent`]s, one record at a time.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use evtx::{EvtxChunkData, EvtxParser, ParserSettings};

use crate::model::{IdentityEvent, Location};
use crate::normalize::{Unusable, from_json};
use crate::scan::{JsonObjects, ScanError};

/// Largest JSON object read (bytes). A Windows event is a few KiB; anything this big is broken
/// or hostile, and is reported instead of held in memory.
pub const MAX_JSON_OBJECT: usize = 1 << 20;

const EVTX_MAGIC: &[u8] = b"ElfFile\0";

/// One record (or a whole file) that could not be read; the rest goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ParseError {
    pub location: Location,
    pub message: String,
    /// The file could not be read at all (missing, unreadable, not EVTX despite the magic).
    pub whole_file: bool,
}

/// What a file holds, decided from its first bytes (the extension only breaks a tie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Evtx,
    Json,
}

pub fn detect_kind(path: &Path) -> std::io::Result<InputKind> {
    let mut head = [0u8; 8];
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        let r = f.read(&mut head[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    if &head[..n] == EVTX_MAGIC {
        return Ok(InputKind::Evtx);
    }
    let ext_evtx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("evtx"));
    // An .evtx without the magic is a broken EVTX file, not JSON: say so.
    Ok(
        if ext_evtx && n > 0 && !head[..n].iter().any(|b| *b == b'{' || *b == b'[') {
            InputKind::Evtx
        } else {
            InputKind::Json
        },
    )
}

/// Counts kept while reading.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestStats {
    pub files: u64,
    pub records: u64,
    pub events: u64,
    pub errors: u64,
    /// Records that are fine but not identity events (e.g. Samba `Authorization`).
    pub ignored: u64,
}

/// The chunks of one EVTX source, from a file or from memory.
type Chunks = Box<dyn Iterator<Item = evtx::err::Result<EvtxChunkData>> + Send>;

enum Current {
    None,
    Evtx {
        file: String,
        chunks: Chunks,
        chunk_no: u64,
        settings: Arc<ParserSettings>,
    },
    Json {
        file: String,
        objects: JsonObjects<Box<dyn Read + Send>>,
    },
}

/// Reads files in order, yielding events and per-record errors. Memory is bounded by one EVTX
/// chunk (64 KiB of records) or one JSON object, whatever the file size.
pub struct Ingest {
    paths: VecDeque<PathBuf>,
    current: Current,
    pending: VecDeque<Result<IdentityEvent, ParseError>>,
    stats: IngestStats,
}

impl Ingest {
    pub fn new<I, P>(paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        Ingest {
            paths: paths.into_iter().map(Into::into).collect(),
            current: Current::None,
            pending: VecDeque::new(),
            stats: IngestStats::default(),
        }
    }

    /// Reads one source already in memory (an upload, a forwarded file), EVTX or JSON as told
    /// by its first bytes, exactly as a file of that content would be read. `name` is what
    /// errors call the source.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        let file = name.into();
        let mut ingest = Ingest::new(std::iter::empty::<PathBuf>());
        ingest.stats.files = 1;
        if bytes.starts_with(EVTX_MAGIC) {
            match EvtxParser::from_buffer(bytes) {
                Ok(p) => ingest.current = evtx_source(file, p),
                Err(e) => ingest.pending.push_back(Err(ParseError {
                    location: Location {
                        file,
                        record: None,
                        line: None,
                    },
                    message: format!("not a readable EVTX file ({e}); is it complete?"),
                    whole_file: true,
                })),
            }
        } else {
            ingest.current = Current::Json {
                file,
                objects: JsonObjects::new(Box::new(std::io::Cursor::new(bytes)), MAX_JSON_OBJECT),
            };
        }
        ingest
    }

    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    fn open_next(&mut self) -> bool {
        let Some(path) = self.paths.pop_front() else {
            return false;
        };
        self.stats.files += 1;
        let file = path.display().to_string();
        let fail = |message: String| ParseError {
            location: Location {
                file: file.clone(),
                record: None,
                line: None,
            },
            message,
            whole_file: true,
        };
        let kind = match detect_kind(&path) {
            Ok(k) => k,
            Err(e) => {
                self.pending
                    .push_back(Err(fail(format!("cannot open: {e}"))));
                return true;
            }
        };
        match kind {
            InputKind::Evtx => match EvtxParser::from_path(&path) {
                Ok(p) => self.current = evtx_source(file, p),
                Err(e) => self.pending.push_back(Err(fail(format!(
                    "not a readable EVTX file ({e}); is it complete?"
                )))),
            },
            InputKind::Json => match File::open(&path) {
                Ok(f) => {
                    self.current = Current::Json {
                        file,
                        objects: JsonObjects::new(Box::new(f), MAX_JSON_OBJECT),
                    }
                }
                Err(e) => self
                    .pending
                    .push_back(Err(fail(format!("cannot open: {e}")))),
            },
        }
        true
    }

    /// Fills `pending` from the current file; false when it is exhausted.
    fn pump(&mut self) -> bool {
        match &mut self.current {
            Current::None => false,
            Current::Evtx {
                file,
                chunks,
                chunk_no,
                settings,
            } => {
                let Some(chunk) = chunks.next() else {
                    return false;
                };
                *chunk_no += 1;
                let at = |record: Option<u64>| Location {
                    file: file.clone(),
                    record,
                    line: None,
                };
                let mut data = match chunk {
                    Ok(d) => d,
                    Err(e) => {
                        self.pending.push_back(Err(ParseError {
                            location: at(None),
                            message: format!("chunk {} unreadable: {e}", *chunk_no),
                            whole_file: false,
                        }));
                        return true;
                    }
                };
                let mut parsed = match data.parse(settings.clone()) {
                    Ok(c) => c,
                    Err(e) => {
                        self.pending.push_back(Err(ParseError {
                            location: at(None),
                            message: format!("chunk {} unreadable: {e}", *chunk_no),
                            whole_file: false,
                        }));
                        return true;
                    }
                };
                for rec in parsed.iter() {
                    let item = match rec.and_then(|r| r.into_json_value()) {
                        Ok(r) => {
                            let loc = at(Some(r.event_record_id));
                            match from_json(&r.data, loc.clone(), true) {
                                Ok(mut ev) => {
                                    ev.time = ev.time.or_else(|| {
                                        time::OffsetDateTime::from_unix_timestamp_nanos(
                                            r.timestamp.as_nanosecond(),
                                        )
                                        .ok()
                                    });
                                    Ok(ev)
                                }
                                Err(Unusable::Ignored) => {
                                    self.stats.records += 1;
                                    self.stats.ignored += 1;
                                    continue;
                                }
                                Err(Unusable::Invalid(m)) => Err(ParseError {
                                    location: loc,
                                    message: m,
                                    whole_file: false,
                                }),
                            }
                        }
                        Err(e) => Err(ParseError {
                            location: at(None),
                            message: format!("record in chunk {} unreadable: {e}", *chunk_no),
                            whole_file: false,
                        }),
                    };
                    self.stats.records += 1;
                    self.pending.push_back(item);
                }
                true
            }
            Current::Json { file, objects } => {
                let Some(found) = objects.next() else {
                    return false;
                };
                let at = |line: u64| Location {
                    file: file.clone(),
                    record: None,
                    line: Some(line),
                };
                self.stats.records += 1;
                let item = match found {
                    Ok(f) => match serde_json::from_slice::<serde_json::Value>(&f.bytes) {
                        Ok(v) => match from_json(&v, at(f.line), false) {
                            Ok(ev) => Ok(ev),
                            Err(Unusable::Ignored) => {
                                self.stats.ignored += 1;
                                return true;
                            }
                            Err(Unusable::Invalid(m)) => Err(ParseError {
                                location: at(f.line),
                                message: m,
                                whole_file: false,
                            }),
                        },
                        Err(e) => Err(ParseError {
                            location: at(f.line),
                            message: format!("invalid JSON: {e}"),
                            whole_file: false,
                        }),
                    },
                    Err(ScanError::TooLong { line, limit }) => Err(ParseError {
                        location: at(line),
                        message: format!("object longer than {limit} bytes, skipped"),
                        whole_file: false,
                    }),
                    Err(ScanError::Io(e)) => Err(ParseError {
                        location: at(0),
                        message: format!("read failed: {e}"),
                        whole_file: false,
                    }),
                };
                self.pending.push_back(item);
                true
            }
        }
    }
}

fn evtx_source<T>(file: String, parser: EvtxParser<T>) -> Current
where
    T: Read + std::io::Seek + Send + 'static,
{
    let settings = Arc::new(ParserSettings::new());
    Current::Evtx {
        file,
        chunks: Box::new(parser.with_configuration((*settings).clone()).into_chunks()),
        chunk_no: 0,
        settings,
    }
}

impl Iterator for Ingest {
    type Item = Result<IdentityEvent, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                match &item {
                    Ok(_) => self.stats.events += 1,
                    Err(_) => self.stats.errors += 1,
                }
                return Some(item);
            }
            if !self.pump() {
                self.current = Current::None;
                if !self.open_next() {
                    return None;
                }
            }
        }
    }
}

/// Parses one JSON text (a line or an object) as an event, for callers that receive events
/// one by one (e.g. a future HTTP or syslog input).
pub fn parse_json_event(
    text: &[u8],
    origin: Location,
) -> Result<Option<IdentityEvent>, ParseError> {
    let err = |message: String| ParseError {
        location: origin.clone(),
        message,
        whole_file: false,
    };
    let v: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| err(format!("invalid JSON: {e}")))?;
    match from_json(&v, origin.clone(), false) {
        Ok(ev) => Ok(Some(ev)),
        Err(Unusable::Ignored) => Ok(None),
        Err(Unusable::Invalid(m)) => Err(err(m)),
    }
}

/// Reads only the records of an EVTX file, for the parse-only benchmark baseline.
pub fn evtx_record_count(path: &Path) -> Result<(u64, u64), evtx::err::EvtxError> {
    let mut p = EvtxParser::from_path(path)?;
    let (mut ok, mut bad) = (0, 0);
    for r in p.records_json_value() {
        match r {
            Ok(_) => ok += 1,
            Err(_) => bad += 1,
        }
    }
    Ok((ok, bad))
}
