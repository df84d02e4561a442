//! Shared test support: spawn the real binary, read its pidfile, send it real
//! signals, and talk to it either with rmcp's client (counting
//! `notifications/tools/list_changed`) or with raw JSON-RPC lines.
//!
//! Every wait here is bounded by [`TIMEOUT`] and panics when it runs out, so a
//! broken server fails a test instead of hanging it.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, ProtocolVersion};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, Peer, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

/// The bound on every wait. Generous: CI machines are shared and slow.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub const BIN: &str = env!("CARGO_BIN_EXE_dynamic-mcp-server");

/// Await `future`, panicking with `what` if it takes longer than [`TIMEOUT`].
pub async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {TIMEOUT:?} waiting for {what}"))
}

/// Run the binary with `args` to its end (a subcommand such as `check` or
/// `probe`, or a start-up that must fail), stdin closed: its status, stdout
/// and stderr, within [`TIMEOUT`].
pub async fn run_to_end(what: &str, args: &[&str]) -> std::process::Output {
    bounded(
        what,
        Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|e| panic!("cannot run {what}: {e}"))
}

/// A server with the control endpoint (`--control 127.0.0.1:0`) whose URLs
/// come from its ready file, and an HTTP client for it.
pub struct Controlled {
    pub process: ServerProcess,
    /// The ready file: `pid`, `mcp_url`, `control_url`.
    pub ready: Value,
    pub control: String,
    pub http: reqwest::Client,
    _dir: TempDir,
}

impl Controlled {
    pub async fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ready_path = dir.path().join("ready.json");
        let mut all = vec![
            "--control",
            "127.0.0.1:0",
            "--ready-file",
            ready_path.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        // The ready file is written before the pidfile, which `start` waits for.
        let process = ServerProcess::start(&all).await;
        let text = std::fs::read_to_string(&ready_path).expect("the ready file exists");
        let ready: Value = serde_json::from_str(&text).expect("the ready file is JSON");
        let control = ready["control_url"]
            .as_str()
            .expect("a control_url")
            .to_owned();
        Self {
            process,
            ready,
            control,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// The MCP endpoint's URL of a server started with `--http`.
    pub fn mcp_url(&self) -> &str {
        self.ready["mcp_url"].as_str().expect("an HTTP server")
    }

    /// POST /changes with `body`: the status and the JSON answer.
    pub async fn change(&self, body: Value) -> (u16, Value) {
        self.post(body.to_string()).await
    }

    /// POST /changes with any text as the body.
    pub async fn post(&self, body: String) -> (u16, Value) {
        let request = self
            .http
            .post(format!("{}/changes", self.control))
            .body(body)
            .send();
        let response = bounded("POST /changes", request).await.expect("POST");
        let status = response.status().as_u16();
        let text = bounded("the answer", response.text())
            .await
            .expect("a body");
        (status, serde_json::from_str(&text).expect("a JSON answer"))
    }

    /// GET `path` (`/state`, `/report`) as JSON; it must answer 200.
    pub async fn get(&self, path: &str) -> Value {
        let request = self.http.get(format!("{}{path}", self.control)).send();
        let response = bounded(path, request).await.expect("GET");
        assert_eq!(response.status(), 200, "GET {path}");
        serde_json::from_str(&response.text().await.expect("a body")).expect("JSON")
    }

    pub async fn state(&self) -> Value {
        self.get("/state").await
    }
}

/// Run the server with `--pidfile pidfile`, `args` and stdin closed,
/// expecting it to refuse to start: exit 2 and nothing on stdout. Returns its
/// stderr.
pub fn refuses_to_start(pidfile: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(BIN)
        .arg("--pidfile")
        .arg(pidfile)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the server");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty(), "nothing served: {output:?}");
    String::from_utf8(output.stderr).unwrap()
}

/// A running server process, with its own temporary directory for the pidfile
/// and its stderr log. Killed on drop if still running.
pub struct ServerProcess {
    child: Child,
    pub pid: i32,
    pub pidfile: PathBuf,
    stderr_path: PathBuf,
    stdio: Option<(ChildStdout, ChildStdin)>,
    _dir: TempDir,
}

impl ServerProcess {
    /// Start the server with `args` after `--pidfile <temp>/server.pid`, and
    /// wait until the pidfile names it.
    pub async fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let pidfile = dir.path().join("server.pid");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr log");
        let mut child = Command::new(BIN)
            .arg("--pidfile")
            .arg(&pidfile)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the server");
        let stdio = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
        let mut server = Self {
            pid: child.id().expect("child pid") as i32,
            child,
            pidfile,
            stderr_path,
            stdio: Some(stdio),
            _dir: dir,
        };
        let pid = server.read_pidfile().await;
        assert_eq!(pid, server.pid, "the pidfile names the server's PID");
        server
    }

    /// Start with a toolcount file holding `contents`.
    pub async fn with_toolcount_file(contents: &str) -> Self {
        let file = tempfile::NamedTempFile::new().expect("toolcount file");
        std::fs::write(file.path(), contents).expect("write toolcount");
        let path = file.path().to_str().unwrap().to_owned();
        let server = Self::start(&["--toolcount-file", &path]).await;
        drop(file);
        server
    }

    /// Poll the pidfile until it holds a PID. It is written atomically, so it
    /// is either absent or complete: never empty, never partial.
    async fn read_pidfile(&mut self) -> i32 {
        let path = self.pidfile.clone();
        bounded("the pidfile", async {
            loop {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    assert!(!text.is_empty(), "the pidfile is never seen empty");
                    return text.trim().parse().expect("the pidfile holds a PID");
                }
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("the server exited with {status} before writing its pidfile");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
    }

    /// Send a real signal, as `kill -SIG pid` does.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.pid, signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid);
    }

    pub fn sighup(&self) {
        self.signal(libc::SIGHUP);
    }

    /// Wait until the kernel holds no undelivered SIGHUP for the process: every
    /// one sent so far has reached its handler.
    pub async fn wait_signals_delivered(&self) {
        let status = format!("/proc/{}/status", self.pid);
        let hup_bit = 1u64 << (libc::SIGHUP - 1);
        bounded("the SIGHUPs to be delivered", async {
            loop {
                let text = std::fs::read_to_string(&status).expect("/proc status");
                let pending = text
                    .lines()
                    .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
                    .map(|l| u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), 16).unwrap())
                    .fold(0, |acc, mask| acc | mask);
                if pending & hup_bit == 0 {
                    return;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
    }

    /// Take the child's stdout and stdin (once).
    pub fn take_stdio(&mut self) -> (ChildStdout, ChildStdin) {
        self.stdio.take().expect("stdio already taken")
    }

    /// Connect rmcp's client, which initializes the session.
    pub async fn connect(&mut self) -> TestClient {
        let (tx, notifications) = watch::channel(0);
        let service = bounded(
            "initialize",
            NotificationCounter { count: tx }.serve(self.take_stdio()),
        )
        .await
        .expect("the client initializes");
        TestClient {
            service,
            notifications,
        }
    }

    /// Connect rmcp's client on the 2026-07-28 revision: `server/discover`,
    /// no handshake. Its counter sees only what arrives outside listen streams.
    pub async fn connect_discover(&mut self) -> TestClient {
        let (tx, notifications) = watch::channel(0);
        let lifecycle = ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        };
        let service = bounded(
            "server/discover",
            NotificationCounter { count: tx }.serve_with_lifecycle(self.take_stdio(), lifecycle),
        )
        .await
        .expect("the client discovers the server");
        TestClient {
            service,
            notifications,
        }
    }

    /// Connect a raw JSON-RPC line client (no handshake yet).
    pub fn raw(&mut self) -> RawClient {
        let (stdout, stdin) = self.take_stdio();
        RawClient {
            stdin: Some(stdin),
            lines: BufReader::new(stdout).lines(),
            next_id: 1,
        }
    }

    /// Wait for the process to exit; a server that does not is shown with its
    /// log, which says how far its shutdown got.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        match tokio::time::timeout(TIMEOUT, self.child.wait()).await {
            Ok(status) => status.expect("wait for the server"),
            Err(_) => panic!(
                "timed out after {TIMEOUT:?} waiting for the server to exit; its stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// Wait for the exit that every shutdown path must end in: status 0, the
    /// pidfile removed, and no wait on a handler (rmcp logs "timed out" when it
    /// gave up on one, such as a listen stream nobody ended).
    pub async fn stops_cleanly(mut self) {
        let status = self.wait_exit().await;
        assert_eq!(status.code(), Some(0), "{status}: {}", self.stderr());
        assert!(!self.pidfile_exists(), "the pidfile is removed");
        assert!(
            !self.stderr().contains("timed out"),
            "shutdown waited on something: {}",
            self.stderr()
        );
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Wait until the server's stderr contains `needle` `times` times.
    pub async fn wait_stderr(&self, needle: &str, times: usize) {
        bounded(&format!("{times} stderr lines with {needle:?}"), async {
            while self.stderr().matches(needle).count() < times {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
    }

    pub fn pidfile_exists(&self) -> bool {
        Path::new(&self.pidfile).exists()
    }
}

/// Counts `notifications/tools/list_changed`, the way client test suites do.
pub struct NotificationCounter {
    count: watch::Sender<usize>,
}

impl ClientHandler for NotificationCounter {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.count.send_modify(|count| *count += 1);
    }
}

/// rmcp's client connected to a server process, with its notification count.
pub struct TestClient {
    pub service: RunningService<RoleClient, NotificationCounter>,
    notifications: watch::Receiver<usize>,
}

impl TestClient {
    /// Notifications received so far.
    pub fn notifications(&self) -> usize {
        *self.notifications.borrow()
    }

    /// Wait until at least `n` notifications have arrived; returns the count.
    pub async fn wait_notifications(&mut self, n: usize) -> usize {
        let what = format!("{n} notifications");
        let count = bounded(&what, self.notifications.wait_for(|&c| c >= n))
            .await
            .expect("the client is running");
        *count
    }

    /// Wait up to `quiet` for one more notification beyond `seen`.
    pub async fn another_notification_within(&mut self, seen: usize, quiet: Duration) -> bool {
        tokio::time::timeout(quiet, self.notifications.wait_for(|&c| c > seen))
            .await
            .is_ok()
    }

    pub async fn tool_names(&self) -> Vec<String> {
        tool_names(&self.service).await
    }

    /// Call a tool and return the whole result.
    pub async fn call(&self, name: &str, arguments: Value) -> CallToolResult {
        let mut params = CallToolRequestParams::new(name.to_owned());
        if let Value::Object(map) = arguments {
            params = params.with_arguments(map);
        }
        bounded("tools/call", self.service.call_tool(params))
            .await
            .unwrap_or_else(|e| panic!("tools/call {name} failed: {e}"))
    }

    /// Call a tool that must succeed; returns its result object, after
    /// checking that the text block holds the same object as JSON.
    pub async fn call_ok(&self, name: &str, arguments: Value) -> Value {
        let result = self.call(name, arguments).await;
        assert_ne!(result.is_error, Some(true), "{name} failed: {result:?}");
        let structured = result
            .structured_content
            .clone()
            .expect("structuredContent");
        assert_eq!(
            text_json(&result),
            structured,
            "text and structured content agree"
        );
        structured
    }

    pub async fn close(self) {
        let _ = bounded("the client to close", self.service.cancel()).await;
    }
}

/// The names `tools/list` gives, in order, over any rmcp client session.
pub async fn tool_names(client: &Peer<RoleClient>) -> Vec<String> {
    bounded("tools/list", client.list_all_tools())
        .await
        .expect("tools/list succeeds")
        .into_iter()
        .map(|tool| tool.name.into_owned())
        .collect()
}

/// The names a raw `tools/list` answer lists, in order.
pub fn listed_tool_names(answer: &Value) -> Vec<String> {
    answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("a tools/list result: {answer}"))
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The JSON held by a result's single text block.
pub fn text_json(result: &CallToolResult) -> Value {
    assert_eq!(result.content.len(), 1, "one content block");
    let text = &result.content[0].as_text().expect("a text block").text;
    serde_json::from_str(text).expect("the text block is JSON")
}

/// `[echo, calculator, counter, echo4, ...]` up to `n` tools.
pub fn expected_names(n: usize) -> Vec<String> {
    (1..=n)
        .map(|k| match k {
            1 => "echo".to_owned(),
            2 => "calculator".to_owned(),
            3 => "counter".to_owned(),
            k => format!("echo{k}"),
        })
        .collect()
}

/// A client that writes and reads raw JSON-RPC lines.
pub struct RawClient {
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

impl RawClient {
    pub async fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).await.expect("write");
        stdin.write_all(b"\n").await.expect("write");
        stdin.flush().await.expect("flush");
    }

    pub async fn send(&mut self, message: Value) {
        self.send_line(&message.to_string()).await;
    }

    /// The next message from the server.
    pub async fn recv(&mut self) -> Value {
        let line = bounded("a message from the server", self.lines.next_line())
            .await
            .expect("read")
            .expect("the server closed stdout");
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"))
    }

    /// The next message from the server, or `None` once it closed stdout.
    pub async fn recv_or_eof(&mut self) -> Option<Value> {
        let line = bounded("a message or EOF from the server", self.lines.next_line())
            .await
            .expect("read")?;
        Some(
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}")),
        )
    }

    /// Send a request and return its response, with any notifications that
    /// arrived before it.
    pub async fn request(&mut self, method: &str, params: Value) -> (Value, Vec<Value>) {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .await;
        self.response_to(id).await
    }

    /// Send a request with a chosen id and return its response, with any
    /// notifications that arrived before it.
    pub async fn request_with_id(
        &mut self,
        id: u64,
        method: &str,
        params: Value,
    ) -> (Value, Vec<Value>) {
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .await;
        self.response_to(id).await
    }

    /// Read until the response with `id`, collecting the notifications on the way.
    pub async fn response_to(&mut self, id: u64) -> (Value, Vec<Value>) {
        let mut notifications = Vec::new();
        loop {
            let message = self.recv().await;
            if message.get("id") == Some(&json!(id)) {
                return (message, notifications);
            }
            assert!(
                message.get("method").is_some(),
                "unexpected message: {message}"
            );
            notifications.push(message);
        }
    }

    /// `initialize` without the `notifications/initialized` that completes it.
    pub async fn initialize(&mut self) -> Value {
        let (response, notifications) = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": { "name": "raw-test-client", "version": "0" },
                }),
            )
            .await;
        assert!(
            notifications.is_empty(),
            "nothing precedes the initialize response"
        );
        response
    }

    pub async fn initialized(&mut self) {
        self.send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
    }

    /// The `_meta` every 2026-07-28 request carries instead of a handshake.
    pub fn meta_2026() -> Value {
        json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": { "name": "raw-test-client", "version": "0" },
            "io.modelcontextprotocol/clientCapabilities": {},
        })
    }

    /// Open a 2026-07-28 `subscriptions/listen` stream with `notifications` as
    /// its filter and return the acknowledged filter. The stream stays open:
    /// its response comes only when it ends.
    pub async fn listen(&mut self, id: u64, notifications: Value) -> Value {
        self.send(json!({
            "jsonrpc": "2.0", "id": id, "method": "subscriptions/listen",
            "params": { "_meta": Self::meta_2026(), "notifications": notifications },
        }))
        .await;
        let ack = self.recv().await;
        assert_eq!(
            ack["method"], "notifications/subscriptions/acknowledged",
            "{ack}"
        );
        assert_eq!(
            ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
            json!(id),
            "{ack}"
        );
        ack["params"]["notifications"].clone()
    }

    /// Close stdin: EOF for the server.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }
}

/// A field of /proc/PID/status in KiB, such as `VmRSS` (resident now) or
/// `VmHWM` (the peak).
pub fn status_kib(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}
