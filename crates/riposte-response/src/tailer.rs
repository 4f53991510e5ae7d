//! The tailer: follows a DC's Samba JSON audit log (from its end, or from the position saved
//! at the last run), through truncation and rotation, and feeds every audit record to the
//! [`Pipeline`] as input `tail:<forest>`. It reads as soon as the file system reports a change
//! in the log's directory ([`wake`]), and at each poll as a safety net (notifications lost or
//! unsupported).

mod wake;

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use riposte_events::{Location, MAX_JSON_OBJECT, parse_json_event};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::pipeline::{Input, Pipeline};

/// Which file a tailer follows, and how `riposte serve` names its events.
#[derive(Debug, Clone)]
pub struct TailSource {
    /// e.g. the forest's name; alerts record `tail:<name>`.
    pub name: String,
    pub path: PathBuf,
    /// Where the position read up to is kept (`<inode> <offset>`), so a restart resumes
    /// there instead of at the end. `None`: always start at the end.
    pub offset_file: Option<PathBuf>,
}

/// Where a tailer is in its file.
struct TailState {
    path: PathBuf,
    file: Option<std::fs::File>,
    inode: u64,
    offset: u64,
    line_no: u64,
    /// A line not yet ended by `\n`.
    partial: Vec<u8>,
    /// Skipping the rest of a line longer than `MAX_JSON_OBJECT`.
    skipping: bool,
}

/// Most bytes read per poll, so one huge append does not hold the pipeline.
const READ_PER_POLL: usize = 4 << 20;

impl TailState {
    fn new(path: PathBuf) -> Self {
        TailState {
            path,
            file: None,
            inode: 0,
            offset: 0,
            line_no: 0,
            partial: Vec::new(),
            skipping: false,
        }
    }

    /// Opens the file; `from_end` at start, from the beginning after a rotation.
    fn open(&mut self, from_end: bool) -> std::io::Result<()> {
        let mut f = std::fs::File::open(&self.path)?;
        let meta = f.metadata()?;
        self.inode = meta.ino();
        self.offset = if from_end { meta.len() } else { 0 };
        f.seek(SeekFrom::Start(self.offset))?;
        self.file = Some(f);
        self.line_no = 0;
        self.partial.clear();
        self.skipping = false;
        Ok(())
    }

    /// Starts where the saved position says, if it names this same file and lies within it;
    /// otherwise at the end. Returns whether it resumed.
    fn open_resuming(&mut self, saved: Option<(u64, u64)>) -> std::io::Result<bool> {
        self.open(true)?;
        if let Some((inode, offset)) = saved
            && inode == self.inode
            && offset <= self.offset
        {
            self.offset = offset;
            if let Some(f) = self.file.as_mut() {
                f.seek(SeekFrom::Start(offset))?;
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// The position of the end of the last whole line read: what a restart resumes from.
    fn position(&self) -> (u64, u64) {
        let pending = if self.skipping {
            0
        } else {
            self.partial.len() as u64
        };
        (self.inode, self.offset.saturating_sub(pending))
    }

    /// Complete new lines since the last poll, with their line numbers in this file (counted
    /// from where the tailer started reading it). Detects rotation (a new inode at the path)
    /// and truncation (the file shrank) and starts the new content from its beginning.
    fn poll(&mut self) -> std::io::Result<Vec<(u64, Vec<u8>)>> {
        if self.file.is_none() {
            self.open(false)?;
        }
        let mut lines = Vec::new();
        // Drain the open file first: a rotated-away file may still have a tail to read.
        self.read_new(&mut lines)?;
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.ino() != self.inode => {
                info!(path = %self.path.display(), "audit log rotated; following the new file");
                self.open(false)?;
                self.read_new(&mut lines)?;
            }
            Ok(meta) if meta.len() < self.offset => {
                info!(path = %self.path.display(), "audit log truncated; reading from its start");
                self.open(false)?;
                self.read_new(&mut lines)?;
            }
            Ok(_) => {}
            // Between rename and re-creation: keep the old file and look again next time.
            Err(_) => {}
        }
        Ok(lines)
    }

    fn read_new(&mut self, lines: &mut Vec<(u64, Vec<u8>)>) -> std::io::Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        while total < READ_PER_POLL {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n;
            self.offset += n as u64;
            for chunk in buf[..n].split_inclusive(|b| *b == b'\n') {
                let ended = chunk.ends_with(b"\n");
                let body = chunk.strip_suffix(b"\n").unwrap_or(chunk);
                if !self.skipping {
                    self.partial.extend_from_slice(body);
                    if self.partial.len() > MAX_JSON_OBJECT {
                        warn!(path = %self.path.display(), line = self.line_no + 1, "audit log line too long, skipped");
                        self.partial.clear();
                        self.skipping = true;
                    }
                }
                if ended {
                    self.line_no += 1;
                    if !self.skipping {
                        lines.push((self.line_no, std::mem::take(&mut self.partial)));
                    }
                    self.skipping = false;
                }
            }
        }
        Ok(())
    }
}

/// Follows `source.path` from its end until `stop` turns true, feeding every Samba audit
/// record to the pipeline. Reads when the file system reports a change and every `poll` (the
/// safety net). Memory is bounded by one line (`MAX_JSON_OBJECT`) and one read.
pub async fn tail(
    source: TailSource,
    pipeline: Arc<Pipeline>,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let input = Input::tail(&source.name);
    let origin = source.path.display().to_string();
    let mut state = TailState::new(source.path.clone());
    let mut wake = wake::Wake::new(&source.path);
    let saved = source.offset_file.as_deref().and_then(read_position);
    match state.open_resuming(saved) {
        Ok(true) => {
            info!(path = %origin, offset = state.offset, "resuming the audit log where it was left")
        }
        Ok(false) => {}
        Err(e) => {
            warn!(path = %origin, error = %e, "cannot open the audit log yet; will keep trying")
        }
    }
    let mut last_saved = saved;
    let mut last_save_at: Option<Instant> = None;
    info!(path = %origin, forest = %source.name, "tailing the Samba audit log");
    loop {
        let (back, polled) = match tokio::task::spawn_blocking(move || {
            let r = state.poll();
            (state, r)
        })
        .await
        {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %e, "the tailer's read task failed; tailing stops");
                return;
            }
        };
        state = back;
        match polled {
            Ok(lines) if !lines.is_empty() => {
                let mut events = Vec::new();
                for (n, line) in lines {
                    let loc = Location {
                        file: origin.clone(),
                        record: None,
                        line: Some(n),
                    };
                    // Lines without a JSON object are Samba's plain log text.
                    if let Some(start) = line.iter().position(|b| *b == b'{') {
                        match parse_json_event(&line[start..], loc) {
                            Ok(Some(ev)) => events.push(ev),
                            Ok(None) => {}
                            Err(e) => {
                                pipeline.stats().unparsed(&input.name, 1);
                                warn!(error = %e, "unreadable audit record skipped")
                            }
                        }
                    }
                }
                let newest = events.iter().filter_map(|e| e.time).max();
                if let Err(e) = pipeline.process(&events, &input).await {
                    warn!(error = %e, "alerts could not be stored");
                }
                let age = newest.map(|t| (time::OffsetDateTime::now_utc() - t).as_seconds_f64());
                pipeline
                    .stats()
                    .tail(&input.name, bytes_behind(&state), age);
            }
            Ok(_) => {
                pipeline
                    .stats()
                    .tail(&input.name, bytes_behind(&state), None);
            }
            Err(e) => {
                warn!(path = %origin, error = %e, "cannot read the audit log; will retry");
                state.file = None;
            }
        }
        // At most once per `poll`, as when the tailer only polled: a busy DC wakes it for every
        // write, and a restart re-reads at most that much (a full disk warns as often, no more).
        if last_save_at.is_none_or(|at| at.elapsed() >= poll) {
            save(&source, &state, &mut last_saved);
            last_save_at = Some(Instant::now());
        }
        wake.keep_watching();
        tokio::select! {
            _ = wake.changed() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
    }
    save(&source, &state, &mut last_saved);
}

/// Bytes of the log past what was read (0 when it cannot be looked at).
fn bytes_behind(state: &TailState) -> u64 {
    std::fs::metadata(&state.path)
        .map(|m| m.len().saturating_sub(state.position().1))
        .unwrap_or(0)
}

/// Saves the position read up to, if it moved since `last_saved`.
fn save(source: &TailSource, state: &TailState, last_saved: &mut Option<(u64, u64)>) {
    if let Some(file) = &source.offset_file
        && state.file.is_some()
        && *last_saved != Some(state.position())
    {
        let position = state.position();
        match save_position(file, position) {
            Ok(()) => *last_saved = Some(position),
            Err(e) => warn!(path = %file.display(), error = %e, "cannot save the tail position"),
        }
    }
}

fn read_position(file: &std::path::Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(file).ok()?;
    let (inode, offset) = text.trim().split_once(' ')?;
    Some((inode.parse().ok()?, offset.parse().ok()?))
}

/// Written to a temporary file and renamed, so a crash leaves the old or the new position.
fn save_position(file: &std::path::Path, (inode, offset): (u64, u64)) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, format!("{inode} {offset}\n"))?;
    std::fs::rename(&tmp, file)
}

/// How often a tailer reads without being woken: the safety net under file notifications
/// (and the pace on file systems without them).
const SAFETY_POLL: Duration = Duration::from_millis(500);

/// Starts a tailer per source; they stop when `stop` turns true.
pub fn start_tailers(
    sources: &[TailSource],
    pipeline: &Arc<Pipeline>,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    sources
        .iter()
        .map(|s| tokio::spawn(tail(s.clone(), pipeline.clone(), SAFETY_POLL, stop.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &std::path::Path, text: &[u8]) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text)
            .unwrap();
    }

    fn texts(lines: Vec<(u64, Vec<u8>)>) -> Vec<(u64, String)> {
        lines
            .into_iter()
            .map(|(n, l)| (n, String::from_utf8(l).unwrap()))
            .collect()
    }

    #[test]
    fn the_tailer_starts_at_the_end_waits_for_whole_lines_and_follows_truncation_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samba.log");
        append(&path, b"old line\n");
        let mut t = TailState::new(path.clone());
        t.open(true).unwrap();
        assert!(t.poll().unwrap().is_empty(), "history is not replayed");
        append(&path, b"one\ntw");
        assert_eq!(texts(t.poll().unwrap()), vec![(1, "one".into())]);
        append(&path, b"o\n");
        assert_eq!(texts(t.poll().unwrap()), vec![(2, "two".into())]);
        // Truncated in place (copytruncate): read from the start again.
        std::fs::write(&path, b"x\n").unwrap();
        assert_eq!(texts(t.poll().unwrap()), vec![(1, "x".into())]);
        // Rotated: the rest of the old file, then the new one from its start.
        append(&path, b"last of old\n");
        std::fs::rename(&path, dir.path().join("samba.log.1")).unwrap();
        assert_eq!(texts(t.poll().unwrap()), vec![(2, "last of old".into())]);
        append(&path, b"first of new\n");
        assert_eq!(texts(t.poll().unwrap()), vec![(1, "first of new".into())]);
        // A restart resumes after the last whole line of the same file, not at its end.
        append(&path, b"half");
        let saved = t.position();
        append(&path, b" line\nmore\n");
        let mut again = TailState::new(path.clone());
        assert!(again.open_resuming(Some(saved)).unwrap());
        assert_eq!(
            texts(again.poll().unwrap()),
            vec![(1, "half line".into()), (2, "more".into())]
        );
        let mut elsewhere = TailState::new(path.clone());
        assert!(!elsewhere.open_resuming(Some((saved.0 + 1, 0))).unwrap());
        assert!(
            elsewhere.poll().unwrap().is_empty(),
            "another file: from the end"
        );
        save_position(&dir.path().join("pos/corp.offset"), saved).unwrap();
        assert_eq!(
            read_position(&dir.path().join("pos/corp.offset")),
            Some(saved)
        );
        // A line longer than one record may be is skipped, and the next one is read.
        let mut long = vec![b'a'; MAX_JSON_OBJECT + 10];
        long.extend_from_slice(b"\nafter\n");
        append(&path, &long);
        assert_eq!(
            texts(t.poll().unwrap()),
            vec![
                (2, "half line".into()),
                (3, "more".into()),
                (5, "after".into())
            ],
            "line 4 is the long one"
        );
    }

    /// Samba's line for a failed Kerberos logon of `user` from `from`, dated now (the tailer is
    /// a live input: events far from now are not evidence).
    fn failure(user: &str, from: &str) -> String {
        let ts = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        format!(
            "[2026/12/08 00:00:00.000000,  2] ../../auth/auth_log.c:876(log_authentication_event_json)\n  {{\"timestamp\": \"{ts}\", \"type\": \"Authentication\", \"Authentication\": {{\"version\": {{\"major\": 1, \"minor\": 2}}, \"eventId\": 4625, \"logonType\": 3, \"status\": \"NT_STATUS_WRONG_PASSWORD\", \"remoteAddress\": \"ipv4:{from}:5000\", \"serviceDescription\": \"Kerberos KDC\", \"clientAccount\": \"{user}@CORP.EXAMPLE.TEST\", \"becameAccount\": \"{user}\", \"becameDomain\": \"CORP\"}}}}\n"
        )
    }

    fn spray_from(from: &str) -> String {
        ["s1", "s2", "s3", "s4", "s5"]
            .iter()
            .map(|u| failure(u, from))
            .collect()
    }

    /// The tailer reads a line as soon as it is written (and a rotated-in file as soon as it
    /// appears), not at its next poll: the poll here is 60 s, and each alert is awaited for at
    /// most 10 s. The bound only proves that the poll was not waited for; it is no timing
    /// measurement (bench/event.sh measures).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_lines_and_rotations_are_read_at_once_not_at_the_next_poll() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log").join("samba.log");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        append(&path, b"history\n");
        let store = Arc::new(
            riposte_store_sql::SqliteStore::open(&dir.path().join("l.sqlite"))
                .await
                .unwrap(),
        );
        let pipeline = Arc::new(Pipeline::new(riposte_detect::Detector::builtin(), store));
        let mut alerts = pipeline.subscribe();
        let (stop_tx, stop_rx) = watch::channel(false);
        let offset_file = dir.path().join("corp.offset");
        let source = TailSource {
            name: "corp".into(),
            path: path.clone(),
            offset_file: Some(offset_file.clone()),
        };
        let tailer = tokio::spawn(tail(
            source,
            pipeline.clone(),
            Duration::from_secs(60),
            stop_rx,
        ));
        // The tailer saves its position after its first read, which comes after its watch is
        // set up: from then on, a write is noticed.
        for _ in 0..500 {
            if offset_file.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(offset_file.exists(), "the tailer never read the log");
        let within = Duration::from_secs(10);

        append(&path, spray_from("10.9.9.1").as_bytes());
        let alert = tokio::time::timeout(within, alerts.recv())
            .await
            .expect("the appended spray was not read before the 60 s poll")
            .unwrap();
        assert_eq!(alert.alert.input, "tail:corp");
        assert!(
            alert
                .alert
                .entities
                .sources
                .contains(&"10.9.9.1".to_string()),
            "{alert:?}"
        );

        // Rotated: the new file at the path is read from its start, as soon as it is written.
        std::fs::rename(&path, path.with_extension("log.1")).unwrap();
        append(&path, spray_from("10.9.9.2").as_bytes());
        let alert = tokio::time::timeout(within, alerts.recv())
            .await
            .expect("the rotated-in file was not read before the 60 s poll")
            .unwrap();
        assert!(
            alert
                .alert
                .entities
                .sources
                .contains(&"10.9.9.2".to_string()),
            "{alert:?}"
        );

        stop_tx.send(true).unwrap();
        tokio::time::timeout(within, tailer)
            .await
            .expect("the tailer stops when told")
            .unwrap();
        // Positions are saved at most once per poll; a clean stop saves where reading ended.
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            read_position(&offset_file),
            Some((meta.ino(), meta.len())),
            "a restart resumes after the last line read"
        );
    }
}
