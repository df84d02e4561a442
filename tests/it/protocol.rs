//! Protocol exactness on the raw wire, stdio lines and HTTP requests alike:
//! the methods 2026-07-28 removed, `"id": null` when a request's id cannot be
//! read, cursors the server never issued, the 2026-07-28 shape of list
//! results, and a client ending its listen stream logged as what it is.

use crate::common;
use crate::http_support;

use common::{RawClient, ServerProcess, bounded, expected_names};
use http_support::{HttpServer, Raw, SseReader};
use serde_json::{Value, json};

/// The methods SEP-2575 removed from 2026-07-28, each with params that rmcp
/// can parse (so the handler is reached) and bare `_meta` (so it is not).
fn removed_requests() -> Vec<(&'static str, Value)> {
    let meta = RawClient::meta_2026();
    let bare = json!({ "_meta": meta });
    let with = |extra: Value| {
        let mut params = extra;
        params["_meta"] = meta.clone();
        params
    };
    vec![
        (
            "initialize",
            with(json!({
                "protocolVersion": "2026-07-28",
                "capabilities": {},
                "clientInfo": { "name": "raw", "version": "0" },
            })),
        ),
        ("initialize", bare.clone()),
        ("logging/setLevel", with(json!({ "level": "info" }))),
        ("logging/setLevel", bare.clone()),
        ("resources/subscribe", bare.clone()),
        ("resources/unsubscribe", bare),
    ]
}

/// A request with `_meta` of 2026-07-28 and `params` merged in.
fn params_2026(params: Value) -> Value {
    let mut params = params;
    params["_meta"] = RawClient::meta_2026();
    params
}

// ---- stdio ----

/// SEP-2575: a 2026-07-28 request naming a removed method gets -32601 with
/// its id, even as the very first line (rmcp would end the session on a
/// failed first `initialize`), and the server serves on.
#[tokio::test]
async fn stdio_removed_methods_on_2026_07_28_get_method_not_found() {
    let mut server = ServerProcess::start(&["--tools", "2"]).await;
    let mut raw = server.raw();
    for (method, params) in removed_requests() {
        let (response, _) = raw.request(method, params).await;
        assert_eq!(response["error"]["code"], -32601, "{method}: {response}");
    }
    let (list, _) = raw.request("tools/list", params_2026(json!({}))).await;
    assert_eq!(names(&list), expected_names(2));
    drop(raw);
    server.stops_cleanly().await;
}

/// On a handshake session `logging/setLevel` is still served.
#[tokio::test]
async fn stdio_set_level_is_served_on_a_handshake_session() {
    let mut server = ServerProcess::start(&[]).await;
    let mut raw = server.raw();
    raw.initialize().await;
    raw.initialized().await;
    let (response, _) = raw
        .request("logging/setLevel", json!({ "level": "info" }))
        .await;
    assert_eq!(response["result"], json!({}), "{response}");
}

/// MCP pagination: an invalid cursor SHOULD get -32602. No cursor was ever
/// issued, so every cursor is invalid, on every revision.
#[tokio::test]
async fn stdio_a_cursor_never_issued_is_invalid_params() {
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let mut raw = server.raw();
    let (stateless, _) = raw
        .request("tools/list", params_2026(json!({ "cursor": "bogus" })))
        .await;
    assert_eq!(stateless["error"]["code"], -32602, "{stateless}");

    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let mut raw = server.raw();
    raw.initialize().await;
    raw.initialized().await;
    let (legacy, _) = raw
        .request("tools/list", json!({ "cursor": "bogus" }))
        .await;
    assert_eq!(legacy["error"]["code"], -32602, "{legacy}");
    let (list, _) = raw.request("tools/list", json!({})).await;
    assert_eq!(names(&list), expected_names(3));
}

/// SEP-2549 and SEP-2322: a 2026-07-28 `tools/list` result says
/// `resultType`, `ttlMs` and `cacheScope` (the values docs/protocol.md documents),
/// in the same order every time; a handshake session's result is as before,
/// the tools alone.
#[tokio::test]
async fn stdio_list_results_carry_2026_07_28_fields_only_on_2026_07_28() {
    let mut server = ServerProcess::start(&["--tools", "5"]).await;
    let mut raw = server.raw();
    let mut lists = Vec::new();
    for _ in 0..3 {
        let (list, _) = raw.request("tools/list", params_2026(json!({}))).await;
        let result = &list["result"];
        assert_eq!(result["resultType"], "complete", "{list}");
        assert_eq!(result["ttlMs"], 0, "{list}");
        assert_eq!(result["cacheScope"], "public", "{list}");
        lists.push(names(&list));
    }
    assert!(lists.iter().all(|list| *list == expected_names(5)));

    let mut server = ServerProcess::start(&["--tools", "5"]).await;
    let mut raw = server.raw();
    raw.initialize().await;
    raw.initialized().await;
    let (list, _) = raw.request("tools/list", json!({})).await;
    let keys: Vec<&String> = list["result"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["tools"], "{list}");
}

// ---- HTTP ----

/// What a raw 2026-07-28 POST got: status, whether a session was opened, and
/// the JSON-RPC message (from a JSON body or the first SSE message).
struct Answer {
    status: u16,
    session: bool,
    message: Value,
}

async fn post_2026(raw: &Raw, id: u64, method: &str, params: Value) -> Answer {
    let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    let response = bounded(
        method,
        raw.post(None, body.to_string())
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method)
            .send(),
    )
    .await
    .expect("answered");
    let status = response.status().as_u16();
    let session = response.headers().contains_key("mcp-session-id");
    let sse = response
        .headers()
        .get("content-type")
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
    let message = if sse {
        SseReader::new(response)
            .next_message()
            .await
            .expect("a message")
    } else {
        response.json().await.expect("a JSON body")
    };
    Answer {
        status,
        session,
        message,
    }
}

/// SEP-2575 on HTTP: 404 with -32601 and the request's id, and no session
/// for an `initialize` (rmcp would open an old-style one).
#[tokio::test]
async fn http_removed_methods_on_2026_07_28_get_404_method_not_found() {
    let server = HttpServer::start(&["--tools", "2"]).await;
    let raw = Raw::new(&server);
    for (id, (method, params)) in (10..).zip(removed_requests()) {
        let answer = post_2026(&raw, id, method, params).await;
        assert_eq!(answer.status, 404, "{method}: {}", answer.message);
        assert_eq!(answer.message["error"]["code"], -32601, "{method}");
        assert_eq!(answer.message["id"], id, "{method}");
        assert!(!answer.session, "{method} opened a session");
    }
    let list = post_2026(&raw, 1, "tools/list", params_2026(json!({}))).await;
    assert_eq!(names(&list.message), expected_names(2));
}

/// JSON-RPC 2.0 §5: when the id cannot be read (parse error, invalid
/// request), the error response's id is null, not absent.
#[tokio::test]
async fn http_errors_without_a_readable_id_carry_id_null() {
    let server = HttpServer::start(&[]).await;
    let raw = Raw::new(&server);
    for (body, code) in [("{not json", -32700), (r#"{"hello": "world"}"#, -32600)] {
        let response = bounded("a bad body", raw.post(None, body).send())
            .await
            .expect("answered");
        assert_eq!(response.status(), 400);
        let text = response.text().await.unwrap();
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["error"]["code"], code, "{text}");
        assert!(
            error.as_object().unwrap().get("id") == Some(&Value::Null),
            "{text}"
        );
    }
}

/// MCP pagination on HTTP: -32602 for a cursor never issued, on a
/// handshake session and on 2026-07-28 alike.
#[tokio::test]
async fn http_a_cursor_never_issued_is_invalid_params() {
    let server = HttpServer::start(&[]).await;
    let raw = Raw::new(&server);
    let stateless = post_2026(&raw, 3, "tools/list", params_2026(json!({ "cursor": "x" }))).await;
    assert_eq!(stateless.message["error"]["code"], -32602);

    let session = raw.initialize().await;
    raw.initialized(&session).await;
    let body =
        json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": { "cursor": "x" } });
    let response = bounded(
        "tools/list",
        raw.post(Some(&session), body.to_string())
            .header("mcp-protocol-version", "2025-11-25")
            .send(),
    )
    .await
    .unwrap();
    let answer = SseReader::new(response).next_message().await.unwrap();
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
}

/// A client that ends its listen stream has simply gone: nothing at ERROR
/// (rmcp logs its undeliverable final result there).
#[tokio::test]
async fn http_a_client_ending_its_listen_stream_is_no_error() {
    let server = HttpServer::start(&[]).await;
    let raw = Raw::new(&server);
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen",
        "params": params_2026(json!({ "notifications": { "toolsListChanged": true } })),
    });
    let response = bounded(
        "subscriptions/listen",
        raw.post(None, body.to_string())
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "subscriptions/listen")
            .send(),
    )
    .await
    .unwrap();
    let mut stream = SseReader::new(response);
    let ack = stream.next_message().await.unwrap();
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    drop(stream);
    // The stream's session closes after rmcp has tried to send the result.
    server.wait_sessions("closed", 0).await;
    let log = server.process.stderr();
    assert!(!log.contains(" ERROR "), "{log}");
}

use crate::common::listed_tool_names as names;

/// The same over stdio: a client that ends its listen stream by closing its
/// pipes has gone, which is no server error (the stream's final result and
/// the last flush find the pipe closed).
#[tokio::test]
async fn stdio_a_client_closing_its_pipes_during_a_listen_is_no_error() {
    let mut server = ServerProcess::start(&[]).await;
    let mut raw = server.raw();
    raw.listen(1, json!({ "toolsListChanged": true })).await;
    drop(raw);
    server.wait_exit().await;
    let log = server.stderr();
    assert!(!log.contains(" ERROR "), "{log}");
}
