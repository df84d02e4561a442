//! The rmcp reference driver for `dynamic-mcp-server check` (docs/check.md):
//! an application written as an rmcp user writes one, with rmcp's
//! list-changed hooks and its `list_all_*` pagination helpers, that follows
//! the client contract over HTTP and stdio.
//!
//! ```sh
//! cargo build --example check_client
//! dynamic-mcp-server check --client target/debug/examples/check_client
//! ```
//!
//! `DMS_CHECK_BREAK` makes it deliberately wrong, so that the test suite can
//! show each check fails a client that has its bug: `never-relist`
//! (ignores every notification and gives up on a failed listing), `page1`
//! (reads the first page only), `empty-cursor-end` (takes `""` for the end),
//! `repeat-cursor` (asks each cursor three times and keeps every answer),
//! `call-removed` (calls the context's tools whether it holds them or not),
//! `old-schema` (keeps the first definition it saw of each tool),
//! `ignore-404` (never starts a new session), `ignore-dropped-stream` (never
//! reconnects its GET stream), `poll` (lists every 20 ms instead of
//! listening), `do-nothing` (exits at once).

// The contract speaks 2025-11-25, where resources/subscribe is the way.
#![allow(deprecated)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, PaginatedRequestParams, ReadResourceRequestParams,
    SubscribeRequestParams, Tool,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::NeverRetry;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The longest the application waits for one listing or call.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What the server told the application.
#[derive(Debug)]
enum Told {
    Changed(&'static str),
    Updated(String),
}

/// rmcp's list-changed hooks, forwarding to the application's loop.
struct Hooks(mpsc::UnboundedSender<Told>);

impl ClientHandler for Hooks {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.0.send(Told::Changed("tools"));
    }
    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.0.send(Told::Changed("prompts"));
    }
    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.0.send(Told::Changed("resources"));
    }
    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(Told::Updated(params.uri));
    }
}

type Client = RunningService<RoleClient, Hooks>;

/// What the application holds: the lists it would offer a model.
#[derive(Default)]
struct Held {
    tools: Option<Vec<Tool>>,
    prompts: Option<Vec<String>>,
    resources: Option<Vec<String>>,
}

impl Held {
    /// The view the contract reports: a tool's revision is its schema's
    /// `properties.revision.const`, else 1.
    fn view(&self) -> Value {
        let mut view = serde_json::Map::new();
        if let Some(tools) = &self.tools {
            let tools: Vec<Value> = tools
                .iter()
                .filter(|t| t.name != "view")
                .map(|t| {
                    let revision = t
                        .input_schema
                        .get("properties")
                        .and_then(|p| p.get("revision"))
                        .and_then(|r| r.get("const"))
                        .and_then(Value::as_u64)
                        .unwrap_or(1);
                    json!({ "name": t.name, "revision": revision })
                })
                .collect();
            view.insert("tools".into(), tools.into());
        }
        if let Some(prompts) = &self.prompts {
            view.insert("prompts".into(), json!(prompts));
        }
        if let Some(resources) = &self.resources {
            view.insert("resources".into(), json!(resources));
        }
        Value::Object(view)
    }
}

struct App {
    brk: String,
    context: Value,
    url: Option<String>,
    told: mpsc::UnboundedSender<Told>,
    held: Held,
    reported: Option<Value>,
}

impl App {
    fn broken(&self, mode: &str) -> bool {
        self.brk == mode
    }

    async fn connect(&self) -> Result<Client, Error> {
        let hooks = Hooks(self.told.clone());
        match &self.url {
            Some(url) => {
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
                // A 404 is the application's to handle: it lists again after it.
                config.reinit_on_expired_session = false;
                if self.broken("ignore-dropped-stream") {
                    config.retry_config = Arc::new(NeverRetry::default());
                }
                Ok(hooks
                    .serve(StreamableHttpClientTransport::from_config(config))
                    .await?)
            }
            None => {
                let argv: Vec<String> = serde_json::from_value(self.context["command"].clone())?;
                let mut child = tokio::process::Command::new(&argv[0])
                    .args(&argv[1..])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()?;
                let (stdout, stdin) = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
                // The child lives as long as the process; kill_on_drop ends it.
                std::mem::forget(child);
                Ok(hooks.serve((stdout, stdin)).await?)
            }
        }
    }

    fn lists(&self) -> Vec<String> {
        serde_json::from_value(self.context["lists"].clone()).unwrap_or_default()
    }

    /// List one list the way the application does.
    async fn list(&mut self, client: &Client, list: &str) -> Result<(), Error> {
        let brk = self.brk.as_str();
        match list {
            "tools" => {
                let helper = client.list_all_tools();
                let mut tools = walk(brk, helper, |cursor| async move {
                    let page = client.list_tools(Some(params(cursor))).await?;
                    Ok((page.tools, page.next_cursor))
                })
                .await?;
                if self.broken("old-schema")
                    && let Some(old) = &self.held.tools
                {
                    for tool in &mut tools {
                        if let Some(first) = old.iter().find(|o| o.name == tool.name) {
                            *tool = first.clone();
                        }
                    }
                }
                self.held.tools = Some(tools);
            }
            "prompts" => {
                let helper = client.list_all_prompts();
                let prompts = walk(brk, helper, |cursor| async move {
                    let page = client.list_prompts(Some(params(cursor))).await?;
                    Ok((page.prompts, page.next_cursor))
                })
                .await?;
                self.held.prompts = Some(prompts.into_iter().map(|p| p.name).collect());
            }
            "resources" => {
                let helper = client.list_all_resources();
                let resources = walk(brk, helper, |cursor| async move {
                    let page = client.list_resources(Some(params(cursor))).await?;
                    Ok((page.resources, page.next_cursor))
                })
                .await?;
                self.held.resources = Some(resources.into_iter().map(|r| r.uri.clone()).collect());
            }
            _ => {}
        }
        Ok(())
    }

    /// List every list the application holds, and say what it holds now.
    async fn list_all(&mut self, client: &Client) -> Result<(), Error> {
        for list in self.lists() {
            self.relist(client, &list).await?;
        }
        self.report(client, false).await
    }

    /// List `list` again; a listing refused midway (a cursor gone stale)
    /// starts again from the first page, a few times.
    async fn relist(&mut self, client: &Client, list: &str) -> Result<(), Error> {
        let mut tries = 0;
        loop {
            // Every wait on the server has a limit: a request whose stream was
            // dropped may never be answered.
            let listed = tokio::time::timeout(REQUEST_TIMEOUT, self.list(client, list)).await;
            match listed.unwrap_or_else(|_| Err("the server did not answer in time".into())) {
                Ok(()) => return Ok(()),
                Err(_) if self.broken("never-relist") => return Ok(()),
                Err(error) if tries >= 3 || is_gone(&error) => return Err(error),
                Err(_) => tries += 1,
            }
        }
    }

    /// Call `view` when what the application holds has changed (`always`:
    /// the last report, before it exits).
    async fn report(&mut self, client: &Client, always: bool) -> Result<(), Error> {
        let view = self.held.view();
        if !always && self.reported.as_ref() == Some(&view) {
            return Ok(());
        }
        let Value::Object(arguments) = view.clone() else {
            unreachable!()
        };
        client
            .call_tool(CallToolRequestParams::new("view").with_arguments(arguments))
            .await?;
        self.reported = Some(view);
        Ok(())
    }

    /// Call `tool` with arguments built from the schema the application holds.
    async fn call(&self, client: &Client, tool: &str) -> Result<(), Error> {
        let held = self.held.tools.iter().flatten().find(|t| t.name == tool);
        let definition = match held {
            Some(definition) => definition,
            None if self.broken("call-removed") => {
                let _ = client
                    .call_tool(CallToolRequestParams::new(tool.to_owned()))
                    .await;
                return Ok(());
            }
            // A tool it does not hold is not called.
            None => return Ok(()),
        };
        let mut arguments = serde_json::Map::new();
        let schema = &definition.input_schema;
        let properties = schema.get("properties").cloned().unwrap_or_default();
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = name.as_str() else { continue };
            let property = &properties[name];
            let value = match (property.get("const"), property["type"].as_str()) {
                (Some(value), _) => value.clone(),
                (None, Some("integer" | "number")) => json!(1),
                (None, Some("boolean")) => json!(true),
                _ => json!("x"),
            };
            arguments.insert(name.to_owned(), value);
        }
        let call = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        client.call_tool(call).await?;
        Ok(())
    }
}

fn params(cursor: Option<String>) -> PaginatedRequestParams {
    PaginatedRequestParams::default().with_cursor(cursor)
}

/// All pages of a list: rmcp's `list_all_*` helper, or, in a broken mode,
/// a hand-written walk with that mode's bug.
async fn walk<T: Clone, Fut>(
    brk: &str,
    helper: impl Future<Output = Result<Vec<T>, rmcp::ServiceError>>,
    page: impl Fn(Option<String>) -> Fut,
) -> Result<Vec<T>, Error>
where
    Fut: Future<Output = Result<(Vec<T>, Option<String>), Error>>,
{
    match brk {
        "page1" => Ok(page(None).await?.0),
        "empty-cursor-end" => {
            let (mut items, mut next) = page(None).await?;
            while let Some(cursor) = next.filter(|c| !c.is_empty()) {
                let (mut more, after) = page(Some(cursor)).await?;
                items.append(&mut more);
                next = after;
            }
            Ok(items)
        }
        "repeat-cursor" => {
            let (mut items, mut next) = page(None).await?;
            while let Some(cursor) = next.take() {
                for _ in 0..3 {
                    let (more, after) = page(Some(cursor.clone())).await?;
                    items.extend(more);
                    next = after;
                }
            }
            Ok(items)
        }
        _ => Ok(helper.await?),
    }
}

/// Whether a request failed because the session or connection is gone.
fn is_gone(error: &Error) -> bool {
    let text = error.to_string();
    text.contains("404") || text.contains("expired") || text.contains("closed")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let brk = std::env::var("DMS_CHECK_BREAK").unwrap_or_default();
    if brk == "do-nothing" {
        return Ok(());
    }
    let context: Value = serde_json::from_str(&std::env::var("MCP_CONFORMANCE_CONTEXT")?)?;
    let url = match context["transport"].as_str() {
        Some("stdio") => None,
        _ => std::env::args().next_back(),
    };
    let (told, mut hear) = mpsc::unbounded_channel();
    let mut app = App {
        brk,
        context,
        url,
        told,
        held: Held::default(),
        reported: None,
    };
    let start = Instant::now();
    let end = start + Duration::from_millis(app.context["durationMs"].as_u64().unwrap_or(3000));
    let mut calls: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for call in app.context["calls"].as_array().into_iter().flatten() {
        let (Some(at), Some(tool)) = (call["atMs"].as_u64(), call["tool"].as_str()) else {
            continue;
        };
        calls.entry(at).or_default().push(tool.to_owned());
    }
    let mut client = app.connect().await?;
    for uri in app.context["subscribe"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        client.subscribe(SubscribeRequestParams::new(uri)).await?;
    }
    app.list_all(&client).await?;
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        let next_call = calls
            .keys()
            .next()
            .map(|at| start + Duration::from_millis(*at));
        let result: Result<(), Error> = tokio::select! {
            () = tokio::time::sleep_until(end) => break,
            () = tokio::time::sleep_until(next_call.unwrap_or(end)), if next_call.is_some() => {
                let (_, tools) = calls.pop_first().expect("a call is due");
                let mut result = Ok(());
                for tool in tools {
                    let called = tokio::time::timeout(REQUEST_TIMEOUT, app.call(&client, &tool)).await;
                    result = result.and(called.unwrap_or_else(|_| Err("the call was not answered in time".into())));
                }
                result
            }
            _ = poll.tick(), if app.broken("poll") => app.list_all(&client).await,
            told = hear.recv() => match told {
                _ if app.broken("never-relist") || app.broken("poll") => Ok(()),
                Some(Told::Changed(list)) if app.lists().iter().any(|l| l == list) => {
                    let relisted = app.relist(&client, list).await;
                    match relisted {
                        Ok(()) => app.report(&client, false).await,
                        error => error,
                    }
                }
                Some(Told::Updated(uri)) => client
                    .read_resource(ReadResourceRequestParams::new(uri))
                    .await
                    .map(drop)
                    .map_err(Into::into),
                _ => Ok(()),
            },
        };
        // A session the server ended (404), or a connection gone: a new
        // session, listed again from the start.
        let gone = result.as_ref().is_err_and(is_gone) || client.is_closed();
        if gone && !app.broken("ignore-404") {
            let _ = client.close_with_timeout(Duration::from_secs(1)).await;
            client = app.connect().await?;
            app.list_all(&client).await?;
        } else if let Err(error) = result {
            eprintln!("check_client: {error}");
        }
    }
    let _ = app.report(&client, true).await;
    client.cancel().await?;
    Ok(())
}
