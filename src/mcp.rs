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

use std::collections::HashSet;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ractor::{ActorRef, SpawnErr, call};
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities,
    ContentBlock, CustomRequest, CustomResult, ErrorCode, GetPromptRequestParams,
    GetPromptResponse, Implementation, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    LoggingMessageNotificationParam, PaginatedRequestParams, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, ResourceUpdatedNotificationParam,
    ServerCapabilities, ServerConfig, SetLevelRequestParams, SubscribeRequestParams,
    SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::actors::registry::RegistryMsg;
use crate::actors::registry::severity;
use crate::actors::session::{ListenStream, Notice, NotifyStyle, SendLog, SendNotice, SessionMsg};
use crate::catalog::{Catalog, Change, ChangeKind, ChangeRequest, ListKind, ToolList};
use crate::hostile::Hostile;
use crate::listing::{Page, Prepared};
use crate::observe::{Event, SessionKey, Watch};
use crate::pagination::Pager;
use crate::trigger_tools::{self, TriggerTool};
use crate::{prompts, resources, revision, tools};

/// What a server offers beyond its tools: which lists have a capability, and
/// whether the conformance suite's fixture tools are listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offer {
    pub prompts: bool,
    pub resources: bool,
    pub trigger_tools: bool,
}

/// What every session of one server shares: its `initialize` result (and
/// `server/discover`'s), its offer, its hostile behaviour, and who watches
/// the run.
#[derive(Debug)]
pub struct Profile {
    info: ServerConfig,
    offer: Offer,
    hostile: Hostile,
    /// Pages the lists. What it remembers (which cursors `repeat-once` has
    /// repeated) is the server's, shared by every session: a 2026-07-28
    /// client has no session to remember it in.
    pager: Mutex<Pager>,
    watch: Watch,
}

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
    session: Arc<SessionSlot>,
    profile: Arc<Profile>,
    /// The session's way to its client that skips rmcp's peer, if its
    /// transport handed one over in `initialize` ([`SessionHooks`]); shared
    /// by every copy of this session's handler.
    direct: Arc<OnceLock<Direct>>,
}

/// A session's way to its client that does not go through rmcp's peer.
#[derive(Clone)]
pub struct Direct {
    pub notices: SendNotice,
    pub log: SendLog,
}

/// What an HTTP session's transport hands its handler with `initialize` (in
/// the request's extensions). The transport runs rmcp's service loop only
/// while the session has a request in flight, so that an idle session holds
/// none of it (see [`crate::http::sessions`]): it keeps a copy of the handler
/// to serve the session's later requests, and the session's notifications
/// go to the client directly, never through a loop that may have ended.
#[derive(Clone)]
pub struct SessionHooks {
    pub keep: Arc<dyn Fn(McpHandler) + Send + Sync>,
    pub direct: Direct,
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

    /// The Session's key for the watchers, if it runs; never spawns one.
    fn key(&self) -> Option<SessionKey> {
        let session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        session.as_ref().map(|session| session.get_id().pid())
    }

    /// Send `message` to the Session, spawning it if need be.
    fn cast(&self, message: SessionMsg) -> Result<(), McpError> {
        self.get()?.cast(message).map_err(|_| shutting_down())
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

impl Profile {
    /// Capabilities follow the offer, so a default server answers exactly as
    /// it always has.
    pub fn new(offer: Offer, hostile: Hostile, watch: Watch) -> Arc<Self> {
        Arc::new(Self {
            info: server_config(offer),
            offer,
            hostile,
            pager: Mutex::new(Pager::new(hostile.paging())),
            watch,
        })
    }

    /// Who watches this server's run: what its Sessions report to.
    pub fn watch(&self) -> &Watch {
        &self.watch
    }

    /// How this server's Sessions write notifications.
    pub fn notify(&self) -> NotifyStyle {
        self.hostile.notify_style()
    }
}

fn server_config(offer: Offer) -> ServerConfig {
    let mut capabilities = ServerCapabilities::builder()
        .enable_logging()
        .enable_tools()
        .enable_tool_list_changed()
        .build();
    if offer.prompts {
        let mut with = ServerCapabilities::builder()
            .enable_prompts()
            .enable_prompts_list_changed()
            .build();
        capabilities.prompts = with.prompts.take();
    }
    if offer.resources {
        let mut with = ServerCapabilities::builder()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .build();
        capabilities.resources = with.resources.take();
    }
    ServerConfig::new(capabilities)
        .with_server_info(Implementation::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "A test server whose tool list grows by one tool on every SIGHUP, \
             each followed by notifications/tools/list_changed.",
        )
}

fn shutting_down() -> McpError {
    McpError::internal_error("the server is shutting down", None)
}

impl McpHandler {
    /// A handler for a client whose Session is already running.
    pub fn new(
        registry: ActorRef<RegistryMsg>,
        session: ActorRef<SessionMsg>,
        profile: Arc<Profile>,
    ) -> Self {
        let slot = SessionSlot {
            session: Mutex::new(Some(session)),
            spawn: None,
        };
        Self::with_slot(registry, slot, profile)
    }

    /// A handler that spawns its Session with `spawn` when a request first
    /// needs one (a handshake, a listen stream, a log level, a resource
    /// subscription). rmcp makes a handler for every HTTP request that might
    /// open a session, including stateless requests and requests it then
    /// refuses; those open none.
    pub fn lazy(
        registry: ActorRef<RegistryMsg>,
        spawn: SpawnSession,
        profile: Arc<Profile>,
    ) -> Self {
        let slot = SessionSlot {
            session: Mutex::new(None),
            spawn: Some(spawn),
        };
        Self::with_slot(registry, slot, profile)
    }

    fn with_slot(
        registry: ActorRef<RegistryMsg>,
        session: SessionSlot,
        profile: Arc<Profile>,
    ) -> Self {
        Self {
            registry,
            session: Arc::new(session),
            profile,
            direct: Arc::default(),
        }
    }

    /// Show the watchers what this session's client did; a watcher running a
    /// scenario step at this point holds the answer until the step ran.
    async fn see(&self, make: impl FnOnce(Option<SessionKey>) -> Event) {
        let watch = &self.profile.watch;
        if watch.is_watched() {
            watch.see(|| make(self.session.key())).await;
        }
    }

    /// The page of `list` (at `version`, `len` items in `items`) that
    /// `request` asks for, its `nextCursor`, and which items it holds; the
    /// watchers see the request and the page served or the cursor refused.
    async fn page<'a, T: Clone + 'a>(
        &self,
        (method, list): (&'static str, ListKind),
        version: u64,
        len: usize,
        items: impl Iterator<Item = &'a T>,
        request: Option<&PaginatedRequestParams>,
    ) -> Result<(Vec<T>, Option<String>, Range<usize>), McpError> {
        self.see(|session| Event::Request { session, method }).await;
        let cursor = request.and_then(|request| request.cursor.as_deref());
        let served = self
            .profile
            .pager
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .page(list, version, len, cursor);
        let served = match served {
            Ok(served) => served,
            Err(refused) => {
                self.see(|session| Event::RefusedCursor {
                    session,
                    list,
                    cursor: refused.cursor().to_owned(),
                    reason: refused.reason().to_owned(),
                })
                .await;
                return Err(refused.into());
            }
        };
        let range = served.range;
        let page = items.skip(range.start).take(range.len()).cloned().collect();
        let next_cursor = served.next_cursor;
        let served = served.page;
        self.see(|session| Event::Page {
            session,
            list,
            version: served.version,
            page: served.index,
            pages: served.total,
            cursor: served.cursor,
        })
        .await;
        Ok((page, next_cursor, range))
    }

    async fn tools_page(
        &self,
        request: Option<PaginatedRequestParams>,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let catalog = self.snapshot().await?;
        let listed = catalog.tools.definitions();
        let triggers = match self.profile.offer.trigger_tools {
            true => trigger_tools::definitions(),
            false => &[],
        };
        let (tools, next_cursor, range) = self
            .page(
                ("tools/list", ListKind::Tools),
                catalog.tools.version(),
                listed.len() + triggers.len(),
                listed.iter().chain(triggers),
                request.as_ref(),
            )
            .await?;
        if let Some(prepared) = context.extensions.get::<Prepared>() {
            // The transport writes the page's tools from the catalog's bytes.
            match tools_listing(&catalog.tools, range) {
                Ok(page) => prepared.put(context.id.clone(), page),
                Err(error) => tracing::warn!(%error, "cannot serialize the tools"),
            }
        }
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next_cursor;
        if is_stateless(context) {
            (result.ttl_ms, result.cache_scope) = LIST_CACHE_HINTS;
        }
        Ok(result)
    }

    async fn prompts_page(
        &self,
        request: Option<PaginatedRequestParams>,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let catalog = self.snapshot().await?;
        let prompts = catalog.prompts.ok_or_else(|| not_offered("prompts/list"))?;
        let listed = prompts.definitions();
        let (page, next_cursor, _) = self
            .page(
                ("prompts/list", ListKind::Prompts),
                prompts.version(),
                listed.len(),
                listed.iter(),
                request.as_ref(),
            )
            .await?;
        let mut result = ListPromptsResult::with_all_items(page);
        result.next_cursor = next_cursor;
        if is_stateless(context) {
            (result.ttl_ms, result.cache_scope) = LIST_CACHE_HINTS;
        }
        Ok(result)
    }

    async fn resources_page(
        &self,
        request: Option<PaginatedRequestParams>,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let catalog = self.snapshot().await?;
        let resources = catalog
            .resources
            .ok_or_else(|| not_offered("resources/list"))?;
        let listed = resources.definitions();
        let (page, next_cursor, _) = self
            .page(
                ("resources/list", ListKind::Resources),
                resources.version(),
                listed.len(),
                listed.iter(),
                request.as_ref(),
            )
            .await?;
        let mut result = ListResourcesResult::with_all_items(page);
        result.next_cursor = next_cursor;
        if is_stateless(context) {
            (result.ttl_ms, result.cache_scope) = LIST_CACHE_HINTS;
        }
        Ok(result)
    }

    async fn answer_call(
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
        self.see(|session| Event::Request {
            session,
            method: "tools/call",
        })
        .await;
        self.see(|session| Event::ToolCall {
            session,
            name: request.name.to_string(),
            revision: request
                .arguments
                .as_ref()
                .and_then(|arguments| arguments.get("revision"))
                .and_then(Value::as_u64),
            current: tools
                .find(&request.name)
                .map(|(_, entry)| u64::from(entry.revision)),
        })
        .await;
        let Some((_, entry)) = tools.find(&request.name) else {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {}", request.name),
                Some(json!({ "tool": request.name })),
            ));
        };
        let arguments = request.arguments.map_or(Value::Null, Value::Object);
        let result = match tools::call(entry.number, entry.revision, &arguments, tools.len()) {
            Ok(value) => CallToolResult::structured(value),
            // The text is JSON so that clients can parse it; no structured
            // content, since it would not match the tool's output schema.
            Err(error) => CallToolResult::error(vec![ContentBlock::text(
                json!({ "error": error.to_string() }).to_string(),
            )]),
        };
        Ok(result.into())
    }

    async fn answer_get(
        &self,
        request: GetPromptRequestParams,
    ) -> Result<GetPromptResponse, McpError> {
        self.see(|session| Event::Request {
            session,
            method: "prompts/get",
        })
        .await;
        let catalog = self.snapshot().await?;
        let prompts = catalog.prompts.ok_or_else(|| not_offered("prompts/get"))?;
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

    async fn answer_read(
        &self,
        request: ReadResourceRequestParams,
    ) -> Result<ReadResourceResponse, McpError> {
        self.see(|session| Event::Request {
            session,
            method: "resources/read",
        })
        .await;
        let catalog = self.snapshot().await?;
        let resources = catalog
            .resources
            .ok_or_else(|| not_offered("resources/read"))?;
        let (_, entry) = resources
            .find(&request.uri)
            .ok_or_else(|| resource_not_found(&request.uri))?;
        Ok(resources::read(entry.number, entry.revision).into())
    }

    async fn snapshot(&self) -> Result<Catalog, McpError> {
        call!(self.registry, RegistryMsg::Snapshot).map_err(|_| shutting_down())
    }

    /// Tell the Session who its client is, for `GET /state`, and the
    /// watchers. The Session first: a listen stream's Session starts here,
    /// and the watchers need its key.
    async fn hello(&self, client: &Implementation, protocol: &ProtocolVersion) {
        let hello = SessionMsg::Hello {
            client: json!({ "name": client.name, "version": client.version }),
            protocol: protocol.to_string(),
        };
        if self.session.cast(hello).is_err() {
            tracing::debug!("a client said hello while its session was stopping");
        }
        self.see(|session| Event::Hello {
            session,
            name: client.name.clone(),
            version: client.version.clone(),
            protocol: protocol.to_string(),
        })
        .await;
    }

    /// Apply one change for a trigger tool and wait until it is applied.
    async fn apply(&self, change: Change) -> Result<Catalog, McpError> {
        call!(self.registry, |reply| RegistryMsg::Apply(
            change,
            Some(reply)
        ))
        .map_err(|_| shutting_down())?
        .map_err(|refused| McpError::invalid_params(refused.to_string(), None))
    }

    /// Run one of the conformance suite's fixture tools.
    async fn call_trigger_tool(
        &self,
        tool: TriggerTool,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let declared = context.client_capabilities();
        let text = match tool {
            TriggerTool::ToolChange => {
                let catalog = self.apply(Change::add_tool()).await?;
                json!({ "tools": catalog.tools.len() })
            }
            TriggerTool::PromptChange => {
                if !self.profile.offer.prompts {
                    return Err(trigger_tools::list_disabled("prompts"));
                }
                let request = ChangeRequest::new(ChangeKind::AddPrompt);
                let change = Change::try_from(request).expect("a valid change");
                let catalog = self.apply(change).await?;
                json!({ "prompts": catalog.prompts.map_or(0, |p| p.len()) })
            }
            TriggerTool::MissingCapability => {
                let needed = ClientCapabilities::builder().enable_sampling().build();
                trigger_tools::require(declared.as_ref(), needed, |c| c.sampling.is_some())?;
                json!({ "sampling": "declared" })
            }
            TriggerTool::StreamingElicitation => {
                let needed = ClientCapabilities::builder().enable_elicitation().build();
                trigger_tools::require(declared.as_ref(), needed, |c| c.elicitation.is_some())?;
                if let Some(ask) = trigger_tools::elicitation(request.input_responses.as_ref()) {
                    return Ok(CallToolResponse::InputRequired(ask));
                }
                json!({ "elicitation": "answered" })
            }
            TriggerTool::Logging => {
                let mut sent = 0;
                if let Some(asked) = context.meta.log_level() {
                    for level in [
                        LoggingLevel::Debug,
                        LoggingLevel::Info,
                        LoggingLevel::Warning,
                    ] {
                        if severity(level) >= severity(asked) {
                            let line = LoggingMessageNotificationParam::new(
                                level,
                                json!({ "message": "test_logging_tool", "level": level }),
                            )
                            .with_logger(env!("CARGO_PKG_NAME"));
                            if context.peer.notify_logging_message(line).await.is_ok() {
                                sent += 1;
                            }
                        }
                    }
                }
                json!({ "log_messages_sent": sent })
            }
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text.to_string())]).into())
    }
}

/// Writes notices to a handshake client's peer.
fn peer_sender(peer: Peer<RoleServer>) -> SendNotice {
    Arc::new(move |notice| {
        let peer = peer.clone();
        Box::pin(async move { notify_peer(&peer, notice).await })
    })
}

/// Writes log lines to a handshake client's peer.
fn peer_log(peer: Peer<RoleServer>) -> SendLog {
    Arc::new(move |line| {
        let peer = peer.clone();
        Box::pin(async move { peer.notify_logging_message(line).await.is_ok() })
    })
}

/// Write one notice to a handshake client.
pub async fn notify_peer(peer: &Peer<RoleServer>, notice: Notice) -> bool {
    match notice {
        Notice::ListChanged(ListKind::Tools) => peer.notify_tool_list_changed().await,
        Notice::ListChanged(ListKind::Prompts) => peer.notify_prompt_list_changed().await,
        Notice::ListChanged(ListKind::Resources) => peer.notify_resource_list_changed().await,
        Notice::ResourceUpdated(uri) => {
            peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await
        }
    }
    .is_ok()
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        self.profile.info.clone()
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
        if let Some(hooks) = context.extensions.get::<SessionHooks>() {
            let _ = self.direct.set(hooks.direct.clone());
            (hooks.keep)(self.clone());
        }
        if self.profile.watch.is_watched() {
            // For a scenario's notification before `initialized`: rmcp
            // writes it after this answer, as the peer is read only then.
            let send = match self.direct.get() {
                Some(direct) => Arc::clone(&direct.notices),
                None => peer_sender(context.peer.clone()),
            };
            let _ = self.session.cast(SessionMsg::Answering(send));
        }
        self.see(|session| Event::Request {
            session,
            method: "initialize",
        })
        .await;
        let result = self.negotiate_initialize(&request)?;
        self.hello(&request.client_info, &result.protocol_version)
            .await;
        self.see(|session| Event::InitializeAnswered { session })
            .await;
        Ok(result)
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
                self.session.get()?.get_id(),
                request.level,
            ))
            .map_err(|_| shutting_down())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let answer = self.tools_page(request, &context).await;
        delayed(self.profile.hostile.list_delay(), &context.ct, answer).await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let delay = self.profile.hostile.call_delay();
        let cancelled = context.ct.clone();
        let answer = self.answer_call(request, context).await;
        delayed(delay, &cancelled, answer).await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let answer = self.prompts_page(request, &context).await;
        delayed(self.profile.hostile.list_delay(), &context.ct, answer).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let answer = self.answer_get(request).await;
        delayed(self.profile.hostile.call_delay(), &context.ct, answer).await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let answer = self.resources_page(request, &context).await;
        delayed(self.profile.hostile.list_delay(), &context.ct, answer).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let answer = self.answer_read(request).await;
        delayed(self.profile.hostile.call_delay(), &context.ct, answer).await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if !self.profile.offer.resources {
            return Err(not_offered("resources/subscribe"));
        }
        // Any URI, listed or not: a resource added later may be subscribed to
        // before it exists, as a file may be watched, and the spec asks only
        // that the server track what was subscribed.
        self.session.cast(SessionMsg::Subscribe(request.uri))
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if !self.profile.offer.resources {
            return Err(not_offered("resources/unsubscribe"));
        }
        // Unsubscribing from a resource since removed is still fine: the
        // client is tidying up.
        self.session.cast(SessionMsg::Unsubscribe(request.uri))
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

    /// Accepts every list this server offers and every resource it lists;
    /// rmcp narrows this to what the client asked for, so a stream that asked
    /// for nothing we have is still accepted and simply gets nothing.
    ///
    /// rmcp acknowledges the stream right after this returns and only then
    /// calls [`Self::listen`], so a change in between would reach no stream.
    /// Marking the acceptance with the Session now, from the request's own
    /// task, lets it count such a change for this stream when `listen` hands
    /// the stream over.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        if let Some(task) = tokio::task::try_id()
            && self.session.cast(SessionMsg::ListenAccepted(task)).is_err()
        {
            tracing::debug!("listen accepted while the session was stopping");
        }
        let mut filter = SubscriptionFilter::builder().tools_list_changed();
        if self.profile.offer.prompts {
            filter = filter.prompts_list_changed();
        }
        if self.profile.offer.resources {
            filter = filter.resources_list_changed();
            // Any URI, as with `resources/subscribe`.
            let uris = requested.resource_subscriptions.iter().flatten().cloned();
            filter = filter.resource_subscriptions(uris);
        }
        Some(filter.build())
    }

    /// Hands the stream to the Session, which writes its notifications, and
    /// waits until either side ends it. Returning `Ok` when the Session ends
    /// it (at shutdown) makes rmcp send the stream's final result.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let request = context.request_context();
        if let (Some(client), Some(protocol)) = (request.client_info(), request.protocol_version())
        {
            self.hello(&client, &protocol).await;
        }
        let end = CancellationToken::new();
        let sink = context.sink().clone();
        let send: SendNotice = Arc::new(move |notice| {
            let sink = sink.clone();
            Box::pin(async move {
                match notice {
                    Notice::ListChanged(ListKind::Tools) => sink.notify_tool_list_changed().await,
                    Notice::ListChanged(ListKind::Prompts) => {
                        sink.notify_prompt_list_changed().await
                    }
                    Notice::ListChanged(ListKind::Resources) => {
                        sink.notify_resource_list_changed().await
                    }
                    Notice::ResourceUpdated(uri) => sink.notify_resource_updated(uri).await,
                }
                .is_ok()
            })
        });
        let accepted = context.accepted();
        let wants = |flag: Option<bool>| flag == Some(true);
        let stream = ListenStream {
            task: tokio::task::try_id(),
            send,
            lists: [
                wants(accepted.tools_list_changed),
                wants(accepted.prompts_list_changed),
                wants(accepted.resources_list_changed),
            ],
            resources: accepted
                .resource_subscriptions
                .iter()
                .flatten()
                .cloned()
                .collect::<HashSet<_>>(),
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
        self.see(|session| Event::Initialized { session }).await;
        // HTTP has a faster way than the peer (see `SessionHooks`).
        let direct = self.direct.get().cloned().unwrap_or_else(|| Direct {
            notices: peer_sender(context.peer.clone()),
            log: peer_log(context.peer),
        });
        let initialized = SessionMsg::Initialized {
            send: direct.notices,
            log: direct.log,
        };
        if self.session.cast(initialized).is_err() {
            tracing::debug!("client initialized while its session was stopping");
        }
    }
}

/// Items `range` of the tools list (the catalog's tools, then the fixture
/// tools if offered) as the catalog's listings hold them.
///
/// rmcp changes a listed tool after this handler only to drop an output
/// schema that is not an object, for a client before 2026-07-28; every tool
/// here has an object schema or none (`tools` tests it), so the bytes stay
/// those rmcp would write.
fn tools_listing(listed: &ToolList, range: Range<usize>) -> serde_json::Result<Page> {
    let mut page = Page::default();
    let catalog = listed.listing()?;
    let split = catalog.len();
    page.push(&catalog, range.start.min(split)..range.end.min(split));
    if range.end > split {
        let triggers = trigger_tools::listing();
        page.push(triggers, range.start.max(split) - split..range.end - split);
    }
    Ok(page)
}

/// Holds `answer` back for `delay` (`--list-delay-ms`, `--call-delay-ms`):
/// computed when the request arrived, delivered late, as over a slow link.
/// A request cancelled meanwhile is let go at once.
async fn delayed<T>(delay: Option<Duration>, cancelled: &CancellationToken, answer: T) -> T {
    if let Some(delay) = delay {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cancelled.cancelled() => {}
        }
    }
    answer
}

/// Whether the request speaks 2026-07-28 or later, which has no handshake.
fn is_stateless(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|version| revision::is_stateless(&version))
}

/// A request for a list this server does not offer: what rmcp's default
/// handler answers without the capability.
fn not_offered(method: &str) -> McpError {
    McpError::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!("Method not found: {method}"),
        None,
    )
}

fn resource_not_found(uri: &str) -> McpError {
    McpError::resource_not_found(
        format!("Resource not found: {uri}"),
        Some(json!({ "uri": uri })),
    )
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
