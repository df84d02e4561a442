//! Support for the HTTP tests: start the real binary with `--http` on a free
//! port, connect rmcp's Streamable HTTP client to it (counting
//! `notifications/tools/list_changed` and recording `notifications/message`),
//! or speak raw HTTP where the wire itself is under test.

#![allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it

use futures::StreamExt;
use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, LoggingMessageNotificationParam,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::common::{ServerProcess, bounded, tool_names};

pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// A server serving HTTP on a free loopback port, and its `/mcp` URL.
pub struct HttpServer {
    pub process: ServerProcess,
    pub url: String,
}

impl HttpServer {
    /// Start with `--http 127.0.0.1:0` and `args`. The pidfile is written
    /// after the socket is bound and its address logged.
    pub async fn start(args: &[&str]) -> Self {
        let mut all = vec!["--http", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let process = ServerProcess::start(&all).await;
        let log = process.stderr();
        let url = log
            .split_whitespace()
            .find_map(|word| word.strip_prefix("url="))
            .unwrap_or_else(|| panic!("no url= in the server's log: {log}"))
            .to_owned();
        Self { process, url }
    }

    /// `host:port` of the server.
    pub fn authority(&self) -> &str {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
    }

    pub fn port(&self) -> u16 {
        self.authority()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Connect rmcp's client, which initializes, sends `initialized` and
    /// opens its SSE stream for notifications.
    pub async fn connect(&self) -> HttpClient {
        HttpClient::connect(&self.url).await
    }

    /// Wait until the server's log says `sessions` sessions are open after a
    /// session `event` ("opened" or "closed").
    pub async fn wait_sessions(&self, event: &str, sessions: usize) {
        self.process
            .wait_stderr(&format!("session {event} sessions={sessions}\n"), 1)
            .await;
    }

    /// How many times the server logged a session `event`.
    pub fn session_events(&self, event: &str) -> usize {
        self.process
            .stderr()
            .matches(&format!("session {event} sessions="))
            .count()
    }
}

/// Counts list changes and records log messages, as client test suites do.
pub struct Recorder {
    changes: watch::Sender<usize>,
    logs: watch::Sender<Vec<Value>>,
}

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("http-test-client", "0"),
        )
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changes.send_modify(|count| *count += 1);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let line = serde_json::to_value(&params).expect("a log line serializes");
        self.logs.send_modify(|logs| logs.push(line));
    }
}

/// rmcp's Streamable HTTP client connected to the server.
pub struct HttpClient {
    pub service: RunningService<RoleClient, Recorder>,
    changes: watch::Receiver<usize>,
    logs: watch::Receiver<Vec<Value>>,
}

impl HttpClient {
    /// Connect rmcp's client to the MCP endpoint at `url`: it initializes,
    /// sends `initialized` and opens its SSE stream for notifications.
    pub async fn connect(url: &str) -> Self {
        let (changes_tx, changes) = watch::channel(0);
        let (logs_tx, logs) = watch::channel(Vec::new());
        let handler = Recorder {
            changes: changes_tx,
            logs: logs_tx,
        };
        let transport = StreamableHttpClientTransport::from_uri(url);
        let service = bounded("initialize over HTTP", handler.serve(transport))
            .await
            .expect("the client initializes");
        Self {
            service,
            changes,
            logs,
        }
    }

    /// How many changes have been notified so far.
    pub fn changes(&self) -> usize {
        *self.changes.borrow()
    }

    /// Wait until at least `n` changes have been notified; returns the count.
    pub async fn wait_changes(&mut self, n: usize) -> usize {
        let count = bounded(
            &format!("{n} list_changed notifications"),
            self.changes.wait_for(|&c| c >= n),
        )
        .await
        .expect("the client is running");
        *count
    }

    /// The `data` of every `notifications/message` received so far.
    pub fn logs(&self) -> Vec<Value> {
        self.logs
            .borrow()
            .iter()
            .map(|line| line["data"].clone())
            .collect()
    }

    /// Wait until at least `n` log messages have arrived; returns them all.
    pub async fn wait_logs(&mut self, n: usize) -> Vec<Value> {
        bounded(
            &format!("{n} log messages"),
            self.logs.wait_for(|logs| logs.len() >= n),
        )
        .await
        .expect("the client is running");
        self.logs()
    }

    pub async fn set_log_level(&self, level: &str) {
        let params = serde_json::from_value(json!({ "level": level })).expect("a log level");
        bounded("logging/setLevel", self.service.set_level(params))
            .await
            .expect("logging/setLevel succeeds");
    }

    pub async fn tool_names(&self) -> Vec<String> {
        tool_names(&self.service).await
    }

    /// Close the session as a well-behaved client does: DELETE, then hang up.
    pub async fn close(self) {
        let _ = bounded("the client to close", self.service.cancel()).await;
    }
}

/// A raw HTTP client for what rmcp's client would never send.
pub struct Raw {
    pub http: reqwest::Client,
    pub url: String,
}

impl Raw {
    pub fn new(server: &HttpServer) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: server.url.clone(),
        }
    }

    /// A POST as MCP clients send it: JSON, accepting JSON and SSE.
    pub fn post(
        &self,
        session: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::RequestBuilder {
        let request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .body(body);
        match session {
            Some(id) => request.header("mcp-session-id", id),
            None => request,
        }
    }

    /// `initialize` without the `initialized` that completes it; returns the
    /// session id.
    pub async fn initialize(&self) -> String {
        let body = json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": { "name": "raw-http-test-client", "version": "0" },
            },
        });
        let response = bounded("initialize", self.post(None, body.to_string()).send())
            .await
            .expect("initialize is answered");
        assert_eq!(response.status(), 200);
        let session = response
            .headers()
            .get("mcp-session-id")
            .expect("a session id")
            .to_str()
            .unwrap()
            .to_owned();
        let mut events = SseReader::new(response);
        let answer = events.next_message().await.expect("the initialize result");
        assert_eq!(answer["id"], 1, "{answer}");
        assert!(answer["result"]["capabilities"]["tools"].is_object());
        session
    }

    pub async fn initialized(&self, session: &str) {
        let body = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let response = bounded(
            "initialized",
            self.post(Some(session), body.to_string()).send(),
        )
        .await
        .expect("initialized is accepted");
        assert_eq!(response.status(), 202);
    }

    /// Open the session's SSE stream for server-initiated messages.
    pub async fn listen(&self, session: &str) -> SseReader {
        let response = bounded(
            "the SSE stream",
            self.http
                .get(&self.url)
                .header("accept", "text/event-stream")
                .header("mcp-session-id", session)
                .send(),
        )
        .await
        .expect("GET is answered");
        assert_eq!(response.status(), 200);
        SseReader::new(response)
    }
}

/// Reads the JSON-RPC messages of an SSE response, skipping priming events.
pub struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next message, or `None` when the stream ends.
    pub async fn next_message(&mut self) -> Option<Value> {
        bounded("an SSE event", async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let event: String = self.buffer.drain(..end + 2).collect();
                    let data: String = event
                        .lines()
                        .filter_map(|line| line.strip_prefix("data:"))
                        .map(str::trim_start)
                        .collect();
                    if !data.is_empty() {
                        return Some(serde_json::from_str(&data).expect("SSE data is JSON"));
                    }
                    continue;
                }
                match self.body.next().await {
                    Some(Ok(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await
    }

    /// The next message if one arrives within `quiet`.
    pub async fn next_message_within(&mut self, quiet: std::time::Duration) -> Option<Value> {
        tokio::time::timeout(quiet, self.next_message())
            .await
            .ok()
            .flatten()
    }

    /// The next message, which must be a notification.
    pub async fn next_notification(&mut self) -> Value {
        let message = self.next_message().await.expect("the stream is open");
        assert!(
            message.get("method").is_some(),
            "not a notification: {message}"
        );
        message
    }
}
