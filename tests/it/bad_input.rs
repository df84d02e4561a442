//! Bad input gets a clear error and the server keeps serving (case 10).

use crate::common;

use common::ServerProcess;
use serde_json::{Value, json};

/// The `{"error": ...}` message of a tool result that must have failed.
fn tool_error(response: &Value) -> String {
    let result = &response["result"];
    assert_eq!(result["isError"], true, "{response}");
    let text = result["content"][0]["text"].as_str().expect("a text block");
    let body: Value = serde_json::from_str(text).expect("the text is JSON");
    body["error"].as_str().expect("an error message").to_owned()
}

#[tokio::test]
async fn each_bad_request_is_answered_and_the_next_is_served() {
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let mut raw = server.raw();
    raw.initialize().await;
    raw.initialized().await;

    // Not JSON at all: a parse error, then business as usual.
    raw.send_line("this is {not json").await;
    let parse_error = raw.recv().await;
    assert_eq!(parse_error["error"]["code"], -32700, "{parse_error}");
    let (pong, _) = raw.request("ping", json!({})).await;
    assert_eq!(pong["result"], json!({}));

    // JSON but no JSON-RPC message.
    raw.send_line(r#"{"hello": "world"}"#).await;
    let invalid = raw.recv().await;
    assert_eq!(invalid["error"]["code"], -32600, "{invalid}");

    // An unknown tool is a protocol error that names it.
    let (unknown, _) = raw
        .request("tools/call", json!({ "name": "nope", "arguments": {} }))
        .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope")
    );
    // A tool that does not exist yet is unknown too.
    let (later, _) = raw
        .request(
            "tools/call",
            json!({ "name": "echo4", "arguments": { "message": "x" } }),
        )
        .await;
    assert_eq!(later["error"]["code"], -32602, "{later}");

    let call = |name: &str, arguments: Value| json!({ "name": name, "arguments": arguments });
    let cases = [
        (call("echo", json!({})), "message"),
        (call("echo", json!({ "message": 42 })), "message"),
        (
            call("calculator", json!({ "a": 1, "operation": "add" })),
            "b",
        ),
        (
            call(
                "calculator",
                json!({ "a": "1", "b": 2, "operation": "add" }),
            ),
            "'a'",
        ),
        (
            call(
                "calculator",
                json!({ "a": 1.5, "b": 2, "operation": "add" }),
            ),
            "'a'",
        ),
        (
            call(
                "calculator",
                json!({ "a": 1, "b": 0, "operation": "divide" }),
            ),
            "Cannot divide by zero",
        ),
        (
            call(
                "calculator",
                json!({ "a": 1, "b": 2, "operation": "power" }),
            ),
            "Unknown operation: power",
        ),
        (
            call(
                "calculator",
                json!({ "a": i64::MAX, "b": 1, "operation": "add" }),
            ),
            "overflow",
        ),
        (
            call(
                "calculator",
                json!({ "a": i64::MIN, "b": -1, "operation": "divide" }),
            ),
            "overflow",
        ),
        (
            call(
                "calculator",
                json!({ "a": i64::MAX, "b": 2, "operation": "multiply" }),
            ),
            "overflow",
        ),
    ];
    for (params, expected) in cases {
        let (response, _) = raw.request("tools/call", params.clone()).await;
        let message = tool_error(&response);
        assert!(
            message.contains(expected),
            "{params}: {message:?} lacks {expected:?}"
        );
    }
    let (divide, _) = raw
        .request(
            "tools/call",
            call(
                "calculator",
                json!({ "a": 1, "b": 0, "operation": "divide" }),
            ),
        )
        .await;
    assert_eq!(tool_error(&divide), "Cannot divide by zero");

    // `tools/call` with no params at all, and a method that does not exist.
    let (no_params, _) = raw.request("tools/call", Value::Null).await;
    assert_eq!(no_params["error"]["code"], -32602, "{no_params}");
    let (no_method, _) = raw.request("tools/frobnicate", json!({})).await;
    assert_eq!(no_method["error"]["code"], -32601, "{no_method}");

    // And still serving.
    let (echo, _) = raw
        .request(
            "tools/call",
            call("echo", json!({ "message": "still here" })),
        )
        .await;
    assert_eq!(
        echo["result"]["structuredContent"],
        json!({ "echo_message": "still here" })
    );
    assert!(server.is_running());
}
