//! Streamable HTTP sessions for the benches: the release binary on a free
//! port, sessions opened with plain HTTP (one pooled client for the POSTs, one
//! raw TCP connection per SSE stream) rather than rmcp clients, so that the
//! client side costs as little as possible, and a count of the
//! `notifications/tools/list_changed` every session has read.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};

const BIN: &str = env!("CARGO_BIN_EXE_dynamic-mcp-server");
const ACCEPT_BOTH: &str = "application/json, text/event-stream";
/// How many sessions open at once while setting up.
const OPENING_AT_ONCE: usize = 50;
/// Any single wait longer than this means the server is broken, not slow.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The release binary serving HTTP on a free loopback port.
pub struct Server {
    pub child: tokio::process::Child,
    pub pid: i32,
    pub url: String,
    pub authority: String,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Server {
    /// Start with `--http 127.0.0.1:0` and `args`.
    pub async fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let pidfile = dir.path().join("server.pid");
        let log = dir.path().join("server.log");
        let child = tokio::process::Command::new(BIN)
            .args(["--http", "127.0.0.1:0"])
            .args(args)
            .arg("--pidfile")
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(self.pid, signal) }, 0);
    }

    /// CPU time the server has used so far (user + system).
    pub fn cpu(&self) -> Duration {
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

    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).expect("/proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }
}

pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("gave up after {LIMIT:?} waiting for {what}"))
}

/// Open `n` sessions, [`OPENING_AT_ONCE`] at a time.
pub async fn open_sessions(http: &reqwest::Client, server: &Server, n: usize) -> Vec<TcpStream> {
    let sessions = open_sessions_with_ids(http, server, n).await;
    sessions.into_iter().map(|(_, stream)| stream).collect()
}

/// Open `n` sessions as [`open_sessions`] does; each with its session id,
/// for requests of its own.
pub async fn open_sessions_with_ids(
    http: &reqwest::Client,
    server: &Server,
    n: usize,
) -> Vec<(String, TcpStream)> {
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    within(
        "the sessions to open",
        join_all((0..n).map(|_| {
            let opening = Arc::clone(&opening);
            async move {
                let _permit = opening.acquire().await.unwrap();
                open_session(http, server).await
            }
        })),
    )
    .await
}

/// Open one session: initialize, initialized, and its SSE stream. Returns its
/// id and the stream, its response head read.
async fn open_session(http: &reqwest::Client, server: &Server) -> (String, TcpStream) {
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
    (session, stream)
}

/// Counts the notifications read across all sessions. The reader that
/// completes a round (every session has read one more) records the moment:
/// cheaper for the client side than reporting each read to one collector.
pub struct Progress {
    sessions: usize,
    pub read: AtomicUsize,
    rounds: Mutex<Vec<Instant>>,
    round_done: Notify,
}

impl Progress {
    pub fn new(sessions: usize) -> Arc<Self> {
        Arc::new(Self {
            sessions,
            read: AtomicUsize::new(0),
            rounds: Mutex::new(Vec::new()),
            round_done: Notify::new(),
        })
    }

    fn read_one(&self, at: Instant) {
        let read = self.read.fetch_add(1, Ordering::AcqRel) + 1;
        if read.is_multiple_of(self.sessions) {
            self.rounds.lock().unwrap().push(at);
            self.round_done.notify_one();
        }
    }

    /// When round `round` (from 1) completed.
    pub async fn round(&self, round: usize) -> Instant {
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
pub async fn read_notifications(stream: TcpStream, progress: Arc<Progress>) {
    read_each_notification(stream, |at| progress.read_one(at)).await;
}

/// Read a session's SSE stream, calling `on_read` with the moment each list
/// change is read.
pub async fn read_each_notification(mut stream: TcpStream, mut on_read: impl FnMut(Instant)) {
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
            on_read(now);
        }
        buffer.drain(..start.max(buffer.len().saturating_sub(NEEDLE.len())));
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
