//! The cost of recording the client report: `tools/list` at 10,000 tools over
//! stdio, without and with `--report` (which starts the Recorder and sends it
//! three events per page: the request, the page and the answer), and with
//! `--control` (the Recorder and the metrics of `GET /metrics`, which fold
//! the same events), on one page and paged by 100 (`--page-size 100`: a
//! listing is then every page, cursor after cursor).
//!
//! The three servers run one after the other, alternating for a few rounds so
//! that a noisy moment hurts both alike; each round takes some warm-up lists
//! and then times each list from the request's write to the response line's
//! read. p50, p99, max per variant; printed and appended as JSON lines to
//! `target/bench-results.jsonl` (or `$BENCH_RESULTS`).
//!
//! Run: `cargo bench --bench report` (`-- --tools N --lists N --rounds N`).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncWriteExt;

mod common;
use common::sessions::{next_cursor, percentile, start_stdio, within};

const WARMUP: usize = 5;

fn main() {
    let tools = common::size_arg("tools", 10_000);
    let lists = common::size_arg("lists", 100);
    let rounds = common::size_arg("rounds", 3);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    for (paging, page_size) in [("list", None), ("paged_list", Some(PAGE_SIZE))] {
        let (mut plain, mut recorded, mut metered) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let run =
                |watched| runtime.block_on(lists_over_stdio(tools, lists, watched, page_size));
            plain.extend(run(Watched::No));
            recorded.extend(run(Watched::Report));
            metered.extend(run(Watched::Control));
        }
        plain.sort();
        recorded.sort();
        metered.sort();
        let p50 = |times: &[Duration]| percentile(times, 50.0).as_secs_f64() * 1000.0;
        let ratio = p50(&recorded) / p50(&plain);
        let metrics_ratio = p50(&metered) / p50(&recorded);
        let how = match page_size {
            Some(size) => format!("every page of {size}"),
            None => "one page".to_owned(),
        };
        report(
            &format!("report_off_{paging}_{tools}"),
            tools,
            &format!("{how}, without --report"),
            &plain,
        );
        report(
            &format!("report_on_{paging}_{tools}"),
            tools,
            &format!("{how}, with --report"),
            &recorded,
        );
        report(
            &format!("control_on_{paging}_{tools}"),
            tools,
            &format!("{how}, with --control (report and metrics)"),
            &metered,
        );
        println!("recording costs x{ratio:.3} at the median ({how})");
        println!("metrics cost x{metrics_ratio:.3} over recording at the median ({how})");
    }
}

/// Who watches the run: nobody (the default), the Recorder (`--report`), or
/// the Recorder and the metrics (`--control`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Watched {
    No,
    Report,
    Control,
}

/// The page size of the paged variant.
const PAGE_SIZE: usize = 100;

/// Time `lists` `tools/list` requests to one stdio server with `tools` tools.
async fn lists_over_stdio(
    tools: usize,
    lists: usize,
    watched: Watched,
    page_size: Option<usize>,
) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut command = tokio::process::Command::new(common::ours());
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
    match watched {
        Watched::No => {}
        Watched::Report => {
            command.arg("--report").arg(&report);
        }
        Watched::Control => {
            command.args(["--control", "127.0.0.1:0"]);
        }
    }
    if let Some(size) = page_size {
        command.args(["--page-size", &size.to_string()]);
    }
    let (mut child, mut stdin, mut lines) = start_stdio(&mut command, "report-bench").await;
    let mut times = Vec::with_capacity(lists);
    let mut requests = 0;
    let pages = page_size.map_or(1, |size| tools.div_ceil(size));
    for listing in 1..=WARMUP + lists {
        let sent = Instant::now();
        let mut cursor = None;
        for _ in 0..pages {
            requests += 1;
            let params = match &cursor {
                Some(cursor) => json!({ "cursor": cursor }),
                None => json!({}),
            };
            let request = json!({
                "jsonrpc": "2.0", "id": requests, "method": "tools/list", "params": params,
            });
            stdin
                .write_all(format!("{request}\n").as_bytes())
                .await
                .unwrap();
            let line = within("the tools/list answer", lines.next_line())
                .await
                .unwrap()
                .expect("stdout open");
            assert!(
                line.starts_with(r#"{"jsonrpc":"2.0","id":"#) && !line.contains(r#""error""#),
                "{}",
                &line[..80.min(line.len())]
            );
            cursor = next_cursor(&line);
        }
        assert_eq!(cursor, None, "the listing ends after {pages} pages");
        let read = sent.elapsed();
        if listing > WARMUP {
            times.push(read);
        }
    }
    drop(stdin);
    let status = within("the server to stop", child.wait()).await.unwrap();
    assert!(status.success());
    if watched == Watched::Report {
        let text = std::fs::read_to_string(&report).expect("the report is written");
        assert!(text.contains(&format!("\"tools/list\": {requests}")));
    }
    times
}

fn report(figure: &str, tools: usize, label: &str, times: &[Duration]) {
    let what = format!("tools/list at {tools} tools, {label}");
    common::report_latency("report", figure, &what, times);
}
