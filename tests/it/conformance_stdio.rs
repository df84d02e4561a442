//! The conformance suite's scenarios over stdio. The suite
//! (`tests/conformance/run`) speaks only Streamable HTTP; this replays the
//! JSON-RPC requests of each scenario that applies (the `run` rows of
//! `tests/conformance/scenarios.tsv`), at each revision the suite tags it
//! with, as raw lines to a fresh server, and checks the answers the suite
//! checks, named by the suite's check ids.
//!
//! Left out, as they test HTTP alone: HTTP status codes, headers
//! (`http-header-validation`, `sep-2575-http-server-header-mismatch-400`),
//! sessions (`server-session-lifecycle`), SSE streams (`server-sse-polling`,
//! `server-sse-multiple-streams`) and `dns-rebinding-protection`. The
//! checks that call the suite's fixture tools run against `--trigger-tools`,
//! and the prompt and resource scenarios against `--prompts` and
//! `--resources`, as the HTTP run does.

use crate::common;

use common::{RawClient, ServerProcess};
use serde_json::{Value, json};

const HANDSHAKE_REVISIONS: [&str; 2] = ["2025-06-18", "2025-11-25"];

fn meta() -> Value {
    RawClient::meta_2026()
}

/// Send a request with a chosen id and return its answer, which must carry
/// that id (`sep-2575-http-server-error-jsonrpc-id` holds on stdio too).
async fn ask(raw: &mut RawClient, id: u64, method: &str, params: Value) -> Value {
    raw.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
        .await;
    raw.response_to(id).await.0
}

/// A fresh server and a raw client past the handshake at `revision`.
async fn handshake(revision: &str) -> (ServerProcess, RawClient, Value) {
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let mut raw = server.raw();
    let initialize = ask(
        &mut raw,
        1,
        "initialize",
        json!({
            "protocolVersion": revision,
            "capabilities": {},
            "clientInfo": { "name": "conformance-stdio", "version": "0" },
        }),
    )
    .await;
    raw.initialized().await;
    (server, raw, initialize)
}

fn error_code(answer: &Value) -> i64 {
    answer["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("an error: {answer}"))
}

/// `server-initialize`: the result of `initialize` at each revision.
#[tokio::test]
async fn server_initialize() {
    for revision in HANDSHAKE_REVISIONS {
        let (_server, _raw, answer) = handshake(revision).await;
        let result = &answer["result"];
        assert_eq!(result["protocolVersion"], revision, "{answer}");
        assert_eq!(result["serverInfo"]["name"], "dynamic-mcp-server");
        assert!(result["serverInfo"]["version"].is_string());
        assert_eq!(result["capabilities"]["tools"]["listChanged"], true);
    }
}

/// `ping` and `logging-set-level`: an empty object each.
#[tokio::test]
async fn ping_and_logging_set_level() {
    for revision in HANDSHAKE_REVISIONS {
        let (_server, mut raw, _) = handshake(revision).await;
        let pong = ask(&mut raw, 2, "ping", json!({})).await;
        assert_eq!(pong["result"], json!({}), "ping at {revision}: {pong}");
        let set = ask(&mut raw, 3, "logging/setLevel", json!({ "level": "info" })).await;
        assert_eq!(
            set["result"],
            json!({}),
            "logging-set-level at {revision}: {set}"
        );
    }
}

/// `tools-list` (`tools-list`, `tools-name-format`,
/// `tools-list-deterministic-order`).
#[tokio::test]
async fn tools_list() {
    let check = |answer: &Value, revision: &str| -> Vec<String> {
        let tools = answer["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("tools at {revision}: {answer}"));
        tools
            .iter()
            .map(|tool| {
                let name = tool["name"].as_str().expect("a name").to_owned();
                assert!(tool["description"].is_string(), "{tool}");
                assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
                let valid = (1..=128).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
                assert!(valid, "tools-name-format: {name}");
                name
            })
            .collect()
    };
    for revision in HANDSHAKE_REVISIONS {
        let (_server, mut raw, _) = handshake(revision).await;
        let answer = ask(&mut raw, 2, "tools/list", json!({})).await;
        assert_eq!(check(&answer, revision).len(), 3);
    }
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let mut raw = server.raw();
    let mut orders = Vec::new();
    for id in 1..=3 {
        let answer = ask(&mut raw, id, "tools/list", json!({ "_meta": meta() })).await;
        orders.push(check(&answer, "2026-07-28"));
    }
    assert!(
        orders.windows(2).all(|pair| pair[0] == pair[1]),
        "{orders:?}"
    );
}

/// `input-required-result-unsupported-methods`: list requests never get an
/// InputRequiredResult.
#[tokio::test]
async fn input_required_result_unsupported_methods() {
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let mut raw = server.raw();
    for (id, method) in [(1, "tools/list"), (2, "prompts/list")] {
        let answer = ask(&mut raw, id, method, json!({ "_meta": meta() })).await;
        assert_ne!(answer["result"]["resultType"], "input_required", "{answer}");
    }
}

/// `server-stateless` (SEP-2575), its JSON-RPC checks in the suite's order.
#[tokio::test]
async fn server_stateless() {
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let mut raw = server.raw();
    let full = meta();
    let without = |key: &str| {
        let mut meta = full.clone();
        meta.as_object_mut().unwrap().remove(key);
        meta
    };

    // sep-2575-request-meta-invalid-*: -32602.
    for (id, params) in [
        (101, json!({})),
        (
            102,
            json!({ "_meta": without("io.modelcontextprotocol/protocolVersion") }),
        ),
        (
            104,
            json!({ "_meta": without("io.modelcontextprotocol/clientCapabilities") }),
        ),
    ] {
        let answer = ask(&mut raw, id, "server/discover", params).await;
        assert_eq!(error_code(&answer), -32602, "{answer}");
    }
    // sep-2575-request-meta-client-info-optional
    let answer = ask(
        &mut raw,
        105,
        "server/discover",
        json!({ "_meta": without("io.modelcontextprotocol/clientInfo") }),
    )
    .await;
    assert!(answer.get("result").is_some(), "{answer}");

    // sep-2575-server-implements-discover, -server-identifies-in-result-meta
    let discover = ask(&mut raw, 201, "server/discover", json!({ "_meta": full })).await;
    let result = &discover["result"];
    let supported: Vec<Value> = result["supportedVersions"].as_array().unwrap().clone();
    assert!(supported.contains(&json!("2026-07-28")), "{discover}");
    assert!(result["capabilities"]["tools"].is_object(), "{discover}");
    let server_info = &result["_meta"]["io.modelcontextprotocol/serverInfo"];
    assert!(server_info["name"].is_string() && server_info["version"].is_string());

    // sep-2575-discover-capabilities-match-handlers: tools declared and served.
    let tools = ask(&mut raw, 202, "tools/list", json!({ "_meta": full })).await;
    assert!(tools["result"]["tools"].is_array(), "{tools}");
    // sep-2575-server-declares-prompts-in-discover: no prompts, and none served.
    assert!(result["capabilities"].get("prompts").is_none());
    let prompts = ask(&mut raw, 203, "prompts/list", json!({ "_meta": full })).await;
    assert_eq!(error_code(&prompts), -32601, "{prompts}");

    // sep-2575-server-unsupported-version-error
    let mut future = full.clone();
    future["io.modelcontextprotocol/protocolVersion"] = json!("v999.0.0");
    let answer = ask(&mut raw, 301, "server/discover", json!({ "_meta": future })).await;
    let data = &answer["error"]["data"];
    let offered = data["supported"].as_array().expect("data.supported");
    assert!(!offered.is_empty() && offered.iter().all(|v| supported.contains(v)));
    assert_eq!(data["requested"], "v999.0.0", "{answer}");

    // sep-2575-http-server-method-not-found-404-*: -32601 on stdio.
    for method in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
    ] {
        let answer = ask(&mut raw, 500, method, json!({ "_meta": full })).await;
        assert_eq!(error_code(&answer), -32601, "{method}: {answer}");
    }
    // sep-2575-http-server-method-not-found-404
    let answer = ask(&mut raw, 601, "unknown/method", json!({ "_meta": full })).await;
    assert_eq!(error_code(&answer), -32601, "{answer}");

    // sep-2575-server-sends-subscription-ack, -server-tags-subscription-id,
    // -server-sends-tools-list-changed-on-subscription,
    // -server-honors-notification-filter: a stream for tool changes and one
    // for prompt changes only; a change reaches the first, tagged, and not
    // the second.
    raw.listen(700, json!({ "toolsListChanged": true })).await;
    raw.listen(800, json!({ "promptsListChanged": true })).await;
    server.sighup();
    let change = raw.recv().await;
    assert_eq!(
        change["method"], "notifications/tools/list_changed",
        "{change}"
    );
    assert_eq!(
        change["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 700,
        "{change}"
    );
    // The Session writes a change to all its streams at once: anything for
    // stream 800 would come before the answer to this request.
    let (answer, between) = raw.request("tools/list", json!({ "_meta": full })).await;
    assert_eq!(answer["result"]["tools"].as_array().unwrap().len(), 4);
    assert!(
        between.is_empty(),
        "the prompts-only stream got {between:?}"
    );
}

/// `server-stateless`'s checks that call the suite's fixture tools
/// (`--trigger-tools`), over stdio.
#[tokio::test]
async fn server_stateless_fixture_tools() {
    let mut server =
        ServerProcess::start(&["--tools", "3", "--trigger-tools", "--prompts", "1"]).await;
    let mut raw = server.raw();
    let full = meta();
    let call = |name: &str, meta: &Value| json!({ "name": name, "arguments": {}, "_meta": meta });

    // sep-2575-server-sends-tools-list-changed-on-subscription and
    // -prompts-: each trigger tool makes one change, tagged for the stream
    // that asked for that list and no other.
    raw.listen(700, json!({ "toolsListChanged": true })).await;
    raw.listen(800, json!({ "promptsListChanged": true })).await;
    for (id, tool, method, stream) in [
        (
            901,
            "test_trigger_tool_change",
            "notifications/tools/list_changed",
            700,
        ),
        (
            902,
            "test_trigger_prompt_change",
            "notifications/prompts/list_changed",
            800,
        ),
    ] {
        let (answer, before) = raw
            .request_with_id(id, "tools/call", call(tool, &full))
            .await;
        assert!(answer.get("result").is_some(), "{answer}");
        let mut told = before;
        if told.is_empty() {
            told.push(raw.recv().await);
        }
        assert_eq!(told.len(), 1, "one notification: {told:?}");
        assert_eq!(told[0]["method"], method, "{told:?}");
        assert_eq!(
            told[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], stream,
            "{told:?}"
        );
    }

    // sep-2575-server-rejects-undeclared-capability: -32021 naming sampling.
    let answer = ask(
        &mut raw,
        401,
        "tools/call",
        call("test_missing_capability", &full),
    )
    .await;
    assert_eq!(error_code(&answer), -32021, "{answer}");
    assert_eq!(
        answer["error"]["data"]["requiredCapabilities"],
        json!({ "sampling": {} })
    );

    // sep-2575-http-server-no-independent-requests-on-stream: an
    // input_required result, and no request before it.
    let mut asking = full.clone();
    asking["io.modelcontextprotocol/clientCapabilities"] = json!({ "elicitation": {} });
    let (answer, before) = raw
        .request_with_id(
            402,
            "tools/call",
            call("test_streaming_elicitation", &asking),
        )
        .await;
    assert_eq!(answer["result"]["resultType"], "input_required", "{answer}");
    assert!(before.is_empty(), "nothing before the result: {before:?}");

    // sep-2575-server-no-log-without-loglevel: no notifications/message.
    let (answer, before) = raw
        .request_with_id(403, "tools/call", call("test_logging_tool", &full))
        .await;
    assert!(answer.get("result").is_some(), "{answer}");
    assert!(before.is_empty(), "no log without a logLevel: {before:?}");
    // With a logLevel, the lines at or above it come before the result.
    let mut verbose = full.clone();
    verbose["io.modelcontextprotocol/logLevel"] = json!("info");
    let (_, before) = raw
        .request_with_id(404, "tools/call", call("test_logging_tool", &verbose))
        .await;
    let levels: Vec<&Value> = before.iter().map(|m| &m["params"]["level"]).collect();
    assert_eq!(levels, [&json!("info"), &json!("warning")], "{before:?}");
}

/// `prompts-list` and `resources-list` at every revision the suite tags them
/// with: each listed item has the fields the suite checks.
#[tokio::test]
async fn prompts_list_and_resources_list() {
    for revision in HANDSHAKE_REVISIONS {
        let mut server = ServerProcess::start(&["--prompts", "2", "--resources", "2"]).await;
        let mut raw = server.raw();
        let initialize = json!({
            "protocolVersion": revision,
            "capabilities": {},
            "clientInfo": { "name": "conformance-stdio", "version": "0" },
        });
        ask(&mut raw, 1, "initialize", initialize).await;
        raw.initialized().await;
        let prompts = ask(&mut raw, 2, "prompts/list", json!({})).await;
        for prompt in prompts["result"]["prompts"].as_array().expect("prompts") {
            assert!(prompt["name"].is_string(), "{revision}: {prompt}");
        }
        let resources = ask(&mut raw, 3, "resources/list", json!({})).await;
        let listed = resources["result"]["resources"]
            .as_array()
            .expect("resources");
        assert_eq!(listed.len(), 2, "{revision}: {resources}");
        for resource in listed {
            assert!(resource["uri"].is_string() && resource["name"].is_string());
        }
    }
    let mut server = ServerProcess::start(&["--prompts", "2", "--resources", "2"]).await;
    let mut raw = server.raw();
    let full = meta();
    let prompts = ask(&mut raw, 2, "prompts/list", json!({ "_meta": full })).await;
    assert_eq!(
        prompts["result"]["prompts"].as_array().unwrap().len(),
        2,
        "{prompts}"
    );
    // 2026-07-28 list results carry the caching hints and resultType.
    assert_eq!(prompts["result"]["ttlMs"], 0, "{prompts}");
    let missing = ask(
        &mut raw,
        3,
        "resources/read",
        json!({ "_meta": full, "uri": "dynamic://resources/9" }),
    )
    .await;
    // sep-2164-resource-not-found: -32602 from 2026-07-28 on.
    assert_eq!(error_code(&missing), -32602, "{missing}");
}
