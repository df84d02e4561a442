//! One shutdown path, whatever starts it: exit 0 and no pidfile (case 12).

use crate::common;

use std::time::Duration;

use common::{Controlled, RawClient, ServerProcess, bounded};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A 2026-07-28 listen stream for tool-list changes, left open.
async fn open_listen_stream(server: &mut ServerProcess) -> RawClient {
    let mut raw = server.raw();
    let accepted = raw.listen(7, json!({ "toolsListChanged": true })).await;
    assert_eq!(accepted, json!({ "toolsListChanged": true }));
    raw
}

/// Shutdown ends the open stream with its final result, then stdout closes.
async fn stream_ends_with_final_result(raw: &mut RawClient) {
    let last: Value = raw.recv().await;
    assert_eq!(last["id"], 7, "{last}");
    assert_eq!(last["result"]["resultType"], "complete", "{last}");
    assert_eq!(
        last["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 7,
        "{last}"
    );
    assert_eq!(
        raw.recv_or_eof().await,
        None,
        "nothing after the final result"
    );
}

#[tokio::test]
async fn stdin_eof_stops_the_server() {
    let mut server = ServerProcess::start(&[]).await;
    let client = server.connect().await;
    assert_eq!(client.tool_names().await, ["echo"]);
    client.close().await;
    server.stops_cleanly().await;
}

#[tokio::test]
async fn stdin_eof_before_initialize_stops_the_server() {
    let mut server = ServerProcess::start(&[]).await;
    server.raw().close_stdin();
    server.stops_cleanly().await;
}

#[tokio::test]
async fn sigterm_stops_the_server() {
    let mut server = ServerProcess::start(&[]).await;
    let client = server.connect().await;
    assert_eq!(client.tool_names().await, ["echo"]);
    server.signal(libc::SIGTERM);
    server.stops_cleanly().await;
}

#[tokio::test]
async fn sigint_stops_the_server() {
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let _client = server.connect().await;
    server.signal(libc::SIGINT);
    server.stops_cleanly().await;
}

#[tokio::test]
async fn sigterm_before_initialize_stops_the_server() {
    let server = ServerProcess::start(&[]).await;
    server.signal(libc::SIGTERM);
    server.stops_cleanly().await;
}

#[tokio::test]
async fn stdin_eof_with_a_listen_stream_open_stops_the_server() {
    let mut server = ServerProcess::start(&[]).await;
    let mut raw = open_listen_stream(&mut server).await;
    raw.close_stdin();
    stream_ends_with_final_result(&mut raw).await;
    server.stops_cleanly().await;
}

#[tokio::test]
async fn sigterm_with_a_listen_stream_open_stops_the_server() {
    let mut server = ServerProcess::start(&[]).await;
    let mut raw = open_listen_stream(&mut server).await;
    server.signal(libc::SIGTERM);
    stream_ends_with_final_result(&mut raw).await;
    server.stops_cleanly().await;
}

#[tokio::test]
async fn sigint_with_a_listen_stream_open_stops_the_server() {
    let mut server = ServerProcess::start(&[]).await;
    let mut raw = open_listen_stream(&mut server).await;
    server.signal(libc::SIGINT);
    stream_ends_with_final_result(&mut raw).await;
    server.stops_cleanly().await;
}

/// Issue 24 finding 7: a control change in flight at SIGTERM is answered.
/// A client must know whether its request took effect: either 200 once every
/// step is applied (shutdown waits for the answer, within a bound) or 503
/// "shutting down" before any is applied, never a closed connection after a
/// silent change (RFC 9110 §15.6.4: 503 says the server cannot handle the
/// request now). The change is large enough that it is still being applied
/// when the signal comes, which the test checks.
#[tokio::test]
async fn sigterm_answers_a_control_change_in_flight() {
    const COUNT: usize = 300_000;
    let server = Controlled::start(&["--http", "127.0.0.1:0"]).await;
    let authority = server.control.trim_start_matches("http://").to_owned();
    let body = format!(r#"{{"change":"add_tool","count":{COUNT}}}"#);
    let request = format!(
        "POST /changes HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = bounded("a connection", tokio::net::TcpStream::connect(&authority))
        .await
        .expect("connect");
    socket.write_all(request.as_bytes()).await.expect("write");
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), socket.read(&mut first)).await;
    assert!(
        early.is_err(),
        "answered before SIGTERM ({early:?}): raise COUNT"
    );
    server.process.signal(libc::SIGTERM);

    let mut answer = Vec::new();
    let _ = bounded("the answer", socket.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer at all: {answer:?}"));
    let applied = format!("changes applied count={COUNT}");
    match head.get(9..12) {
        Some("200") => {
            let catalog: serde_json::Value = serde_json::from_str(body).expect("JSON");
            assert_eq!(catalog["applied"], COUNT);
            let tools = catalog["tools"]["items"].as_array().expect("items");
            assert_eq!(tools.len(), 1 + COUNT);
        }
        Some("503") => {
            assert!(body.contains("shutting down"), "{body}");
            assert!(
                !server.process.stderr().contains(&applied),
                "applied silently"
            );
        }
        _ => panic!("neither 200 nor 503: {head}"),
    }
    server.process.stops_cleanly().await;
}
