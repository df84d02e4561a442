//! A library user's process that asks for signal handling but never blocked
//! the change signals (only the binary does, in `main`): its threads take
//! SIGHUP, SIGUSR1 and SIGUSR2 through the listener's fallback handler, which
//! must count each one rather than let the default action kill the process.
//! And a server started without signal handling leaves every thread's signal
//! mask as it was. One test, in its own binary: it signals its own process.

#[allow(dead_code)] // the `it` binary's support; this test uses part of it
#[path = "it/common.rs"]
mod common;

use common::bounded;
use dynamic_mcp_server::{Options, start};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::sync::watch;

struct Counter(watch::Sender<usize>);

impl ClientHandler for Counter {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.0.send_modify(|count| *count += 1);
    }
}

/// The names of this process's threads that block SIGHUP but not SIGTERM:
/// the listener's doing. (glibc's `pthread_create` blocks every signal for a
/// moment in the creating thread and the new one, so "blocks SIGHUP" alone
/// would also catch a runtime starting a worker.)
fn threads_blocking_sighup() -> Vec<String> {
    let bit = |signal: i32| 1u64 << (signal - 1);
    let tasks = std::fs::read_dir("/proc/self/task").expect("our threads");
    tasks
        .filter_map(|task| {
            let status = std::fs::read_to_string(task.ok()?.path().join("status")).ok()?;
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
            };
            let blocked = u64::from_str_radix(field("SigBlk:")?, 16).ok()?;
            let ours = blocked & bit(libc::SIGHUP) != 0 && blocked & bit(libc::SIGTERM) == 0;
            ours.then(|| field("Name:").unwrap().to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_signals_reach_a_server_in_a_process_that_does_not_block_them() {
    assert_eq!(
        threads_blocking_sighup(),
        Vec::<String>::new(),
        "nothing blocks yet"
    );

    // Without signal handling: nobody's mask changes.
    let (server_io, _client_io) = tokio::io::duplex(64 * 1024);
    let quiet = start(Options::new(1), tokio::io::split(server_io))
        .await
        .unwrap();
    assert_eq!(threads_blocking_sighup(), Vec::<String>::new());
    quiet.shutdown().await.unwrap();

    // With it: only the listener's own thread blocks them.
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let options = Options::new(1).handle_signals(true);
    let server = start(options, tokio::io::split(server_io)).await.unwrap();
    assert_eq!(threads_blocking_sighup(), ["signals"]);
    let (count, mut notified) = watch::channel(0);
    let client = Counter(count).serve(client_io).await.unwrap();

    // Each signal goes to one of this process's other threads, whose handler
    // counts it: two tools added, the newest removed, the next changed.
    for (n, signal) in [libc::SIGHUP, libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2]
        .into_iter()
        .enumerate()
    {
        // SAFETY: kill(2) has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(std::process::id() as i32, signal) }, 0);
        bounded("the change's notification", notified.wait_for(|&c| c > n))
            .await
            .unwrap();
    }
    let catalog = server.catalog().await.unwrap();
    let tools: Vec<_> = catalog
        .tools
        .entries()
        .iter()
        .map(|e| (e.number, e.revision))
        .collect();
    assert_eq!(tools, [(1, 1), (2, 2)], "{catalog:?}");

    client.cancel().await.unwrap();
    server.shutdown().await.unwrap();
    // The listener's thread is gone with it.
    assert_eq!(threads_blocking_sighup(), Vec::<String>::new());
}
