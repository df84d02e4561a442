//! A soak test (issue 9's defences): for a bounded time, a random mix of
//! SIGHUP, SIGUSR1 and SIGUSR2, control changes, tool calls and lists, HTTP
//! sessions that open and close, and sessions abandoned after `initialize`;
//! meanwhile a scenario runs storms of notifications and changes, and bulk
//! control changes of 10,000 steps come and go (issue 24).
//! At the end every session is accounted for (each one opened is closed), the
//! lists agree, memory is back near where it started, and after SIGTERM the
//! server exits 0 leaving nothing on disk.
//!
//! `SOAK_SECONDS` sets the length (default 6); `SOAK_SEED` replays a run (the
//! seed is printed).

#[allow(dead_code)] // the `it` binary's support; this test uses part of it
#[path = "it/common.rs"]
mod common;
#[allow(dead_code)] // the `it` binary's support; this test uses part of it
#[path = "it/http_support.rs"]
mod http_support;

use std::time::{Duration, Instant};

use common::bounded;
use http_support::{HttpClient, HttpServer, Raw};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

/// How far above its start the server's memory may end: room for the
/// allocator's own bookkeeping, far below what a leak of sessions would hold.
const MEMORY_SLACK_KIB: u64 = 16 * 1024;

/// xorshift64*: small, and a seed replays a run exactly.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// Wait until every session the server logged as opened is logged as closed.
async fn all_sessions_closed(server: &HttpServer) {
    bounded("every session to be closed", async {
        while server.session_events("opened") != server.session_events("closed") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// The steps of one bulk control change.
const BULK: usize = 10_000;

const CHANGES: [&str; 8] = [
    "add_tool",
    "remove_tool",
    "change_tool",
    "reset",
    "add_prompt",
    "remove_prompt",
    "update_resource",
    "add_resource",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_signals_changes_calls_and_session_churn() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(1, |d| d.as_nanos() as u64) | 1
        });
    eprintln!("soak: {seconds} s, SOAK_SEED={seed}");
    let mut rng = Rng(seed);

    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    // Storms for the whole run, one after the other: spurious notifications,
    // rug pulls of the newest tool (refused at times, when a signal removed
    // it: logged, and the timeline goes on), then notifications to the end.
    let scenario = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(
        scenario.path(),
        "[[steps]]\nnotify = \"tools\"\nevery_ms = 2\ntimes = 500\n\
         [[steps]]\nchange = \"change_tool\"\nevery_ms = 5\ntimes = 400\n\
         [[steps]]\nchange = \"update_resource\"\ncount = 100\nevery_ms = 10\ntimes = 100\n\
         [[steps]]\nnotify = \"prompts\"\nevery_ms = 3\ntimes = 100000\n",
    )
    .unwrap();
    let server = HttpServer::start(&[
        "--scenario",
        scenario.path().to_str().unwrap(),
        "--tools",
        "3",
        "--prompts",
        "2",
        "--resources",
        "2",
        "--session-timeout",
        "0.5",
        "--control",
        "127.0.0.1:0",
        "--ready-file",
        ready.to_str().unwrap(),
    ])
    .await;
    let ready_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    let control = ready_json["control_url"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let raw = Raw::new(&server);

    // One session first, so the start figure includes what the first one
    // allocates once.
    server.connect().await.close().await;
    all_sessions_closed(&server).await;
    let rss_start = rss_kib(server.process.pid);

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut clients: Vec<HttpClient> = Vec::new();
    let mut actions = [0usize; 10];
    while Instant::now() < deadline {
        let action = rng.below(10);
        actions[action] += 1;
        match action {
            0 => server.process.sighup(),
            1 => server.process.signal(libc::SIGUSR1),
            2 => server.process.signal(libc::SIGUSR2),
            3 => {
                let change = CHANGES[rng.below(CHANGES.len())];
                let response = bounded(
                    "POST /changes",
                    http.post(format!("{control}/changes"))
                        .body(json!({ "change": change }).to_string())
                        .send(),
                )
                .await
                .expect("the control endpoint answers");
                // Applied, or refused as changing nothing: never anything else.
                let status = response.status().as_u16();
                assert!(matches!(status, 200 | 409), "{change}: {status}");
            }
            4 if clients.len() < 8 => clients.push(server.connect().await),
            5 if !clients.is_empty() => {
                let client = clients.swap_remove(rng.below(clients.len()));
                client.close().await;
            }
            // Abandoned after `initialize`: the session timeout sweeps it.
            6 => {
                raw.initialize().await;
            }
            7 if !clients.is_empty() => {
                let client = &clients[rng.below(clients.len())];
                let call = CallToolRequestParams::new("echo")
                    .with_arguments(json!({ "message": "soak" }).as_object().unwrap().clone());
                // The tool may be gone or changed by now: a result or a
                // JSON-RPC error, never a broken session.
                if let Err(error) = bounded("tools/call", client.service.call_tool(call)).await {
                    assert!(
                        matches!(error, rmcp::service::ServiceError::McpError(_)),
                        "{error}"
                    );
                }
            }
            8 if !clients.is_empty() => {
                let client = &clients[rng.below(clients.len())];
                client.tool_names().await;
            }
            // A bulk change of 10,000 steps, undone when it grew the list:
            // the memory it takes must come back. A few per run: every tool
            // number made keeps its interned name.
            9 if actions[9] <= 8 => {
                let bulk = [
                    ["add_tool", "remove_tool"],
                    ["change_tool", "change_tool"],
                    ["update_resource", "change_prompt"],
                ][rng.below(3)];
                for change in bulk {
                    let body = json!({ "change": change, "count": BULK });
                    let response = bounded(
                        "a bulk POST /changes",
                        http.post(format!("{control}/changes"))
                            .body(body.to_string())
                            .send(),
                    )
                    .await
                    .expect("the control endpoint answers");
                    // A revision finds nothing to revise when the control
                    // endpoint emptied that list: 409, and nothing changed.
                    let status = response.status().as_u16();
                    if status == 409 && change.starts_with("change_") {
                        continue;
                    }
                    assert_eq!(status, 200, "{body}");
                    let answer: Value = serde_json::from_str(
                        &bounded("its answer", response.text()).await.unwrap(),
                    )
                    .unwrap();
                    assert_eq!(answer["applied"], BULK, "{change}");
                }
            }
            _ => {}
        }
    }
    eprintln!(
        "soak actions (signals x3, control, open, close, abandon, call, list, bulk): {actions:?}"
    );
    for client in clients {
        client.close().await;
    }
    all_sessions_closed(&server).await;

    // The lists agree: the state, the client's tools/list and the counter.
    let state: Value = serde_json::from_str(
        &http
            .get(format!("{control}/state"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let listed: Vec<String> = state["tools"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect();
    let client = server.connect().await;
    assert_eq!(client.tool_names().await, listed);
    let mut unique = listed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), listed.len(), "names are unique: {listed:?}");
    client.close().await;
    all_sessions_closed(&server).await;

    // Memory back near its start, once the sweep has given it back.
    let settled = bounded("memory to settle", async {
        loop {
            let rss = rss_kib(server.process.pid);
            if rss <= rss_start + MEMORY_SLACK_KIB {
                return rss;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    eprintln!("soak: RSS {rss_start} KiB at start, {settled} KiB at the end");

    // Nothing left behind.
    let pidfile = server.process.pidfile.clone();
    let mut process = server.process;
    process.signal(libc::SIGTERM);
    let status = process.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{}", process.stderr());
    assert!(!pidfile.exists() && !ready.exists());
    let left: Vec<String> = std::fs::read_dir(pidfile.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["stderr.log"], "only the test's own log is left");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no ready file or temporary file left"
    );
    assert!(
        !process.stderr().contains(" ERROR "),
        "{}",
        process.stderr()
    );
}
