//! `tools/list` at 10,000 tools over stdio and over Streamable HTTP, in one
//! answer and in pages of 100 (`--page-size 100`: every page, cursor after
//! cursor), for this build and, to compare two, another
//! (`BENCH_BEFORE=path/to/binary`): the servers take turns, round after
//! round, so that a noisy moment on a shared machine hurts both alike, and the
//! ratio of the medians is a same-run ratio.
//!
//! Each round takes some warm-up lists and then times each list from the
//! first request's write to the whole last answer's read: the stdio answer's
//! line, the HTTP answer's SSE body (one session, `initialize` and
//! `initialized` done). p50, p99, max per build and variant, printed and
//! appended as JSON lines to `target/bench-results.jsonl` (or
//! `$BENCH_RESULTS`).
//!
//! Run: `cargo bench --bench lists` (`-- --tools N --lists N --rounds N`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

mod common;
use common::sessions::{Server, handshake, next_cursor, percentile, post, start_stdio, within};

const WARMUP: usize = 5;
/// The page size of the paged variants.
const PAGE_SIZE: usize = 100;

/// A transport and a page size.
const VARIANTS: [(&str, bool, Option<usize>); 4] = [
    ("stdio", false, None),
    ("http", true, None),
    ("stdio_paged", false, Some(PAGE_SIZE)),
    ("http_paged", true, Some(PAGE_SIZE)),
];

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
    let mut times = vec![vec![Vec::new(); VARIANTS.len()]; builds.len()];
    for _ in 0..rounds {
        for (i, (_, binary)) in builds.iter().enumerate() {
            for (v, &(_, http, page_size)) in VARIANTS.iter().enumerate() {
                let run = if http {
                    runtime.block_on(over_http(binary, tools, lists, page_size))
                } else {
                    runtime.block_on(over_stdio(binary, tools, lists, page_size))
                };
                times[i][v].extend(run);
            }
        }
    }
    let p50 = |times: &[Duration]| percentile(times, 50.0).as_secs_f64() * 1000.0;
    for (v, (variant, _, _)) in VARIANTS.iter().enumerate() {
        for ((build, _), times) in builds.iter().zip(&mut times) {
            times[v].sort();
            let figure = format!("{variant}_{build}_{tools}");
            report(&figure, tools, variant, build, &times[v]);
        }
        if let [ours, before] = &times[..] {
            let ratio = p50(&ours[v]) / p50(&before[v]);
            println!("{variant}: ours / before = {ratio:.3} at the median (same run)");
        }
    }
}

/// The server's arguments.
fn args(tools: usize, page_size: Option<usize>) -> Vec<String> {
    let mut args = vec!["--tools".to_owned(), tools.to_string()];
    args.extend(page_size.map(|size| format!("--page-size={size}")));
    args
}

/// The `tools/list` request for the page at `cursor`.
fn list_request(id: usize, cursor: Option<&str>) -> Value {
    let params = match cursor {
        Some(cursor) => json!({ "cursor": cursor }),
        None => json!({}),
    };
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params })
}

/// Time `lists` listings, each of every page `ask` answers (given the
/// request id and the cursor), after [`WARMUP`] more.
async fn time_lists<F, Fut>(tools: usize, lists: usize, mut ask: F) -> Vec<Duration>
where
    F: FnMut(usize, Option<String>) -> Fut,
    Fut: Future<Output = String>,
{
    let mut times = Vec::with_capacity(lists);
    let mut id = 0;
    for listing in 1..=WARMUP + lists {
        let (sent, mut cursor, mut listed) = (Instant::now(), None, 0);
        let read = loop {
            id += 1;
            let answer = ask(id, cursor.take()).await;
            let read = sent.elapsed();
            listed += count(&answer);
            cursor = next_cursor(&answer);
            if cursor.is_none() {
                break read;
            }
        };
        assert_eq!(listed, tools, "every tool, each once");
        if listing > WARMUP {
            times.push(read);
        }
    }
    times
}

/// Time `lists` listings from one stdio server with `tools` tools.
async fn over_stdio(
    binary: &Path,
    tools: usize,
    lists: usize,
    page_size: Option<usize>,
) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut command = tokio::process::Command::new(binary);
    command
        .args(args(tools, page_size))
        .args(["--log-level", "warn", "--pidfile"])
        .arg(dir.path().join("server.pid"));
    let (mut child, stdin, lines) = start_stdio(&mut command, "lists-bench").await;
    // One request at a time: the lock is never contended.
    let io = tokio::sync::Mutex::new((stdin, lines));
    let shared = &io;
    let times = time_lists(tools, lists, |id, cursor| async move {
        let (stdin, lines) = &mut *shared.lock().await;
        let request = list_request(id, cursor.as_deref());
        stdin
            .write_all(format!("{request}\n").as_bytes())
            .await
            .unwrap();
        within("the tools/list answer", lines.next_line())
            .await
            .unwrap()
            .expect("stdout open")
    })
    .await;
    // The server ends with its input.
    drop(io.into_inner());
    within("the server to stop", child.wait()).await.unwrap();
    times
}

/// Time `lists` listings on one HTTP session of a server with `tools` tools.
async fn over_http(
    binary: &Path,
    tools: usize,
    lists: usize,
    page_size: Option<usize>,
) -> Vec<Duration> {
    let args = args(tools, page_size);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_binary(binary, &args, None).await;
    let http = &reqwest::Client::new();
    let session = &handshake(http, &server, "lists-bench").await;
    let server = &server;
    time_lists(tools, lists, |id, cursor| async move {
        let request = list_request(id, cursor.as_deref());
        let asked = post(http, server, &request, Some(session)).send();
        let response = within("the tools/list answer", asked).await.unwrap();
        let body = within("the tools/list body", response.bytes())
            .await
            .unwrap();
        String::from_utf8_lossy(&body).into_owned()
    })
    .await
}

/// The tools an answer lists (counted by their names, not parsed, so that
/// the client's cost stays small beside the server's).
fn count(answer: &str) -> usize {
    let head = &answer[..200.min(answer.len())];
    assert!(!answer.contains(r#""error""#), "{head}");
    answer.matches(r#"{"name":"#).count()
}

fn report(figure: &str, tools: usize, variant: &str, build: &str, times: &[Duration]) {
    let what = format!("tools/list at {tools} tools, {variant}, {build}");
    common::report_latency("lists", figure, &what, times);
}
