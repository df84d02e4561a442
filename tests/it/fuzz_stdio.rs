//! A fuzz target for the stdin path that runs on stable Rust: proptest
//! generates and shrinks the inputs, in `cargo test` like any other test.
//!
//! Two targets:
//! - `decoder`: the line decoder alone, [`LineTransport`] over an in-memory
//!   pipe, fed arbitrary bytes in arbitrary chunks, every request answered at
//!   once as rmcp would.
//! - `request_path`: the whole server in process ([`start`] over a
//!   [`LineTransport`]), the bytes written in chunks, then EOF.
//!
//! Inputs are lines from the committed corpus (`tests/fuzz/corpus/*.jsonl`),
//! as they are or mutated (bytes flipped, cut, spliced), structured JSON-RPC
//! messages with odd ids, methods and params, and random bytes.
//!
//! Properties: nothing panics or hangs; stdout holds only whole lines, each a
//! JSON-RPC 2.0 object; an answer's id is `null` or an id the input held; and,
//! for a well-formed session with bad lines mixed in, every request is
//! answered exactly once and every bad line once with `"id": null`.
//!
//! CI runs `FUZZ_CASES` cases per target (default 64, a few seconds). By
//! hand, run longer: `FUZZ_CASES=20000 cargo test --release --test it fuzz_stdio`.
//! A failure is shrunk to a small input and saved by proptest in
//! `tests/fuzz_stdio.proptest-regressions`, which is committed and replayed
//! first on every run.

use std::time::Duration;

use dynamic_mcp_server::internals::LineTransport;
use dynamic_mcp_server::{Options, start};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use rmcp::RoleServer;
use rmcp::model::{EmptyResult, JsonRpcMessage, ServerResult};
use rmcp::service::TxJsonRpcMessage;
use rmcp::transport::Transport;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every wait in one case; a case that takes longer has hung.
const CASE_TIMEOUT: Duration = Duration::from_secs(20);

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

fn config() -> Config {
    Config {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz_stdio.proptest-regressions"
        )))),
        ..Config::default()
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz/corpus");
    let mut lines = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the corpus")
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read(&file).unwrap();
        lines.extend(
            text.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    lines
}

/// A corpus line, mutated or not.
fn corpus_line(corpus: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = corpus.len();
    (
        0..count,
        any::<u8>(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        0..5u8,
    )
        .prop_map(move |(pick, byte, at, other, how)| {
            let mut line = corpus[pick].clone();
            let i = at.index(line.len().max(1)).min(line.len());
            match how {
                0 => {}
                1 if !line.is_empty() => {
                    let last = line.len() - 1;
                    line[i.min(last)] ^= byte | 1;
                }
                2 => line.truncate(i),
                3 => line.insert(i, byte),
                _ => {
                    // Splice the tail of another line onto this one's head.
                    let tail = &corpus[other.index(count)];
                    let j = at.index(tail.len().max(1)).min(tail.len());
                    line.truncate(i);
                    line.extend_from_slice(&tail[j..]);
                }
            }
            line
        })
}

fn odd_id() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        (0..20i64).prop_map(|n| Some(Value::from(n))),
        "[a-c]{1,2}".prop_map(|s| Some(Value::from(s))),
        Just(Some(Value::Null)),
        Just(Some(serde_json::json!(1.5))),
        Just(Some(serde_json::json!(-9223372036854775808i64))),
        Just(Some(serde_json::json!([1]))),
        Just(None),
    ]
}

fn odd_params() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(serde_json::json!({}))),
        Just(Some(serde_json::json!([]))),
        Just(Some(serde_json::json!(null))),
        ("[a-z]{0,12}", any::<i64>(), any::<i64>()).prop_map(|(name, a, b)| Some(serde_json::json!({
            "name": name, "arguments": { "a": a, "b": b, "message": name, "operation": "multiply" }
        }))),
    ]
}

/// A structured message with odd parts.
fn structured_line() -> impl Strategy<Value = Vec<u8>> {
    let methods = prop::sample::select(vec![
        "ping",
        "tools/list",
        "tools/call",
        "initialize",
        "logging/setLevel",
        "subscriptions/listen",
        "server/discover",
        "notifications/initialized",
        "notifications/cancelled",
        "resources/list",
        "nope",
        "",
    ]);
    (odd_id(), methods, odd_params(), any::<bool>()).prop_map(|(id, method, params, v2)| {
        let mut message = serde_json::Map::new();
        message.insert(
            "jsonrpc".into(),
            Value::from(if v2 { "2.0" } else { "1.0" }),
        );
        if let Some(id) = id {
            message.insert("id".into(), id);
        }
        message.insert("method".into(), Value::from(method));
        if let Some(params) = params {
            message.insert("params".into(), params);
        }
        serde_json::to_vec(&message).unwrap()
    })
}

fn any_line(corpus: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => corpus_line(corpus),
        3 => structured_line(),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

const INIT: &[u8] = br#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"0"}}}"#;
const INITIALIZED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// Lines joined into one input, with the handshake first or not, and split
/// into the chunks the reader gets.
fn input(corpus: Vec<Vec<u8>>) -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    (
        0..3u8,
        prop::collection::vec(any_line(corpus), 0..24),
        prop::sample::select(vec![&b"\n"[..], b"\r\n"]),
        any::<bool>(),
        prop::collection::vec(1..4096usize, 0..8),
    )
        .prop_map(|(handshake, lines, newline, last_newline, chunks)| {
            let mut bytes = Vec::new();
            // No handshake, or one on 2025-11-25, or on 2025-03-26 (batches).
            if handshake > 0 {
                let init = String::from_utf8_lossy(INIT);
                let init = match handshake {
                    1 => init.into_owned(),
                    _ => init.replace("2025-11-25", "2025-03-26"),
                };
                bytes.extend_from_slice(init.as_bytes());
                bytes.push(b'\n');
                bytes.extend_from_slice(INITIALIZED);
                bytes.push(b'\n');
            }
            for (i, line) in lines.iter().enumerate() {
                bytes.extend_from_slice(line);
                if i + 1 < lines.len() || last_newline {
                    bytes.extend_from_slice(newline);
                }
            }
            (bytes, chunks)
        })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Write `input` in `chunks`, then close it.
async fn feed(mut to_server: tokio::io::DuplexStream, input: Vec<u8>, chunks: Vec<usize>) {
    let mut rest = &input[..];
    for size in chunks.into_iter().chain(std::iter::repeat(4096)) {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        if to_server.write_all(chunk).await.is_err() {
            return;
        }
        rest = tail;
    }
    let _ = to_server.shutdown().await;
}

/// Check that `output` is whole JSON-RPC lines whose ids come from `input`;
/// returns them.
fn check_output(input: &[u8], output: &[u8]) -> Result<Vec<Value>, TestCaseError> {
    prop_assert!(
        output.is_empty() || output.ends_with(b"\n"),
        "a cut last line"
    );
    let input = String::from_utf8_lossy(input);
    let mut messages = Vec::new();
    for line in output.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let message: Value = serde_json::from_slice(line).map_err(|e| {
            TestCaseError::fail(format!("not JSON ({e}): {}", String::from_utf8_lossy(line)))
        })?;
        // A batch's answer is an array of answers, never an empty one.
        let members = match message {
            Value::Array(members) => {
                prop_assert!(!members.is_empty(), "an empty batch answer");
                members
            }
            message => vec![message],
        };
        for message in members {
            check_message(&input, &message)?;
            messages.push(message);
        }
    }
    Ok(messages)
}

/// One JSON-RPC 2.0 message whose id, if any, is null or from the input.
fn check_message(input: &str, message: &Value) -> Result<(), TestCaseError> {
    prop_assert_eq!(&message["jsonrpc"], "2.0", "{}", message);
    if let Some(id) = message.get("id") {
        prop_assert!(
            id.is_null() || input.contains(&id.to_string()),
            "an id the input never held: {}",
            message
        );
    } else {
        prop_assert!(
            message.get("method").is_some(),
            "an answer without id: {}",
            message
        );
    }
    Ok(())
}

/// The decoder alone: every line is a message, skipped or answered, and
/// reading ends at EOF.
async fn decoder_case(input: Vec<u8>, chunks: Vec<usize>) -> Result<(), TestCaseError> {
    let (to_server, server_in) = tokio::io::duplex(8192);
    let (server_out, mut from_server) = tokio::io::duplex(1 << 16);
    let reading = tokio::spawn(async move {
        let mut output = Vec::new();
        from_server.read_to_end(&mut output).await.map(|_| output)
    });
    let feeding = tokio::spawn(feed(to_server, input.clone(), chunks));
    let mut transport = LineTransport::new(server_in, server_out);
    let output = transport.output();
    while let Some(message) = transport.receive().await {
        if let JsonRpcMessage::Request(request) = message {
            let answer = TxJsonRpcMessage::<RoleServer>::response(
                ServerResult::EmptyResult(EmptyResult {}),
                request.id,
            );
            // Queued at once; its completion is not needed here.
            drop(transport.send(answer));
        }
    }
    prop_assert!(
        output.finish(CASE_TIMEOUT).await,
        "the output did not drain"
    );
    transport.close().await.unwrap();
    drop(transport);
    feeding.await.unwrap();
    let bytes = tokio::time::timeout(CASE_TIMEOUT, reading)
        .await
        .map_err(|_| TestCaseError::fail("the output never closed"))?
        .unwrap()
        .unwrap();
    check_output(&input, &bytes)?;
    Ok(())
}

/// The whole request path in process.
async fn request_path_case(
    input: Vec<u8>,
    chunks: Vec<usize>,
) -> Result<Vec<Value>, TestCaseError> {
    let (to_server, server_in) = tokio::io::duplex(8192);
    let (server_out, mut from_server) = tokio::io::duplex(1 << 16);
    let reading = tokio::spawn(async move {
        let mut output = Vec::new();
        from_server.read_to_end(&mut output).await.map(|_| output)
    });
    let transport = LineTransport::new(server_in, server_out);
    let output = transport.output();
    let server = start(Options::new(3), transport)
        .await
        .map_err(|e| TestCaseError::fail(format!("start: {e}")))?;
    feed(to_server, input.clone(), chunks).await;
    tokio::time::timeout(CASE_TIMEOUT, server.wait())
        .await
        .map_err(|_| TestCaseError::fail("the server did not stop after EOF"))?
        .map_err(|e| TestCaseError::fail(format!("the server failed: {e}")))?;
    prop_assert!(
        output.finish(CASE_TIMEOUT).await,
        "the output did not drain"
    );
    let bytes = tokio::time::timeout(CASE_TIMEOUT, reading)
        .await
        .map_err(|_| TestCaseError::fail("the output never closed"))?
        .unwrap()
        .unwrap();
    check_output(&input, &bytes)
}

#[test]
fn decoder() {
    let mut runner = TestRunner::new(config());
    let started = std::time::Instant::now();
    runner
        .run(&input(corpus()), |(input, chunks)| {
            runtime().block_on(decoder_case(input, chunks))
        })
        .unwrap();
    eprintln!("decoder: {} cases in {:?}", cases(), started.elapsed());
}

#[test]
fn request_path() {
    let mut runner = TestRunner::new(config());
    let started = std::time::Instant::now();
    runner
        .run(&input(corpus()), |(input, chunks)| {
            runtime()
                .block_on(request_path_case(input, chunks))
                .map(drop)
        })
        .unwrap();
    eprintln!("request_path: {} cases in {:?}", cases(), started.elapsed());
}

/// A well-formed session: unique ids, bad lines mixed in.
/// Input lines, each with its request id if it is a request.
type Session = Vec<(Option<u32>, Vec<u8>)>;

fn session() -> impl Strategy<Value = (Session, Vec<usize>)> {
    let request = (
        prop::sample::select(vec!["ping", "tools/list", "tools/call", "nope"]),
        "[a-z]{0,6}",
        any::<i32>(),
    )
        .prop_map(|(method, name, a)| (method, name, a));
    let line = prop_oneof![
        3 => request.prop_map(Some),
        1 => Just(None),
    ];
    (
        prop::collection::vec((line, "[a-z !#%]{1,30}"), 0..30),
        prop::collection::vec(1..2048usize, 0..8),
    )
        .prop_map(|(lines, chunks)| {
            let lines = lines
                .into_iter()
                .enumerate()
                .map(|(i, (request, garbage))| match request {
                    Some((method, name, a)) => {
                        let id = i as u32 + 100;
                        let message = serde_json::json!({
                            "jsonrpc": "2.0", "id": id, "method": method,
                            "params": { "name": name, "arguments": { "a": a, "b": 2, "operation": "add", "message": name } },
                        });
                        (Some(id), serde_json::to_vec(&message).unwrap())
                    }
                    None => (None, garbage.into_bytes()),
                })
                .collect();
            (lines, chunks)
        })
}

#[test]
fn every_request_and_bad_line_in_a_session_is_answered_once() {
    let mut runner = TestRunner::new(config());
    runner
        .run(&session(), |(lines, chunks)| {
            let mut input = [INIT, b"\n", INITIALIZED, b"\n"].concat();
            for (_, line) in &lines {
                input.extend_from_slice(line);
                input.push(b'\n');
            }
            let messages = runtime().block_on(request_path_case(input, chunks))?;
            for id in lines.iter().filter_map(|(id, _)| *id) {
                let answers = messages.iter().filter(|m| m["id"] == id).count();
                prop_assert_eq!(answers, 1, "request {} answered {} times", id, answers);
            }
            let bad = lines.iter().filter(|(id, _)| id.is_none()).count();
            let null = messages.iter().filter(|m| m["id"].is_null()).count();
            prop_assert_eq!(null, bad, "bad lines and id-null errors");
            Ok(())
        })
        .unwrap();
}
