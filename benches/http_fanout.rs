//! SIGHUP fan-out over Streamable HTTP: 1,000 and then 10,000 concurrent
//! sessions against the release binary (issue 12, target 1).
//!
//! For each size, over 50 SIGHUPs: the time from sending the signal to the
//! moment the last session has read its `notifications/tools/list_changed`
//! from its SSE stream (p50, p99, max), checking that every session read
//! exactly one per SIGHUP; the server's resident memory per idle session (RSS
//! with all sessions open minus RSS with one, divided by the others); and the
//! time from SIGTERM with every session open to the server's exit (exit 0,
//! pidfile removed, every SSE stream ended). Targets: p99 <= 15 ms at 1,000
//! and <= 100 ms at 10,000, <= 32 KiB per idle session, shutdown <= 1 s.
//!
//! The sessions are opened with plain HTTP (one pooled client for the POSTs,
//! one raw TCP connection per SSE stream) and read on one epoll thread, not
//! 10,000 rmcp clients, so that the client side costs as little as possible:
//! it shares the machine's cores with the server it measures. Both processes
//! raise their soft descriptor limit to the hard limit.
//!
//! Run: `cargo bench --bench http_fanout` (`-- --sessions N` for one size,
//! `--sighups N` for fewer or more rounds). Each figure is appended to
//! `target/bench-results.jsonl` (parts `http_fanout_1000`, `http_fanout_10000`)
//! for `BENCHMARKS.md`'s table (`cargo bench --bench e2e -- --table`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

mod common;
use common::sessions::{
    Progress, Server, open_sessions, percentile, raise_descriptor_limit, read_notifications, within,
};

const WARMUP_SIGHUPS: usize = 5;
const SIZES: [usize; 2] = [1_000, 10_000];

fn main() {
    // `cargo bench` passes --bench; there is nothing else to filter.
    let sizes = match common::size_arg("sessions", 0) {
        0 => SIZES.to_vec(),
        n => vec![n],
    };
    let sighups = common::size_arg("sighups", 50);
    let limit = raise_descriptor_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    for sessions in sizes {
        // The client's sockets, the pooled POST connections and some slack.
        assert!(
            sessions as u64 + 200 <= limit,
            "{sessions} sessions need more descriptors than the hard limit of {limit}"
        );
        runtime.block_on(run(sessions, sighups));
    }
}

async fn run(sessions: usize, sighups: usize) {
    let mut server = Server::start(&[]).await;
    let http = reqwest::Client::new();
    // One session first, so the per-session figure leaves out what the first
    // connection allocates once (runtime buffers, rmcp's tables).
    let first = open_sessions(&http, &server, 1).await;
    let rss_before = server.rss_kib();

    let progress = Progress::new(sessions);
    let started = Instant::now();
    let streams = open_sessions(&http, &server, sessions - 1).await;
    let opened_in = started.elapsed();
    let reader = read_notifications(
        first.into_iter().chain(streams).collect(),
        Arc::clone(&progress),
    );
    // Let the server finish what opening left behind before measuring memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server.rss_kib();
    let per_session_kib = (rss_after - rss_before) as f64 / (sessions - 1) as f64;

    let mut fanout = Vec::with_capacity(sighups);
    let mut cpu_before = server.cpu();
    for round in 0..WARMUP_SIGHUPS + sighups {
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
    let cpu_per_sighup = (server.cpu() - cpu_before) / sighups as u32;
    fanout.sort();

    let stopping = Instant::now();
    server.signal(libc::SIGTERM);
    let status = within("the server to stop", server.child.wait())
        .await
        .expect("wait");
    let stopped_in = stopping.elapsed();
    let log = server.log();
    assert!(status.success(), "the server exited with {status}: {log}");
    assert!(!server.pidfile().exists(), "the pidfile is left: {log}");
    let delivered = tokio::task::spawn_blocking(move || reader.join().expect("the reader"))
        .await
        .unwrap();
    // Exactly one notification per session per SIGHUP, none merged or
    // doubled, and every stream ended with the server.
    let rounds = WARMUP_SIGHUPS + sighups;
    assert_eq!(progress.read.load(Ordering::Acquire), rounds * sessions);
    assert!(
        delivered
            .iter()
            .all(|d| d.notifications == rounds && d.ended)
    );

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p50, p99, max) = (
        ms(percentile(&fanout, 50.0)),
        ms(percentile(&fanout, 99.0)),
        ms(*fanout.last().unwrap()),
    );
    println!("http_fanout: {sessions} sessions, {sighups} SIGHUPs");
    println!("  opened all sessions in {:.0} ms", ms(opened_in));
    println!(
        "  SIGHUP -> last session read its notification: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms"
    );
    println!(
        "  server CPU per SIGHUP: {:.2} ms (user + system, all its threads)",
        ms(cpu_per_sighup)
    );
    println!(
        "  SIGTERM with {sessions} sessions open: exited in {:.0} ms",
        ms(stopped_in)
    );
    println!(
        "  server RSS: {rss_before} KiB with 1 session, {rss_after} KiB with {sessions}: {per_session_kib:.1} KiB per idle session"
    );

    let part = format!("http_fanout_{sessions}");
    let n = fanout.len();
    common::record_figure(
        &part,
        "sighup_to_last_session",
        "ms",
        json!({ "n": n, "median": p50, "p99": p99, "max": max }),
    );
    common::record_figure(
        &part,
        "rss_per_idle_session",
        "KiB",
        json!({ "n": 1, "median": per_session_kib }),
    );
    common::record_figure(
        &part,
        "shutdown",
        "ms",
        json!({ "n": 1, "median": ms(stopped_in) }),
    );
    common::record_figure(
        &part,
        "cpu_per_sighup",
        "ms",
        json!({ "n": sighups, "median": ms(cpu_per_sighup) }),
    );
}
