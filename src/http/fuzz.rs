//! Property-based fuzzing of the HTTP request checks, on stable Rust.
//!
//! Each property runs on generated hostile input: request heads with any
//! `Host`, `Origin` and request targets (through the one gate both listeners
//! keep), bodies of any bytes or of JSON that is almost a JSON-RPC message
//! or almost a change request, `--allow-origin` values, and whole raw
//! requests sent to both listeners of a server running in this process. `cargo test` runs a bounded
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
use super::guard::{Gate, HeadError, check_head, with_default_port};
use super::{check_message, exact_id};
use crate::fuzzing::{change_names_and, config};

/// Cases per property in a plain `cargo test`, unless `PROPTEST_CASES` says.
const CASES: u32 = 512;

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
    nested(
        leaf,
        &["jsonrpc", "id", "method", "params", "result", "error"],
    )
}

/// JSON that is often almost a change request: its keys and kinds, and
/// counts small enough to apply at once or out of range.
fn change_value() -> impl Strategy<Value = Value> {
    let kinds = prop::sample::select(change_names_and(&["echo", "dynamic://resources/1"]));
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![-2i64..6, Just(1_000_001), Just(i64::MAX), Just(i64::MIN)]
            .prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        kinds.prop_map(|kind| json!(kind)),
    ];
    nested(leaf, &["change", "count", "name", "uri"])
}

/// Arrays and objects of `leaf` values, nested a few deep, whose objects'
/// keys are mostly `keys` and sometimes any short word.
fn nested(
    leaf: impl Strategy<Value = Value> + 'static,
    keys: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    leaf.prop_recursive(4, 32, 6, move |inner| {
        let key = prop_oneof![
            prop::sample::select(keys).prop_map(str::to_owned),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..5)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// `Origin` values: the allowed ones, others, and odd text.
fn origin() -> impl Strategy<Value = String> {
    prop_oneof![
        "(http|https|HTTP)://(localhost|127\\.0\\.0\\.1|\\[::1\\]|evil\\.example)(:[0-9]{1,5})?/?",
        Just("null".to_owned()),
        "[ -~]{0,24}",
    ]
}

/// `host[:port]` as rmcp compares it: the host lowercased without
/// brackets, the port as a number.
fn host_and_port(authority: &str) -> Option<(String, Option<u16>)> {
    let authority = http::uri::Authority::try_from(authority).ok()?;
    let host = authority
        .host()
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    Some((host, authority.port_u16()))
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

    /// The gate of a listener bound to 127.0.0.1:8765, which both `/mcp`
    /// and the control endpoint keep: whatever the head, a verdict and
    /// never a panic; what it lets in names one allowed host (a loopback
    /// name with the bound port) in one `Host`, an absolute-form target
    /// names that same host, and a present `Origin` is one of the bound
    /// address's HTTP origins.
    #[test]
    fn the_gate_lets_in_only_the_bound_host_and_its_origins(
        hosts in prop::collection::vec(prop_oneof![host(), Just("127.0.0.1:8765".to_owned())], 0..3),
        target in target(),
        origin in prop::option::of(origin()),
    ) {
        let (Ok(uri), Some(mut headers)) = (target.parse::<Uri>(), headers(&hosts)) else {
            return Ok(()); // hyper would have refused it before us
        };
        if let Some(origin) = &origin {
            let Ok(value) = HeaderValue::from_str(origin) else { return Ok(()) };
            headers.insert(http::header::ORIGIN, value);
        }
        let gate = Gate::new("127.0.0.1:8765".parse().unwrap(), &[], &[]);
        let verdict = gate_runtime().block_on(gate.check(&uri, &headers));
        if let Err(refusal) = &verdict {
            prop_assert!(matches!(refusal.status.as_u16(), 400 | 403), "{refusal:?}");
            return Ok(());
        }
        prop_assert_eq!(hosts.len(), 1);
        prop_assert_eq!(check_head(&uri, &headers), Ok(()));
        let (host, port) = host_and_port(&hosts[0]).expect("a passing Host is an authority");
        prop_assert!(["localhost", "127.0.0.1", "::1"].contains(&host.as_str()), "{host}");
        prop_assert_eq!(port, Some(8765));
        if let Some(origin) = origin {
            let origin = origin.to_ascii_lowercase();
            let origin = origin.trim_end_matches('/');
            prop_assert!(
                ["http://localhost:8765", "http://127.0.0.1:8765", "http://[::1]:8765"]
                    .contains(&origin),
                "let in with Origin {origin}"
            );
        }
    }

    /// Any bytes or almost-change JSON as a control endpoint body: a
    /// verdict, never a panic, and a change request only from a JSON object
    /// (serde alone would fill one from an array).
    #[test]
    fn a_change_request_comes_only_from_a_json_object(
        body in prop_oneof![
            change_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            prop::collection::vec(any::<u8>(), 0..128),
        ]
    ) {
        if crate::control::parse_change(&body).is_ok() {
            let value: Value = serde_json::from_slice(&body).unwrap();
            prop_assert!(value.is_object(), "a change from {value}");
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

/// One runtime per test thread for the gate's property: the check is async
/// (rmcp's half of it), though it never waits.
fn gate_runtime() -> &'static tokio::runtime::Runtime {
    thread_local! {
        static RUNTIME: &'static tokio::runtime::Runtime = Box::leak(Box::new(
            tokio::runtime::Builder::new_current_thread().build().unwrap(),
        ));
    }
    RUNTIME.with(|runtime| *runtime)
}

/// A server in this process, for the whole-request properties: MCP over
/// HTTP at `addr` and the control endpoint at `control`.
struct InProcess {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    control: SocketAddr,
    _server: crate::ServerHandle,
    _dir: tempfile::TempDir,
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
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready.json");
        let control = crate::control::ControlOptions::new("127.0.0.1:0".parse().unwrap());
        let server_options = crate::Options::new(2).control(control).ready_file(&ready);
        let (server, addr) = runtime
            .block_on(crate::start_http(server_options, options))
            .expect("the server starts");
        let ready: Value = serde_json::from_slice(&std::fs::read(&ready).unwrap()).unwrap();
        let control = ready["control_url"].as_str().unwrap();
        let control = control.trim_start_matches("http://").parse().unwrap();
        Self {
            runtime,
            addr,
            control,
            _server: server,
            _dir: dir,
        }
    }

    /// Send `request` to `/mcp`'s listener and return the status code of the
    /// answer, or `None` when the server closed the connection without one.
    fn status(&self, request: &[u8]) -> Option<u16> {
        self.status_at(self.addr, request)
    }

    /// Send `request` to the listener at `addr`, as [`InProcess::status`].
    fn status_at(&self, addr: SocketAddr, request: &[u8]) -> Option<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.runtime.block_on(async {
            let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
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

/// Whole raw requests to the control endpoint, head and body: each is
/// answered (or its connection closed) in time, never with a server error
/// other than 503, a change is made only by a request whose head the gate
/// lets in (one allowed `Host`, an absolute-form target naming that host),
/// and the endpoint goes on answering `GET /state`.
#[test]
fn any_raw_request_to_the_control_endpoint_is_answered_and_it_goes_on() {
    let server = InProcess::start();
    let authority = server.control.to_string();
    let state = format!("GET /state HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    // Weighted towards what would change the catalog: a POST of a valid
    // change to /changes, so that the gate's part in refusing it shows.
    let method = prop_oneof![
        4 => Just("POST".to_owned()),
        1 => prop::sample::select(vec!["GET", "DELETE", "PUT"]).prop_map(String::from),
        1 => "[A-Z]{1,7}",
    ];
    let path = prop_oneof![
        4 => Just("/changes"),
        1 => prop::sample::select(vec!["/state", "/report", "/mcp", "/"]),
    ];
    // Absolute-form targets above all: another host, the same host with
    // userinfo, another host with the bound port, and the same host.
    let port = server.control.port();
    let other = prop_oneof![
        host(),
        Just("evil.example".to_owned()),
        Just(format!("evil.example:{port}")),
        Just(format!("evil@{authority}")),
        Just(format!("localhost:{port}")),
        Just(authority.clone()),
    ];
    let target = prop_oneof![
        1 => path.clone().prop_map(String::from),
        3 => (other, path).prop_map(|(h, p)| format!("http://{h}{p}")),
    ];
    let header = prop_oneof![
        2 => host().prop_map(|h| format!("Host: {h}")),
        4 => Just(format!("Host: {authority}")),
        2 => origin().prop_map(|o| format!("Origin: {o}")),
        1 => Just("Content-Type: application/json".to_owned()),
        1 => Just("Transfer-Encoding: chunked".to_owned()),
        1 => "[A-Za-z-]{1,12}: [ -~]{0,20}",
    ];
    let valid_change = (
        prop::sample::select(vec!["add_tool", "change_tool", "reset", "remove_tool"]),
        1u32..3,
    )
        .prop_map(|(kind, count)| json!({ "change": kind, "count": count }));
    let body = prop_oneof![
        3 => valid_change.prop_map(|v| serde_json::to_vec(&v).unwrap()),
        2 => change_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..128),
    ];
    // A `Content-Length` of the body's length or less: the rest of the body
    // is then read as the next request. (A longer one only waits out the
    // endpoint's 10-second body timeout, as long as this test waits.)
    let length = prop::option::of(any::<prop::sample::Index>());
    let request = (
        method,
        target,
        prop::collection::vec(header, 0..5),
        body,
        length,
    );
    let mut runner = proptest::test_runner::TestRunner::new(config(CASES / 4));
    runner
        .run(&request, |(method, target, headers, body, length)| {
            let mut head = format!("{method} {target} HTTP/1.1\r\n");
            for header in &headers {
                head.push_str(header);
                head.push_str("\r\n");
            }
            let length = length.map_or(body.len(), |index| index.index(body.len() + 1));
            head.push_str(&format!("Content-Length: {length}\r\n"));
            head.push_str("\r\n");
            let mut request = head.into_bytes();
            request.extend_from_slice(&body);
            let shown = String::from_utf8_lossy(&request).into_owned();
            if let Some(status) = server.status_at(server.control, &request) {
                prop_assert!(status < 500 || status == 503, "{status} for {shown:?}");
                if status == 200 && method == "POST" {
                    let hosts: Vec<&str> = headers
                        .iter()
                        .filter_map(|h| h.strip_prefix("Host: "))
                        .collect();
                    prop_assert_eq!(hosts.len(), 1, "changed by {:?}", shown);
                    let (host, port) = host_and_port(hosts[0]).unwrap_or_default();
                    prop_assert!(
                        ["localhost", "127.0.0.1", "::1"].contains(&host.as_str())
                            && port == Some(server.control.port()),
                        "changed by {:?}",
                        shown
                    );
                    if let Some(rest) = target.strip_prefix("http://") {
                        let named = rest.split('/').next().unwrap_or_default();
                        prop_assert!(
                            named.eq_ignore_ascii_case(hosts[0]),
                            "changed by {:?}",
                            shown
                        );
                    }
                }
            }
            prop_assert_eq!(
                server.status_at(server.control, state.as_bytes()),
                Some(200)
            );
            Ok(())
        })
        .unwrap();
}
