//! SIGHUP fan-out over Streamable HTTP: 1,000 concurrent sessions against the
//! release binary.
//!
//! Measures, over 50 SIGHUPs, the time from sending the signal to the moment
//! the last of the 1,000 sessions has read its `notifications/tools/list_changed`
//! from its SSE stream (p50, p99, max), and the server's resident memory per
//! idle session (RSS with 1,000 sessions open minus RSS before any, divided by
//! 1,000). Targets: p99 <= 20 ms, <= 50 KB per idle session.
//!
//! The sessions are opened with plain HTTP (one pooled client for the POSTs,
//! one raw TCP connection per SSE stream) rather than 1,000 rmcp clients, so
//! that the client side costs as little as possible: it shares the machine's
//! cores with the server it measures.
//!
//! Run: `cargo bench --bench http_fanout` (`-- --sessions N --sighups N` to
//! change the sizes).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use tokio::sync::{Notify, Semaphore};

const BIN: &str = env!("CARGO_BIN_EXE_dynamic-mcp-server");
const ACCEPT_BOTH: &str = "application/json, text/event-stream";
const WARMUP_SIGHUPS: usize = 5;
/// How many sessions open at once while setting up.
const OPENING_AT_ONCE: usize = 50;
/// Any single wait longer than this means the server is broken, not slow.
const LIMIT: Duration = Duration::from_secs(60);

struct Sizes {
    sessions: usize,
    sighups: usize,
}

fn sizes() -> Sizes {
    let mut sizes = Sizes {
        sessions: 1000,
        sighups: 50,
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--sessions" => sizes.sessions = pair[1].parse().expect("--sessions N"),
            "--sighups" => sizes.sighups = pair[1].parse().expect("--sighups N"),
            _ => {}
        }
    }
    sizes
}

fn main() {
    // `cargo bench` passes --bench; there is nothing else to filter.
    let sizes = sizes();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(sizes));
}

struct Server {
    child: tokio::process::Child,
    pid: i32,
    url: String,
    authority: String,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let pidfile = dir.path().join("server.pid");
        let log = dir.path().join("server.log");
        let child = tokio::process::Command::new(BIN)
            .args(["--http", "127.0.0.1:0", "--pidfile"])
            .arg(&pidfile)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("start the server");
        let pid = child.id().expect("a pid") as i32;
        within("the pidfile", async {
            while !pidfile.exists() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        // The address is logged before the pidfile is written.
        let text = std::fs::read_to_string(&log).expect("the server's log");
        let url = text
            .split_whitespace()
            .find_map(|word| word.strip_prefix("url="))
            .expect("the server logs its url")
            .to_owned();
        let authority = url
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
            .to_owned();
        Self {
            child,
            pid,
            url,
            authority,
            _dir: dir,
            log,
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(self.pid, signal) }, 0);
    }

    /// CPU time the server has used so far (user + system).
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).expect("/proc stat");
        // The fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no memory-safety preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / hz)
    }

    fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).expect("/proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }
}

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("gave up after {LIMIT:?} waiting for {what}"))
}

/// Open one session: initialize, initialized, and its SSE stream. Returns the
/// stream, its response head read.
async fn open_session(http: &reqwest::Client, server: &Server) -> TcpStream {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "fanout-bench", "version": "0" },
        },
    });
    let post = |body: Value, session: Option<&str>| {
        let request = http
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .body(body.to_string());
        match session {
            Some(id) => request.header("mcp-session-id", id),
            None => request,
        }
    };
    let response = post(initialize, None).send().await.expect("initialize");
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    response.bytes().await.expect("the initialize result");
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = post(initialized, Some(&session))
        .send()
        .await
        .expect("initialized");
    assert_eq!(response.status(), 202);

    let mut stream = TcpStream::connect(&server.authority)
        .await
        .expect("connect");
    stream.set_nodelay(true).unwrap();
    let request = format!(
        "GET /mcp HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\n\r\n",
        server.authority
    );
    stream.write_all(request.as_bytes()).await.expect("GET");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream
            .read_exact(&mut byte)
            .await
            .expect("the response head");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// Counts the notifications read across all sessions. The reader that
/// completes a round (every session has read one more) records the moment:
/// cheaper for the client side than reporting each read to one collector.
struct Progress {
    sessions: usize,
    read: AtomicUsize,
    rounds: Mutex<Vec<Instant>>,
    round_done: Notify,
}

impl Progress {
    fn read_one(&self, at: Instant) {
        let read = self.read.fetch_add(1, Ordering::AcqRel) + 1;
        if read.is_multiple_of(self.sessions) {
            self.rounds.lock().unwrap().push(at);
            self.round_done.notify_one();
        }
    }

    /// When round `round` (from 1) completed.
    async fn round(&self, round: usize) -> Instant {
        loop {
            let done = self.round_done.notified();
            if let Some(&at) = self.rounds.lock().unwrap().get(round - 1) {
                return at;
            }
            done.await;
        }
    }
}

/// Read a session's SSE stream, counting each list change as it is read.
async fn read_notifications(mut stream: TcpStream, progress: Arc<Progress>) {
    const NEEDLE: &[u8] = b"notifications/tools/list_changed";
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n @ 1..) = stream.read(&mut chunk).await else {
            return;
        };
        let now = Instant::now();
        buffer.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(at) = buffer[start..]
            .windows(NEEDLE.len())
            .position(|window| window == NEEDLE)
        {
            start += at + NEEDLE.len();
            progress.read_one(now);
        }
        buffer.drain(..start.max(buffer.len().saturating_sub(NEEDLE.len())));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn run(sizes: Sizes) {
    let mut server = Server::start().await;
    let http = reqwest::Client::new();
    // One session first, so the per-session figure leaves out what the first
    // connection allocates once (runtime buffers, rmcp's tables).
    let first = open_session(&http, &server).await;
    let rss_before = server.rss_kib();

    let progress = Arc::new(Progress {
        sessions: sizes.sessions,
        read: AtomicUsize::new(0),
        rounds: Mutex::new(Vec::new()),
        round_done: Notify::new(),
    });
    tokio::spawn(read_notifications(first, Arc::clone(&progress)));
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let started = Instant::now();
    let streams = within(
        "the sessions to open",
        join_all((1..sizes.sessions).map(|_| {
            let opening = Arc::clone(&opening);
            let (http, server) = (&http, &server);
            async move {
                let _permit = opening.acquire().await.unwrap();
                open_session(http, server).await
            }
        })),
    )
    .await;
    let opened_in = started.elapsed();
    for stream in streams {
        tokio::spawn(read_notifications(stream, Arc::clone(&progress)));
    }
    // Let the server finish what opening left behind before measuring memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server.rss_kib();
    let per_session_kib = (rss_after - rss_before) as f64 / (sizes.sessions - 1) as f64;

    let mut fanout = Vec::with_capacity(sizes.sighups);
    let mut cpu_before = server.cpu();
    for round in 0..WARMUP_SIGHUPS + sizes.sighups {
        if round == WARMUP_SIGHUPS {
            cpu_before = server.cpu();
        }
        let sent = Instant::now();
        server.signal(libc::SIGHUP);
        let last = within("every session's notification", progress.round(round + 1)).await;
        if round >= WARMUP_SIGHUPS {
            fanout.push(last - sent);
        }
    }
    let cpu_per_sighup = (server.cpu() - cpu_before) / sizes.sighups as u32;
    // Exactly one notification per session per SIGHUP, none merged or doubled.
    let rounds = WARMUP_SIGHUPS + sizes.sighups;
    assert_eq!(
        progress.read.load(Ordering::Acquire),
        rounds * sizes.sessions
    );
    fanout.sort();

    let stopping = Instant::now();
    server.signal(libc::SIGTERM);
    let status = within("the server to stop", server.child.wait())
        .await
        .expect("wait");
    let stopped_in = stopping.elapsed();
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(status.success(), "the server exited with {status}: {log}");

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "http_fanout: {} sessions, {} SIGHUPs",
        sizes.sessions, sizes.sighups
    );
    println!("  opened all sessions in {:.0} ms", ms(opened_in));
    println!(
        "  SIGHUP -> last session read its notification: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 <= 20 ms)",
        ms(percentile(&fanout, 50.0)),
        ms(percentile(&fanout, 99.0)),
        ms(*fanout.last().unwrap()),
    );
    println!(
        "  server CPU per SIGHUP: {:.2} ms (user + system, all its threads)",
        ms(cpu_per_sighup)
    );
    println!(
        "  SIGTERM with {} sessions open: exited in {:.0} ms",
        sizes.sessions,
        ms(stopped_in)
    );
    println!(
        "  server RSS: {} KiB with 1 session, {} KiB with {}: {:.1} KiB per idle session (target <= 50 KB)",
        rss_before, rss_after, sizes.sessions, per_session_kib
    );
}
