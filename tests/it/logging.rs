//! `logging/setLevel` on every transport: the server declares the logging
//! capability, and sends its log lines (tool added, session opened and
//! closed) as `notifications/message` only to a client that set a level at
//! or below theirs (info), never unasked.

use crate::common;
use crate::http_support;

use common::ServerProcess;
use http_support::HttpServer;
use serde_json::{Value, json};

/// Read messages until `want` notifications have arrived, returning them.
async fn notifications(raw: &mut common::RawClient, want: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    while seen.len() < want {
        seen.push(raw.recv().await);
    }
    seen
}

fn methods(messages: &[Value]) -> Vec<&str> {
    let mut methods: Vec<&str> = messages
        .iter()
        .map(|m| m["method"].as_str().expect("a notification"))
        .collect();
    methods.sort_unstable();
    methods
}

#[tokio::test]
async fn stdio_sends_log_lines_only_after_set_level() {
    let mut server = ServerProcess::start(&[]).await;
    let mut raw = server.raw();
    let init = raw.initialize().await;
    assert_eq!(init["result"]["capabilities"]["logging"], json!({}));
    raw.initialized().await;

    // Unasked: the change only.
    server.sighup();
    let first = notifications(&mut raw, 1).await;
    assert_eq!(methods(&first), ["notifications/tools/list_changed"]);

    let (set, _) = raw
        .request("logging/setLevel", json!({ "level": "info" }))
        .await;
    assert_eq!(set["result"], json!({}), "{set}");
    server.sighup();
    let second = notifications(&mut raw, 2).await;
    assert_eq!(
        methods(&second),
        ["notifications/message", "notifications/tools/list_changed"]
    );
    let line = second
        .iter()
        .find(|m| m["method"] == "notifications/message")
        .unwrap();
    // The first line ever sent is this one: none was sent for the first SIGHUP.
    assert_eq!(line["params"]["level"], "info");
    assert_eq!(line["params"]["logger"], "dynamic-mcp-server");
    assert_eq!(
        line["params"]["data"],
        json!({ "message": "tool added", "tool": "counter", "tools": 3 })
    );

    // Above info: our lines no longer qualify.
    let (set, _) = raw
        .request("logging/setLevel", json!({ "level": "warning" }))
        .await;
    assert_eq!(set["result"], json!({}));
    server.sighup();
    let third = notifications(&mut raw, 1).await;
    assert_eq!(methods(&third), ["notifications/tools/list_changed"]);

    // Back to debug: the next line is for the next tool, none for the one before.
    raw.request("logging/setLevel", json!({ "level": "debug" }))
        .await;
    server.sighup();
    let fourth = notifications(&mut raw, 2).await;
    let line = fourth
        .iter()
        .find(|m| m["method"] == "notifications/message")
        .expect("a log line");
    assert_eq!(line["params"]["data"]["tools"], 5, "{fourth:?}");

    // A bad level is a bad request.
    let (bad, _) = raw
        .request("logging/setLevel", json!({ "level": "loud" }))
        .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
}

#[tokio::test]
async fn http_sends_log_lines_only_to_the_sessions_that_asked() {
    let server = HttpServer::start(&[]).await;
    let mut asking = server.connect().await;
    let mut quiet = server.connect().await;
    asking.set_log_level("info").await;

    // Another session opens: only the asking one hears of it.
    let third = server.connect().await;
    let logs = asking.wait_logs(1).await;
    assert_eq!(
        logs,
        [json!({ "message": "session opened", "sessions": 3 })]
    );

    server.process.sighup();
    asking.wait_changes(1).await;
    quiet.wait_changes(1).await;
    let logs = asking.wait_logs(2).await;
    assert_eq!(
        logs[1],
        json!({ "message": "tool added", "tool": "calculator", "tools": 2 })
    );

    third.close().await;
    let logs = asking.wait_logs(3).await;
    assert_eq!(
        logs[2],
        json!({ "message": "session closed", "sessions": 2 })
    );

    // The quiet one asks now: its first line is about the next change, so it
    // was sent nothing before.
    quiet.set_log_level("debug").await;
    server.process.sighup();
    quiet.wait_changes(2).await;
    let logs = quiet.wait_logs(1).await;
    assert_eq!(
        logs,
        [json!({ "message": "tool added", "tool": "counter", "tools": 3 })]
    );
    asking.close().await;
    quiet.close().await;
}
