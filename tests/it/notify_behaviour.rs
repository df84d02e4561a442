//! How notifications are written, against the real binary with raw JSON-RPC
//! on the wire (stdio lines, HTTP SSE events): by default a storm of changes
//! folds into fewer `list_changed`, the last change always notified;
//! `--coalesce off` writes one per change, and owes a client that does not
//! read a bounded number; `--duplicate-notifications` writes each twice.

use crate::common;
use crate::http_support;

use std::time::Duration;

use common::{Controlled, RawClient, bounded};
use http_support::{Raw, SseReader};
use serde_json::{Value, json};

/// How long a test waits for a notification that must not come.
const QUIET: Duration = Duration::from_millis(300);

const TOOLS_CHANGED: &str = "notifications/tools/list_changed";

/// A server with the control endpoint, over stdio or HTTP.
type Server = Controlled;

impl Server {
    /// `n` tools added by one control request (`count: n`), answered once
    /// every change is applied and every session told.
    async fn storm(&self, n: usize) {
        let (status, answer) = self
            .change(json!({ "change": "add_tool", "count": n }))
            .await;
        assert_eq!(status, 200, "{answer}");
    }

    /// `GET /state`'s sessions, once each has answered: `/state` waits a
    /// second for a session, and one busy with a storm on a loaded machine
    /// (tests run in parallel) may need longer.
    async fn sessions(&self) -> Vec<Value> {
        bounded("every session to describe itself", async {
            loop {
                let state = self.state().await;
                let sessions = state["sessions"].as_array().expect("sessions").clone();
                if sessions.iter().all(|s| s.get("error").is_none()) {
                    return sessions;
                }
            }
        })
        .await
    }

    /// The one session's notification counts.
    async fn notifications(&self) -> Value {
        let sessions = self.sessions().await;
        assert_eq!(sessions.len(), 1, "{sessions:?}");
        sessions[0]["notifications"].clone()
    }

    /// Wait until `n` sessions have had their `notifications/initialized`
    /// handled: a change before it would be remembered as one notification.
    async fn wait_initialized(&self, n: usize) {
        bounded("the sessions to be initialized", async {
            loop {
                let sessions = self.sessions().await;
                let initialized = sessions.iter().filter(|s| s["initialized"] == true).count();
                if initialized == n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    }

    /// An initialized raw stdio client.
    async fn stdio_client(&mut self) -> RawClient {
        let mut client = self.process.raw();
        client.initialize().await;
        client.initialized().await;
        self.wait_initialized(1).await;
        client
    }

    /// `n` initialized raw HTTP sessions, each listening on its SSE stream.
    async fn http_sessions(&self, n: usize) -> Vec<SseReader> {
        let raw = Raw {
            http: reqwest::Client::new(),
            url: self.mcp_url().to_owned(),
        };
        let mut streams = Vec::new();
        for _ in 0..n {
            let session = raw.initialize().await;
            streams.push(raw.listen(&session).await);
            raw.initialized(&session).await;
        }
        self.wait_initialized(n).await;
        streams
    }
}

/// Read exactly `n` `tools/list_changed` from a stdio client, then make sure
/// nothing else was written: a ping's answer comes with no notification
/// before it.
async fn stdio_exactly(client: &mut RawClient, n: usize) {
    for i in 0..n {
        let message = client.recv().await;
        assert_eq!(message["method"], TOOLS_CHANGED, "message {i} of {n}");
    }
    let (pong, before) = client.request("ping", json!({})).await;
    assert!(pong.get("result").is_some(), "{pong}");
    assert!(before.is_empty(), "more than {n}: {before:?}");
}

/// Read exactly `n` `tools/list_changed` from an SSE stream, and nothing more.
async fn sse_exactly(stream: &mut SseReader, n: usize) {
    for i in 0..n {
        let message = stream.next_notification().await;
        assert_eq!(message["method"], TOOLS_CHANGED, "message {i} of {n}");
    }
    let extra = stream.next_message_within(QUIET).await;
    assert!(extra.is_none(), "more than {n}: {extra:?}");
}

#[tokio::test]
async fn coalesce_off_writes_one_list_changed_per_change_on_stdio() {
    let mut server = Server::start(&["--coalesce", "off"]).await;
    // A hostile run says so first.
    let log = server.process.stderr();
    let first = log.lines().next().unwrap_or_default();
    assert!(first.contains("hostile: coalesce=off"), "{log}");
    let mut client = server.stdio_client().await;
    server.storm(50).await;
    stdio_exactly(&mut client, 50).await;
    let counts = server.notifications().await;
    assert_eq!(
        (counts["tools"].clone(), counts["folded"].clone()),
        (json!(50), json!(0))
    );
    // The next change is one more.
    server.storm(1).await;
    stdio_exactly(&mut client, 1).await;
}

#[tokio::test]
async fn coalesce_off_writes_one_list_changed_per_change_to_every_http_session() {
    let server = Server::start(&["--http", "127.0.0.1:0", "--coalesce", "off"]).await;
    let mut streams = server.http_sessions(3).await;
    server.storm(50).await;
    for stream in &mut streams {
        sse_exactly(stream, 50).await;
    }
    for session in server.sessions().await {
        assert_eq!(session["notifications"]["tools"], 50, "{session}");
    }
}

#[tokio::test]
async fn by_default_a_storm_folds_and_its_last_change_is_notified() {
    let mut server = Server::start(&[]).await;
    assert!(!server.process.stderr().contains("hostile"));
    let mut client = server.stdio_client().await;
    server.storm(50).await;
    // At least one notification, then as many as come before a quiet moment.
    let first = client.recv().await;
    assert_eq!(first["method"], TOOLS_CHANGED);
    let mut told = 1;
    while let Ok(message) = tokio::time::timeout(QUIET, client.recv()).await {
        assert_eq!(message["method"], TOOLS_CHANGED);
        told += 1;
    }
    assert!(
        (1..=50).contains(&told),
        "{told} notifications for 50 changes"
    );
    // All of them were read, and the list the client would fetch now is the
    // final one: a storm never ends with the client behind.
    assert_eq!(server.notifications().await["tools"], told);
    let (list, before) = client.request("tools/list", json!({})).await;
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 51);
    // A default server's state has no hostile counts.
    let counts = server.notifications().await;
    assert!(counts.get("folded").is_none() && counts.get("duplicates").is_none());
}

#[tokio::test]
async fn duplicate_notifications_write_each_list_changed_twice() {
    let mut server = Server::start(&["--duplicate-notifications", "--coalesce", "off"]).await;
    let log = server.process.stderr();
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.contains("hostile: coalesce=off duplicate-notifications"),
        "{log}"
    );
    let mut client = server.stdio_client().await;
    server.storm(10).await;
    stdio_exactly(&mut client, 20).await;
    let counts = server.notifications().await;
    assert_eq!(
        (counts["tools"].clone(), counts["duplicates"].clone()),
        (json!(20), json!(10))
    );
}

#[tokio::test]
async fn duplicate_notifications_reach_every_http_session_twice() {
    let server = Server::start(&["--http", "127.0.0.1:0", "--duplicate-notifications"]).await;
    let mut streams = server.http_sessions(2).await;
    server.storm(1).await;
    for stream in &mut streams {
        sse_exactly(stream, 2).await;
    }
}

/// The stdio pipe (64 KiB on Linux, about a thousand notifications) and the
/// one write in flight hold what the server has written but the client has
/// not read; the server owes it at most the backlog on top of that.
const PIPE_SLACK: u64 = 2_000;
/// The server's backlog per list and destination with `--coalesce off`.
const BACKLOG: u64 = 10_000;

#[tokio::test]
async fn coalesce_off_owes_a_client_that_does_not_read_at_most_its_backlog() {
    let mut server = Server::start(&["--coalesce", "off"]).await;
    let mut client = server.stdio_client().await;
    let changes = 3 * BACKLOG;
    // The client reads nothing until every change has reached its session
    // (GET /state asks the session after them).
    server.storm(changes as usize).await;
    let folded = server.notifications().await["folded"]
        .as_u64()
        .expect("a folded count");
    let owed = changes - folded;
    assert!(
        owed <= BACKLOG + PIPE_SLACK,
        "{owed} notifications owed to a client that reads nothing"
    );
    // Reading again, it gets exactly what was owed, the last after the last
    // change: folding never loses the news that the list changed.
    stdio_exactly(&mut client, owed as usize).await;
    assert_eq!(server.notifications().await["tools"], owed);
    assert!(
        server
            .process
            .stderr()
            .contains("a client is not reading its notifications"),
        "the log says the client fell behind"
    );
}

#[tokio::test]
async fn a_scenario_files_hostile_table_sets_the_same_knobs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("storm.toml");
    std::fs::write(
        &file,
        "steps = []\n[hostile]\ncoalesce = \"off\"\nduplicate_notifications = true\n",
    )
    .expect("write the scenario");
    let mut server = Server::start(&["--scenario", file.to_str().unwrap()]).await;
    let log = server.process.stderr();
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.contains("coalesce=off duplicate-notifications"),
        "{log}"
    );
    let mut client = server.stdio_client().await;
    server.storm(5).await;
    stdio_exactly(&mut client, 10).await;
}
