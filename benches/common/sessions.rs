//! Streamable HTTP sessions for the benches (and `tests/http_scale.rs`): the
//! server binary on a free port, sessions opened with plain HTTP (one pooled
//! client for the POSTs, one raw TCP connection per SSE stream) rather than
//! rmcp clients, and every SSE stream read on one thread, so that the client
//! side costs as little as possible: it shares the machine's cores with the
//! server it measures. Counts the `notifications/tools/list_changed` every
//! session has read.

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
    pidfile: PathBuf,
}

impl Server {
    /// Start with `--http 127.0.0.1:0` and `args`.
    pub async fn start(args: &[&str]) -> Self {
        Self::start_with_soft_limit(args, None).await
    }

    /// [`Server::start`], the server's soft open-file limit set to
    /// `soft_limit` (what it inherits otherwise is this process's).
    pub async fn start_with_soft_limit(args: &[&str], soft_limit: Option<u64>) -> Self {
        // `ours()` is the including crate's: the benches' release build, or
        // the test's `CARGO_BIN_EXE_dynamic-mcp-server`.
        Self::start_binary(&super::ours(), args, soft_limit).await
    }

    /// [`Server::start_with_soft_limit`] with the server binary `binary`
    /// (another build, to compare two).
    pub async fn start_binary(
        binary: &std::path::Path,
        args: &[&str],
        soft_limit: Option<u64>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let pidfile = dir.path().join("server.pid");
        let log = dir.path().join("server.log");
        let mut command = tokio::process::Command::new(binary);
        command
            .args(["--http", "127.0.0.1:0"])
            .args(args)
            .arg("--pidfile")
            .arg(&pidfile)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .kill_on_drop(true);
        if let Some(soft) = soft_limit {
            // SAFETY: the closure runs in the child between fork and exec and
            // only calls getrlimit and setrlimit, which are async-signal-safe.
            unsafe {
                command.pre_exec(move || {
                    let mut limit = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    limit.rlim_cur = soft.min(limit.rlim_max);
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = command.spawn().expect("start the server");
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
        // `http://HOST:PORT/mcp`, or a fleet's `.../mcp/{name}`.
        let authority = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("an authority")
            .to_owned();
        Self {
            child,
            pid,
            url,
            authority,
            _dir: dir,
            log,
            pidfile,
        }
    }

    pub fn pidfile(&self) -> &std::path::Path {
        &self.pidfile
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

/// Raise this process's soft open-file limit to the hard limit: 10,000
/// sessions hold 10,000 sockets on the client side too. Returns the limit.
pub fn raise_descriptor_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    limit.rlim_cur
}

pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("gave up after {LIMIT:?} waiting for {what}"))
}

/// Open `n` sessions, [`OPENING_AT_ONCE`] at a time.
pub async fn open_sessions(http: &reqwest::Client, server: &Server, n: usize) -> Vec<TcpStream> {
    open_sessions_at(http, server, "/mcp", n).await
}

/// [`open_sessions`] at `path` (a fleet upstream's `/mcp/{name}`).
pub async fn open_sessions_at(
    http: &reqwest::Client,
    server: &Server,
    path: &str,
    n: usize,
) -> Vec<TcpStream> {
    let sessions = open_sessions_with_ids_at(http, server, path, n).await;
    sessions.into_iter().map(|(_, stream)| stream).collect()
}

/// Open `n` sessions as [`open_sessions`] does; each with its session id,
/// for requests of its own.
pub async fn open_sessions_with_ids(
    http: &reqwest::Client,
    server: &Server,
    n: usize,
) -> Vec<(String, TcpStream)> {
    open_sessions_with_ids_at(http, server, "/mcp", n).await
}

/// [`open_sessions_with_ids`] at `path`.
pub async fn open_sessions_with_ids_at(
    http: &reqwest::Client,
    server: &Server,
    path: &str,
    n: usize,
) -> Vec<(String, TcpStream)> {
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    within(
        "the sessions to open",
        join_all((0..n).map(|_| {
            let opening = Arc::clone(&opening);
            async move {
                let _permit = opening.acquire().await.unwrap();
                open_session(http, server, path).await
            }
        })),
    )
    .await
}

/// Open one session: initialize, initialized, and its SSE stream. Returns its
/// id and the stream, its response head read.
async fn open_session(http: &reqwest::Client, server: &Server, path: &str) -> (String, TcpStream) {
    let session = handshake_at(http, server, path, "fanout-bench").await;
    let mut stream = TcpStream::connect(&server.authority)
        .await
        .expect("connect");
    stream.set_nodelay(true).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\n\r\n",
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

/// Counts the notifications read across all sessions, and records when each
/// round completed: when the last session read its k-th notification.
pub struct Progress {
    sessions: usize,
    pub read: AtomicUsize,
    rounds: Mutex<Rounds>,
    round_done: Notify,
}

#[derive(Default)]
struct Rounds {
    /// `reached[k - 1]`: how many sessions have read at least k.
    reached: Vec<usize>,
    /// `completed[k - 1]`: when every session had read at least k.
    completed: Vec<Instant>,
}

impl Progress {
    pub fn new(sessions: usize) -> Arc<Self> {
        Arc::new(Self {
            sessions,
            read: AtomicUsize::new(0),
            rounds: Mutex::default(),
            round_done: Notify::new(),
        })
    }

    /// A session read its `count`-th notification `at`.
    fn read_one(&self, count: usize, at: Instant) {
        self.read.fetch_add(1, Ordering::AcqRel);
        let mut rounds = self.rounds.lock().unwrap();
        if rounds.reached.len() < count {
            rounds.reached.resize(count, 0);
        }
        rounds.reached[count - 1] += 1;
        // A session reads k only after k - 1, so rounds complete in order.
        if rounds.reached[count - 1] == self.sessions {
            rounds.completed.push(at);
            self.round_done.notify_one();
        }
    }

    /// When round `round` (from 1) completed.
    pub async fn round(&self, round: usize) -> Instant {
        loop {
            let done = self.round_done.notified();
            if let Some(&at) = self.rounds.lock().unwrap().completed.get(round - 1) {
                return at;
            }
            done.await;
        }
    }
}

/// What one session's SSE stream delivered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivered {
    /// `notifications/tools/list_changed` read.
    pub notifications: usize,
    /// The server ended the stream (or the connection failed).
    pub ended: bool,
}

/// Read every session's SSE stream on one thread (edge-triggered epoll, no
/// task per stream: the client shares two cores with the server it measures),
/// counting each list change as it is read. The thread ends once every
/// stream has ended, and returns what each delivered, in `streams`' order.
pub fn read_notifications(
    streams: Vec<TcpStream>,
    progress: Arc<Progress>,
) -> std::thread::JoinHandle<Vec<Delivered>> {
    let streams: Vec<std::net::TcpStream> = streams
        .into_iter()
        .map(|stream| {
            let stream = stream.into_std().expect("a std stream");
            stream.set_nonblocking(true).expect("non-blocking");
            stream
        })
        .collect();
    std::thread::spawn(move || epoll_read(streams, &progress))
}

fn epoll_read(mut streams: Vec<std::net::TcpStream>, progress: &Progress) -> Vec<Delivered> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    const NEEDLE: &[u8] = b"notifications/tools/list_changed";
    // SAFETY: epoll_create1 has no memory-safety preconditions.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epoll >= 0, "epoll_create1");
    for (i, stream) in streams.iter().enumerate() {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: i as u64,
        };
        // SAFETY: the fd is open and `event` outlives the call.
        let added =
            unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, stream.as_raw_fd(), &mut event) };
        assert_eq!(added, 0, "epoll_ctl");
    }
    let mut delivered = vec![Delivered::default(); streams.len()];
    // The last bytes of each stream, where a needle may have been cut.
    let mut tails: Vec<Vec<u8>> = vec![Vec::new(); streams.len()];
    let mut open = streams.len();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut chunk = vec![0u8; 64 * 1024];
    while open > 0 {
        // SAFETY: `events` has room for the count given.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, 1000) };
        if n < 0 {
            assert_eq!(
                std::io::Error::last_os_error().kind(),
                std::io::ErrorKind::Interrupted
            );
            continue;
        }
        let now = Instant::now();
        for event in &events[..n as usize] {
            let i = event.u64 as usize;
            if delivered[i].ended {
                continue;
            }
            // Edge-triggered: read until the socket has nothing more.
            loop {
                match streams[i].read(&mut chunk) {
                    Ok(0) => {
                        delivered[i].ended = true;
                        open -= 1;
                        break;
                    }
                    Ok(read) => {
                        let tail = &mut tails[i];
                        tail.extend_from_slice(&chunk[..read]);
                        let mut start = 0;
                        while let Some(at) = tail[start..]
                            .windows(NEEDLE.len())
                            .position(|window| window == NEEDLE)
                        {
                            start += at + NEEDLE.len();
                            delivered[i].notifications += 1;
                            progress.read_one(delivered[i].notifications, now);
                        }
                        let keep_from = start.max(tail.len().saturating_sub(NEEDLE.len() - 1));
                        tail.drain(..keep_from);
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        delivered[i].ended = true;
                        open -= 1;
                        break;
                    }
                }
            }
        }
    }
    // SAFETY: closing the epoll fd this function opened.
    unsafe { libc::close(epoll) };
    delivered
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

/// The server `command` started over stdio (its stderr discarded, killed if
/// dropped), and the handshake of a client named `client` done: `initialize`,
/// its answer read, then `notifications/initialized`. Returns the process and
/// its pipes.
pub async fn start_stdio(
    command: &mut tokio::process::Command,
    client: &str,
) -> (
    tokio::process::Child,
    tokio::process::ChildStdin,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) {
    use tokio::io::AsyncBufReadExt;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": client, "version": "0" },
        },
    });
    stdin
        .write_all(format!("{initialize}\n").as_bytes())
        .await
        .unwrap();
    within("the initialize answer", lines.next_line())
        .await
        .unwrap();
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    stdin
        .write_all(format!("{initialized}\n").as_bytes())
        .await
        .unwrap();
    (child, stdin, lines)
}

/// The `nextCursor` of a list answer, if it has one: found, not parsed, so
/// the client's own cost stays small beside the server's.
pub fn next_cursor(answer: &str) -> Option<String> {
    const KEY: &str = r#""nextCursor":""#;
    let start = answer.find(KEY)? + KEY.len();
    let end = start + answer[start..].find('"')?;
    Some(answer[start..end].to_owned())
}

/// A POST of `body` to the server's MCP endpoint, in session `session`.
pub fn post(
    http: &reqwest::Client,
    server: &Server,
    body: &Value,
    session: Option<&str>,
) -> reqwest::RequestBuilder {
    post_at(http, server, "/mcp", body, session)
}

/// [`post`] to `path`.
pub fn post_at(
    http: &reqwest::Client,
    server: &Server,
    path: &str,
    body: &Value,
    session: Option<&str>,
) -> reqwest::RequestBuilder {
    let request = http
        .post(format!("http://{}{path}", server.authority))
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .body(body.to_string());
    match session {
        Some(id) => request.header("mcp-session-id", id),
        None => request,
    }
}

/// Open a session as client `client`: `initialize`, then `initialized`.
/// Returns its id.
pub async fn handshake(http: &reqwest::Client, server: &Server, client: &str) -> String {
    handshake_at(http, server, "/mcp", client).await
}

/// [`handshake`] at `path`.
pub async fn handshake_at(
    http: &reqwest::Client,
    server: &Server,
    path: &str,
    client: &str,
) -> String {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": client, "version": "0" },
        },
    });
    let response = within(
        "initialize",
        post_at(http, server, path, &initialize, None).send(),
    )
    .await
    .expect("initialize");
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    response.bytes().await.expect("the initialize result");
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = post_at(http, server, path, &initialized, Some(&session))
        .send()
        .await
        .expect("initialized");
    assert_eq!(response.status(), 202);
    session
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
