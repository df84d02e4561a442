//! The rmcp `ServerHandler`: the protocol edge. It translates MCP requests into
//! messages to the actors and their replies into MCP results, and holds no
//! state of its own.
//!
//! One handler serves one client's session for as long as rmcp keeps it, and
//! its Session actor lives no longer: dropping the last copy of the handler
//! stops the session, which is how an HTTP session that rmcp closed (DELETE,
//! idle) leaves the registry. Over HTTP the Session is spawned only when the
//! handler first needs it (see [`McpHandler::lazy`]).

#![allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it

use std::sync::{Arc, Mutex};

use ractor::{ActorRef, SpawnErr, call};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, CustomRequest,
    CustomResult, ErrorCode, Implementation, InitializeRequestParams, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    SetLevelRequestParams, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::actors::registry::{RegistryMsg, ToolList};
use crate::actors::session::{ListenStream, SendListChanged, SessionMsg};
use crate::tools;

/// Serves one client's MCP requests on behalf of its Session actor.
#[derive(Clone)]
pub struct McpHandler {
    registry: ActorRef<RegistryMsg>,
    session: Arc<SessionSlot>,
    info: ServerConfig,
}

/// Spawns a Session actor for a handler that needs one.
pub type SpawnSession = Arc<dyn Fn() -> Result<ActorRef<SessionMsg>, SpawnErr> + Send + Sync>;

/// A handler's Session: there from the start, or spawned on first use. Stops
/// it when the last copy of the handler is dropped.
struct SessionSlot {
    session: Mutex<Option<ActorRef<SessionMsg>>>,
    spawn: Option<SpawnSession>,
}

impl SessionSlot {
    fn get(&self) -> Result<ActorRef<SessionMsg>, McpError> {
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = &*session {
            return Ok(session.clone());
        }
        let spawned = self
            .spawn
            .as_ref()
            .and_then(|spawn| spawn().ok())
            .ok_or_else(shutting_down)?;
        *session = Some(spawned.clone());
        Ok(spawned)
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let session = self.session.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = session {
            session.stop(None);
        }
    }
}

fn shutting_down() -> McpError {
    McpError::internal_error("the server is shutting down", None)
}

impl McpHandler {
    /// A handler for a client whose Session is already running.
    pub fn new(registry: ActorRef<RegistryMsg>, session: ActorRef<SessionMsg>) -> Self {
        Self::with_slot(
            registry,
            SessionSlot {
                session: Mutex::new(Some(session)),
                spawn: None,
            },
        )
    }

    /// A handler that spawns its Session with `spawn` when a request first
    /// needs one (a handshake, a listen stream, a log level). rmcp makes a
    /// handler for every HTTP request that might open a session, including
    /// stateless requests and requests it then refuses; those open none.
    pub fn lazy(registry: ActorRef<RegistryMsg>, spawn: SpawnSession) -> Self {
        Self::with_slot(
            registry,
            SessionSlot {
                session: Mutex::new(None),
                spawn: Some(spawn),
            },
        )
    }

    fn with_slot(registry: ActorRef<RegistryMsg>, session: SessionSlot) -> Self {
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
            session: Arc::new(session),
            info,
        }
    }

    async fn snapshot(&self) -> Result<ToolList, McpError> {
        call!(self.registry, RegistryMsg::Snapshot).map_err(|_| shutting_down())
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
        call!(self.session.get()?, SessionMsg::Started).map_err(|_| shutting_down())?;
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.registry
            .cast(RegistryMsg::SetLogLevel(
                self.session.get()?.get_id(),
                request.level,
            ))
            .map_err(|_| shutting_down())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = self.snapshot().await?;
        Ok(ListToolsResult::with_all_items(tools.as_ref().clone()))
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
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        let method = request.method;
        if is_mcp_method(&method) {
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
            && self
                .session
                .get()
                .map_or(true, |s| s.cast(SessionMsg::ListenAccepted(task)).is_err())
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
        if let Ok(session) = self.session.get() {
            let _ = session.cast(SessionMsg::Listen(stream));
        }
        tokio::select! {
            () = context.cancelled() => {}
            () = end.cancelled() => {}
        }
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if self.session.get().map_or(true, |s| {
            s.cast(SessionMsg::Initialized(context.peer)).is_err()
        }) {
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
