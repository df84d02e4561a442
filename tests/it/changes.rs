//! Every kind of list change, on demand: SIGUSR1 and SIGUSR2, the control
//! endpoint, prompts and resources, the ready file and the trigger tools,
//! against the real binary with rmcp's client and real signals.

#![allow(deprecated)] // rmcp marks resources/subscribe legacy-only; handshake revisions still have it

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Controlled, ServerProcess, bounded, expected_names, text_json};
use rmcp::model::{
    CallToolRequestParams, GetPromptRequestParams, ProtocolVersion, ReadResourceRequestParams,
    ResourceUpdatedNotificationParam, ServerNotification, SubscribeRequestParams,
    SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::watch;

/// How long a test waits for a notification that must not come.
const QUIET: Duration = Duration::from_millis(300);

/// What a client has been told, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Told {
    tools: usize,
    prompts: usize,
    resources: usize,
    updated: Vec<String>,
}

/// Counts every kind of notification this server sends.
struct Counter(watch::Sender<Told>);

impl ClientHandler for Counter {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.0.send_modify(|t| t.tools += 1);
    }
    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.0.send_modify(|t| t.prompts += 1);
    }
    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.0.send_modify(|t| t.resources += 1);
    }
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.0.send_modify(|t| t.updated.push(params.uri));
    }
}

struct Client {
    service: RunningService<RoleClient, Counter>,
    told: watch::Receiver<Told>,
}

impl Client {
    async fn new<T, E, A>(transport: T) -> Self
    where
        T: rmcp::transport::IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let (tx, told) = watch::channel(Told::default());
        let service = bounded("initialize", Counter(tx).serve(transport))
            .await
            .expect("the client initializes");
        Self { service, told }
    }

    /// Wait until the client has been told `expected`, then make sure nothing
    /// more arrives: exactly that, no more.
    async fn told_exactly(&mut self, expected: Told) {
        let what = format!("notifications {expected:?}");
        bounded(&what, self.told.wait_for(|t| *t == expected))
            .await
            .expect("the client runs");
        // A round trip, then a quiet moment: anything extra would show.
        self.service.list_all_tools().await.expect("tools/list");
        let extra = tokio::time::timeout(QUIET, self.told.wait_for(|t| *t != expected))
            .await
            .is_ok();
        assert!(!extra, "more than {expected:?}: {:?}", *self.told.borrow());
    }

    async fn tool_names(&self) -> Vec<String> {
        common::tool_names(&self.service).await
    }

    async fn prompt_names(&self) -> Vec<String> {
        let prompts = bounded("prompts/list", self.service.list_all_prompts()).await;
        prompts
            .expect("prompts/list")
            .into_iter()
            .map(|p| p.name)
            .collect()
    }

    async fn resource_uris(&self) -> Vec<String> {
        let resources = bounded("resources/list", self.service.list_all_resources()).await;
        resources
            .expect("resources/list")
            .into_iter()
            .map(|r| r.uri.clone())
            .collect()
    }

    async fn call(&self, name: &str, arguments: Value) -> Result<Value, ServiceError> {
        let mut params = CallToolRequestParams::new(name.to_owned());
        if let Value::Object(map) = arguments {
            params = params.with_arguments(map);
        }
        let result = bounded("tools/call", self.service.call_tool(params)).await?;
        let text = text_json(&result);
        Ok(if result.is_error == Some(true) {
            json!({ "tool_error": text["error"] })
        } else {
            text
        })
    }

    async fn close(self) {
        let _ = bounded("the client to close", self.service.cancel()).await;
    }
}

impl Controlled {
    /// The catalog part of the state, without the sessions.
    async fn catalog(&self) -> Value {
        let mut state = self.state().await;
        state.as_object_mut().unwrap().remove("sessions");
        state
    }
}

fn names(answer: &Value, list: &str) -> Vec<String> {
    answer[list]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {answer}"))
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect()
}

fn told(tools: usize, prompts: usize, resources: usize, updated: &[&str]) -> Told {
    Told {
        tools,
        prompts,
        resources,
        updated: updated.iter().map(|u| u.to_string()).collect(),
    }
}

#[tokio::test]
async fn sigusr1_after_two_sighups_removes_echo4_and_its_number_is_not_reused() {
    let mut server = ServerProcess::start(&["--tools", "2"]).await;
    let mut client = Client::new(server.take_stdio()).await;
    for n in 1..=2 {
        server.sighup();
        client.told_exactly(told(n, 0, 0, &[])).await;
    }
    assert_eq!(client.tool_names().await, expected_names(4));

    server.signal(libc::SIGUSR1);
    client.told_exactly(told(3, 0, 0, &[])).await;
    assert_eq!(client.tool_names().await, expected_names(3));
    // A call to the removed tool: -32602 naming it (the MCP tools spec's
    // error for an unknown tool).
    match client.call("echo4", json!({ "message": "hi" })).await {
        Err(ServiceError::McpError(error)) => {
            assert_eq!(error.code.0, -32602);
            assert!(error.message.contains("echo4"), "{}", error.message);
        }
        other => panic!("expected -32602, got {other:?}"),
    }

    server.sighup();
    client.told_exactly(told(4, 0, 0, &[])).await;
    assert_eq!(
        client.tool_names().await,
        ["echo", "calculator", "counter", "echo5"]
    );
    assert_eq!(
        client.call("counter", json!({})).await.unwrap(),
        json!({ "count": 4 })
    );
    client.close().await;
}

#[tokio::test]
async fn sigusr1_never_removes_the_last_tool() {
    let mut server = ServerProcess::start(&[]).await;
    let mut client = Client::new(server.take_stdio()).await;
    server.signal(libc::SIGUSR1);
    server.wait_stderr("change refused", 1).await;
    client.told_exactly(told(0, 0, 0, &[])).await;
    assert_eq!(client.tool_names().await, ["echo"]);
    assert!(server.is_running());
    client.close().await;
}

#[tokio::test]
async fn sigusr2_changes_the_newest_tool_under_the_same_name() {
    let mut server = ServerProcess::start(&["--tools", "4"]).await;
    let mut client = Client::new(server.take_stdio()).await;
    let before = bounded("tools/list", client.service.list_all_tools())
        .await
        .unwrap();

    server.signal(libc::SIGUSR2);
    client.told_exactly(told(1, 0, 0, &[])).await;
    let after = bounded("tools/list", client.service.list_all_tools())
        .await
        .unwrap();
    let names = |tools: &[rmcp::model::Tool]| -> Vec<String> {
        tools.iter().map(|t| t.name.to_string()).collect()
    };
    assert_eq!(names(&after), names(&before));
    let (old, new) = (&before[3], &after[3]);
    assert_eq!(new.name, "echo4");
    assert_ne!(new.description, old.description);
    assert!(
        new.description
            .as_deref()
            .unwrap()
            .ends_with("(revision 2)")
    );
    assert_eq!(new.input_schema["required"], json!(["message", "revision"]));

    // A call with the schema cached before the change: a tool error naming
    // `revision`, so a test can see that the client did not refresh.
    let stale = client
        .call("echo4", json!({ "message": "hi" }))
        .await
        .unwrap();
    let error = stale["tool_error"].as_str().expect("a tool error");
    assert!(error.contains("revision"), "{error}");
    let fresh = client
        .call("echo4", json!({ "message": "hi", "revision": 2 }))
        .await
        .unwrap();
    assert_eq!(fresh, json!({ "echo_message": "hi", "tool_number": 4 }));
    let wrong = client
        .call("echo4", json!({ "message": "hi", "revision": 1 }))
        .await
        .unwrap();
    assert!(wrong["tool_error"].as_str().unwrap().contains("revision 2"));
    client.close().await;
}

#[tokio::test]
async fn each_control_change_notifies_exactly_once_on_stdio() {
    let mut server =
        Controlled::start(&["--tools", "3", "--prompts", "2", "--resources", "2"]).await;
    let mut client = Client::new(server.process.take_stdio()).await;
    let uri1 = "dynamic://resources/1";
    bounded(
        "resources/subscribe",
        client.service.subscribe(SubscribeRequestParams::new(uri1)),
    )
    .await
    .expect("subscribed");

    let steps = [
        (json!({ "change": "add_tool" }), told(1, 0, 0, &[])),
        (
            json!({ "change": "change_tool", "name": "echo4" }),
            told(2, 0, 0, &[]),
        ),
        (json!({ "change": "remove_tool" }), told(3, 0, 0, &[])),
        (json!({ "change": "add_prompt" }), told(3, 1, 0, &[])),
        (
            json!({ "change": "change_prompt", "name": "prompt1" }),
            told(3, 2, 0, &[]),
        ),
        (
            json!({ "change": "remove_prompt", "name": "prompt2" }),
            told(3, 3, 0, &[]),
        ),
        (json!({ "change": "add_resource" }), told(3, 3, 1, &[])),
        // Resource 2 has no subscriber here: nothing at all.
        (
            json!({ "change": "update_resource", "uri": "dynamic://resources/2" }),
            told(3, 3, 1, &[]),
        ),
        (
            json!({ "change": "update_resource", "uri": uri1 }),
            told(3, 3, 1, &[uri1]),
        ),
        (
            json!({ "change": "remove_resource", "uri": "dynamic://resources/3" }),
            told(3, 3, 2, &[uri1]),
        ),
        // The prompts and resources differ from the start; the tools do not.
        (json!({ "change": "reset" }), told(3, 4, 3, &[uri1])),
    ];
    for (change, expected) in steps {
        let (status, answer) = server.change(change.clone()).await;
        assert_eq!(status, 200, "{change}: {answer}");
        assert_eq!(answer["applied"], 1);
        client.told_exactly(expected).await;
    }
    assert_eq!(client.tool_names().await, expected_names(3));
    assert_eq!(client.prompt_names().await, ["prompt1", "prompt2"]);
    assert_eq!(
        client.resource_uris().await,
        [uri1, "dynamic://resources/2"]
    );

    let state = server.state().await;
    let session = &state["sessions"][0];
    assert_eq!(session["initialized"], true);
    assert_eq!(session["client"]["name"], "rmcp");
    assert_eq!(session["notifications"]["tools"], 3);
    assert_eq!(session["notifications"]["resources_updated"], 1);
    client.close().await;
    server.process.stops_cleanly().await;
}

#[tokio::test]
async fn a_counted_change_adds_exactly_that_many_tools() {
    let mut server = Controlled::start(&["--tools", "3"]).await;
    let mut client = Client::new(server.process.take_stdio()).await;
    let (status, answer) = server
        .change(json!({ "change": "add_tool", "count": 1000 }))
        .await;
    assert_eq!((status, answer["applied"].clone()), (200, json!(1000)));
    assert_eq!(names(&answer, "tools").len(), 1003);
    assert_eq!(answer["tools"]["version"], 1001);

    // Folded while being written, but the last notification comes after the
    // last change: re-listing on each one ends with every tool.
    let mut seen = 0;
    let listed = bounded("a notification after the last change", async {
        loop {
            let told = client
                .told
                .wait_for(|t| t.tools > seen)
                .await
                .unwrap()
                .tools;
            seen = told;
            let listed = client.tool_names().await;
            if listed.len() == 1003 {
                return listed;
            }
        }
    })
    .await;
    assert_eq!(listed, expected_names(1003));
    assert!((1..=1000).contains(&seen), "{seen} notifications");
    client.close().await;
}

#[tokio::test]
async fn each_control_change_reaches_every_http_session_once() {
    let server = Controlled::start(&[
        "--http",
        "127.0.0.1:0",
        "--prompts",
        "1",
        "--resources",
        "1",
    ])
    .await;
    let url = server.ready["mcp_url"]
        .as_str()
        .expect("an mcp_url")
        .to_owned();
    assert!(url.ends_with("/mcp"), "{url}");
    let mut clients = Vec::new();
    for _ in 0..3 {
        let transport = StreamableHttpClientTransport::from_uri(url.as_str());
        clients.push(Client::new(transport).await);
    }
    for (change, expected) in [
        (json!({ "change": "add_tool" }), told(1, 0, 0, &[])),
        (json!({ "change": "add_prompt" }), told(1, 1, 0, &[])),
        (json!({ "change": "remove_resource" }), told(1, 1, 1, &[])),
        (
            json!({ "change": "change_tool", "name": "echo" }),
            told(2, 1, 1, &[]),
        ),
    ] {
        let (status, answer) = server.change(change.clone()).await;
        assert_eq!(status, 200, "{change}: {answer}");
        for client in &mut clients {
            client.told_exactly(expected.clone()).await;
        }
    }
    let state = server.state().await;
    assert_eq!(state["sessions"].as_array().unwrap().len(), 3);
    for client in clients {
        client.close().await;
    }
}

#[tokio::test]
async fn prompts_and_resources_are_served() {
    let mut server = ServerProcess::start(&["--prompts", "2", "--resources", "2"]).await;
    let client = Client::new(server.take_stdio()).await;
    let info = client.service.peer_info().expect("initialized");
    let capabilities = serde_json::to_value(&info.capabilities).unwrap();
    assert_eq!(capabilities["prompts"], json!({ "listChanged": true }));
    assert_eq!(
        capabilities["resources"],
        json!({ "listChanged": true, "subscribe": true })
    );
    assert_eq!(client.prompt_names().await, ["prompt1", "prompt2"]);

    let mut get = GetPromptRequestParams::new("prompt2");
    get.arguments = json!({ "topic": "caching" }).as_object().cloned();
    let prompt = bounded("prompts/get", client.service.get_prompt(get))
        .await
        .unwrap();
    let message = serde_json::to_value(&prompt.messages).unwrap();
    assert_eq!(message[0]["role"], "user");
    assert_eq!(
        message[0]["content"]["text"],
        "This is prompt 2 (revision 1), about caching."
    );
    let unknown = client
        .service
        .get_prompt(GetPromptRequestParams::new("prompt9"))
        .await;
    assert!(matches!(unknown, Err(ServiceError::McpError(e)) if e.code.0 == -32602));

    let read = bounded(
        "resources/read",
        client
            .service
            .read_resource(ReadResourceRequestParams::new("dynamic://resources/2")),
    )
    .await
    .unwrap();
    let contents = serde_json::to_value(&read.contents).unwrap();
    assert_eq!(contents[0]["text"], "Resource 2, revision 1.");
    assert_eq!(contents[0]["mimeType"], "text/plain");
    // An unknown resource: -32002, the spec's resource-not-found before 2026-07-28.
    let missing = client
        .service
        .read_resource(ReadResourceRequestParams::new("dynamic://resources/9"))
        .await;
    assert!(matches!(missing, Err(ServiceError::McpError(e)) if e.code.0 == -32002));
    client.close().await;
}

#[tokio::test]
async fn a_default_server_offers_no_prompts_or_resources() {
    let mut server = ServerProcess::start(&[]).await;
    let client = Client::new(server.take_stdio()).await;
    let capabilities =
        serde_json::to_value(&client.service.peer_info().unwrap().capabilities).unwrap();
    assert_eq!(
        capabilities,
        json!({ "logging": {}, "tools": { "listChanged": true } })
    );
    let prompts = client.service.list_prompts(None).await;
    assert!(matches!(prompts, Err(ServiceError::McpError(e)) if e.code.0 == -32601));
    client.close().await;
}

#[tokio::test]
async fn a_listen_stream_gets_the_lists_and_resources_it_asked_for() {
    let mut control = Controlled::start(&["--prompts", "1", "--resources", "2"]).await;
    let (tx, _told) = watch::channel(Told::default());
    let lifecycle = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let service = bounded(
        "server/discover",
        Counter(tx).serve_with_lifecycle(control.process.take_stdio(), lifecycle),
    )
    .await
    .expect("discovered");
    let filter = SubscriptionFilter::builder()
        .prompts_list_changed()
        .resource_subscriptions(["dynamic://resources/1"])
        .build();
    let mut stream = bounded("subscriptions/listen", service.listen(filter))
        .await
        .expect("a stream");

    // Not asked for: tool changes and resource 2's updates.
    for change in [
        json!({ "change": "add_tool" }),
        json!({ "change": "update_resource", "uri": "dynamic://resources/2" }),
        json!({ "change": "add_prompt" }),
        json!({ "change": "update_resource", "uri": "dynamic://resources/1" }),
    ] {
        assert_eq!(control.change(change).await.0, 200);
    }
    let mut got = Vec::new();
    for _ in 0..2 {
        let next = bounded("a notification on the stream", stream.next())
            .await
            .expect("well formed")
            .expect("open");
        got.push(match next {
            ServerNotification::PromptListChangedNotification(_) => "prompts".to_owned(),
            ServerNotification::ResourceUpdatedNotification(n) => n.params.uri,
            other => panic!("not asked for: {other:?}"),
        });
    }
    assert_eq!(got, ["prompts", "dynamic://resources/1"]);
    let extra = tokio::time::timeout(QUIET, stream.next()).await;
    assert!(extra.is_err(), "nothing else: {extra:?}");
    // No handshake, yet the state knows the client from the stream's `_meta`.
    let session = &control.state().await["sessions"][0];
    assert_eq!(session["protocol"], "2026-07-28", "{session}");
    assert_eq!(session["client"]["name"], "rmcp", "{session}");
    assert_eq!(session["listen_streams"], 1, "{session}");
    assert_eq!(session["notifications"]["prompts"], 1, "{session}");
    let _ = service.cancel().await;
}

#[tokio::test]
async fn bad_control_requests_are_refused_and_change_nothing() {
    let mut server = Controlled::start(&["--tools", "2"]).await;
    let client = Client::new(server.process.take_stdio()).await;
    let before = server.catalog().await;
    let cases: [(&str, u16, &str); 9] = [
        ("{not json", 400, "bad change request"),
        (r#"{"change":"grow"}"#, 400, "unknown variant"),
        (
            r#"{"change":"add_tool","colour":"red"}"#,
            400,
            "unknown field",
        ),
        (r#"{"change":"add_tool","count":0}"#, 400, "count"),
        (r#"{"change":"remove_tool","name":"echo7"}"#, 404, "echo7"),
        (
            r#"{"change":"update_resource","uri":"dynamic://resources/1"}"#,
            409,
            "--resources",
        ),
        (r#"{"change":"add_prompt"}"#, 409, "--prompts"),
        (r#"{"change":"reset"}"#, 409, "nothing to change"),
        (
            r#"{"change":"remove_tool","count":3}"#,
            409,
            "nothing to change",
        ),
    ];
    for (body, status, says) in cases {
        let (got, answer) = server.post(body.to_owned()).await;
        assert_eq!(got, status, "{body}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(error.contains(says), "{body}: {error}");
    }

    // DNS-rebinding protection, as on /mcp: a foreign Origin or Host is 403.
    let foreign = server
        .http
        .post(format!("{}/changes", server.control))
        .header("Origin", "http://evil.example")
        .body(r#"{"change":"add_tool"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let port = server.control.rsplit(':').next().unwrap();
    let rebound = server
        .http
        .get(format!("{}/state", server.control))
        .header("Host", format!("evil.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    let wrong_method = server
        .http
        .get(format!("{}/changes", server.control))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let unknown_path = server
        .http
        .get(format!("{}/nope", server.control))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_path.status(), 404);

    assert_eq!(server.catalog().await, before);
    assert_eq!(client.tool_names().await, expected_names(2));
    let (status, _) = server.change(json!({ "change": "add_tool" })).await;
    assert_eq!(status, 200, "the endpoint still serves");
    client.close().await;
}

/// Issue 24 finding 9: a change request is a JSON object with known fields;
/// any other JSON value, an array above all (serde would fill the request's
/// fields from it in order), is 400 and changes nothing.
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_not_a_change() {
    let server = Controlled::start(&[]).await;
    let before = server.catalog().await;
    for body in [
        r#"["add_tool"]"#,
        r#"["add_tool", 2]"#,
        r#"[]"#,
        r#""add_tool""#,
        "7",
        "null",
    ] {
        let (status, answer) = server.post(body.to_owned()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(error.contains("bad change request"), "{body}: {error}");
    }
    assert_eq!(server.catalog().await, before, "nothing changed");
}

#[tokio::test]
async fn the_trigger_tools_make_exactly_one_change_each() {
    let mut server =
        ServerProcess::start(&["--trigger-tools", "--tools", "3", "--prompts", "1"]).await;
    let mut client = Client::new(server.take_stdio()).await;
    let listed: HashSet<String> = client.tool_names().await.into_iter().collect();
    for fixture in [
        "test_trigger_tool_change",
        "test_trigger_prompt_change",
        "test_missing_capability",
        "test_streaming_elicitation",
        "test_logging_tool",
    ] {
        assert!(listed.contains(fixture), "{fixture} is listed");
    }
    assert_eq!(
        client.call("counter", json!({})).await.unwrap(),
        json!({ "count": 3 }),
        "the fixtures are not counted"
    );

    let added = client
        .call("test_trigger_tool_change", json!({}))
        .await
        .unwrap();
    assert_eq!(added, json!({ "tools": 4 }));
    client.told_exactly(told(1, 0, 0, &[])).await;
    let added = client
        .call("test_trigger_prompt_change", json!({}))
        .await
        .unwrap();
    assert_eq!(added, json!({ "prompts": 2 }));
    client.told_exactly(told(1, 1, 0, &[])).await;
    assert_eq!(client.prompt_names().await, ["prompt1", "prompt2"]);

    // rmcp's client declares no sampling: -32021 naming it.
    match client.call("test_missing_capability", json!({})).await {
        Err(ServiceError::McpError(error)) => {
            assert_eq!(error.code.0, -32021);
            assert_eq!(
                error.data.unwrap()["requiredCapabilities"],
                json!({ "sampling": {} })
            );
        }
        other => panic!("expected -32021, got {other:?}"),
    }
    client.close().await;
}

#[tokio::test]
async fn without_the_flag_the_tool_list_is_exact() {
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let client = Client::new(server.take_stdio()).await;
    assert_eq!(client.tool_names().await, expected_names(3));
    assert!(
        client
            .call("test_trigger_tool_change", json!({}))
            .await
            .is_err()
    );
    client.close().await;
}

#[tokio::test]
async fn the_ready_file_names_the_server_and_goes_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let mut process = ServerProcess::start(&[
        "--http",
        "127.0.0.1:0",
        "--control",
        "0",
        "--ready-file",
        ready.to_str().unwrap(),
    ])
    .await;
    let contents: Value = serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    assert_eq!(contents["pid"], process.pid);
    let mcp = contents["mcp_url"].as_str().unwrap();
    let control = contents["control_url"].as_str().unwrap();
    assert!(
        mcp.starts_with("http://127.0.0.1:") && mcp.ends_with("/mcp"),
        "{mcp}"
    );
    assert!(control.starts_with("http://127.0.0.1:"), "{control}");
    assert!(process.stderr().contains(&format!("url={mcp}")));

    process.signal(libc::SIGTERM);
    let status = bounded("exit", process.wait_exit()).await;
    assert_eq!(status.code(), Some(0));
    assert!(!ready.exists(), "the ready file is removed on exit");
}
