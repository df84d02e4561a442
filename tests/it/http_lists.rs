//! `tools/list` over HTTP is written from the catalog's bytes
//! (`src/http/answer.rs`): rmcp serializes the answer without its tools and
//! the page's bytes go between the brackets. Every answer must be exactly
//! the bytes rmcp would write for it: whole and paged, after revisions,
//! additions and removals, on a 2025-11-25 session and on 2026-07-28
//! requests, in a 2025-03-26 batch, and on a resumed stream.

use rmcp::model::ServerJsonRpcMessage;
use serde_json::{Value, json};

use crate::common::{Controlled, RawClient, bounded, listed_tool_names as tool_names};
use crate::http_support::ACCEPT_BOTH;

/// The bytes rmcp writes for the message `json` holds: an answer written
/// any other way (a missing comma, a tool twice) comes out different.
fn rmcp_bytes(json: &str) -> String {
    let message: ServerJsonRpcMessage = serde_json::from_str(json)
        .unwrap_or_else(|error| panic!("not a message rmcp reads ({error}): {json}"));
    serde_json::to_string(&message).unwrap()
}

/// A server over HTTP with the control endpoint, and a raw client for it.
struct Lists {
    server: Controlled,
    http: reqwest::Client,
}

/// What a POST got: its status, content type and body, as sent.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    /// The JSON-RPC messages of an SSE body, as sent (`data:` lines).
    fn messages(&self) -> Vec<&str> {
        assert!(self.content_type.starts_with("text/event-stream"));
        self.body
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            // A priming event has no message.
            .filter(|data| !data.is_empty())
            .collect()
    }

    /// The one answer of an SSE body, checked against rmcp's bytes.
    fn exact(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        let messages = self.messages();
        let [answer] = messages[..] else {
            panic!("one message: {}", self.body)
        };
        assert_eq!(answer, rmcp_bytes(answer), "rmcp's bytes");
        serde_json::from_str(answer).unwrap()
    }
}

impl Lists {
    async fn start(args: &[&str]) -> Self {
        let mut all = vec!["--http", "127.0.0.1:0", "--trigger-tools"];
        all.extend_from_slice(args);
        Self {
            server: Controlled::start(&all).await,
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, session: Option<&str>, version: &str, body: Value) -> Answer {
        let mut request = self
            .http
            .post(self.server.mcp_url())
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .header("mcp-protocol-version", version);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        if let Some(method) = body["method"].as_str() {
            request = request.header("mcp-method", method);
        }
        let response = bounded("a POST", request.body(body.to_string()).send())
            .await
            .expect("POST");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let session_id = response.headers().get("mcp-session-id").cloned();
        let body = bounded("the body", response.text()).await.expect("a body");
        let mut answer = Answer {
            status,
            content_type,
            body,
        };
        if let Some(id) = session_id {
            // `initialize`: the session id is what the caller needs.
            answer.body = id.to_str().unwrap().to_owned();
        }
        answer
    }

    /// A session on `version`, initialized.
    async fn session(&self, version: &str) -> String {
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": { "name": "http-lists-test", "version": "0" },
            },
        });
        let session = self.post(None, version, initialize).await.body;
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let accepted = self.post(Some(&session), version, initialized).await;
        assert_eq!(accepted.status, 202);
        session
    }

    /// Every page of the list, asked on `session` (2025-11-25) or with no
    /// session (2026-07-28), each answer checked; the tools' names.
    async fn list(&self, session: Option<&str>, first_id: u64) -> Vec<String> {
        let (mut names, mut cursor, mut id) = (Vec::new(), None::<String>, first_id);
        loop {
            let mut params = match &cursor {
                Some(cursor) => json!({ "cursor": cursor }),
                None => json!({}),
            };
            let version = match session {
                Some(_) => "2025-11-25",
                None => {
                    params["_meta"] = RawClient::meta_2026();
                    "2026-07-28"
                }
            };
            let request =
                json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params });
            let answer = self.post(session, version, request).await.exact();
            assert_eq!(answer["id"], id);
            names.extend(tool_names(&answer));
            cursor = answer["result"]["nextCursor"].as_str().map(str::to_owned);
            id += 1;
            if cursor.is_none() {
                return names;
            }
        }
    }
}

/// Whole and in pages, through changes of every kind to the tools: each
/// answer on a session and without one is rmcp's bytes, and lists the
/// catalog as it is.
async fn answers_are_rmcps_bytes(page_size: Option<&str>) {
    let mut args = vec!["--tools", "12"];
    args.extend(page_size.iter().flat_map(|size| ["--page-size", size]));
    let lists = Lists::start(&args).await;
    let session = lists.session("2025-11-25").await;
    let changes = [
        json!({ "change": "change_tool", "name": "echo5" }),
        json!({ "change": "change_tool", "name": "echo5" }),
        json!({ "change": "add_tool", "count": 3 }),
        json!({ "change": "remove_tool", "name": "echo7" }),
        json!({ "change": "change_tool", "name": "echo" }),
    ];
    let mut id = 1;
    for change in std::iter::once(None).chain(changes.into_iter().map(Some)) {
        if let Some(change) = change {
            let (status, answer) = lists.server.change(change).await;
            assert_eq!(status, 200, "{answer}");
        }
        let on_session = lists.list(Some(&session), id).await;
        let stateless = lists.list(None, id).await;
        id += 100;
        assert_eq!(on_session, stateless);
        let state = lists.server.state().await;
        let catalog: Vec<&str> = state["tools"]["items"]
            .as_array()
            .unwrap_or_else(|| panic!("the catalog's tools: {state}"))
            .iter()
            .map(|tool| tool["name"].as_str().unwrap())
            .collect();
        assert_eq!(on_session[..catalog.len()], catalog[..], "{state}");
        assert_eq!(on_session.len(), catalog.len() + 5, "and the fixture tools");
    }
}

#[tokio::test]
async fn a_whole_tools_list_over_http_is_rmcps_bytes() {
    answers_are_rmcps_bytes(None).await;
}

#[tokio::test]
async fn a_paged_tools_list_over_http_is_rmcps_bytes() {
    answers_are_rmcps_bytes(Some("5")).await;
}

/// A 2025-03-26 batch gets the same answers as the requests alone.
#[tokio::test]
async fn tools_list_answers_in_a_batch_are_the_answers_alone() {
    let lists = Lists::start(&["--tools", "12", "--page-size", "7"]).await;
    let (status, _) = lists
        .server
        .change(json!({ "change": "change_tool", "name": "echo" }))
        .await;
    assert_eq!(status, 200);
    let session = lists.session("2025-03-26").await;
    let list = |id: Value, cursor: Option<&str>| match cursor {
        Some(cursor) => {
            json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list", "params": { "cursor": cursor } })
        }
        None => json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list" }),
    };
    let alone = lists
        .post(Some(&session), "2025-03-26", list(json!(1), None))
        .await
        .exact();
    let cursor = alone["result"]["nextCursor"].as_str().unwrap().to_owned();
    let second = lists
        .post(
            Some(&session),
            "2025-03-26",
            list(json!("b"), Some(&cursor)),
        )
        .await
        .exact();
    let batch = json!([list(json!(1), None), { "jsonrpc": "2.0", "id": 2, "method": "ping" }, list(json!("b"), Some(&cursor))]);
    let answered = lists.post(Some(&session), "2025-03-26", batch).await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    assert!(answered.content_type.starts_with("application/json"));
    let answers: Vec<Value> = serde_json::from_str(&answered.body).unwrap();
    assert_eq!(answers[0], alone);
    assert_eq!(answers[2], second);
    assert_eq!(
        tool_names(&answers[0]).len() + tool_names(&answers[2]).len(),
        14
    );
}

/// An answer that comes after its POST's stream was resumed (`Last-Event-ID`)
/// goes on the resumed stream, as rmcp's bytes.
#[tokio::test]
async fn a_tools_list_answer_on_a_resumed_stream_is_rmcps_bytes() {
    // Long enough for the resume to come first on any machine: the answer
    // is what the test waits for.
    let lists = Lists::start(&["--tools", "9", "--list-delay-ms", "3000"]).await;
    let session = lists.session("2025-11-25").await;
    let request = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/list" });
    let response = lists
        .http
        .post(lists.server.mcp_url())
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .header("mcp-session-id", &session)
        .body(request.to_string())
        .send();
    let mut response = bounded("the POST", response).await.expect("POST");
    // The priming event names the stream.
    let mut primed = String::new();
    while !primed.ends_with("\n\n") {
        let chunk = bounded("the priming event", response.chunk())
            .await
            .unwrap();
        primed.push_str(std::str::from_utf8(&chunk.expect("a priming event")).unwrap());
    }
    let last_event_id = primed
        .lines()
        .find_map(|line| line.strip_prefix("id: "))
        .unwrap_or_else(|| panic!("an event id: {primed}"))
        .to_owned();
    drop(response);
    let resumed = lists
        .http
        .get(lists.server.mcp_url())
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("last-event-id", &last_event_id)
        .send();
    let resumed = bounded("the resumed stream", resumed).await.expect("GET");
    assert_eq!(resumed.status(), 200);
    let body = bounded("the answer", resumed.text()).await.unwrap();
    let answer = Answer {
        status: 200,
        content_type: "text/event-stream".into(),
        body,
    };
    let messages = answer.messages();
    let [sent] = messages[..] else {
        panic!("the answer on the resumed stream: {}", answer.body)
    };
    assert_eq!(sent, rmcp_bytes(sent));
    let sent: Value = serde_json::from_str(sent).unwrap();
    assert_eq!(sent["id"], 7);
    assert_eq!(tool_names(&sent).len(), 9 + 5);
}
