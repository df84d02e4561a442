//! The control endpoint: from `POST /changes` to the client having read the
//! notification, against the release binary.
//!
//! - stdio: one client on the server's stdin and stdout; the time from sending
//!   `{"change":"add_tool"}` to reading `notifications/tools/list_changed`.
//! - HTTP: 100 sessions (plain HTTP, as in `http_fanout`); the time from
//!   sending the request to the last session having read its notification.
//!
//! Each over 200 changes after 10 warm-up ones, one at a time; p50, p99, max.
//!
//! And exact change storms (issue 12): one request of `count: n` changes,
//! with one stdio client and with 100 and 1,000 HTTP sessions, each client
//! reading every notification; folding (the default) and `--coalesce off`.
//! Changes applied per second (from sending the request to its answer, which
//! comes once every change is applied and every session told) and
//! notifications read per second (from sending the request to the last
//! session's last notification), medians over 3 storms. Each storm checks
//! that no session missed the last change: its last notification was read
//! after the request's answer, or else a `tools/list` of its own shows the
//! final count; with `--coalesce off` every session reads exactly `n`.
//!
//! The figures are printed and appended as JSON lines to
//! `target/bench-results.jsonl` (or `$BENCH_RESULTS`).
//!
//! Run: `cargo bench --bench control` (`-- --sessions N --changes N`;
//! `-- --part latency` or `-- --part storm` for one part; `--storms N` and
//! `--storm-notifications N`, the notifications one storm writes with
//! `--coalesce off`, 100,000 by default: n is that over the clients, at most
//! 10,000).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

mod common;
use common::sessions::{
    Progress, Server, open_sessions, open_sessions_with_ids, percentile, read_each_notification,
    read_notifications, start_stdio, within,
};

const WARMUP: usize = 10;

struct Sizes {
    sessions: usize,
    changes: usize,
}

fn sizes() -> Sizes {
    Sizes {
        sessions: common::size_arg("sessions", 100),
        changes: common::size_arg("changes", 200),
    }
}

/// `--part latency` or `--part storm`; both without it.
fn part_arg() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|pair| pair[0] == "--part")
        .map(|pair| pair[1].clone())
}

fn main() {
    let sizes = sizes();
    let part = part_arg();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    if part.as_deref().is_none_or(|p| p == "latency") {
        let stdio = runtime.block_on(over_stdio(sizes.changes));
        let http = runtime.block_on(over_http(sizes.sessions, sizes.changes));
        report("control_to_notification_stdio", "stdio, 1 client", stdio);
        report(
            "control_to_last_http_session",
            &format!("HTTP, last of {} sessions", sizes.sessions),
            http,
        );
    }
    if part.as_deref().is_none_or(|p| p == "storm") {
        runtime.block_on(storms());
    }
}

/// The control URL from a ready file.
async fn control_url(ready: &std::path::Path) -> String {
    within("the ready file", async {
        loop {
            if let Ok(text) = std::fs::read_to_string(ready) {
                let ready: Value = serde_json::from_str(&text).expect("JSON");
                return ready["control_url"]
                    .as_str()
                    .expect("control_url")
                    .to_owned();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

async fn add_tool(http: &reqwest::Client, control: &str) {
    let response = http
        .post(format!("{control}/changes"))
        .body(r#"{"change":"add_tool"}"#)
        .send()
        .await
        .expect("POST /changes");
    assert_eq!(response.status(), 200);
}

async fn over_stdio(changes: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ready = dir.path().join("ready.json");
    let mut command = tokio::process::Command::new(common::ours());
    command
        .args([
            "--control",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--pidfile",
        ])
        .arg(dir.path().join("server.pid"))
        .arg("--ready-file")
        .arg(&ready);
    let (mut child, stdin, mut lines) = start_stdio(&mut command, "control-bench").await;
    let control = control_url(&ready).await;

    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(changes);
    for round in 0..WARMUP + changes {
        let sent = Instant::now();
        add_tool(&http, &control).await;
        let line = within("the notification", lines.next_line())
            .await
            .unwrap()
            .expect("stdout open");
        let read = sent.elapsed();
        assert!(line.contains("notifications/tools/list_changed"), "{line}");
        if round >= WARMUP {
            times.push(read);
        }
    }
    drop(stdin);
    let status = within("the server to stop", child.wait()).await.unwrap();
    assert!(status.success());
    times.sort();
    times
}

async fn over_http(sessions: usize, changes: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ready = dir.path().join("ready.json");
    let ready_arg = ready.to_str().unwrap().to_owned();
    let mut server = Server::start(&["--control", "127.0.0.1:0", "--ready-file", &ready_arg]).await;
    let control = control_url(&ready).await;
    let http = reqwest::Client::new();
    let progress = Progress::new(sessions);
    let streams = open_sessions(&http, &server, sessions).await;
    let reader = read_notifications(streams, Arc::clone(&progress));
    let mut times = Vec::with_capacity(changes);
    for round in 0..WARMUP + changes {
        let sent = Instant::now();
        add_tool(&http, &control).await;
        let last = within("every session's notification", progress.round(round + 1)).await;
        if round >= WARMUP {
            times.push(last - sent);
        }
    }
    server.signal(libc::SIGTERM);
    let status = within("the server to stop", server.child.wait())
        .await
        .unwrap();
    assert!(status.success(), "{}", server.log());
    // Every stream ends with the server.
    reader.join().expect("the reader");
    times.sort();
    times
}

fn report(figure: &str, label: &str, times: Vec<Duration>) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p50, p99, max) = (
        ms(percentile(&times, 50.0)),
        ms(percentile(&times, 99.0)),
        ms(*times.last().unwrap()),
    );
    println!(
        "control -> notification read, {label}: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms ({} changes)",
        times.len()
    );
    let ours = json!({ "n": times.len(), "median": p50, "p99": p99, "max": max });
    common::record_figure("control", figure, "ms", ours);
}

// ---------------------------------------------------------------------------
// Exact change storms.

/// The most changes one storm makes.
const MAX_STORM: usize = 10_000;

/// What one client (a stdio client or an HTTP session) has read.
#[derive(Default)]
struct Tally {
    read: AtomicUsize,
    last_read: Mutex<Option<Instant>>,
}

impl Tally {
    fn read_one(&self, at: Instant) {
        *self.last_read.lock().unwrap() = Some(at);
        self.read.fetch_add(1, Ordering::Release);
    }

    fn read(&self) -> usize {
        self.read.load(Ordering::Acquire)
    }

    fn last_read(&self) -> Option<Instant> {
        *self.last_read.lock().unwrap()
    }
}

/// The clients of one storm server, each reading every notification.
enum Clients {
    /// One client on the server's stdin and stdout; its other answers come
    /// on `answers`.
    Stdio {
        stdin: tokio::process::ChildStdin,
        answers: mpsc::UnboundedReceiver<Value>,
        next_id: u64,
    },
    /// HTTP sessions by id, sharing one client for their requests.
    Http {
        http: reqwest::Client,
        url: String,
        sessions: Vec<String>,
    },
}

impl Clients {
    /// The number of tools client `i` is given by a `tools/list` of its own.
    async fn tools_listed(&mut self, i: usize) -> usize {
        let answer = match self {
            Clients::Stdio {
                stdin,
                answers,
                next_id,
            } => {
                *next_id += 1;
                let request = json!({ "jsonrpc": "2.0", "id": *next_id, "method": "tools/list" });
                stdin
                    .write_all(format!("{request}\n").as_bytes())
                    .await
                    .expect("write tools/list");
                within("the tools/list answer", answers.recv())
                    .await
                    .expect("stdout open")
            }
            Clients::Http {
                http,
                url,
                sessions,
            } => {
                let request = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
                let response = http
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-session-id", &sessions[i])
                    .body(request.to_string())
                    .send()
                    .await
                    .expect("POST tools/list");
                let text = within("the tools/list answer", response.text())
                    .await
                    .expect("a body");
                text.lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
                    .find(|message| message.get("id").is_some())
                    .unwrap_or_else(|| panic!("no tools/list answer in {text:.200}"))
            }
        };
        answer["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("a tools/list result: {answer:.200}"))
            .len()
    }
}

/// A storm server's process: the stdio one is this bench's own, the HTTP
/// one is [`Server`]'s.
enum Process {
    Stdio(tokio::process::Child),
    Http(Server),
}

/// A storm server, its control URL, its clients and what each has read.
struct StormServer {
    process: Process,
    control: String,
    clients: Clients,
    tallies: Vec<Arc<Tally>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl StormServer {
    /// A server with `sessions` HTTP sessions (or one stdio client, for 0).
    async fn start(sessions: usize, exact: bool) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ready = dir.path().join("ready.json");
        let mut args = vec![
            "--control".to_owned(),
            "127.0.0.1:0".into(),
            "--ready-file".into(),
            ready.to_str().unwrap().into(),
        ];
        if exact {
            args.extend(["--coalesce".into(), "off".into()]);
        }
        let http = reqwest::Client::new();
        if sessions == 0 {
            let mut command = tokio::process::Command::new(common::ours());
            command
                .args(&args)
                .args(["--log-level", "warn", "--pidfile"])
                .arg(dir.path().join("server.pid"));
            let (child, stdin, mut lines) = start_stdio(&mut command, "storm-bench").await;
            let control = control_url(&ready).await;
            let tally = Arc::new(Tally::default());
            let (answer_tx, answers) = mpsc::unbounded_channel();
            let reading = Arc::clone(&tally);
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.contains("notifications/tools/list_changed") {
                        reading.read_one(Instant::now());
                    } else if let Ok(message) = serde_json::from_str::<Value>(&line)
                        && message.get("id").is_some()
                    {
                        let _ = answer_tx.send(message);
                    }
                }
            });
            let server = Self {
                process: Process::Stdio(child),
                control,
                clients: Clients::Stdio {
                    stdin,
                    answers,
                    next_id: 1,
                },
                tallies: vec![tally],
                http,
                _dir: dir,
            };
            server.wait_initialized(1).await;
            return server;
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = Server::start(&args).await;
        let control = control_url(&ready).await;
        let mut ids = Vec::with_capacity(sessions);
        let mut tallies = Vec::with_capacity(sessions);
        for (id, stream) in open_sessions_with_ids(&http, &server, sessions).await {
            let tally = Arc::new(Tally::default());
            let reading = Arc::clone(&tally);
            tokio::spawn(read_each_notification(stream, move |at| {
                reading.read_one(at)
            }));
            ids.push(id);
            tallies.push(tally);
        }
        let storm = Self {
            clients: Clients::Http {
                http: http.clone(),
                url: server.url.clone(),
                sessions: ids,
            },
            process: Process::Http(server),
            control,
            tallies,
            http,
            _dir: dir,
        };
        storm.wait_initialized(sessions).await;
        storm
    }

    async fn state(&self) -> Value {
        let response = self
            .http
            .get(format!("{}/state", self.control))
            .send()
            .await
            .expect("GET /state");
        serde_json::from_str(&response.text().await.expect("a body")).expect("JSON")
    }

    /// The `tools` and `folded` notification counts summed over the sessions.
    async fn written(&self) -> (u64, u64) {
        let state = self.state().await;
        let sessions = state["sessions"].as_array().expect("sessions");
        let sum = |key: &str| {
            sessions
                .iter()
                .map(|s| s["notifications"][key].as_u64().unwrap_or(0))
                .sum::<u64>()
        };
        (sum("tools"), sum("folded"))
    }

    async fn wait_initialized(&self, n: usize) {
        within("the sessions to be initialized", async {
            loop {
                let state = self.state().await;
                let sessions = state["sessions"].as_array().expect("sessions");
                if sessions.iter().filter(|s| s["initialized"] == true).count() == n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    }

    /// One storm of `n` changes: what it measured, after checking that every
    /// client heard of the last change.
    async fn storm(&mut self, n: usize, exact: bool) -> StormRun {
        let before: Vec<usize> = self.tallies.iter().map(|t| t.read()).collect();
        let (written_before, _) = self.written().await;
        let body = json!({ "change": "add_tool", "count": n }).to_string();
        let sent = Instant::now();
        let response = self
            .http
            .post(format!("{}/changes", self.control))
            .body(body)
            .send()
            .await
            .expect("POST /changes");
        assert_eq!(response.status(), 200);
        let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        let applied = Instant::now();
        let tools = answer["tools"]["items"].as_array().map(Vec::len);

        // Every client has read all it will be written: with --coalesce off,
        // exactly n each; folding, everything the server says it wrote, and
        // still the same a moment later.
        within("every notification of the storm", async {
            loop {
                let read_all = self
                    .tallies
                    .iter()
                    .zip(&before)
                    .all(|(t, b)| t.read() > *b && (!exact || t.read() == b + n));
                if read_all {
                    let (written, _) = self.written().await;
                    let read: usize = self.tallies.iter().map(|t| t.read()).sum();
                    if written as usize == read {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        let (again, _) = self.written().await;
                        if again == written {
                            return;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let (written, folded) = self.written().await;
        let done = self
            .tallies
            .iter()
            .filter_map(|t| t.last_read())
            .max()
            .expect("a notification read");

        // No client missed the last change: its last notification came after
        // the request's answer, or its own tools/list shows every tool.
        let mut relisted = 0;
        for i in 0..self.tallies.len() {
            if self.tallies[i].last_read().is_some_and(|at| at >= applied) {
                continue;
            }
            relisted += 1;
            let listed = self.clients.tools_listed(i).await;
            if let Some(tools) = tools {
                assert_eq!(listed, tools, "client {i} missed the last change");
            }
        }
        if exact {
            assert_eq!(folded, 0, "a reading client had changes folded");
        }
        let notifications = (written - written_before) as usize;
        StormRun {
            changes_per_second: n as f64 / (applied - sent).as_secs_f64(),
            notifications_per_second: notifications as f64 / (done - sent).as_secs_f64(),
            notifications,
            relisted,
        }
    }

    /// Stop the server as its clients would: stdin closed, or SIGTERM.
    async fn stop(self) {
        drop(self.clients);
        let status = match self.process {
            Process::Stdio(mut child) => within("the server to stop", child.wait()).await,
            Process::Http(mut server) => {
                server.signal(libc::SIGTERM);
                within("the server to stop", server.child.wait()).await
            }
        };
        assert!(status.unwrap().success());
    }
}

/// What one storm measured.
struct StormRun {
    changes_per_second: f64,
    notifications_per_second: f64,
    /// Written to all clients together.
    notifications: usize,
    /// Clients whose last notification was read before the request's answer,
    /// checked with a `tools/list` instead.
    relisted: usize,
}

/// Every storm configuration: one stdio client, 100 and 1,000 HTTP sessions,
/// each folding and with `--coalesce off`.
async fn storms() {
    let storms = common::size_arg("storms", 3);
    let budget = common::size_arg("storm-notifications", 100_000);
    for (name, sessions) in [("stdio", 0), ("http100", 100), ("http1000", 1000)] {
        let clients = sessions.max(1);
        let n = (budget / clients).clamp(1, MAX_STORM);
        for (mode, exact) in [("fold", false), ("exact", true)] {
            let mut server = StormServer::start(sessions, exact).await;
            let mut runs = Vec::with_capacity(storms);
            for _ in 0..storms {
                runs.push(server.storm(n, exact).await);
            }
            server.stop().await;
            report_storm(name, clients, mode, n, &runs);
        }
    }
}

fn report_storm(name: &str, clients: usize, mode: &str, n: usize, runs: &[StormRun]) {
    let median = |f: fn(&StormRun) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let changes = median(|r| r.changes_per_second);
    let notifications = median(|r| r.notifications_per_second);
    let written: Vec<usize> = runs.iter().map(|r| r.notifications).collect();
    let relisted: Vec<usize> = runs.iter().map(|r| r.relisted).collect();
    println!(
        "storm of {n} changes, {name} ({clients} clients), {mode}: {changes:.0} changes/s, \
         {notifications:.0} notifications/s read; notifications written per storm {written:?}, \
         clients checked by tools/list {relisted:?} ({} storms)",
        runs.len()
    );
    let figure = |what: &str, value: f64| {
        let ours = json!({
            "n": runs.len(), "median": value, "p99": null, "changes": n, "clients": clients,
            "notifications_per_storm": written, "relisted": relisted,
        });
        common::record_figure("storm", &format!("{name}_{mode}_{what}"), "/s", ours);
    };
    figure("changes_per_second", changes);
    figure("notifications_per_second", notifications);
}
