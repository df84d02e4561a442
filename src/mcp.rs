//! The rmcp `ServerHandler`: the protocol edge. It translates MCP requests into
//! messages to the actors and their replies into MCP results, and holds no
//! state of its own.
//!
//! One handler serves one client's session for as long as rmcp keeps it, and
//! its Session actor lives exactly as long: dropping the last copy of the
//! handler stops the session, which is how an HTTP session that rmcp closed
//! (DELETE, idle) leaves the registry.

#![allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it

use std::sync::Arc;

use ractor::{ActorRef, call};
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    CustomRequest, CustomResult, ErrorCode, Implementation, InitializeRequestParams,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    SetLevelRequestParams, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::actors::registry::{RegistryMsg, ToolList};
use crate::actors::session::{ListenStream, SendListChanged, SessionMsg};
use crate::{pagination, revision, tools};

/// The SEP-2549 caching hints of a 2026-07-28 list result, `(ttlMs,
/// cacheScope)`. A list here changes whenever a signal or a client says so,
/// which no freshness window can foresee: 0 ms, so a client asks again or
/// listens for `list_changed` instead of trusting a copy. Every client sees
/// the same lists, so a shared cache may keep them: public.
pub const LIST_CACHE_HINTS: (Option<u64>, Option<CacheScope>) = (Some(0), Some(CacheScope::Public));

/// Serves one client's MCP requests on behalf of its Session actor.
#[derive(Clone)]
pub struct McpHandler {
    registry: ActorRef<RegistryMsg>,
    session: ActorRef<SessionMsg>,
    info: ServerConfig,
    _session_lifetime: Arc<StopOnDrop>,
}

/// Stops the session when the last copy of its handler is dropped.
struct StopOnDrop(ActorRef<SessionMsg>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop(None);
    }
}

impl McpHandler {
    pub fn new(registry: ActorRef<RegistryMsg>, session: ActorRef<SessionMsg>) -> Self {
        let capabilities = ServerCapabilities::builder()
            .enable_logging()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        let info = ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "A test server whose tool list grows by one tool on every SIGHUP, \
                 each followed by notifications/tools/list_changed.",
            );
        Self {
            registry,
            _session_lifetime: Arc::new(StopOnDrop(session.clone())),
            session,
            info,
        }
    }

    async fn snapshot(&self) -> Result<ToolList, McpError> {
        call!(self.registry, RegistryMsg::Snapshot)
            .map_err(|_| McpError::internal_error("the server is shutting down", None))
    }
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        self.info.clone()
    }

    /// Answers only once the session has subscribed to the registry: a
    /// session actor spawned for an HTTP client starts in the background, and
    /// a SIGHUP the client sends after this answer must reach it.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        call!(self.session, SessionMsg::Started)
            .map_err(|_| McpError::internal_error("the server is shutting down", None))?;
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        // rmcp serves it whatever revision the request declares.
        if let Some(error) =
            revision::removed_method("logging/setLevel", context.protocol_version().as_ref())
        {
            return Err(error);
        }
        self.registry
            .cast(RegistryMsg::SetLogLevel(
                self.session.get_id(),
                request.level,
            ))
            .map_err(|_| McpError::internal_error("the server is shutting down", None))
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        pagination::first_page(request.as_ref())?;
        let tools = self.snapshot().await?;
        let mut result = ListToolsResult::with_all_items(tools.as_ref().clone());
        if context
            .protocol_version()
            .is_some_and(|version| revision::is_stateless(&version))
        {
            (result.ttl_ms, result.cache_scope) = LIST_CACHE_HINTS;
        }
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let tools = self.snapshot().await?;
        let count = tools.len();
        let Some(k) = tools::number(&request.name).filter(|&k| k <= count) else {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {}", request.name),
                Some(json!({ "tool": request.name })),
            ));
        };
        let arguments = request.arguments.map_or(Value::Null, Value::Object);
        let result = match tools::call(k, &arguments, count) {
            Ok(value) => CallToolResult::structured(value),
            // The text is JSON so that clients can parse it; no structured
            // content, since it would not match the tool's output schema.
            Err(error) => CallToolResult::error(vec![ContentBlock::text(
                json!({ "error": error.to_string() }).to_string(),
            )]),
        };
        Ok(result.into())
    }

    /// rmcp routes a request it cannot parse, such as `tools/call` without
    /// params, here: say which of the two went wrong, the method or its params.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        let method = request.method;
        if let Some(error) = revision::removed_method(&method, context.protocol_version().as_ref())
        {
            Err(error)
        } else if is_mcp_method(&method) {
            Err(McpError::invalid_params(
                format!("Invalid params for {method}"),
                None,
            ))
        } else {
            Err(McpError::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("Method not found: {method}"),
                None,
            ))
        }
    }

    /// Tool-list changes are the only notifications this server has; rmcp
    /// narrows this to what the client asked for, so a stream that did not ask
    /// for them is still accepted and simply gets nothing.
    ///
    /// rmcp acknowledges the stream right after this returns and only then
    /// calls [`Self::listen`], so a change in between would reach no stream.
    /// Marking the acceptance with the Session now, from the request's own
    /// task, lets it count such a change for this stream when `listen` hands
    /// the stream over.
    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        if let Some(task) = tokio::task::try_id()
            && self.session.cast(SessionMsg::ListenAccepted(task)).is_err()
        {
            tracing::debug!("listen accepted while the session was stopping");
        }
        Some(SubscriptionFilter::builder().tools_list_changed().build())
    }

    /// Hands the stream to the Session, which writes its notifications, and
    /// waits until either side ends it. Returning `Ok` when the Session ends
    /// it (at shutdown) makes rmcp send the stream's final result.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let end = CancellationToken::new();
        let sink = context.sink().clone();
        let send: SendListChanged = Box::new(move || {
            let sink = sink.clone();
            Box::pin(async move { sink.notify_tool_list_changed().await.is_ok() })
        });
        let stream = ListenStream {
            task: tokio::task::try_id(),
            send: (context.accepted().tools_list_changed == Some(true)).then_some(send),
            closed: context.request_context().ct.clone(),
            end: end.clone().drop_guard(),
        };
        // If the Session is gone, the message and its guard are dropped and
        // `end` is already cancelled.
        let _ = self.session.cast(SessionMsg::Listen(stream));
        tokio::select! {
            () = context.cancelled() => tracing::debug!("the client ended a listen stream"),
            () = end.cancelled() => {}
        }
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if self
            .session
            .cast(SessionMsg::Initialized(context.peer))
            .is_err()
        {
            tracing::debug!("client initialized while its session was stopping");
        }
    }
}

/// Whether `method` is one the MCP specification defines for a client's requests.
fn is_mcp_method(method: &str) -> bool {
    matches!(
        method,
        "initialize"
            | "ping"
            | "server/discover"
            | "tools/list"
            | "tools/call"
            | "prompts/list"
            | "prompts/get"
            | "resources/list"
            | "resources/read"
            | "resources/templates/list"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "subscriptions/listen"
            | "completion/complete"
            | "logging/setLevel"
    )
}
