//! `GET /metrics` on the control endpoint, against the real binary: a known
//! run (two handshake clients, one that re-lists every page after each change
//! and one that never does, and 2026-07-28 stateless requests with a stale
//! call and a refused cursor) and every family's figures after it.

use crate::common;

use common::{Controlled, bounded};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::watch;

/// Counts `tools/list_changed`.
struct Counting(watch::Sender<usize>);

impl ClientHandler for Counting {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.0.send_modify(|n| *n += 1);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("metrics-test", "1.0"),
        )
    }
}

struct Client {
    service: RunningService<RoleClient, Counting>,
    told: watch::Receiver<usize>,
}

impl Client {
    async fn connect(url: &str) -> Self {
        let (tx, told) = watch::channel(0);
        let transport = StreamableHttpClientTransport::from_uri(url);
        let service = bounded("initialize", Counting(tx).serve(transport))
            .await
            .expect("the client initializes");
        Self { service, told }
    }

    async fn wait_told(&mut self, n: usize) {
        bounded("a notification", self.told.wait_for(|&c| c >= n))
            .await
            .expect("the client runs");
    }
}

/// The scrape's samples, `name{labels}` to value.
struct Scrape(Vec<(String, f64)>);

impl Scrape {
    fn value(&self, series: &str) -> f64 {
        self.0
            .iter()
            .find(|(name, _)| name == series)
            .unwrap_or_else(|| panic!("no {series} in {:#?}", self.0))
            .1
    }

    /// The sum over every series of family `name` whose labels include `with`.
    fn sum(&self, name: &str, with: &str) -> f64 {
        self.0
            .iter()
            .filter(|(series, _)| {
                series
                    .strip_prefix(name)
                    .is_some_and(|labels| labels.starts_with('{') && labels.contains(with))
            })
            .map(|(_, value)| value)
            .sum()
    }
}

impl Controlled {
    /// GET /metrics: 200, the OpenMetrics content type, `# EOF` last.
    async fn scrape(&self) -> Scrape {
        let request = self.http.get(format!("{}/metrics", self.control)).send();
        let response = bounded("GET /metrics", request).await.expect("GET");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        let text = response.text().await.expect("a body");
        assert_eq!(text.lines().last(), Some("# EOF"), "{text}");
        Scrape(
            text.lines()
                .filter(|line| !line.starts_with('#'))
                .map(|line| {
                    let (series, value) = line.rsplit_once(' ').expect("name value");
                    (series.to_owned(), value.parse().expect("a number"))
                })
                .collect(),
        )
    }

    /// Scrape until `ready` holds: a notification is counted just after it
    /// is written, so the client may have it a moment before the metrics.
    async fn scrape_when(&self, ready: impl Fn(&Scrape) -> bool) -> Scrape {
        bounded("the metrics", async {
            loop {
                let scrape = self.scrape().await;
                if ready(&scrape) {
                    return scrape;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await
    }

    /// A 2026-07-28 request: a plain POST with no session.
    async fn stateless(&self, id: u64, method: &str, params: Value) -> Value {
        let mut params = params;
        params["_meta"] = common::RawClient::meta_2026();
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let request = self
            .http
            .post(self.mcp_url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        // A call names its tool in a header too.
        let request = match params["name"].as_str() {
            Some(name) => request.header("mcp-name", name),
            None => request,
        };
        let request = request.body(body.to_string()).send();
        let response = bounded(method, request).await.expect("POST");
        let text = response.text().await.expect("a body");
        // JSON, or one SSE event whose data is the answer.
        let json = text
            .lines()
            .find_map(|line| line.strip_prefix("data:"))
            .unwrap_or(&text);
        serde_json::from_str(json.trim()).unwrap_or_else(|_| panic!("JSON: {text}"))
    }
}

// The per-change families, summed over the sessions' revisions.
const OWED: &str = "dynamic_mcp_change_sessions_total";
const NOTIFIED: &str = "dynamic_mcp_change_notified_seconds_count";
const REFRESHED: &str = "dynamic_mcp_change_refreshed_seconds_count";
const MISSED: &str = "dynamic_mcp_change_missed_total";
const TOOLS: &str = r#"list="tools""#;

#[tokio::test]
async fn every_family_counts_a_known_run_of_changes_and_clients() {
    // Three tools by pages of two: a re-list is two or three requests.
    let server =
        Controlled::start(&["--http", "127.0.0.1:0", "--tools", "3", "--page-size", "2"]).await;
    let before = server.scrape().await;
    assert_eq!(before.sum(OWED, TOOLS), 0.0);
    assert_eq!(before.sum("dynamic_mcp_sessions_open", ""), 0.0);

    let mut relister = Client::connect(server.mcp_url()).await;
    let mut ignorer = Client::connect(server.mcp_url()).await;
    let open = server.scrape().await;
    let protocol = relister
        .service
        .peer_info()
        .expect("the server's info")
        .protocol_version
        .to_string();
    assert_eq!(
        open.value(&format!(
            r#"dynamic_mcp_sessions_open{{protocol="{protocol}",transport="http"}}"#
        )),
        2.0
    );
    assert_eq!(
        open.value(r#"dynamic_mcp_requests_total{method="initialize",outcome="ok"}"#),
        2.0
    );

    for (n, tools) in [(1, 4), (2, 5)] {
        let (status, answer) = server.change(json!({ "change": "add_tool" })).await;
        assert_eq!(status, 200, "{answer}");
        relister.wait_told(n).await;
        ignorer.wait_told(n).await;
        let listed = bounded("every page", relister.service.list_all_tools())
            .await
            .expect("tools/list");
        assert_eq!(listed.len(), tools);
    }

    // Stateless: a list, a call of a tool that is not there, a bad cursor.
    let list = server.stateless(1, "tools/list", json!({})).await;
    assert!(list["result"]["tools"].is_array(), "{list}");
    let call = server
        .stateless(
            2,
            "tools/call",
            json!({ "name": "nosuchtool", "arguments": {} }),
        )
        .await;
    assert_eq!(call["error"]["code"], -32602, "{call}");
    let cursor = server
        .stateless(3, "tools/list", json!({ "cursor": "not-a-cursor" }))
        .await;
    assert_eq!(cursor["error"]["code"], -32602, "{cursor}");

    let scrape = server
        .scrape_when(|scrape| scrape.sum(NOTIFIED, TOOLS) >= 4.0)
        .await;
    assert_eq!(
        scrape.value(r#"dynamic_mcp_changes_total{list="tools",kind="add_tool"}"#),
        2.0
    );
    // Two changes, two sessions open at each: four owed, four told.
    assert_eq!(scrape.sum(OWED, TOOLS), 4.0);
    assert_eq!(
        scrape.value(&format!(
            r#"dynamic_mcp_change_sessions_total{{list="tools",protocol="{protocol}"}}"#
        )),
        4.0
    );
    assert_eq!(scrape.sum(NOTIFIED, TOOLS), 4.0);
    assert_eq!(
        scrape.value(
            r#"dynamic_mcp_notifications_total{notification="notifications/tools/list_changed",cause="change"}"#
        ),
        4.0
    );
    // Only the relister re-listed to the end, once per change.
    assert_eq!(scrape.sum(REFRESHED, TOOLS), 2.0);
    // Each re-list: 4 tools in 2 pages, then 5 in 3; and the stateless list
    // (1 page of 2), the refused cursor (no page).
    assert_eq!(
        scrape.value(r#"dynamic_mcp_requests_total{method="tools/list",outcome="ok"}"#),
        6.0
    );
    assert_eq!(
        scrape.value(r#"dynamic_mcp_requests_total{method="tools/list",outcome="invalid_params"}"#),
        1.0
    );
    assert_eq!(
        scrape.value(r#"dynamic_mcp_requests_total{method="tools/call",outcome="invalid_params"}"#),
        1.0
    );
    assert_eq!(
        scrape.value(r#"dynamic_mcp_stale_calls_total{reason="unknown tool"}"#),
        1.0
    );
    assert_eq!(
        scrape.value(r#"dynamic_mcp_refused_cursors_total{list="tools"}"#),
        1.0
    );
    // A change's notification cannot come before it, nor its refresh before
    // its notification; all within the bounded wait.
    let (told, refreshed) = (
        scrape.sum("dynamic_mcp_change_notified_seconds_sum", TOOLS),
        scrape.sum("dynamic_mcp_change_refreshed_seconds_sum", TOOLS),
    );
    assert!(
        told >= 0.0 && refreshed > 0.0 && refreshed < 60.0,
        "{told} {refreshed}"
    );
    assert_eq!(scrape.sum(MISSED, TOOLS), 0.0);

    // The ignorer leaves owing both changes: missed; one session stays open.
    ignorer.service.cancel().await.expect("the client stops");
    let closed = server
        .scrape_when(|scrape| scrape.sum(MISSED, TOOLS) >= 2.0)
        .await;
    assert_eq!(closed.sum(MISSED, TOOLS), 2.0);
    assert_eq!(closed.sum("dynamic_mcp_sessions_open", ""), 1.0);
    relister.service.cancel().await.expect("the client stops");
}

#[tokio::test]
async fn a_stdio_server_labels_its_session_stdio_and_metrics_takes_only_get() {
    let mut server = Controlled::start(&[]).await;
    let mut raw = server.process.raw();
    raw.initialize().await;
    raw.initialized().await;
    let scrape = server
        .scrape_when(|scrape| scrape.sum("dynamic_mcp_sessions_open", "") >= 1.0)
        .await;
    assert_eq!(
        scrape.sum("dynamic_mcp_sessions_open", r#"transport="stdio""#),
        1.0
    );
    let (status, answer) = server.change(json!({ "change": "add_tool" })).await;
    assert_eq!(status, 200, "{answer}");
    let scrape = server
        .scrape_when(|scrape| scrape.sum(NOTIFIED, TOOLS) >= 1.0)
        .await;
    assert_eq!(scrape.sum(OWED, TOOLS), 1.0);

    let post = server
        .http
        .post(format!("{}/metrics", server.control))
        .send();
    let response = bounded("POST /metrics", post).await.expect("POST");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
}
