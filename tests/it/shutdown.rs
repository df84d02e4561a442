//! One shutdown path, whatever starts it: exit 0 and no pidfile (case 12).

use crate::common;

use common::{RawClient, ServerProcess};
use serde_json::{Value, json};

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
