//! A fleet (`--fleet`): many virtual upstreams in one process, each its own
//! server at `/mcp/{name}` with its own catalog, sessions, state and report,
//! driven by real rmcp clients and the control endpoint.

use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams};
use serde_json::{Value, json};

use crate::common::{Controlled, ServerProcess, bounded, refuses_to_start};
use crate::http_support::HttpClient;

/// How long a client that must not be notified is watched.
const QUIET: Duration = Duration::from_millis(400);

/// A fleet served over HTTP with the control endpoint, and its upstreams'
/// URLs from the ready file.
struct Fleet {
    server: Controlled,
}

impl Fleet {
    async fn start(args: &[&str]) -> Self {
        let mut all = vec!["--http", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Self {
            server: Controlled::start(&all).await,
        }
    }

    fn url(&self, upstream: &str) -> String {
        self.server.ready["upstreams"][upstream]
            .as_str()
            .unwrap_or_else(|| panic!("no upstream {upstream} in {}", self.server.ready))
            .to_owned()
    }

    async fn connect(&self, upstream: &str) -> HttpClient {
        HttpClient::connect(&self.url(upstream)).await
    }

    /// SIGTERM, and a clean exit: every upstream stops with the server.
    async fn stop(self) {
        self.server.process.signal(libc::SIGTERM);
        self.server.process.stops_cleanly().await;
    }

    /// POST /upstreams/NAME/ACTION: the status and the answer.
    async fn control(&self, upstream: &str, action: &str) -> (u16, Value) {
        let url = format!("{}/upstreams/{upstream}/{action}", self.server.control);
        let response = bounded(action, self.server.http.post(url).send())
            .await
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
    }
}

/// What `echo` answers on `client`: the upstream that gave the answer says
/// so.
async fn echo(client: &HttpClient, tool: &str) -> Value {
    let arguments = json!({ "message": "hi" }).as_object().unwrap().clone();
    let call = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
    let result = bounded("tools/call", client.service.call_tool(call))
        .await
        .expect("the call is answered");
    result.structured_content.expect("a structured answer")
}

#[tokio::test]
async fn each_upstream_of_a_fleet_is_its_own_server_and_they_collide() {
    let fleet = Fleet::start(&["--fleet", "3"]).await;
    assert_eq!(fleet.server.ready["mcp_url"], Value::Null);
    let expected_tools = [
        ("u1", vec!["echo", "weather"]),
        ("u2", vec!["echo", "u1_weather"]),
        ("u3", vec!["echo"]),
    ];
    for (name, tools) in expected_tools {
        let client = fleet.connect(name).await;
        let info = client.service.peer_info().expect("initialized");
        assert_eq!(
            info.server_info.as_ref().map(|i| i.name.as_str()),
            Some(name)
        );
        assert_eq!(client.tool_names().await, tools, "{name}");
        // Every upstream has `echo`; its answer names the one that answered.
        assert_eq!(
            echo(&client, "echo").await,
            json!({ "echo_message": "hi", "upstream": name })
        );
        // The prompt name and the resource URI are the same everywhere.
        let prompts = bounded("prompts/list", client.service.list_all_prompts())
            .await
            .unwrap();
        assert_eq!(prompts.len(), 1);
        assert_eq!(prompts[0].name, "prompt1");
        let read = ReadResourceRequestParams::new("dynamic://resources/1");
        assert!(
            bounded("resources/read", client.service.read_resource(read))
                .await
                .is_ok()
        );
        client.close().await;
    }
    // `weather` and `u1_weather` are what a prefixing gateway confuses.
    let u2 = fleet.connect("u2").await;
    assert_eq!(
        echo(&u2, "u1_weather").await,
        json!({ "echo_message": "hi", "tool": "u1_weather", "upstream": "u2" })
    );
    u2.close().await;

    // Nothing at /mcp, nor at an upstream the fleet does not have.
    let base = fleet.url("u1").trim_end_matches("/u1").to_owned();
    for url in [base.clone(), format!("{base}/u4"), format!("{base}/u1/x")] {
        let response = fleet.server.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 404, "{url}");
    }
    fleet.stop().await;
}

#[tokio::test]
async fn a_change_on_one_upstream_notifies_only_its_sessions_once_each() {
    let fleet = Fleet::start(&["--fleet", "3"]).await;
    let mut clients = Vec::new();
    for name in ["u1", "u2", "u3"] {
        for _ in 0..2 {
            clients.push((name, fleet.connect(name).await));
        }
    }
    // A fleet's change names its upstream.
    let (status, answer) = fleet.server.change(json!({ "change": "add_tool" })).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("u1, u2, u3"),
        "{answer}"
    );
    let unknown = json!({ "change": "add_tool", "upstream": "u9" });
    assert_eq!(fleet.server.change(unknown).await.0, 404);

    let (status, answer) = fleet
        .server
        .change(json!({ "change": "add_tool", "upstream": "u2" }))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["tools"]["items"].as_array().unwrap().len(), 2);
    for (name, client) in &mut clients {
        if *name == "u2" {
            assert_eq!(client.wait_changes(1).await, 1);
        }
    }
    tokio::time::sleep(QUIET).await;
    for (name, client) in &clients {
        let expected = usize::from(*name == "u2");
        assert_eq!(
            client.changes(),
            expected,
            "{name}: exactly once, and only u2"
        );
        let tools = client.tool_names().await;
        let added = tools.contains(&"calculator".to_owned());
        assert_eq!(added, *name == "u2", "{name}: {tools:?}");
    }
    for (_, client) in clients {
        client.close().await;
    }
    fleet.stop().await;
}

#[tokio::test]
async fn each_upstream_has_its_own_state_and_report() {
    let fleet = Fleet::start(&["--fleet", "3"]).await;
    let u1 = fleet.connect("u1").await;
    let u3 = fleet.connect("u3").await;
    let change = json!({ "change": "change_tool", "name": "echo", "upstream": "u3" });
    assert_eq!(fleet.server.change(change).await.0, 200);

    let state = fleet.server.state().await;
    let upstreams = state["upstreams"].as_object().expect("upstreams by name");
    assert_eq!(upstreams.keys().collect::<Vec<_>>(), ["u1", "u2", "u3"]);
    let sessions = |name: &str| upstreams[name]["sessions"].as_array().unwrap().len();
    assert_eq!((sessions("u1"), sessions("u2"), sessions("u3")), (1, 0, 1));
    assert_eq!(upstreams["u1"]["tools"]["items"][0]["revision"], 1);
    assert_eq!(upstreams["u3"]["tools"]["items"][0]["revision"], 2);
    assert_eq!(upstreams["u3"]["stopped"], false);
    let u3_state = fleet.server.get("/state?upstream=u3").await;
    assert_eq!(u3_state["upstream"], "u3");
    assert_eq!(u3_state["tools"], upstreams["u3"]["tools"]);

    let reports = fleet.server.get("/report").await;
    let reports = reports["upstreams"].as_object().expect("reports by name");
    assert_eq!(reports.len(), 3);
    assert_eq!(reports["u3"]["changes"].as_array().unwrap().len(), 1);
    assert_eq!(reports["u1"]["changes"].as_array().unwrap().len(), 0);
    assert_eq!(reports["u1"]["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(reports["u2"]["sessions"].as_array().unwrap().len(), 0);
    let u3_report = fleet.server.get("/report?upstream=u3").await;
    assert_eq!(u3_report["changes"], reports["u3"]["changes"]);
    let missing = format!("{}/report?upstream=u4", fleet.server.control);
    let response = fleet.server.http.get(missing).send().await.unwrap();
    assert_eq!(response.status(), 404);
    u1.close().await;
    u3.close().await;
    fleet.stop().await;
}

#[tokio::test]
async fn an_upstream_stops_and_serves_again_with_a_changed_catalog_alone() {
    let fleet = Fleet::start(&["--fleet", "3"]).await;
    let u1 = fleet.connect("u1").await;
    let u2 = fleet.connect("u2").await;

    let (status, answer) = fleet.control("u2", "stop").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["sessions_ended"], 1);
    // Its session is gone and its path answers 404, as a stopped server's.
    assert!(
        bounded(
            "tools/list on a stopped upstream",
            u2.service.list_all_tools()
        )
        .await
        .is_err()
    );
    let post = fleet.server.http.post(fleet.url("u2")).body("{}").send();
    assert_eq!(post.await.unwrap().status(), 404);
    // Stopped, it still takes changes: it comes back with them.
    let change = json!({ "change": "add_tool", "upstream": "u2" });
    assert_eq!(fleet.server.change(change).await.0, 200);
    assert_eq!(
        fleet.server.get("/state?upstream=u2").await["stopped"],
        true
    );

    let (status, answer) = fleet.control("u2", "start").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["was_stopped"], true);
    let again = fleet.connect("u2").await;
    assert_eq!(
        again.tool_names().await,
        ["echo", "calculator", "u1_weather"]
    );

    // The others never noticed.
    assert_eq!(u1.tool_names().await, ["echo", "weather"]);
    assert_eq!(u1.changes(), 0);
    assert_eq!(fleet.control("u7", "stop").await.0, 404);
    u1.close().await;
    again.close().await;
    drop(u2);
    fleet.stop().await;
}

#[tokio::test]
async fn a_bad_fleet_is_refused_in_one_line_naming_the_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("server.pid");
    let file = dir.path().join("fleet.toml");
    let cases = [
        (
            "[[upstream]]\nname = \"a\"\n[[upstream]]\nname = \"a\"\n",
            "upstream[1] (\"a\"): the name \"a\" is taken by an upstream before it",
        ),
        (
            "[[upstream]]\nname = \"a\"\ntools = 0\n",
            "upstream[0] (\"a\"): `tools` must be from 1 to 1000000, not 0",
        ),
        (
            "[[upstream]]\nname = \"a/b\"\n",
            "upstream[0] (\"a/b\"): `name` \"a/b\": expected 1 to 64 of A-Z, a-z, 0-9, _, - and .",
        ),
        (
            "[[upstream]]\nname = \"a\"\nhostile = { page_size = 0 }\n",
            "upstream[0] (\"a\"): hostile: ",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&file, text).unwrap();
        let path = file.to_str().unwrap();
        let stderr = refuses_to_start(&pidfile, &["--http", "127.0.0.1:0", "--fleet", path]);
        let line = format!("error: --fleet {path}: {expected}");
        assert!(stderr.starts_with(&line), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!pidfile.exists());
    }
    for (args, expected) in [
        (vec!["--fleet", "3"], "error: --fleet 3: needs --http"),
        (
            vec!["--http", "0", "--fleet", "f.toml", "--tools", "3"],
            "error: --fleet f.toml: the file gives each upstream's counts",
        ),
        (
            vec!["--http", "0", "--fleet", "0"],
            "error: --fleet 0: a fleet has from 1 to 1000 upstreams, not 0",
        ),
        (
            vec!["--http", "0", "--fleet", "2", "--signals-to", "u3"],
            "error: --signals-to u3: no such upstream in the fleet (one of u1, u2)",
        ),
    ] {
        let stderr = refuses_to_start(&pidfile, &args);
        assert!(stderr.starts_with(expected), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// A fleet file with an upstream of each shape.
const FLEET_FILE: &str = r#"
[[upstream]]
name = "local"
named_tools = ["weather"]

[[upstream]]
name = "remote"
tools = 3
prefix = "remote_"
named_tools = ["local_weather"]
hostile = { page_size = 1 }

[[upstream]]
name = "broken"
fail_tools_list = true

[[upstream]]
name = "dead"
answer_nothing = true
"#;

/// Write [`FLEET_FILE`] into a fresh directory.
fn fleet_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.toml");
    std::fs::write(&path, FLEET_FILE).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

#[tokio::test]
async fn a_fleet_file_upstream_is_served_alone_over_stdio() {
    let (_dir, file) = fleet_file();
    let mut server = Controlled::start(&["--fleet", &file, "--upstream", "remote"]).await;
    let mut client = server.process.connect().await;
    let info = client.service.peer_info().expect("initialized");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("remote")
    );
    let listed = [
        "remote_echo",
        "remote_calculator",
        "remote_counter",
        "local_weather",
    ];
    assert_eq!(client.tool_names().await, listed);
    let hi = json!({ "message": "hi" });
    let answer = client.call_ok("remote_echo", hi.clone()).await;
    assert_eq!(
        answer,
        json!({ "echo_message": "hi", "upstream": "remote" })
    );
    assert_eq!(
        client.call_ok("local_weather", hi.clone()).await["tool"],
        "local_weather"
    );
    // The catalog's own name is not on the wire: the prefix is.
    let unprefixed =
        CallToolRequestParams::new("echo").with_arguments(hi.as_object().unwrap().clone());
    assert!(
        bounded("tools/call echo", client.service.call_tool(unprefixed))
            .await
            .is_err()
    );

    // Its own control endpoint answers to its name, or to none.
    let (status, answer) = server
        .change(json!({ "change": "add_tool", "upstream": "remote" }))
        .await;
    assert_eq!(status, 200, "{answer}");
    client.wait_notifications(1).await;
    assert_eq!(client.tool_names().await.len(), 5);
    let (status, _) = server
        .change(json!({ "change": "add_tool", "upstream": "local" }))
        .await;
    assert_eq!(status, 404);
    assert_eq!(server.change(json!({ "change": "add_tool" })).await.0, 200);
    let state = server.state().await;
    assert_eq!(state["tools"]["items"].as_array().unwrap().len(), 5);
    client.close().await;
    server.process.stops_cleanly().await;
}

#[tokio::test]
async fn a_broken_upstream_fails_tools_list_and_a_dead_one_answers_nothing() {
    let (_dir, file) = fleet_file();
    let mut broken = ServerProcess::start(&["--fleet", &file, "--upstream", "broken"]).await;
    let mut raw = broken.raw();
    raw.initialize().await;
    raw.initialized().await;
    let (answer, _) = raw.request("tools/list", json!({})).await;
    assert_eq!(answer["error"]["code"], -32603, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "tools/list fails on upstream broken"
    );
    raw.close_stdin();
    broken.stops_cleanly().await;

    let mut dead = ServerProcess::start(&["--fleet", &file, "--upstream", "dead"]).await;
    let mut raw = dead.raw();
    raw.send(json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "t", "version": "1" },
        },
    }))
    .await;
    let answered = tokio::time::timeout(QUIET, raw.recv_or_eof()).await;
    assert!(
        answered.is_err(),
        "a dead upstream answers nothing: {answered:?}"
    );
    raw.close_stdin();
    dead.stops_cleanly().await;

    // Over HTTP a dead upstream holds every request; the others answer.
    let (_dir, file) = fleet_file();
    let fleet = Fleet::start(&["--fleet", &file]).await;
    let request = fleet.server.http.post(fleet.url("dead")).body("{}").send();
    assert!(tokio::time::timeout(QUIET, request).await.is_err());
    let local = fleet.connect("local").await;
    assert_eq!(local.tool_names().await, ["echo", "weather"]);
    local.close().await;
    // Each upstream has its own knobs: remote's pages hold one tool.
    let remote = fleet.connect("remote").await;
    let page = bounded("tools/list", remote.service.list_tools(None))
        .await
        .unwrap();
    assert_eq!(page.tools.len(), 1);
    assert!(page.next_cursor.is_some());
    assert_eq!(remote.tool_names().await.len(), 4);
    remote.close().await;
    fleet.stop().await;
}

#[tokio::test]
async fn a_scenario_changes_and_stops_the_upstreams_its_steps_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("steps.toml");
    std::fs::write(
        &path,
        r#"
        [[steps]]
        upstream = "u2"
        change = "add_tool"
        at_ms = 1500

        [[steps]]
        upstream = "u3"
        change = "change_tool"
        name = "echo"

        [[steps]]
        upstream = "u3"
        stop_upstream = true
        "#,
    )
    .unwrap();
    let fleet = Fleet::start(&["--fleet", "3", "--scenario", path.to_str().unwrap()]).await;
    let mut u1 = fleet.connect("u1").await;
    let mut u2 = fleet.connect("u2").await;
    let mut u3 = fleet.connect("u3").await;
    assert_eq!(u2.wait_changes(1).await, 1);
    assert_eq!(u3.wait_changes(1).await, 1);
    let stopped = async {
        while fleet.server.get("/state?upstream=u3").await["stopped"] != true {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    bounded("u3 to stop", stopped).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(u1.changes(), 0);
    let _ = &mut u1;
    let report = fleet.server.get("/report?upstream=u2").await;
    let steps = report["steps"].as_array().expect("the steps it ran");
    assert_eq!(steps.len(), 1, "{report:#}");
    assert_eq!(u2.tool_names().await, ["echo", "calculator", "u1_weather"]);
    u1.close().await;
    u2.close().await;
    drop(u3);
    fleet.stop().await;
}

#[tokio::test]
async fn signals_change_every_upstream_or_the_one_named() {
    for (args, told) in [
        (vec!["--fleet", "2"], [1, 1]),
        (vec!["--fleet", "2", "--signals-to", "u2"], [0, 1]),
    ] {
        let fleet = Fleet::start(&args).await;
        let mut u1 = fleet.connect("u1").await;
        let mut u2 = fleet.connect("u2").await;
        fleet.server.process.sighup();
        if told[0] == 1 {
            u1.wait_changes(1).await;
        }
        u2.wait_changes(1).await;
        tokio::time::sleep(QUIET).await;
        assert_eq!([u1.changes(), u2.changes()], told, "{args:?}");
        let tools = |n: usize| if n == 1 { 3 } else { 2 };
        assert_eq!(u1.tool_names().await.len(), tools(told[0]), "{args:?}");
        assert_eq!(u2.tool_names().await.len(), tools(told[1]), "{args:?}");
        u1.close().await;
        u2.close().await;
        fleet.stop().await;
    }
}
