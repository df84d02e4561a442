//! The cost of recording the client report: `tools/list` at 10,000 tools over
//! stdio, without and with `--report` (which starts the Recorder and sends it
//! two events per list: the request and the page).
//!
//! The two servers run one after the other, alternating for a few rounds so
//! that a noisy moment hurts both alike; each round takes some warm-up lists
//! and then times each list from the request's write to the response line's
//! read. p50, p99, max per variant; printed and appended as JSON lines to
//! `target/bench-results.jsonl` (or `$BENCH_RESULTS`).
//!
//! Run: `cargo bench --bench report` (`-- --tools N --lists N --rounds N`).

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

mod common;
use common::sessions::{percentile, within};

const BIN: &str = env!("CARGO_BIN_EXE_dynamic-mcp-server");
const WARMUP: usize = 5;

fn main() {
    let tools = common::size_arg("tools", 10_000);
    let lists = common::size_arg("lists", 100);
    let rounds = common::size_arg("rounds", 3);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (mut plain, mut recorded) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        plain.extend(runtime.block_on(lists_over_stdio(tools, lists, false)));
        recorded.extend(runtime.block_on(lists_over_stdio(tools, lists, true)));
    }
    plain.sort();
    recorded.sort();
    let p50 = |times: &[Duration]| percentile(times, 50.0).as_secs_f64() * 1000.0;
    let ratio = p50(&recorded) / p50(&plain);
    report(
        &format!("report_off_list_{tools}"),
        tools,
        "without --report",
        &plain,
    );
    report(
        &format!("report_on_list_{tools}"),
        tools,
        "with --report",
        &recorded,
    );
    println!("recording costs x{ratio:.3} at the median");
}

/// Time `lists` `tools/list` requests to one stdio server with `tools` tools.
async fn lists_over_stdio(tools: usize, lists: usize, record: bool) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut command = tokio::process::Command::new(BIN);
    command
        .args([
            "--tools",
            &tools.to_string(),
            "--log-level",
            "warn",
            "--pidfile",
        ])
        .arg(dir.path().join("server.pid"));
    let report = dir.path().join("report.json");
    if record {
        command.arg("--report").arg(&report);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "report-bench", "version": "0" },
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
    let mut times = Vec::with_capacity(lists);
    for id in 1..=WARMUP + lists {
        let request = format!(
            "{}\n",
            json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list" })
        );
        let sent = Instant::now();
        stdin.write_all(request.as_bytes()).await.unwrap();
        let line = within("the tools/list answer", lines.next_line())
            .await
            .unwrap()
            .expect("stdout open");
        let read = sent.elapsed();
        assert!(
            line.starts_with(r#"{"jsonrpc":"2.0","id":"#),
            "{}",
            &line[..80.min(line.len())]
        );
        if id > WARMUP {
            times.push(read);
        }
    }
    drop(stdin);
    let status = within("the server to stop", child.wait()).await.unwrap();
    assert!(status.success());
    if record {
        let text = std::fs::read_to_string(&report).expect("the report is written");
        assert!(text.contains(&format!("\"tools/list\": {}", WARMUP + lists)));
    }
    times
}

fn report(figure: &str, tools: usize, label: &str, times: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p50, p99, max) = (
        ms(percentile(times, 50.0)),
        ms(percentile(times, 99.0)),
        ms(*times.last().unwrap()),
    );
    println!(
        "tools/list at {tools} tools, {label}: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms ({} lists)",
        times.len()
    );
    let ours = json!({ "n": times.len(), "median": p50, "p99": p99, "max": max });
    let line = json!({
        "run": common::now(), "machine": common::machine(), "part": "report",
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
