//! A TCP fault proxy owned by the test harness: it sits between riposte and a
//! lab DC and, connection by connection, forwards, delays, black-holes,
//! resets, or cuts the connection after a given number of bytes in one
//! direction (so in the middle of a modify, or of its read-back).
//!
//! It forwards bytes, not LDAP: TLS passes through untouched, so riposte
//! verifies the DC's own certificate. Listen on the DC's address (another port)
//! and the certificate's IP subjectAltName still matches.
//!
//! Plain threads and blocking sockets: no runtime to share with the test. A
//! reset is a real RST (SO_LINGER 0), not a polite FIN.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Which way bytes travel through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From riposte to the DC (requests).
    ToServer,
    /// From the DC to riposte (responses).
    ToClient,
}

/// How the bytes of a connection are cut into chunks (what `CutAtChunk`
/// counts and the traces list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Whatever one read returned: TCP may merge two messages into one.
    Reads,
    /// Whole TLS records (5-byte header, then its length): one per message of
    /// a TLS client or server, however TCP delivered them.
    TlsRecords,
}

/// What happens to one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    Pass,
    /// Hold every chunk this long before forwarding it (a slow link or DC).
    Delay(Duration),
    /// Accept, never connect upstream, read and discard: a black hole.
    BlackHole,
    /// Accept, then reset at once (RST): the DC refuses the client.
    Reset,
    /// Forward until `bytes` have passed in `direction`, then reset both sides;
    /// the rest of the chunk that crossed the mark is never delivered.
    CutAfter { direction: Direction, bytes: u64 },
    /// When chunk `index` (from 0) arrives in `direction`, forward its first
    /// `keep` bytes (all of it with `None`), then reset both sides. A client
    /// that waits for each answer sends one request per chunk, so this cuts
    /// at a given message whatever the sizes of the messages before it.
    CutAtChunk {
        direction: Direction,
        index: usize,
        keep: Option<usize>,
    },
}

/// What one connection carried.
#[derive(Debug, Clone)]
pub struct ConnectionTrace {
    pub fault: Fault,
    /// Sizes of the chunks forwarded to the DC, in order.
    pub to_server: Vec<u64>,
    /// Sizes of the chunks forwarded to riposte, in order.
    pub to_client: Vec<u64>,
    /// The cut or reset happened.
    pub fired: bool,
}

impl ConnectionTrace {
    /// Cumulative byte counts at the end of each chunk in `direction`: the
    /// points where a cut falls between two messages.
    pub fn boundaries(&self, direction: Direction) -> Vec<u64> {
        let sizes = match direction {
            Direction::ToServer => &self.to_server,
            Direction::ToClient => &self.to_client,
        };
        sizes
            .iter()
            .scan(0, |sum, n| {
                *sum += n;
                Some(*sum)
            })
            .collect()
    }
}

struct State {
    /// Faults for the next connections, in order of arrival.
    plan: VecDeque<Fault>,
    /// The fault for every connection once the plan is used up.
    then: Fault,
    traces: Vec<Arc<Mutex<ConnectionTrace>>>,
}

/// A running proxy; stops accepting when dropped (connections already
/// forwarded run until either side closes them).
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on `listen_ip` (an ephemeral port) and forwards to `upstream`.
    pub fn start(listen_ip: &str, upstream: SocketAddr) -> FaultProxy {
        FaultProxy::start_framed(listen_ip, upstream, Framing::Reads)
    }

    /// A proxy for TLS traffic (LDAPS): chunks are whole TLS records.
    pub fn start_tls(listen_ip: &str, upstream: SocketAddr) -> FaultProxy {
        FaultProxy::start_framed(listen_ip, upstream, Framing::TlsRecords)
    }

    fn start_framed(listen_ip: &str, upstream: SocketAddr, framing: Framing) -> FaultProxy {
        let listener = TcpListener::bind((listen_ip, 0))
            .unwrap_or_else(|e| panic!("fault proxy: cannot listen on {listen_ip}: {e}"));
        listener
            .set_nonblocking(true)
            .expect("fault proxy: non-blocking listener");
        let addr = listener.local_addr().expect("fault proxy: local address");
        let state = Arc::new(Mutex::new(State {
            plan: VecDeque::new(),
            then: Fault::Pass,
            traces: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || accept_loop(listener, upstream, framing, state, stop))
        };
        FaultProxy {
            addr,
            upstream,
            state,
            stop,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// `ldaps://<ip>:<port>` of the proxy, for a forest's `dcs`.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://{}", self.addr)
    }

    /// The next connections get `faults` in order, every later one `then`.
    pub fn plan(&self, faults: Vec<Fault>, then: Fault) {
        let mut state = self.state.lock().unwrap();
        state.plan = faults.into();
        state.then = then;
    }

    /// What every connection so far carried, oldest first.
    pub fn traces(&self) -> Vec<ConnectionTrace> {
        let state = self.state.lock().unwrap();
        state
            .traces
            .iter()
            .map(|t| t.lock().unwrap().clone())
            .collect()
    }

    /// Forgets the traces of past connections.
    pub fn clear_traces(&self) {
        self.state.lock().unwrap().traces.clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    framing: Framing,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                let (fault, trace) = {
                    let mut s = state.lock().unwrap();
                    let fault = s.plan.pop_front().unwrap_or_else(|| s.then.clone());
                    let trace = Arc::new(Mutex::new(ConnectionTrace {
                        fault: fault.clone(),
                        to_server: Vec::new(),
                        to_client: Vec::new(),
                        fired: false,
                    }));
                    s.traces.push(trace.clone());
                    (fault, trace)
                };
                std::thread::spawn(move || serve(client, upstream, fault, framing, trace));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Closes with RST: SO_LINGER 0, then shutting the read side wakes any thread
/// blocked on it; the RST leaves with the last descriptor's close.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
    let _ = stream.shutdown(Shutdown::Read);
}

fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    fault: Fault,
    framing: Framing,
    trace: Arc<Mutex<ConnectionTrace>>,
) {
    match fault {
        Fault::Reset => {
            trace.lock().unwrap().fired = true;
            reset(&client);
        }
        Fault::BlackHole => {
            trace.lock().unwrap().fired = true;
            let mut sink = client;
            let mut buf = [0u8; 4096];
            while matches!(sink.read(&mut buf), Ok(n) if n > 0) {}
        }
        Fault::Pass | Fault::Delay(_) | Fault::CutAfter { .. } | Fault::CutAtChunk { .. } => {
            let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
                reset(&client);
                return;
            };
            let _ = server.set_nodelay(true);
            let _ = client.set_nodelay(true);
            let cut = Arc::new(AtomicBool::new(false));
            let counters = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
            let pump = |from: &TcpStream, to: &TcpStream, direction: Direction| {
                let (from, to) = (from.try_clone(), to.try_clone());
                let (client, server) = (client.try_clone(), server.try_clone());
                let (fault, trace, cut, counters) =
                    (fault.clone(), trace.clone(), cut.clone(), counters.clone());
                std::thread::spawn(move || {
                    let (Ok(from), Ok(to), Ok(client), Ok(server)) = (from, to, client, server)
                    else {
                        return;
                    };
                    pump_bytes(
                        from,
                        to,
                        direction,
                        &fault,
                        framing,
                        &trace,
                        &cut,
                        &counters,
                        [&client, &server],
                    );
                })
            };
            let up = pump(&client, &server, Direction::ToServer);
            let down = pump(&server, &client, Direction::ToClient);
            let _ = up.join();
            let _ = down.join();
        }
    }
}

/// The next chunk in `pending`: with TLS framing one whole TLS record (or
/// nothing until it is complete), otherwise everything read so far.
fn next_chunk(pending: &mut Vec<u8>, framing: Framing) -> Option<Vec<u8>> {
    if pending.is_empty() {
        return None;
    }
    let len = match framing {
        Framing::Reads => pending.len(),
        Framing::TlsRecords => {
            if pending.len() < 5 {
                return None;
            }
            let len = 5 + usize::from(u16::from_be_bytes([pending[3], pending[4]]));
            if pending.len() < len {
                return None;
            }
            len
        }
    };
    Some(pending.drain(..len).collect())
}

#[allow(clippy::too_many_arguments)]
fn pump_bytes(
    mut from: TcpStream,
    mut to: TcpStream,
    direction: Direction,
    fault: &Fault,
    framing: Framing,
    trace: &Mutex<ConnectionTrace>,
    cut: &AtomicBool,
    counters: &[AtomicU64; 2],
    both: [&TcpStream; 2],
) {
    let index = match direction {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = Vec::new();
    let mut chunk = 0usize;
    'read: loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(data) = next_chunk(&mut pending, framing) {
            if cut.load(Ordering::SeqCst) {
                break 'read;
            }
            if let Fault::Delay(d) = fault {
                std::thread::sleep(*d);
            }
            let n = data.len();
            let mut forward = n;
            let mut cut_now = false;
            if let Fault::CutAfter {
                direction: at,
                bytes,
            } = fault
                && *at == direction
            {
                let sent = counters[index].load(Ordering::SeqCst);
                if sent + n as u64 >= *bytes {
                    forward = bytes.saturating_sub(sent) as usize;
                    cut_now = true;
                }
            }
            if let Fault::CutAtChunk {
                direction: at,
                index: at_chunk,
                keep,
            } = fault
                && *at == direction
                && *at_chunk == chunk
            {
                forward = keep.map_or(n, |k| k.min(n));
                cut_now = true;
            }
            chunk += 1;
            if forward > 0 {
                // Traced before it is sent: whoever reads the answer sees the trace.
                {
                    let mut t = trace.lock().unwrap();
                    match direction {
                        Direction::ToServer => t.to_server.push(forward as u64),
                        Direction::ToClient => t.to_client.push(forward as u64),
                    }
                }
                counters[index].fetch_add(forward as u64, Ordering::SeqCst);
                if to.write_all(&data[..forward]).is_err() {
                    break 'read;
                }
            }
            if cut_now {
                cut.store(true, Ordering::SeqCst);
                trace.lock().unwrap().fired = true;
                for s in both {
                    reset(s);
                }
                break 'read;
            }
        }
    }
    // The other side is done too: a half-open connection would keep the
    // other pump waiting for ever.
    let _ = to.shutdown(Shutdown::Write);
    if cut.load(Ordering::SeqCst) {
        for s in both {
            reset(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes what it reads, for checking the proxy itself.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().map_while(Result::ok) {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn exchange(proxy: &FaultProxy, message: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(proxy.addr())?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(message)?;
        let mut got = vec![0u8; message.len()];
        stream.read_exact(&mut got)?;
        Ok(got)
    }

    #[test]
    fn passes_bytes_both_ways_and_traces_them() {
        let proxy = FaultProxy::start("127.0.0.1", echo_server());
        assert_eq!(exchange(&proxy, b"hello").unwrap(), b"hello");
        let trace = &proxy.traces()[0];
        assert_eq!(trace.boundaries(Direction::ToServer), vec![5]);
        assert_eq!(trace.boundaries(Direction::ToClient), vec![5]);
        assert!(!trace.fired);
    }

    #[test]
    fn a_cut_delivers_exactly_the_bytes_before_it_then_resets() {
        let proxy = FaultProxy::start("127.0.0.1", echo_server());
        proxy.plan(
            vec![Fault::CutAfter {
                direction: Direction::ToClient,
                bytes: 3,
            }],
            Fault::Pass,
        );
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(b"hello").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
                    break;
                }
            }
        }
        assert_eq!(got, b"hel");
        assert!(proxy.traces()[0].fired);
        // The next connection follows `then`.
        assert_eq!(exchange(&proxy, b"again").unwrap(), b"again");
    }

    #[test]
    fn a_cut_at_a_chunk_counts_chunks_not_bytes() {
        let proxy = FaultProxy::start("127.0.0.1", echo_server());
        proxy.plan(
            vec![Fault::CutAtChunk {
                direction: Direction::ToServer,
                index: 1,
                keep: Some(2),
            }],
            Fault::Pass,
        );
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // One message and its echo, then a second message cut after 2 bytes:
        // the server gets those 2 and nothing more. (Their echo may or may not
        // slip back before the reset: the cut follows the forward at once, the
        // echo server can be quicker.)
        stream.write_all(b"first message").unwrap();
        let mut got = vec![0u8; 13];
        stream.read_exact(&mut got).unwrap();
        assert_eq!(got, b"first message");
        stream.write_all(b"second").unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        assert!(rest.is_empty() || rest == b"se", "{rest:?}");
        let trace = &proxy.traces()[0];
        assert!(trace.fired);
        assert_eq!(trace.to_server, vec![13, 2]);
    }

    #[test]
    fn a_reset_or_black_hole_never_reaches_the_server() {
        let proxy = FaultProxy::start("127.0.0.1", echo_server());
        proxy.plan(vec![Fault::Reset, Fault::BlackHole], Fault::Pass);
        assert!(exchange(&proxy, b"x").is_err(), "reset");
        let mut hole = TcpStream::connect(proxy.addr()).unwrap();
        hole.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        hole.write_all(b"anyone?").unwrap();
        let mut buf = [0u8; 8];
        let err = hole.read(&mut buf).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{err}"
        );
        let traces = proxy.traces();
        assert!(traces[0].fired && traces[1].fired);
        assert!(traces[0].to_server.is_empty() && traces[1].to_server.is_empty());
    }
}
