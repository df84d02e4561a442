//! Hostile but legal pagination and delays (issue 10), against the real
//! binary: `--page-size` pages every list and rmcp's client reads them all in
//! order; the `empty-once` and `repeat-once` cursor styles on the raw wire; a
//! cursor from before a SIGHUP, one never issued and one of another list each
//! get -32602 with the reason (MCP pagination: "Invalid cursors SHOULD result
//! in an error with code -32602"); `--list-delay-ms` and `--call-delay-ms`
//! hold answers back without holding up other requests or shutdown; a default
//! server still refuses every cursor.

use crate::common;
use crate::http_support;

use common::{RawClient, ServerProcess, bounded, expected_names};
use http_support::HttpServer;
use rmcp::RoleClient;
use rmcp::model::PaginatedRequestParams;
use rmcp::service::Peer;
use serde_json::{Value, json};

/// `[prompt1, ...]` up to `n`.
fn prompt_names(n: usize) -> Vec<String> {
    (1..=n).map(|k| format!("prompt{k}")).collect()
}

/// `[dynamic://resources/1, ...]` up to `n`.
fn resource_uris(n: usize) -> Vec<String> {
    (1..=n)
        .map(|k| format!("dynamic://resources/{k}"))
        .collect()
}

fn page_params(cursor: Option<String>) -> Option<PaginatedRequestParams> {
    Some(PaginatedRequestParams::default().with_cursor(cursor))
}

/// Every page of one list through rmcp's client, one request per page:
/// the names on each page.
macro_rules! pages {
    ($peer:expr, $method:ident, $items:ident, $name:expr) => {{
        let peer: &Peer<RoleClient> = $peer;
        let mut pages: Vec<Vec<String>> = Vec::new();
        let mut cursor = None;
        loop {
            let page = bounded(stringify!($method), peer.$method(page_params(cursor)))
                .await
                .expect("a page");
            pages.push(page.$items.iter().map($name).collect());
            assert!(pages.len() <= 100, "a listing that never ends");
            cursor = page.next_cursor;
            if cursor.is_none() {
                break pages;
            }
        }
    }};
}

/// MCP pagination: page size 2 over 7 items is 4 pages, and following
/// `nextCursor` gives the whole list in order, for tools, prompts and
/// resources alike; rmcp's `list_all_*` reads the same lists.
#[tokio::test]
async fn page_size_two_over_seven_items_is_four_pages_of_the_whole_list_in_order() {
    let mut server = ServerProcess::start(&[
        "--tools",
        "7",
        "--prompts",
        "7",
        "--resources",
        "7",
        "--page-size",
        "2",
    ])
    .await;
    let client = server.connect().await;
    let peer = client.service.peer();

    let tools = pages!(peer, list_tools, tools, |t| t.name.to_string());
    let prompts = pages!(peer, list_prompts, prompts, |p| p.name.clone());
    let resources = pages!(peer, list_resources, resources, |r| r.uri.clone());
    for (pages, expected) in [
        (tools, expected_names(7)),
        (prompts, prompt_names(7)),
        (resources, resource_uris(7)),
    ] {
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 2, 1]);
        assert_eq!(pages.concat(), expected);
    }

    let all_tools = bounded("list_all_tools", peer.list_all_tools())
        .await
        .unwrap();
    let names: Vec<String> = all_tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, expected_names(7));
    let all_prompts = bounded("list_all_prompts", peer.list_all_prompts())
        .await
        .unwrap();
    assert_eq!(all_prompts.len(), 7);
    client.close().await;
}

/// Each list has its own page size; the fixture tools (`--trigger-tools`)
/// are paged with the catalog's, after them, exactly as an unpaged server
/// lists them.
#[tokio::test]
async fn page_sizes_per_list_and_the_trigger_tools_are_paged_too() {
    let mut unpaged = ServerProcess::start(&["--tools", "3", "--trigger-tools"]).await;
    let client = unpaged.connect().await;
    let whole = client.tool_names().await;
    client.close().await;

    let mut server = ServerProcess::start(&[
        "--tools",
        "3",
        "--trigger-tools",
        "--prompts",
        "5",
        "--page-size",
        "4",
        "--page-size-tools",
        "1",
    ])
    .await;
    let client = server.connect().await;
    let peer = client.service.peer();
    let tools = pages!(peer, list_tools, tools, |t| t.name.to_string());
    assert_eq!(tools.len(), whole.len(), "one tool a page");
    assert_eq!(tools.concat(), whole);
    assert!(whole.len() > 3, "{whole:?}");
    let prompts = pages!(peer, list_prompts, prompts, |p| p.name.clone());
    assert_eq!(
        prompts,
        [prompt_names(5)[..4].to_vec(), vec!["prompt5".into()]]
    );
    client.close().await;
}

/// A request with `_meta` of 2026-07-28 and `params` merged in.
fn params_2026(params: Value) -> Value {
    let mut params = params;
    params["_meta"] = RawClient::meta_2026();
    params
}

/// The names of a raw `tools/list` result.
use crate::common::listed_tool_names as names;

/// One raw `tools/list` with `cursor` (none: the first page) on 2026-07-28.
async fn tools_page(raw: &mut RawClient, cursor: Option<&str>) -> Value {
    let params = match cursor {
        Some(cursor) => json!({ "cursor": cursor }),
        None => json!({}),
    };
    raw.request("tools/list", params_2026(params)).await.0
}

/// 2026-07-28 (as every revision) treats a cursor as an opaque string, so
/// `""` is a cursor like any other and does not end a listing: with
/// `empty-once` the first page's `nextCursor` is `""`, and asking with it
/// continues at page 2. rmcp's client follows it to the end.
#[tokio::test]
async fn empty_once_an_empty_next_cursor_continues_the_listing() {
    let args = [
        "--tools",
        "7",
        "--page-size",
        "2",
        "--cursor-style",
        "empty-once",
    ];
    let mut server = ServerProcess::start(&args).await;
    let mut raw = server.raw();
    let first = tools_page(&mut raw, None).await;
    assert_eq!(names(&first), ["echo", "calculator"]);
    assert_eq!(first["result"]["nextCursor"], json!(""), "{first}");
    let second = tools_page(&mut raw, Some("")).await;
    assert_eq!(names(&second), ["counter", "echo4"]);
    let next = second["result"]["nextCursor"].as_str().unwrap().to_owned();
    assert!(!next.is_empty(), "only the first page's cursor is empty");
    let third = tools_page(&mut raw, Some(&next)).await;
    assert_eq!(names(&third), ["echo5", "echo6"]);
    let next = third["result"]["nextCursor"].as_str().unwrap().to_owned();
    let last = tools_page(&mut raw, Some(&next)).await;
    assert_eq!(names(&last), ["echo7"]);
    assert!(last["result"].get("nextCursor").is_none(), "{last}");

    let mut server = ServerProcess::start(&args).await;
    let client = server.connect().await;
    assert_eq!(client.tool_names().await, expected_names(7));
    client.close().await;
}

/// `repeat-once`: the first answer to a cursor names that same cursor as its
/// `nextCursor` (a non-advancing cursor, which a correct client detects); the
/// next request with it advances. The listing still ends.
#[tokio::test]
async fn repeat_once_a_cursor_first_comes_back_unchanged_then_advances() {
    let mut server = ServerProcess::start(&[
        "--tools",
        "5",
        "--page-size",
        "2",
        "--cursor-style",
        "repeat-once",
    ])
    .await;
    let mut raw = server.raw();
    let first = tools_page(&mut raw, None).await;
    assert_eq!(names(&first), ["echo", "calculator"]);
    let cursor = first["result"]["nextCursor"].as_str().unwrap().to_owned();

    let repeated = tools_page(&mut raw, Some(&cursor)).await;
    assert_eq!(names(&repeated), ["counter", "echo4"]);
    assert_eq!(
        repeated["result"]["nextCursor"],
        json!(cursor),
        "non-advancing"
    );

    let advanced = tools_page(&mut raw, Some(&cursor)).await;
    assert_eq!(
        names(&advanced),
        ["counter", "echo4"],
        "the same page again"
    );
    let next = advanced["result"]["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(next, cursor);

    let last = tools_page(&mut raw, Some(&next)).await;
    assert_eq!(names(&last), ["echo5"]);
    assert_eq!(
        last["result"]["nextCursor"],
        json!(next),
        "the last page's too"
    );
    let last = tools_page(&mut raw, Some(&next)).await;
    assert_eq!(names(&last), ["echo5"]);
    assert!(last["result"].get("nextCursor").is_none(), "{last}");
}

/// The -32602 a raw request got, and its message.
fn invalid_params(response: &Value) -> &str {
    assert_eq!(response["error"]["code"], -32602, "{response}");
    response["error"]["message"].as_str().unwrap()
}

/// MCP pagination: a cursor issued before a SIGHUP changed the tool list
/// gets -32602 saying the list changed, from which version to which; listing
/// again from the start gives the new list.
#[tokio::test]
async fn a_cursor_from_before_a_sighup_is_invalid_params_and_says_the_list_changed() {
    let mut server = ServerProcess::start(&["--tools", "7", "--page-size", "2"]).await;
    let mut raw = server.raw();
    raw.initialize().await;
    raw.initialized().await;
    let (first, _) = raw.request("tools/list", json!({})).await;
    let cursor = first["result"]["nextCursor"].as_str().unwrap().to_owned();

    server.sighup();
    let changed = bounded("notifications/tools/list_changed", raw.recv()).await;
    assert_eq!(changed["method"], "notifications/tools/list_changed");

    let (stale, _) = raw.request("tools/list", json!({ "cursor": cursor })).await;
    assert_eq!(
        invalid_params(&stale),
        "Invalid cursor: the tools list changed since this cursor was issued (version 1, now 2); list again from the start"
    );
    assert_eq!(
        stale["error"]["data"],
        json!({ "cursor": cursor, "reason": "stale" })
    );

    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let params = cursor.map_or(json!({}), |c| json!({ "cursor": c }));
        let (page, _) = raw.request("tools/list", params).await;
        all.extend(names(&page));
        cursor = page["result"]["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(all, expected_names(8));
}

/// MCP pagination: a cursor the server never issued, the empty cursor
/// without `empty-once`, and a cursor of another list each get -32602 with
/// the reason; the session serves on.
#[tokio::test]
async fn cursors_never_issued_or_of_another_list_are_invalid_params() {
    let mut server =
        ServerProcess::start(&["--tools", "7", "--prompts", "7", "--page-size", "2"]).await;
    let mut raw = server.raw();
    for bogus in ["bogus", ""] {
        let refused = tools_page(&mut raw, Some(bogus)).await;
        assert_eq!(
            invalid_params(&refused),
            format!("Invalid cursor: {bogus:?} was not issued by this server for the tools list")
        );
        assert_eq!(refused["error"]["data"]["reason"], "not-issued");
    }
    let (prompts, _) = raw.request("prompts/list", params_2026(json!({}))).await;
    let cursor = prompts["result"]["nextCursor"].as_str().unwrap().to_owned();
    let refused = tools_page(&mut raw, Some(&cursor)).await;
    assert_eq!(
        invalid_params(&refused),
        format!(
            "Invalid cursor: {cursor:?} was issued for the prompts list, not the tools list; list tools from the start"
        )
    );
    let first = tools_page(&mut raw, None).await;
    assert_eq!(
        names(&first),
        ["echo", "calculator"],
        "the server serves on"
    );
}

/// Without `--page-size` every cursor is refused as before, with the same
/// message and no data, even one a paged server would have issued.
#[tokio::test]
async fn a_default_server_still_refuses_every_cursor() {
    let mut paged = ServerProcess::start(&["--tools", "7", "--page-size", "2"]).await;
    let mut raw = paged.raw();
    let first = tools_page(&mut raw, None).await;
    let issued = first["result"]["nextCursor"].as_str().unwrap().to_owned();

    let mut server = ServerProcess::start(&["--tools", "7"]).await;
    let mut raw = server.raw();
    let whole = tools_page(&mut raw, None).await;
    assert_eq!(names(&whole), expected_names(7));
    assert!(whole["result"].get("nextCursor").is_none(), "{whole}");
    for cursor in [issued.as_str(), "", "bogus"] {
        let refused = tools_page(&mut raw, Some(cursor)).await;
        assert_eq!(
            invalid_params(&refused),
            format!("Invalid cursor: {cursor:?} was not issued by this server")
        );
        assert!(refused["error"].get("data").is_none(), "{refused}");
    }
    assert!(!server.stderr().contains("hostile"), "{}", server.stderr());
}

/// A hostile run says so in its first log line, naming every knob.
#[tokio::test]
async fn a_hostile_run_names_its_knobs_in_its_first_log_line() {
    let server = ServerProcess::start(&[
        "--page-size",
        "2",
        "--cursor-style",
        "repeat-once",
        "--list-delay-ms",
        "50",
    ])
    .await;
    server.wait_stderr("dynamic-mcp-server started", 1).await;
    let log = server.stderr();
    let first = log.lines().next().unwrap();
    assert!(
        first.ends_with("hostile: page-size=2 cursor-style=repeat-once list-delay-ms=50"),
        "{log}"
    );
}

/// The id of the next response on the wire, skipping notifications.
async fn next_response_id(raw: &mut RawClient) -> Value {
    loop {
        let message = raw.recv().await;
        if let Some(id) = message.get("id") {
            return id.clone();
        }
    }
}

/// `--list-delay-ms` holds every list answer back and `--call-delay-ms`
/// every call, get and read, but not other requests: a ping sent after them
/// is answered first (the delay is far longer than any scheduling noise; the
/// delayed requests are then cancelled, and get no answer, as the spec says).
#[tokio::test]
async fn delayed_answers_do_not_hold_up_other_requests() {
    let mut server = ServerProcess::start(&[
        "--prompts",
        "1",
        "--resources",
        "1",
        "--list-delay-ms",
        "600000",
        "--call-delay-ms",
        "600000",
    ])
    .await;
    let mut raw = server.raw();
    raw.initialize().await;
    raw.initialized().await;
    let delayed = [
        ("tools/list", json!({})),
        ("prompts/list", json!({})),
        ("resources/list", json!({})),
        (
            "tools/call",
            json!({ "name": "echo", "arguments": { "message": "hi" } }),
        ),
        ("prompts/get", json!({ "name": "prompt1" })),
        ("resources/read", json!({ "uri": "dynamic://resources/1" })),
    ];
    for (id, (method, params)) in (10..).zip(&delayed) {
        raw.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .await;
    }
    raw.send(json!({ "jsonrpc": "2.0", "id": 99, "method": "ping" }))
        .await;
    assert_eq!(
        next_response_id(&mut raw).await,
        json!(99),
        "the ping comes first"
    );
    for id in 10..10 + delayed.len() {
        raw.send(json!({
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": { "requestId": id, "reason": "test" },
        }))
        .await;
    }
    raw.send(json!({ "jsonrpc": "2.0", "id": 100, "method": "ping" }))
        .await;
    assert_eq!(
        next_response_id(&mut raw).await,
        json!(100),
        "no answer to a cancelled request"
    );
    // A pending delay does not hold up shutdown either.
    raw.send(json!({ "jsonrpc": "2.0", "id": 101, "method": "tools/list" }))
        .await;
    raw.close_stdin();
    drop(raw);
    server.stops_cleanly().await;
}

/// A delayed answer does arrive, whole.
#[tokio::test]
async fn a_delayed_answer_arrives() {
    let mut server = ServerProcess::start(&[
        "--tools",
        "3",
        "--list-delay-ms",
        "100",
        "--call-delay-ms",
        "100",
    ])
    .await;
    let client = server.connect().await;
    assert_eq!(client.tool_names().await, expected_names(3));
    let echoed = client.call_ok("echo", json!({ "message": "late" })).await;
    assert_eq!(echoed["echo_message"], "late");
    client.close().await;
}

/// Over Streamable HTTP, rmcp's client pages through every tool.
#[tokio::test]
async fn http_clients_page_through_every_tool() {
    let server = HttpServer::start(&["--tools", "7", "--page-size", "3"]).await;
    let client = server.connect().await;
    let pages = pages!(client.service.peer(), list_tools, tools, |t| t
        .name
        .to_string());
    assert_eq!(pages.len(), 3);
    assert_eq!(pages.concat(), expected_names(7));
    client.close().await;
}

/// Three items in each list, paged by 2 or not.
fn three_lists(paged: bool) -> Vec<&'static str> {
    let mut args = vec!["--tools", "3", "--prompts", "3", "--resources", "3"];
    if paged {
        args.extend(["--page-size", "2"]);
    }
    args
}

/// The params of a list request that has a cursor that is no string.
fn not_string_cursors(valid: &str) -> [Value; 3] {
    [
        json!({ "cursor": 5 }),
        json!({ "cursor": { "a": 1 } }),
        json!({ "cursor": [valid] }),
    ]
}

/// A cursor that is no string got page 1 again with a `nextCursor`, paged
/// or not (issue 24, finding 8): rmcp reads such params as absent. JSON-RPC
/// 2.0 (section 5.1) has -32602 for invalid params, and MCP's schema types
/// `cursor` as a string; page 1 would hand a resuming client duplicates.
/// Over stdio, for tools, prompts and resources, paged and not; a `null`
/// cursor is no cursor, and the session serves on.
#[tokio::test]
async fn a_cursor_that_is_no_string_is_invalid_params_over_stdio() {
    for paged in [true, false] {
        let args = three_lists(paged);
        let mut server = ServerProcess::start(&args).await;
        let mut raw = server.raw();
        raw.initialize().await;
        raw.initialized().await;
        for method in ["tools/list", "prompts/list", "resources/list"] {
            let (first, _) = raw.request(method, json!({})).await;
            let valid = first["result"]["nextCursor"]
                .as_str()
                .unwrap_or("x")
                .to_owned();
            for params in not_string_cursors(&valid) {
                let (answer, _) = raw.request(method, params.clone()).await;
                let message = invalid_params(&answer);
                assert!(
                    message.starts_with("Invalid params: invalid type: "),
                    "{method} {params} (paged: {paged}): {message}"
                );
            }
            let (null, _) = raw.request(method, json!({ "cursor": null })).await;
            assert!(null["result"].is_object(), "{method}: {null}");
        }
        let (batch, _) = raw.request("tools/list", json!({})).await;
        assert!(batch["result"]["tools"].is_array(), "serves on: {batch}");
    }
}

/// The same over Streamable HTTP: -32602 in a JSON-RPC error answering the
/// request, for tools, prompts and resources, paged and not.
#[tokio::test]
async fn a_cursor_that_is_no_string_is_invalid_params_over_http() {
    for paged in [true, false] {
        let args = three_lists(paged);
        let server = HttpServer::start(&args).await;
        let raw = http_support::Raw::new(&server);
        let session = raw.initialize().await;
        raw.initialized(&session).await;
        let next_id = std::cell::Cell::new(1);
        let ask = async |method: &str, params: Value| {
            let id = next_id.get() + 1;
            next_id.set(id);
            let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
            let response = bounded(method, raw.post(Some(&session), body.to_string()).send())
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{method} {params}");
            let sse = response
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            if sse {
                http_support::SseReader::new(response)
                    .next_message()
                    .await
                    .expect("an answer")
            } else {
                serde_json::from_str(&bounded("the answer", response.text()).await.unwrap())
                    .unwrap()
            }
        };
        for method in ["tools/list", "prompts/list", "resources/list"] {
            let first = ask(method, json!({})).await;
            let valid = first["result"]["nextCursor"]
                .as_str()
                .unwrap_or("x")
                .to_owned();
            for params in not_string_cursors(&valid) {
                let answer = ask(method, params.clone()).await;
                assert_eq!(answer["id"], next_id.get(), "{answer}");
                let message = invalid_params(&answer);
                assert!(
                    message.starts_with("Invalid params: invalid type: "),
                    "{method} {params} (paged: {paged}): {message}"
                );
            }
            let null = ask(method, json!({ "cursor": null })).await;
            assert!(null["result"].is_object(), "{method}: {null}");
        }
    }
}
