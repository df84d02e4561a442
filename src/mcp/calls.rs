//! The requests on one item: `tools/call`, `prompts/get` and
//! `resources/read`, answered from the catalog's snapshot by the pure
//! [`crate::tools`], [`crate::prompts`] and [`crate::resources`].

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, ReadResourceRequestParams, ReadResourceResponse, RequestMetaObject,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::{Value, json};

use super::McpHandler;
use super::errors::{method_not_found, resource_not_found};
use crate::fleet::UpstreamSpec;
use crate::observe::Event;
use crate::tools::ToolError;
use crate::trigger_tools::TriggerTool;
use crate::{prompts, resources, tools};

/// A tool's answer as its result, signed by the fleet upstream that gave
/// it, if any.
fn tool_result(
    answer: Result<Value, ToolError>,
    upstream: Option<&UpstreamSpec>,
) -> CallToolResult {
    match answer {
        Ok(mut value) => {
            if let Some(upstream) = upstream {
                upstream.sign(&mut value);
            }
            CallToolResult::structured(value)
        }
        // The text is JSON so that clients can parse it; no structured
        // content, since it would not match the tool's output schema.
        Err(error) => CallToolResult::error(vec![ContentBlock::text(
            json!({ "error": error.to_string() }).to_string(),
        )]),
    }
}

impl McpHandler {
    pub(super) async fn answer_call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if self.profile.offer.trigger_tools
            && let Some(tool) = TriggerTool::named(&request.name)
        {
            return self.call_trigger_tool(tool, request, context).await;
        }
        let catalog = self.snapshot().await?;
        let tools = &catalog.tools;
        self.see(&context.meta, |session| Event::Request {
            session,
            method: "tools/call",
        })
        .await;
        let upstream = self.profile.upstream.as_deref();
        let arguments = request.arguments.clone().map_or(Value::Null, Value::Object);
        if let Some(upstream) = upstream
            && let Some(answer) = upstream.call_named(&request.name, &arguments)
        {
            return Ok(tool_result(answer, Some(upstream)).into());
        }
        // The catalog's name for it: a fleet upstream's prefix taken off.
        let name = match upstream {
            Some(upstream) => upstream.catalog_name(&request.name).unwrap_or_default(),
            None => &request.name,
        };
        self.see(&context.meta, |session| Event::ToolCall {
            session,
            name: request.name.to_string(),
            revision: request
                .arguments
                .as_ref()
                .and_then(|arguments| arguments.get("revision"))
                .and_then(Value::as_u64),
            current: tools.find(name).map(|(_, entry)| u64::from(entry.revision)),
        })
        .await;
        let Some((_, entry)) = tools.find(name) else {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {}", request.name),
                Some(json!({ "tool": request.name })),
            ));
        };
        let answer = tools::call(entry.number, entry.revision, &arguments, tools.len());
        Ok(tool_result(answer, upstream).into())
    }

    pub(super) async fn answer_get(
        &self,
        request: GetPromptRequestParams,
        meta: &RequestMetaObject,
    ) -> Result<GetPromptResponse, McpError> {
        self.see(meta, |session| Event::Request {
            session,
            method: "prompts/get",
        })
        .await;
        let catalog = self.snapshot().await?;
        let prompts = catalog
            .prompts
            .ok_or_else(|| method_not_found("prompts/get"))?;
        let Some((_, entry)) = prompts.find(&request.name) else {
            return Err(McpError::invalid_params(
                format!("Unknown prompt: {}", request.name),
                Some(json!({ "prompt": request.name })),
            ));
        };
        let topic = request.arguments.as_ref().and_then(|a| a.get("topic"));
        prompts::get(entry.number, entry.revision, topic)
            .map(Into::into)
            .map_err(|error| McpError::invalid_params(error.to_string(), None))
    }

    pub(super) async fn answer_read(
        &self,
        request: ReadResourceRequestParams,
        meta: &RequestMetaObject,
    ) -> Result<ReadResourceResponse, McpError> {
        self.see(meta, |session| Event::Request {
            session,
            method: "resources/read",
        })
        .await;
        let catalog = self.snapshot().await?;
        let resources = catalog
            .resources
            .ok_or_else(|| method_not_found("resources/read"))?;
        let (_, entry) = resources
            .find(&request.uri)
            .ok_or_else(|| resource_not_found(&request.uri))?;
        Ok(resources::read(entry.number, entry.revision).into())
    }
}
