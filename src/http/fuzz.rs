//! Property-based fuzzing of the HTTP request checks, on stable Rust.
//!
//! Each property runs on generated hostile input: request heads with any
//! `Host` values and request targets, bodies of any bytes or of JSON that is
//! almost a JSON-RPC message, `--allow-origin` values, and whole raw requests
//! sent to a server running in this process. `cargo test` runs a bounded
//! number of cases (the `PROPTEST_CASES` default below, a few seconds in CI);
//! run longer by hand with, for example,
//! `PROPTEST_CASES=200000 cargo test --lib http::fuzz`. A failing case is
//! shrunk and its seed saved under `proptest-regressions/`, which is
//! committed: every later run replays it first.

use std::net::SocketAddr;
use std::time::Duration;

use http::header::HOST;
use http::{HeaderMap, HeaderValue, Uri};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::batch;
use super::guard::with_default_port;
use super::guard::{HeadError, check_head};
use super::{check_message, exact_id};

/// Cases per property in a plain `cargo test`, unless `PROPTEST_CASES` says.
const CASES: u32 = 512;

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Host values as clients and attackers write them: names, addresses,
/// brackets, ports, userinfo, paths, odd bytes.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "(localhost|127\\.0\\.0\\.1|\\[::1\\]|evil\\.example)(:[0-9]{1,5})?",
        "[a-z0-9.@:\\[\\]/%_~!$&'()*+,;=-]{0,24}",
        "[ -~]{0,24}",
    ]
}

/// Request targets: origin-form, absolute-form, authority-like.
fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/mcp".to_owned()),
        host().prop_map(|h| format!("http://{h}/mcp")),
        "[a-z]{1,5}://[ -~]{0,16}/mcp",
    ]
}

/// JSON that is often almost a JSON-RPC message.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        Just(json!("2.0")),
        Just(json!("ping")),
        Just(json!("initialize")),
        Just(json!("tools/call")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("jsonrpc".to_owned()),
                        Just("id".to_owned()),
                        Just("method".to_owned()),
                        Just("params".to_owned()),
                        Just("result".to_owned()),
                        Just("error".to_owned()),
                        "[a-z]{1,6}",
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn headers(hosts: &[String]) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    for host in hosts {
        headers.append(HOST, HeaderValue::from_str(host).ok()?);
    }
    Some(headers)
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Whatever the head, the check never panics, and what it lets through
    /// shows rmcp's Host check the one host the request names: one `Host`,
    /// a plain authority without userinfo, and an absolute-form target only
    /// when it names the same.
    #[test]
    fn a_head_that_passes_names_one_host(hosts in prop::collection::vec(host(), 0..3), target in target()) {
        let (Ok(uri), Some(headers)) = (target.parse::<Uri>(), headers(&hosts)) else {
            return Ok(()); // hyper would have refused it before us
        };
        let verdict = check_head(&uri, &headers);
        match hosts.len() {
            0 => prop_assert_eq!(verdict.clone(), Err(HeadError::NoHost)),
            1 => {}
            _ => prop_assert_eq!(verdict.clone(), Err(HeadError::ManyHosts)),
        }
        if verdict.is_ok() {
            let host = &hosts[0];
            let authority = http::uri::Authority::try_from(host.as_str());
            prop_assert!(authority.is_ok(), "passed, but no authority: {host:?}");
            let authority = authority.unwrap();
            let rebuilt = match authority.port() {
                Some(port) => format!("{}:{}", authority.host(), port.as_str()),
                None => authority.host().to_owned(),
            };
            // RFC 3986 allows an empty port ("host:"), which means none.
            prop_assert_eq!(rebuilt.as_str(), host.strip_suffix(':').unwrap_or(host),
                "rmcp would check another host");
            if let Some(target) = uri.authority() {
                prop_assert!(target.as_str().eq_ignore_ascii_case(host));
            }
        }
    }

    /// Any bytes: a verdict, never a panic; a parse error exactly when the
    /// body is not JSON.
    #[test]
    fn any_body_gets_a_verdict(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let is_json = serde_json::from_slice::<Value>(&body).is_ok();
        if let Err((id, error)) = check_message(&body) {
            prop_assert_eq!(error.code.0 == -32700, !is_json);
            prop_assert!(is_json || id.is_none());
        }
        batch::is_batch(&body);
        batch::opens_batch_session(&body);
    }

    /// Almost-messages: an invalid one is answered with its own `id` when
    /// the `id` is a valid one, and a body is a batch exactly when it is an
    /// array.
    #[test]
    fn an_invalid_message_keeps_its_id(value in json_value()) {
        let body = serde_json::to_vec(&value).unwrap();
        prop_assert_eq!(batch::is_batch(&body), value.is_array());
        if let Err((id, error)) = check_message(&body) {
            prop_assert_eq!(error.code.0, -32600);
            let valid_id = value.get("id").and_then(exact_id);
            prop_assert_eq!(id, valid_id);
        }
    }

    /// `--allow-origin` values: the default port made explicit only for
    /// http and https without one, never anything else changed, and doing it
    /// twice changes nothing more.
    #[test]
    fn an_allowed_origin_gets_its_default_port_once(origin in prop_oneof![
        "(http|https|ftp|chrome-extension)://[a-z0-9.-]{1,12}(:[0-9]{1,5}|:\\*)?/?",
        "[ -~]{0,24}",
    ]) {
        let once = with_default_port(&origin);
        prop_assert_eq!(with_default_port(&once), once.clone());
        if once != origin {
            prop_assert!(once.ends_with(":80") || once.ends_with(":443"), "{once}");
            prop_assert!(origin.starts_with("http://") || origin.starts_with("https://"));
        }
    }
}

/// A server in this process, for the whole-request property.
struct InProcess {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    _server: crate::ServerHandle,
}

impl InProcess {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut options = crate::HttpOptions::new("127.0.0.1:0".parse().unwrap());
        options.request_timeout = Duration::from_millis(500);
        let (server, addr) = runtime
            .block_on(crate::start_http(crate::Options::new(2), options))
            .expect("the server starts");
        Self {
            runtime,
            addr,
            _server: server,
        }
    }

    /// Send `request` and return the status code of the answer, or `None`
    /// when the server closed the connection without one.
    fn status(&self, request: &[u8]) -> Option<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.runtime.block_on(async {
            let mut socket = tokio::net::TcpStream::connect(self.addr).await.unwrap();
            // The server may refuse before reading everything: that is fine.
            let _ = socket.write_all(request).await;
            let mut line = Vec::new();
            let read = async {
                let mut buffer = [0u8; 64];
                while line.len() < 12 {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => line.extend_from_slice(&buffer[..n]),
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .expect("every request is answered or closed in time");
            let line = String::from_utf8_lossy(line.get(..12)?).into_owned();
            line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
        })
    }
}

/// Whole raw requests, head and body, against a server in this process: each
/// is answered (or its connection closed) in time, never with a server error
/// other than 503 (busy), and the server goes on answering a plain ping.
#[test]
fn any_raw_request_is_answered_and_the_server_goes_on() {
    let server = InProcess::start();
    let authority = server.addr.to_string();
    let ping = |host: &str| {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"f","version":"0"}}}"#;
        format!(
            "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let method = prop_oneof![
        prop::sample::select(vec!["POST", "GET", "DELETE", "PUT", "OPTIONS"])
            .prop_map(String::from),
        "[A-Z]{1,7}",
    ];
    let header = prop_oneof![
        host().prop_map(|h| format!("Host: {h}")),
        Just(format!("Host: {authority}")),
        "[ -~]{0,20}".prop_map(|o| format!("Origin: {o}")),
        Just("Origin: http://evil.example".to_owned()),
        Just("Content-Type: application/json".to_owned()),
        Just("Accept: application/json, text/event-stream".to_owned()),
        Just("Mcp-Session-Id: no-such-session".to_owned()),
        Just("MCP-Protocol-Version: 2026-07-28".to_owned()),
        Just("Transfer-Encoding: chunked".to_owned()),
        (0u64..10_000_000).prop_map(|n| format!("Content-Length: {n}")),
        "[A-Za-z-]{1,12}: [ -~]{0,20}",
    ];
    let body = prop_oneof![
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..128),
    ];
    let request = (method, target(), prop::collection::vec(header, 0..6), body).prop_map(
        |(method, target, headers, body)| {
            let mut request = format!("{method} {target} HTTP/1.1\r\n");
            for header in headers {
                request.push_str(&header);
                request.push_str("\r\n");
            }
            request.push_str("\r\n");
            let mut request = request.into_bytes();
            request.extend_from_slice(&body);
            request
        },
    );
    let mut runner = proptest::test_runner::TestRunner::new(config(CASES / 4));
    runner
        .run(&request, |request| {
            if let Some(status) = server.status(&request) {
                prop_assert!(
                    status < 500 || status == 503,
                    "{status} for {:?}",
                    String::from_utf8_lossy(&request)
                );
            }
            prop_assert_eq!(server.status(ping(&authority).as_bytes()), Some(200));
            Ok(())
        })
        .unwrap();
}
