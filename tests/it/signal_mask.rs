//! The change signals (SIGHUP, SIGUSR1, SIGUSR2) are blocked in every thread
//! of the server, so that the kernel leaves each one pending for the signal
//! listener's signalfd instead of interrupting whichever thread it picks (the
//! way a burst loses fewest; see `src/actors/signals.rs`). A thread that did
//! not inherit the block would still count them, through the fallback
//! handler (tests/signals_in_process.rs), but slowly.

use crate::common;
use crate::http_support;

use common::ServerProcess;
use http_support::HttpServer;

/// The threads of `pid` (name and whether it blocks all three change signals).
fn threads_blocking_change_signals(pid: i32) -> Vec<(String, bool)> {
    let change = [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2]
        .iter()
        .fold(0u64, |mask, signal| mask | 1 << (signal - 1));
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the server's threads");
    tasks
        .map(|task| {
            let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(str::trim)
                    .unwrap()
                    .to_owned()
            };
            let blocked = u64::from_str_radix(&field("SigBlk:"), 16).unwrap();
            (field("Name:"), blocked & change == change)
        })
        .collect()
}

fn assert_every_thread_blocks(pid: i32) {
    let threads = threads_blocking_change_signals(pid);
    assert!(!threads.is_empty());
    let open: Vec<_> = threads.iter().filter(|(_, blocks)| !blocks).collect();
    assert!(
        open.is_empty(),
        "threads that take change signals: {open:?}"
    );
}

#[tokio::test]
async fn every_thread_of_a_stdio_server_blocks_the_change_signals() {
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let mut client = server.connect().await;
    // A change and a call first, so that every thread the server starts for
    // its work has started.
    server.sighup();
    client.wait_notifications(1).await;
    assert_eq!(client.tool_names().await.len(), 4);
    assert_every_thread_blocks(server.pid);
    client.close().await;
}

#[tokio::test]
async fn every_thread_of_an_http_server_blocks_the_change_signals() {
    let server = HttpServer::start(&["--tools", "3"]).await;
    let mut clients = vec![server.connect().await, server.connect().await];
    server.process.sighup();
    for client in &mut clients {
        client.wait_changes(1).await;
        assert_eq!(client.tool_names().await.len(), 4);
    }
    assert_every_thread_blocks(server.process.pid);
    for client in clients {
        client.close().await;
    }
}
