//! `tools/list` at 10,000 tools over stdio and over Streamable HTTP, for this
//! build and, to compare two, another (`BENCH_BEFORE=path/to/binary`): the
//! servers take turns, round after round, so that a noisy moment on a shared
//! machine hurts both alike, and the ratio of the medians is a same-run ratio.
//!
//! Each round takes some warm-up lists and then times each list from the
//! request's write to the whole answer's read: the stdio answer's line, the
//! HTTP answer's SSE body (one session, `initialize` and `initialized` done).
//! p50, p99, max per build and transport, printed and appended as JSON lines
//! to `target/bench-results.jsonl` (or `$BENCH_RESULTS`).
//!
//! Run: `cargo bench --bench lists` (`-- --tools N --lists N --rounds N`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

mod common;
use common::sessions::{Server, percentile, start_stdio, within};

const WARMUP: usize = 5;
const ACCEPT_BOTH: &str = "application/json, text/event-stream";

fn main() {
    let tools = common::size_arg("tools", 10_000);
    let lists = common::size_arg("lists", 20);
    let rounds = common::size_arg("rounds", 5);
    let mut builds = vec![("ours", common::ours())];
    if let Some(before) = std::env::var_os("BENCH_BEFORE") {
        builds.push(("before", PathBuf::from(before)));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut times = vec![[Vec::new(), Vec::new()]; builds.len()];
    for _ in 0..rounds {
        for (i, (_, binary)) in builds.iter().enumerate() {
            times[i][0].extend(runtime.block_on(over_stdio(binary, tools, lists)));
            times[i][1].extend(runtime.block_on(over_http(binary, tools, lists)));
        }
    }
    let p50 = |times: &[Duration]| percentile(times, 50.0).as_secs_f64() * 1000.0;
    for (transport, t) in [("stdio", 0), ("http", 1)] {
        for ((build, _), times) in builds.iter().zip(&mut times) {
            times[t].sort();
            report(
                &format!("{transport}_{build}_{tools}"),
                tools,
                transport,
                build,
                &times[t],
            );
        }
        if let [ours, before] = &times[..] {
            let ratio = p50(&ours[t]) / p50(&before[t]);
            println!("{transport}: ours / before = {ratio:.3} at the median (same run)");
        }
    }
}

/// Time `lists` `tools/list` requests to one stdio server with `tools` tools.
async fn over_stdio(binary: &Path, tools: usize, lists: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut command = tokio::process::Command::new(binary);
    command
        .args(["--tools", &tools.to_string(), "--log-level", "warn"])
        .arg("--pidfile")
        .arg(dir.path().join("server.pid"));
    let (mut child, mut stdin, mut lines) = start_stdio(&mut command, "lists-bench").await;
    let mut times = Vec::with_capacity(lists);
    for id in 1..=WARMUP + lists {
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list" });
        let sent = Instant::now();
        stdin
            .write_all(format!("{request}\n").as_bytes())
            .await
            .unwrap();
        let line = within("the tools/list answer", lines.next_line())
            .await
            .unwrap()
            .expect("stdout open");
        let read = sent.elapsed();
        check(&line, tools);
        if id > WARMUP {
            times.push(read);
        }
    }
    drop(stdin);
    within("the server to stop", child.wait()).await.unwrap();
    times
}

/// Time `lists` `tools/list` requests on one HTTP session of a server with
/// `tools` tools.
async fn over_http(binary: &Path, tools: usize, lists: usize) -> Vec<Duration> {
    let server = Server::start_binary(binary, &["--tools", &tools.to_string()], None).await;
    let http = reqwest::Client::new();
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
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "lists-bench", "version": "0" },
        },
    });
    let response = within("initialize", post(initialize, None).send())
        .await
        .expect("initialize");
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    response.bytes().await.expect("the initialize answer");
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = post(initialized, Some(&session)).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let mut times = Vec::with_capacity(lists);
    for id in 1..=WARMUP + lists {
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list" });
        let sent = Instant::now();
        let response = within(
            "the tools/list answer",
            post(request, Some(&session)).send(),
        )
        .await
        .unwrap();
        let body = within("the tools/list body", response.bytes())
            .await
            .unwrap();
        let read = sent.elapsed();
        check(&String::from_utf8_lossy(&body), tools);
        if id > WARMUP {
            times.push(read);
        }
    }
    times
}

/// The answer lists every tool (counted by their names, not parsed, so that
/// the client's cost stays small beside the server's).
fn check(answer: &str, tools: usize) {
    assert_eq!(
        answer.matches(r#"{"name":"#).count(),
        tools,
        "{}",
        &answer[..200.min(answer.len())]
    );
}

fn report(figure: &str, tools: usize, transport: &str, build: &str, times: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p50, p99, max) = (
        ms(percentile(times, 50.0)),
        ms(percentile(times, 99.0)),
        ms(*times.last().unwrap()),
    );
    println!(
        "tools/list at {tools} tools over {transport}, {build}: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms ({} lists)",
        times.len()
    );
    let ours = json!({ "n": times.len(), "median": p50, "p99": p99, "max": max });
    common::record_figure("lists", figure, "ms", ours);
}
