//! Streamable HTTP at the edge: DNS-rebinding protection, malformed requests
//! answered with the right HTTP status and JSON-RPC error, and the process
//! lifecycle (signals stop it, stdin EOF does not).

use crate::common;
use crate::http_support;

use std::time::Instant;

use common::bounded;
use futures::future::join_all;
use http_support::{ACCEPT_BOTH, HttpClient, HttpServer, Raw};
use serde_json::{Value, json};

fn initialize_body() -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "edge-test", "version": "0" },
        },
    })
    .to_string()
}

/// POST `initialize` with extra headers; returns the status.
async fn initialize_with(raw: &Raw, headers: &[(&str, &str)]) -> u16 {
    let mut request = raw.post(None, initialize_body());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    bounded("initialize", request.send())
        .await
        .expect("answered")
        .status()
        .as_u16()
}

#[tokio::test]
async fn foreign_host_and_origin_are_refused() {
    let server = HttpServer::start(&[]).await;
    let raw = Raw::new(&server);
    let port = server.port();

    // What a page on evil.example sends once its name resolves to 127.0.0.1.
    let evil_host = format!("evil.example:{port}");
    assert_eq!(initialize_with(&raw, &[("host", &evil_host)]).await, 403);
    assert_eq!(
        initialize_with(&raw, &[("origin", "http://evil.example")]).await,
        403
    );
    // A loopback page on another port is another origin too.
    assert_eq!(
        initialize_with(&raw, &[("origin", "http://localhost:1")]).await,
        403
    );
    // The server's own names pass, with or without an Origin.
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let origin = format!("http://{host}");
        assert_eq!(
            initialize_with(&raw, &[("host", &host), ("origin", &origin)]).await,
            200,
            "{host}"
        );
    }
    assert_eq!(initialize_with(&raw, &[]).await, 200);
    // Refused requests open no session.
    server.wait_sessions("opened", 4).await;
    assert_eq!(server.session_events("opened"), 4);
}

#[tokio::test]
async fn allow_host_and_allow_origin_add_to_the_defaults() {
    let server = HttpServer::start(&[
        "--allow-host",
        "mcp.example",
        "--allow-origin",
        "https://app.example:443",
    ])
    .await;
    let raw = Raw::new(&server);
    let port = server.port();
    let named = format!("mcp.example:{port}");
    assert_eq!(initialize_with(&raw, &[("host", &named)]).await, 200);
    assert_eq!(
        initialize_with(&raw, &[("origin", "https://app.example")]).await,
        200
    );
    assert_eq!(
        initialize_with(&raw, &[("origin", "http://app.example")]).await,
        403
    );
    assert_eq!(
        initialize_with(&raw, &[("host", "other.example")]).await,
        403
    );
}

/// Status and body of a response.
async fn answer(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = bounded("a response", request.send())
        .await
        .expect("answered");
    let status = response.status().as_u16();
    let body = bounded("the body", response.text()).await.expect("a body");
    (status, body)
}

fn json_rpc_error(body: &str) -> Value {
    let error: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(error["jsonrpc"], "2.0", "{error}");
    error
}

#[tokio::test]
async fn malformed_requests_get_the_right_errors_and_the_server_goes_on() {
    let server = HttpServer::start(&[]).await;
    let raw = Raw::new(&server);
    let session = raw.initialize().await;
    raw.initialized(&session).await;
    let id = Some(session.as_str());

    // Not JSON: 400 with a JSON-RPC parse error.
    let (status, body) = answer(raw.post(id, "this is {not json")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json_rpc_error(&body)["error"]["code"], -32700);

    // JSON, but no JSON-RPC message: an invalid request, answered with its id.
    let (status, body) = answer(raw.post(id, r#"{"id": 9, "hello": "world"}"#)).await;
    assert_eq!(status, 400, "{body}");
    let error = json_rpc_error(&body);
    assert_eq!(
        (error["error"]["code"].clone(), error["id"].clone()),
        (json!(-32600), json!(9))
    );

    // A batch: MCP has had none since 2025-06-18.
    let (status, body) = answer(raw.post(id, "[]")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json_rpc_error(&body)["error"]["code"], -32600);

    // An unknown method is a JSON-RPC error on the request's own stream.
    let unknown = json!({ "jsonrpc": "2.0", "id": 3, "method": "no/such" });
    let (status, body) = answer(raw.post(id, unknown.to_string())).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""code":-32601"#), "{body}");

    // HTTP-level mistakes get their HTTP status.
    let ping = json!({ "jsonrpc": "2.0", "id": 4, "method": "ping" }).to_string();
    let post = |content_type, accept| {
        raw.http
            .post(&raw.url)
            .header("mcp-session-id", &session)
            .header("content-type", content_type)
            .header("accept", accept)
            .body(ping.clone())
    };
    assert_eq!(answer(post("text/plain", ACCEPT_BOTH)).await.0, 415);
    assert_eq!(answer(post("application/json", "text/html")).await.0, 406);
    assert_eq!(
        answer(raw.post(None, ping.clone())).await.0,
        400,
        "no session id"
    );
    assert_eq!(
        answer(raw.post(Some("no-such-session"), ping.clone()))
            .await
            .0,
        404
    );
    assert_eq!(answer(raw.http.put(&raw.url)).await.0, 405);
    let elsewhere = raw.url.replace("/mcp", "/other");
    assert_eq!(answer(raw.http.get(elsewhere)).await.0, 404);
    assert_eq!(oversized_upload(&server, &session).await, 413);
    let get_without_sse = raw
        .http
        .get(&raw.url)
        .header("accept", "application/json")
        .header("mcp-session-id", &session);
    assert_eq!(answer(get_without_sse).await.0, 406);

    // The session, and the server, still work.
    let (status, body) = answer(raw.post(id, ping)).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""id":4,"result":{}"#), "{body}");
    let mut client = server.connect().await;
    server.process.sighup();
    assert_eq!(client.wait_changes(1).await, 1);
    assert!(server.process.stderr().matches("panicked").count() == 0);
    client.close().await;
}

/// The status line for a POST that announces 5 MiB and sends only its
/// start, as a client that waits for a verdict before uploading does.
async fn oversized_upload(server: &HttpServer, session: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(server.authority())
        .await
        .expect("connect");
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Accept: {ACCEPT_BOTH}\r\nMcp-Session-Id: {session}\r\nContent-Length: {}\r\n\r\n{{",
        server.authority(),
        5 << 20
    );
    socket.write_all(head.as_bytes()).await.expect("write");
    let mut response = [0u8; 12];
    bounded("the status line", socket.read_exact(&mut response))
        .await
        .expect("a status line");
    let line = String::from_utf8_lossy(&response);
    line[9..12].parse().unwrap_or_else(|_| panic!("{line}"))
}

#[tokio::test]
async fn a_deleted_session_is_gone() {
    let server = HttpServer::start(&[]).await;
    let raw = Raw::new(&server);
    let session = raw.initialize().await;
    server.wait_sessions("opened", 1).await;
    let delete = raw.http.delete(&raw.url).header("mcp-session-id", &session);
    // 200, not rmcp's 202: the Python SDK (and so fastmcp) takes only 200,
    // 204 or 405 as a session ended, and warns at every close otherwise.
    assert_eq!(answer(delete).await.0, 200);
    server.wait_sessions("closed", 0).await;
    let ping = json!({ "jsonrpc": "2.0", "id": 2, "method": "ping" }).to_string();
    let late = raw.post(Some(&session), ping).header("accept", ACCEPT_BOTH);
    assert_eq!(answer(late).await.0, 404);
}

#[tokio::test]
async fn sigterm_with_live_sessions_exits_0_and_removes_the_pidfile() {
    let mut server = HttpServer::start(&[]).await;
    let clients: Vec<HttpClient> = join_all((0..5).map(|_| server.connect())).await;
    server.wait_sessions("opened", 5).await;
    assert_eq!(clients[0].tool_names().await, ["echo"]);

    let asked = Instant::now();
    server.process.signal(libc::SIGTERM);
    let status = server.process.wait_exit().await;
    eprintln!(
        "SIGTERM with 5 live sessions: exited after {:?}",
        asked.elapsed()
    );
    assert_eq!(status.code(), Some(0), "{}", server.process.stderr());
    assert!(!server.process.pidfile_exists(), "the pidfile is removed");
    drop(clients);
}

#[tokio::test]
async fn stdin_eof_does_not_stop_an_http_server_but_sigint_does() {
    let mut server = HttpServer::start(&[]).await;
    // Close the server's stdin, as a supervisor that started it detached does.
    drop(server.process.take_stdio());
    // Still serving: a new client connects and is told about a change.
    let mut client = server.connect().await;
    server.process.sighup();
    assert_eq!(client.wait_changes(1).await, 1);
    assert!(server.process.is_running());

    server.process.signal(libc::SIGINT);
    let status = server.process.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{}", server.process.stderr());
    assert!(!server.process.pidfile_exists());
}

#[tokio::test]
async fn a_port_in_use_is_a_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("server.pid");
    let output = bounded(
        "the server to refuse",
        tokio::process::Command::new(common::BIN)
            .args(["--http", &addr, "--pidfile"])
            .arg(&pidfile)
            .output(),
    )
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("--http {addr}: cannot listen there")),
        "{stderr}"
    );
    assert!(!pidfile.exists());
}
