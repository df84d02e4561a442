//! The client report (`--report FILE`, `GET /report`) against the real
//! binary: rmcp clients that do and do not re-list after a change, a stale
//! call after a rug pull and a call to a removed tool, the file written at
//! exit on stdin's EOF and on SIGTERM, each report valid against
//! `schema/report.schema.json`.

use crate::common;

use std::path::{Path, PathBuf};

use common::{Controlled, ServerProcess, bounded, expected_names, refuses_to_start};
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::watch;

/// The report must validate against the schema the repository ships.
pub fn assert_valid(report: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\nin {report:#}");
}

/// The one session of a single-client report.
fn only_session(report: &Value) -> &Value {
    let sessions = report["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{report:#}");
    &sessions[0]
}

/// A client with a name of its own, counting tools/list_changed.
struct Named {
    name: &'static str,
    told: watch::Sender<usize>,
}

impl ClientHandler for Named {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.told.send_modify(|n| *n += 1);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new(self.name, "1.0"),
        )
    }
}

struct Client {
    service: RunningService<RoleClient, Named>,
    told: watch::Receiver<usize>,
}

impl Client {
    async fn connect(url: &str, name: &'static str) -> Self {
        let (tx, told) = watch::channel(0);
        let transport = StreamableHttpClientTransport::from_uri(url);
        let service = bounded("initialize", Named { name, told: tx }.serve(transport))
            .await
            .expect("the client initializes");
        Self { service, told }
    }

    async fn wait_told(&mut self, n: usize) {
        bounded(
            &format!("{n} notifications"),
            self.told.wait_for(|&c| c >= n),
        )
        .await
        .expect("the client runs");
    }

    async fn relist(&self) -> usize {
        bounded("tools/list", self.service.list_all_tools())
            .await
            .expect("tools/list")
            .len()
    }
}

/// A server over HTTP with the control endpoint, and no `--report`: the
/// report is recorded because the control endpoint serves it.
async fn controlled() -> Controlled {
    Controlled::start(&["--http", "127.0.0.1:0"]).await
}

impl Controlled {
    async fn report(&self) -> Value {
        self.get("/report").await
    }

    /// The live report once `ready` holds: a notification is recorded just
    /// after it is written, so the client may have it a moment before the
    /// report does.
    async fn report_when(&self, ready: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let waited = tokio::time::timeout(common::TIMEOUT, async {
            loop {
                last = self.report().await;
                if ready(&last) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "the report never got there: {last:#}");
        last
    }
}

fn session_of<'r>(report: &'r Value, client: &str) -> Option<&'r Value> {
    report["sessions"]
        .as_array()?
        .iter()
        .find(|s| s["client"]["name"] == client)
}

/// The example report in docs/report.md (its first `json` block) is one the
/// schema accepts, so the page cannot drift from the format it documents.
#[test]
fn the_example_in_the_docs_is_valid_against_the_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.md");
    let page = std::fs::read_to_string(path).unwrap();
    let example = page
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/report.md has a json block");
    let report: Value = serde_json::from_str(example).expect("the example is JSON");
    assert_valid(&report);
}

#[tokio::test]
async fn get_report_tells_a_client_that_relists_after_each_change_from_one_that_never_does() {
    let server = controlled().await;
    let mut relisting = Client::connect(server.mcp_url(), "relister").await;
    let mut ignoring = Client::connect(server.mcp_url(), "ignorer").await;
    for (n, tools) in [(1, 2), (2, 3)] {
        let (status, answer) = server.change(json!({ "change": "add_tool" })).await;
        assert_eq!(status, 200, "{answer}");
        relisting.wait_told(n).await;
        ignoring.wait_told(n).await;
        assert_eq!(relisting.relist().await, tools);
    }
    let both_told = |report: &Value| {
        ["relister", "ignorer"]
            .iter()
            .all(|name| session_of(report, name).is_some_and(|s| s["summary"]["seen"] == 2))
    };
    let report = server.report_when(both_told).await;
    assert_valid(&report);

    let added: Vec<Value> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["list"], c["kind"], c["item"], c["version"]]))
        .collect();
    let names = expected_names(3);
    assert_eq!(
        added,
        [
            json!(["tools", "add", names[1], 2]),
            json!(["tools", "add", names[2], 3]),
        ]
    );

    let relister = session_of(&report, "relister").unwrap();
    assert_eq!(
        relister["client"],
        json!({ "name": "relister", "version": "1.0" })
    );
    assert_eq!(
        relister["summary"],
        json!({ "seen": 2, "refreshed": 2, "missed": 0, "stale_calls": 0 })
    );
    for change in relister["changes"].as_array().unwrap() {
        // Told, then re-listed: after the change, and after being told.
        let (at, notified, relisted) = (
            change["at_ms"].as_u64().unwrap(),
            change["notified_ms"].as_u64().unwrap(),
            change["relisted_ms"].as_u64().unwrap(),
        );
        assert!(at <= notified && notified <= relisted, "{change}");
        assert_eq!(
            (&change["pages_fetched"], &change["pages_total"]),
            (&json!(1), &json!(1))
        );
        assert_eq!(change["refreshed"], true);
    }
    // Its last re-list is of the list as it is now.
    let reached: Vec<&Value> = relister["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["reached_current"])
        .collect();
    assert_eq!(reached, [&json!(true), &json!(true)]);

    let ignorer = session_of(&report, "ignorer").unwrap();
    assert_eq!(
        ignorer["summary"],
        json!({ "seen": 2, "refreshed": 0, "missed": 2, "stale_calls": 0 })
    );
    for change in ignorer["changes"].as_array().unwrap() {
        assert!(change["notified_ms"].is_u64(), "{change}");
        assert_eq!(change["relisted_ms"], Value::Null);
        assert_eq!(change["reached_current"], false);
    }
    relisting.service.cancel().await.unwrap();
    ignoring.service.cancel().await.unwrap();
}

/// A stdio server writing its report to a file in its own folder.
async fn with_report(args: &[&str]) -> (ServerProcess, PathBuf, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let mut all = vec!["--report", report.to_str().unwrap()];
    all.extend_from_slice(args);
    let server = ServerProcess::start(&all).await;
    (server, report, dir)
}

fn read_report(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the report is written at exit");
    let report = serde_json::from_str(&text).expect("the report is JSON");
    assert_valid(&report);
    report
}

#[tokio::test]
async fn a_stale_call_after_a_rug_pull_and_a_call_to_a_removed_tool_are_recorded_in_the_file_written_at_eof()
 {
    let (mut server, path, _dir) = with_report(&["--tools", "4"]).await;
    // The log says from its first lines that this run records.
    server.wait_stderr("dynamic-mcp-server started", 1).await;
    assert!(
        server
            .stderr()
            .contains("recording the client report: --report"),
        "{}",
        server.stderr()
    );
    let mut client = server.connect().await;
    assert_eq!(client.tool_names().await.len(), 4);

    // A rug pull: echo4 now requires `revision: 2`; a client that did not
    // re-list calls it as it was.
    server.signal(libc::SIGUSR2);
    client.wait_notifications(1).await;
    let stale = client.call("echo4", json!({ "message": "hi" })).await;
    assert_eq!(stale.is_error, Some(true), "{stale:?}");

    // echo4 removed; the client calls it anyway (-32602, Unknown tool).
    server.signal(libc::SIGUSR1);
    client.wait_notifications(2).await;
    let gone = client
        .service
        .call_tool(CallToolRequestParams::new("echo4"))
        .await;
    assert!(gone.is_err(), "{gone:?}");

    // stdin's EOF ends the server, which writes the report on its way out.
    client.close().await;
    assert!(server.wait_exit().await.success());
    let report = read_report(&path);
    let session = only_session(&report);
    let calls: Vec<(&Value, &Value, &Value, &Value)> = session["stale_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (&c["tool"], &c["revision"], &c["current"], &c["reason"]))
        .collect();
    assert_eq!(
        calls,
        [
            (
                &json!("echo4"),
                &Value::Null,
                &json!(2),
                &json!("stale revision")
            ),
            (
                &json!("echo4"),
                &Value::Null,
                &Value::Null,
                &json!("unknown tool")
            ),
        ]
    );
    assert_eq!(
        session["summary"],
        json!({ "seen": 2, "refreshed": 0, "missed": 2, "stale_calls": 2 })
    );
    let kinds: Vec<&Value> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["kind"])
        .collect();
    assert_eq!(kinds, [&json!("revise"), &json!("remove")]);
    assert!(
        session["closed_ms"].is_u64(),
        "its close is recorded: {session}"
    );
}

#[tokio::test]
async fn sigterm_writes_the_report_with_every_session_closed() {
    let (mut server, path, _dir) = with_report(&[]).await;
    let mut client = server.connect().await;
    assert_eq!(client.tool_names().await.len(), 1);
    server.sighup();
    client.wait_notifications(1).await;
    assert_eq!(client.tool_names().await.len(), 2);
    assert!(!path.exists(), "the report is written at exit, not before");
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit().await.success());
    let report = read_report(&path);
    let session = only_session(&report);
    assert_eq!(session["protocol"], "2025-11-25");
    assert!(session["initialized_ms"].is_u64(), "{session}");
    assert!(session["closed_ms"].is_u64(), "{session}");
    assert_eq!(
        session["summary"],
        json!({ "seen": 1, "refreshed": 1, "missed": 0, "stale_calls": 0 })
    );
    assert_eq!(session["requests"]["tools/list"], 2);
    assert_eq!(session["notifications"]["change"], 1);
}

#[tokio::test]
async fn a_server_without_report_or_control_records_nothing() {
    let mut server = ServerProcess::start(&[]).await;
    server.wait_stderr("dynamic-mcp-server started", 1).await;
    assert!(
        !server.stderr().contains("recording"),
        "{}",
        server.stderr()
    );
    let client = server.connect().await;
    client.close().await;
    server.stops_cleanly().await;
}

#[tokio::test]
async fn a_report_path_that_cannot_be_written_is_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("server.pid");
    // A directory is never replaced, and a missing folder cannot hold it.
    for report in [
        dir.path().to_owned(),
        dir.path().join("missing/report.json"),
    ] {
        let stderr = refuses_to_start(&pidfile, &["--report", report.to_str().unwrap()]);
        assert!(stderr.contains("--report"), "{stderr}");
        assert!(!pidfile.exists());
    }
}

/// A raw stdio client's `tools/list` of the page at `cursor`: the whole
/// response and the next cursor.
async fn list_page(raw: &mut common::RawClient, cursor: Option<&str>) -> (Value, Option<String>) {
    let params = match cursor {
        Some(cursor) => json!({ "cursor": cursor }),
        None => json!({}),
    };
    let (response, _) = raw.request("tools/list", params).await;
    let next = response["result"]["nextCursor"].as_str().map(str::to_owned);
    (response, next)
}

async fn wait_list_changed(raw: &mut common::RawClient) {
    let message = raw.recv().await;
    assert_eq!(
        message["method"], "notifications/tools/list_changed",
        "{message}"
    );
}

#[tokio::test]
async fn a_client_that_reads_only_the_first_page_missed_the_change_and_its_cursors_are_recorded() {
    let (mut server, path, _dir) = with_report(&["--tools", "7", "--page-size", "2"]).await;
    let mut raw = server.raw();
    raw.initialize().await;
    raw.initialized().await;
    // The same cursor three times, before any change: a loop.
    let (_, next) = list_page(&mut raw, None).await;
    let cursor = next.expect("a second page");
    for _ in 0..3 {
        let (response, _) = list_page(&mut raw, Some(&cursor)).await;
        assert!(response["result"]["tools"].is_array(), "{response}");
    }
    server.sighup();
    wait_list_changed(&mut raw).await;
    // The list changed, so that cursor is refused (-32602, invalid params).
    let (refused, _) = list_page(&mut raw, Some(&cursor)).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    // The first page only, as a client that ignores nextCursor reads it.
    let (_, next) = list_page(&mut raw, None).await;
    assert!(next.is_some());
    raw.close_stdin();
    assert!(server.wait_exit().await.success());

    let report = read_report(&path);
    let session = only_session(&report);
    assert_eq!(
        session["cursor_loops"],
        // Three pages served and one refused.
        json!([{ "list": "tools", "cursor": cursor, "times": 4 }])
    );
    let refusals = session["refused_cursors"].as_array().unwrap();
    assert_eq!(refusals.len(), 1, "{session}");
    assert_eq!(refusals[0]["cursor"], json!(cursor));
    assert!(!refusals[0]["reason"].as_str().unwrap().is_empty());
    let change = &session["changes"][0];
    assert!(change["notified_ms"].is_u64(), "{change}");
    assert!(change["relisted_ms"].is_u64(), "{change}");
    assert_eq!(
        (
            &change["pages_fetched"],
            &change["pages_total"],
            &change["refreshed"]
        ),
        (&json!(1), &json!(4), &json!(false)),
        "{change}"
    );
    assert_eq!(
        session["summary"],
        json!({ "seen": 1, "refreshed": 0, "missed": 1, "stale_calls": 0 })
    );
}

#[tokio::test]
async fn a_client_that_reads_every_page_after_the_change_refreshed_it() {
    let (mut server, path, _dir) = with_report(&["--tools", "7", "--page-size", "2"]).await;
    let mut raw = server.raw();
    raw.initialize().await;
    raw.initialized().await;
    server.sighup();
    wait_list_changed(&mut raw).await;
    let (mut names, mut next) = (Vec::new(), None);
    loop {
        let (response, cursor) = list_page(&mut raw, next.as_deref()).await;
        names.extend(
            response["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
        next = cursor;
        if next.is_none() {
            break;
        }
    }
    assert_eq!(names.len(), 8);
    raw.close_stdin();
    assert!(server.wait_exit().await.success());

    let report = read_report(&path);
    let session = only_session(&report);
    let change = &session["changes"][0];
    assert_eq!(
        (
            &change["pages_fetched"],
            &change["pages_total"],
            &change["refreshed"],
            &change["reached_current"]
        ),
        (&json!(4), &json!(4), &json!(true), &json!(true)),
        "{change}"
    );
    assert_eq!(
        session["summary"],
        json!({ "seen": 1, "refreshed": 1, "missed": 0, "stale_calls": 0 })
    );
    assert_eq!(session["requests"]["tools/list"], 4);
}

#[tokio::test]
async fn a_scenario_step_is_listed_and_a_change_inside_a_held_tools_list_is_no_relist() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(
        &scenario,
        "[[steps]]\nchange = \"add_tool\"\nafter = { method = \"tools/list\", n = 1 }\n",
    )
    .unwrap();
    let (mut server, path, _report_dir) =
        with_report(&["--scenario", scenario.to_str().unwrap()]).await;
    let mut raw = server.raw();
    raw.initialize().await;
    raw.initialized().await;
    // The step runs while this list is held: the list is of before the
    // change, and the change's notification comes with it.
    let (response, notifications) = raw.request("tools/list", json!({})).await;
    assert_eq!(response["result"]["tools"].as_array().unwrap().len(), 1);
    if notifications.is_empty() {
        wait_list_changed(&mut raw).await;
    }
    raw.close_stdin();
    assert!(server.wait_exit().await.success());

    let report = read_report(&path);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{report:#}");
    assert_eq!(steps[0]["step"], 0);
    assert!(steps[0]["at_ms"].is_u64());
    let change = &only_session(&report)["changes"][0];
    assert!(change["notified_ms"].is_u64(), "{change}");
    assert_eq!(change["relisted_ms"], Value::Null, "{change}");
    assert_eq!(
        only_session(&report)["summary"],
        json!({ "seen": 1, "refreshed": 0, "missed": 1, "stale_calls": 0 })
    );
}

/// Every string a client chooses is cut to 256 bytes in the report (issue
/// 24, finding 5): ten sessions named with 3 MiB each made `GET /report`
/// 30.8 MB, kept after the sessions closed. Here ten sessions send a 3 MiB
/// name, a 512 KiB version, a call to a tool with a 512 KiB name and a list
/// with a 512 KiB cursor: the report stays under 100 KB, and valid.
#[tokio::test]
async fn client_chosen_strings_are_cut_to_256_bytes_in_the_report() {
    const SESSIONS: usize = 10;
    let server = Controlled::start(&["--http", "127.0.0.1:0", "--page-size", "1"]).await;
    let url = server.mcp_url().to_owned();
    let post = |session: Option<&str>, body: Value| {
        let request = server
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        match session {
            Some(id) => request.header("mcp-session-id", id),
            None => request,
        }
    };
    let name = format!("é{}", "n".repeat(3 * 1024 * 1024));
    let long = "v".repeat(512 * 1024);
    for _ in 0..SESSIONS {
        let initialize = json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": { "name": name, "version": long },
            },
        });
        let response = bounded("initialize", post(None, initialize).send())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        bounded("the initialize answer", response.text())
            .await
            .unwrap();
        for (id, method, params) in [
            (2, "tools/call", json!({ "name": long, "arguments": {} })),
            (3, "tools/list", json!({ "cursor": long })),
        ] {
            let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
            let response = bounded(method, post(Some(&session), request).send())
                .await
                .unwrap();
            bounded("its answer", response.text()).await.unwrap();
        }
    }
    let report = server
        .report_when(|report| {
            report["sessions"].as_array().is_some_and(|sessions| {
                sessions.len() == SESSIONS
                    && sessions.iter().all(|s| {
                        s["stale_calls"].as_array().is_some_and(|c| !c.is_empty())
                            && s["refused_cursors"]
                                .as_array()
                                .is_some_and(|c| !c.is_empty())
                    })
            })
        })
        .await;
    let bytes = serde_json::to_vec(&report).unwrap().len();
    assert!(bytes < 100_000, "the report is {bytes} bytes");
    assert_valid(&report);
    for session in report["sessions"].as_array().unwrap() {
        let cut = |value: &Value, what: &str, whole: &str| {
            let text = value.as_str().unwrap_or_else(|| panic!("{what}: {value}"));
            assert!(
                text.len() <= 256 && text.len() >= 255,
                "{what}: {} bytes",
                text.len()
            );
            assert!(
                whole.starts_with(text),
                "{what} is the start of what was sent"
            );
        };
        cut(&session["client"]["name"], "name", &name);
        cut(&session["client"]["version"], "version", &long);
        cut(&session["stale_calls"][0]["tool"], "tool", &long);
        cut(&session["refused_cursors"][0]["cursor"], "cursor", &long);
    }
}

/// A raw 2026-07-28 POST to `server`'s MCP endpoint: `method` with `params`,
/// and `_meta` naming the client `name` 1.0 (`None`: naming none).
fn post_2026(
    server: &Controlled,
    name: Option<&str>,
    method: &str,
    params: Value,
) -> reqwest::RequestBuilder {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    if let Some(name) = name {
        meta["io.modelcontextprotocol/clientInfo"] = json!({ "name": name, "version": "1.0" });
    }
    let mut params = params;
    params["_meta"] = meta;
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    server
        .http
        .post(server.mcp_url())
        .header("content-type", "application/json")
        .header("accept", crate::http_support::ACCEPT_BOTH)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .body(body.to_string())
}

/// A stateless `tools/list` from the client `name`: its answer, as JSON or
/// as one SSE event.
async fn stateless_tools_list(server: &Controlled, name: Option<&str>) -> Value {
    let response = bounded(
        "tools/list",
        post_2026(server, name, "tools/list", json!({})).send(),
    )
    .await
    .expect("tools/list is answered");
    assert_eq!(response.status(), 200);
    let sse = response
        .headers()
        .get("content-type")
        .is_some_and(|kind| kind.to_str().unwrap_or("").starts_with("text/event-stream"));
    let answer = if sse {
        crate::http_support::SseReader::new(response)
            .next_message()
            .await
            .expect("the answer")
    } else {
        serde_json::from_str(&bounded("the answer", response.text()).await.unwrap()).unwrap()
    };
    assert!(answer["result"]["tools"].is_array(), "{answer}");
    answer
}

/// Issue 20: a 2026-07-28 client that listens and re-lists with stateless
/// requests after each change is credited on its listen stream's entry
/// (`refreshed 2, missed 0`), not reported as missing both; requests that
/// match no single listen stream stay in `"stateless"`, which says why.
#[tokio::test]
async fn a_2026_client_that_relists_statelessly_is_credited_on_its_listen_stream() {
    let server = controlled().await;
    let listen = post_2026(
        &server,
        Some("relister"),
        "subscriptions/listen",
        json!({ "notifications": { "toolsListChanged": true } }),
    );
    let response = bounded("subscriptions/listen", listen.send())
        .await
        .expect("the listen stream");
    assert_eq!(response.status(), 200);
    let mut stream = crate::http_support::SseReader::new(response);
    let ack = stream.next_message().await.expect("the acknowledgement");
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    for _ in 0..2 {
        let (status, answer) = server.change(json!({ "change": "add_tool" })).await;
        assert_eq!(status, 200, "{answer}");
        let told = stream.next_notification().await;
        assert_eq!(told["method"], "notifications/tools/list_changed");
        stateless_tools_list(&server, Some("relister")).await;
    }
    // A client that never listened, and a request naming no client.
    stateless_tools_list(&server, Some("loner")).await;
    stateless_tools_list(&server, None).await;
    let report = server
        .report_when(|report| {
            session_of(report, "relister").is_some_and(|s| s["summary"]["refreshed"] == 2)
        })
        .await;
    assert_valid(&report);
    let relister = session_of(&report, "relister").unwrap();
    assert_eq!(relister["protocol"], "2026-07-28");
    assert_eq!(
        relister["summary"],
        json!({ "seen": 2, "refreshed": 2, "missed": 0, "stale_calls": 0 }),
        "{report:#}"
    );
    assert_eq!(relister["requests"]["tools/list"], 2, "{report:#}");
    let stateless = report["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "stateless")
        .expect("a stateless entry");
    assert_eq!(stateless["requests"], json!({ "tools/list": 2 }));
    assert_eq!(
        stateless["unmatched"],
        json!({ "no_client": 1, "no_listen_stream": 1, "several_listen_streams": 0 })
    );
    assert_eq!(stateless["summary"]["refreshed"], 0);
}
