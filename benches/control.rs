//! The control endpoint: from `POST /changes` to the client having read the
//! notification, against the release binary.
//!
//! - stdio: one client on the server's stdin and stdout; the time from sending
//!   `{"change":"add_tool"}` to reading `notifications/tools/list_changed`.
//! - HTTP: 100 sessions (plain HTTP, as in `http_fanout`); the time from
//!   sending the request to the last session having read its notification.
//!
//! Each over 200 changes after 10 warm-up ones, one at a time; p50, p99, max.
//! The figures are printed and appended as JSON lines to
//! `target/bench-results.jsonl` (or `$BENCH_RESULTS`).
//!
//! Run: `cargo bench --bench control` (`-- --sessions N --changes N`).

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

mod common;
use common::sessions::{Progress, Server, open_sessions, percentile, read_notifications, within};

const BIN: &str = env!("CARGO_BIN_EXE_dynamic-mcp-server");
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

fn main() {
    let sizes = sizes();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let stdio = runtime.block_on(over_stdio(sizes.changes));
    let http = runtime.block_on(over_http(sizes.sessions, sizes.changes));
    report("control_to_notification_stdio", "stdio, 1 client", stdio);
    report(
        "control_to_last_http_session",
        &format!("HTTP, last of {} sessions", sizes.sessions),
        http,
    );
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
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "--control",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--pidfile",
        ])
        .arg(dir.path().join("server.pid"))
        .arg("--ready-file")
        .arg(&ready)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let control = control_url(&ready).await;
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "control-bench", "version": "0" },
        },
    });
    for message in [
        initialize,
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    ] {
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
    }
    within("the initialize answer", lines.next_line())
        .await
        .unwrap();

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
    let line = json!({
        "run": common::now(), "machine": common::machine(), "part": "control",
        "figure": figure, "unit": "ms", "ours": ours, "floor": null, "ratio": null,
        "quick": false,
    });
    let path = common::results_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("the results file");
    writeln!(file, "{line}").expect("write a result");
}
