//! The gateway under test, as its MCP clients see it: rmcp's client over its
//! downstream Streamable HTTP address, or over the stdio of a command the
//! probe starts (a stdio gateway is started by its host application).
//!
//! It notes the moment of each `notifications/tools/list_changed` the gateway
//! sends, lists the tools with rmcp's pagination helper, and calls a tool
//! with arguments built from the schema the gateway listed, as the client
//! contract of `check` does (docs/check.md).

use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    JsonObject, Tool,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

/// How the probe reaches the gateway.
#[derive(Debug, Clone)]
pub enum Target {
    /// Its downstream Streamable HTTP address.
    Url(String),
    /// A stdio gateway: this command line, run through `sh -c`.
    Command(String),
}

/// The probe's name in `initialize`, so a gateway's logs tell it apart.
const CLIENT_NAME: &str = "dynamic-mcp-server-probe";

/// How long a stdio gateway gets to exit after its stdin closes.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Notes when each tools `list_changed` arrives.
struct Listener {
    notices: watch::Sender<Vec<Instant>>,
}

impl ClientHandler for Listener {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new(CLIENT_NAME, env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let now = Instant::now();
        self.notices.send_modify(|notices| notices.push(now));
    }
}

/// One connection to the gateway.
pub struct Gateway {
    service: RunningService<RoleClient, Listener>,
    notices: watch::Receiver<Vec<Instant>>,
    child: Option<Child>,
}

impl Gateway {
    /// Connect and initialize; a command's stderr is appended to `stderr`.
    pub async fn connect(target: &Target, stderr: &Path, wait: Duration) -> Result<Self, String> {
        let (sender, notices) = watch::channel(Vec::new());
        let listener = Listener { notices: sender };
        let (service, child) = match target {
            Target::Url(url) => {
                let transport = StreamableHttpClientTransport::from_uri(url.as_str());
                let service = timeout(wait, listener.serve(transport))
                    .await
                    .map_err(|_| format!("{url}: no answer to initialize in {wait:?}"))?
                    .map_err(|e| format!("{url}: initialize failed: {e}"))?;
                (service, None)
            }
            Target::Command(command) => {
                let log = File::options()
                    .create(true)
                    .append(true)
                    .open(stderr)
                    .map_err(|e| format!("{}: {e}", stderr.display()))?;
                // `exec`: the gateway is the child the probe stops, not a shell.
                let mut child = Command::new("sh")
                    .arg("-c")
                    .arg(format!("exec {command}"))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(log)
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| format!("starting {command:?}: {e}"))?;
                let stdout = child.stdout.take().expect("piped");
                let stdin = child.stdin.take().expect("piped");
                let service = timeout(wait, listener.serve((stdout, stdin)))
                    .await
                    .map_err(|_| format!("{command:?}: no answer to initialize in {wait:?}"))?
                    .map_err(|e| format!("{command:?}: initialize failed: {e}"))?;
                (service, Some(child))
            }
        };
        Ok(Self {
            service,
            notices,
            child,
        })
    }

    /// The gateway's `serverInfo` and capabilities, as `initialize` gave them.
    pub fn info(&self) -> Value {
        self.service
            .peer_info()
            .and_then(|info| serde_json::to_value(&*info).ok())
            .unwrap_or(Value::Null)
    }

    /// Whether the gateway's `initialize` result says `tools.listChanged`.
    pub fn advertises_list_changed(&self) -> bool {
        self.service
            .peer_info()
            .and_then(|info| info.capabilities.tools.as_ref()?.list_changed)
            .unwrap_or(false)
    }

    /// How many tools `list_changed` have arrived so far.
    pub fn notices(&self) -> usize {
        self.notices.borrow().len()
    }

    /// When the notice after the first `seen` arrived, waiting at most `wait`.
    pub async fn wait_notice(&mut self, seen: usize, wait: Duration) -> Option<Instant> {
        let notices = timeout(wait, self.notices.wait_for(|n| n.len() > seen))
            .await
            .ok()?
            .ok()?;
        Some(notices[seen])
    }

    /// Every tool the gateway lists now (following `nextCursor`).
    pub async fn tools(&self, wait: Duration) -> Result<Vec<Tool>, String> {
        timeout(wait, self.service.peer().list_all_tools())
            .await
            .map_err(|_| format!("tools/list: no answer in {wait:?}"))?
            .map_err(|e| format!("tools/list: {e}"))
    }

    /// Call `tool` with arguments built from the schema the gateway listed.
    /// `Err` is a JSON-RPC error (or no answer); a tool error is an `Ok`
    /// result with `isError`.
    pub async fn call(&self, tool: &Tool, wait: Duration) -> Result<CallToolResult, String> {
        let params =
            CallToolRequestParams::new(tool.name.to_string()).with_arguments(arguments(tool));
        timeout(wait, self.service.call_tool(params))
            .await
            .map_err(|_| format!("tools/call {}: no answer in {wait:?}", tool.name))?
            .map_err(|e| format!("tools/call {}: {e}", tool.name))
    }

    /// End the session; a stdio gateway gets its stdin closed, then a
    /// moment to exit, then a kill.
    pub async fn close(self) {
        let Self { service, child, .. } = self;
        let _ = timeout(EXIT_GRACE, service.cancel()).await;
        if let Some(mut child) = child
            && timeout(EXIT_GRACE, child.wait()).await.is_err()
        {
            let _ = child.kill().await;
        }
    }
}

/// The arguments the client contract builds from a schema: each required
/// property gets its `const` if any, else `"x"` for a string, `1` for an
/// integer or number, `true` for a boolean.
pub fn arguments(tool: &Tool) -> JsonObject {
    let schema = &*tool.input_schema;
    let mut arguments = JsonObject::new();
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        let property = schema
            .get("properties")
            .and_then(|properties| properties.get(name))
            .unwrap_or(&Value::Null);
        let value = match (property.get("const"), property["type"].as_str()) {
            (Some(value), _) => value.clone(),
            (None, Some("integer" | "number")) => json!(1),
            (None, Some("boolean")) => json!(true),
            _ => json!("x"),
        };
        arguments.insert(name.to_owned(), value);
    }
    arguments
}

/// A tool's revision as its schema says: `properties.revision.const`, else 1.
pub fn revision(tool: &Tool) -> u64 {
    tool.input_schema
        .get("properties")
        .and_then(|properties| properties.get("revision"))
        .and_then(|revision| revision.get("const"))
        .and_then(Value::as_u64)
        .unwrap_or(1)
}

/// A tool result's text, joined.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|content| content.as_text().map(|text| text.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tool(schema: Value) -> Tool {
        let Value::Object(schema) = schema else {
            panic!("an object")
        };
        Tool::new("t", "a tool", Arc::new(schema))
    }

    #[test]
    fn arguments_follow_the_client_contract() {
        let tool = tool(json!({
            "type": "object",
            "properties": {
                "message": {"type": "string"}, "a": {"type": "integer"},
                "b": {"type": "number"}, "flag": {"type": "boolean"},
                "revision": {"type": "integer", "const": 2}, "optional": {"type": "string"}
            },
            "required": ["message", "a", "b", "flag", "revision"]
        }));
        assert_eq!(
            Value::Object(arguments(&tool)),
            json!({"message": "x", "a": 1, "b": 1, "flag": true, "revision": 2})
        );
        assert_eq!(revision(&tool), 2);
    }

    #[test]
    fn a_schema_without_a_revision_is_revision_one() {
        assert_eq!(revision(&tool(json!({"type": "object"}))), 1);
    }
}
