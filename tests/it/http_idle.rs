//! An HTTP session runs rmcp's service loop only while it has a request in
//! flight (issue 12: memory per idle session). These tests drive the real
//! binary with raw HTTP and follow the loop through the server's debug log:
//! every loop that starts must end once the session is idle again, and the
//! session must serve whatever comes next as if its loop had never ended.

use crate::common;
use crate::http_support;

use std::time::Duration;

use common::bounded;
use http_support::{HttpServer, Raw, SseReader};
use serde_json::{Value, json};

const ENDS: &str = "its service loop ends until its next message";
const STARTS: &str = "its service loop starts";

/// Wait until every loop that started has ended: the handshake's (rmcp's
/// own, which never logs a start) and each one started since.
async fn all_loops_ended(server: &HttpServer) -> usize {
    bounded("every service loop to end", async {
        loop {
            let log = server.process.stderr();
            let (ends, starts) = (log.matches(ENDS).count(), log.matches(STARTS).count());
            if ends >= 1 && ends == starts + 1 {
                return ends;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// POST one request and read its answer from the response's SSE stream.
async fn request(raw: &Raw, session: &str, id: u64, method: &str, params: Value) -> Value {
    let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    let response = bounded(method, raw.post(Some(session), body.to_string()).send())
        .await
        .expect("the request is answered");
    assert_eq!(response.status(), 200, "{method}");
    let answer = SseReader::new(response)
        .next_message()
        .await
        .expect("an answer on the request's stream");
    assert_eq!(answer["id"], id, "{answer}");
    answer
}

async fn open(server: &HttpServer) -> (Raw, String, SseReader) {
    let raw = Raw::new(server);
    let session = raw.initialize().await;
    raw.initialized(&session).await;
    let stream = raw.listen(&session).await;
    (raw, session, stream)
}

#[tokio::test]
async fn an_idle_session_ends_its_loop_and_serves_requests_and_notifications_after() {
    let server = HttpServer::start(&["--log-level", "debug"]).await;
    let (raw, session, mut stream) = open(&server).await;
    let idle = all_loops_ended(&server).await;

    let answer = request(&raw, &session, 2, "tools/list", json!({})).await;
    assert_eq!(answer["result"]["tools"].as_array().unwrap().len(), 1);
    assert!(
        all_loops_ended(&server).await > idle,
        "the request ran a loop"
    );

    // Notifications never need a loop: the session is idle when this comes.
    server.process.sighup();
    let notification = stream.next_notification().await;
    assert_eq!(notification["method"], "notifications/tools/list_changed");
    let answer = request(&raw, &session, 3, "tools/list", json!({})).await;
    assert_eq!(answer["result"]["tools"].as_array().unwrap().len(), 2);
    all_loops_ended(&server).await;
    let answer = request(
        &raw,
        &session,
        4,
        "tools/call",
        json!({ "name": "echo", "arguments": { "message": "after idle" } }),
    )
    .await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
}

/// MCP cancellation (notifications/cancelled): the server need not answer a
/// cancelled request, so a cancelled request must not keep the loop running
/// for ever, and the session serves the next one.
#[tokio::test]
async fn a_cancelled_request_lets_the_session_go_idle() {
    let server = HttpServer::start(&["--log-level", "debug", "--call-delay-ms", "60000"]).await;
    let (raw, session, _stream) = open(&server).await;
    all_loops_ended(&server).await;

    let call = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "message": "never answered" } },
    });
    let started = server.process.stderr().matches(STARTS).count();
    let pending = raw.post(Some(&session), call.to_string()).send();
    let pending = tokio::spawn(pending);
    // The call is in flight once its loop has started.
    server.process.wait_stderr(STARTS, started + 1).await;
    let cancel = json!({
        "jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": { "requestId": 7, "reason": "the test gave up" },
    });
    let response = bounded(
        "the cancellation",
        raw.post(Some(&session), cancel.to_string()).send(),
    )
    .await
    .expect("the cancellation is accepted");
    assert_eq!(response.status(), 202);
    all_loops_ended(&server).await;

    let answer = request(&raw, &session, 8, "tools/list", json!({})).await;
    assert!(answer["result"]["tools"].is_array(), "{answer}");
    pending.abort();
}

#[tokio::test]
async fn concurrent_requests_of_one_session_are_each_answered_once() {
    let server = HttpServer::start(&["--log-level", "debug", "--list-delay-ms", "50"]).await;
    let (raw, session, _stream) = open(&server).await;
    all_loops_ended(&server).await;

    let answers = futures::future::join_all(
        (100..120).map(|id| request(&raw, &session, id, "tools/list", json!({}))),
    )
    .await;
    let mut ids: Vec<u64> = answers.iter().map(|a| a["id"].as_u64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (100..120).collect::<Vec<_>>());
    all_loops_ended(&server).await;
    assert!(
        !server.process.stderr().contains("ERROR"),
        "{}",
        server.process.stderr()
    );
}
