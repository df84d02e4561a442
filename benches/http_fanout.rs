//! SIGHUP fan-out over Streamable HTTP: 1,000 concurrent sessions against the
//! release binary.
//!
//! Measures, over 50 SIGHUPs, the time from sending the signal to the moment
//! the last of the 1,000 sessions has read its `notifications/tools/list_changed`
//! from its SSE stream (p50, p99, max), and the server's resident memory per
//! idle session (RSS with 1,000 sessions open minus RSS before any, divided by
//! 1,000). Targets: p99 <= 20 ms, <= 50 KB per idle session.
//!
//! The sessions are opened with plain HTTP (one pooled client for the POSTs,
//! one raw TCP connection per SSE stream) rather than 1,000 rmcp clients, so
//! that the client side costs as little as possible: it shares the machine's
//! cores with the server it measures.
//!
//! Run: `cargo bench --bench http_fanout` (`-- --sessions N --sighups N` to
//! change the sizes).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

mod common;
use common::sessions::{Progress, Server, open_sessions, percentile, read_notifications, within};

const WARMUP_SIGHUPS: usize = 5;

struct Sizes {
    sessions: usize,
    sighups: usize,
}

fn sizes() -> Sizes {
    Sizes {
        sessions: common::size_arg("sessions", 1000),
        sighups: common::size_arg("sighups", 50),
    }
}

fn main() {
    // `cargo bench` passes --bench; there is nothing else to filter.
    let sizes = sizes();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(sizes));
}

async fn run(sizes: Sizes) {
    let mut server = Server::start(&[]).await;
    let http = reqwest::Client::new();
    // One session first, so the per-session figure leaves out what the first
    // connection allocates once (runtime buffers, rmcp's tables).
    let first = open_sessions(&http, &server, 1).await;
    let rss_before = server.rss_kib();

    let progress = Progress::new(sizes.sessions);
    let started = Instant::now();
    let streams = open_sessions(&http, &server, sizes.sessions - 1).await;
    let opened_in = started.elapsed();
    for stream in first.into_iter().chain(streams) {
        tokio::spawn(read_notifications(stream, Arc::clone(&progress)));
    }
    // Let the server finish what opening left behind before measuring memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server.rss_kib();
    let per_session_kib = (rss_after - rss_before) as f64 / (sizes.sessions - 1) as f64;

    let mut fanout = Vec::with_capacity(sizes.sighups);
    let mut cpu_before = server.cpu();
    for round in 0..WARMUP_SIGHUPS + sizes.sighups {
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
    let cpu_per_sighup = (server.cpu() - cpu_before) / sizes.sighups as u32;
    // Exactly one notification per session per SIGHUP, none merged or doubled.
    let rounds = WARMUP_SIGHUPS + sizes.sighups;
    assert_eq!(
        progress.read.load(Ordering::Acquire),
        rounds * sizes.sessions
    );
    fanout.sort();

    let stopping = Instant::now();
    server.signal(libc::SIGTERM);
    let status = within("the server to stop", server.child.wait())
        .await
        .expect("wait");
    let stopped_in = stopping.elapsed();
    let log = server.log();
    assert!(status.success(), "the server exited with {status}: {log}");

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "http_fanout: {} sessions, {} SIGHUPs",
        sizes.sessions, sizes.sighups
    );
    println!("  opened all sessions in {:.0} ms", ms(opened_in));
    println!(
        "  SIGHUP -> last session read its notification: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 <= 20 ms)",
        ms(percentile(&fanout, 50.0)),
        ms(percentile(&fanout, 99.0)),
        ms(*fanout.last().unwrap()),
    );
    println!(
        "  server CPU per SIGHUP: {:.2} ms (user + system, all its threads)",
        ms(cpu_per_sighup)
    );
    println!(
        "  SIGTERM with {} sessions open: exited in {:.0} ms",
        sizes.sessions,
        ms(stopped_in)
    );
    println!(
        "  server RSS: {} KiB with 1 session, {} KiB with {}: {:.1} KiB per idle session (target <= 50 KB)",
        rss_before, rss_after, sizes.sessions, per_session_kib
    );
}
