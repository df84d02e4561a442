//! The rmcp `ServerHandler`: the protocol edge. It translates MCP requests into
//! messages to the actors and their replies into MCP results, and holds no
//! state of its own.
//!
//! One handler serves one client's session for as long as rmcp keeps it, and
//! its Session actor lives no longer: dropping the last copy of the handler
//! stops the session, which is how an HTTP session that rmcp closed (DELETE,
//! idle) leaves the registry. Over HTTP the Session is spawned only when the
//! handler first needs it (see [`McpHandler::lazy`]).
//!
//! Beside the handler: [`Profile`] (what every session of a server shares),
//! the handler's lazily spawned Session actor (`session_actor`), the list
//! requests' paging (`lists`), the requests on one item (`calls`) and the
//! errors it answers with (`errors`).

#![allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it

mod calls;
mod errors;
mod lists;
mod profile;
mod session_actor;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ractor::{ActorRef, SpawnErr, call};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ContentBlock,
    CustomRequest, CustomResult, GetPromptRequestParams, GetPromptResponse, Implementation,
    InitializeRequestParams, InitializeResult, ListPromptsResult, ListResourcesResult,
    ListToolsResult, LoggingLevel, LoggingMessageNotificationParam, PaginatedRequestParams,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, RequestMetaObject,
    ServerConfig, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use self::errors::{method_not_found, shutting_down, unparsed_request};
pub use self::profile::{Offer, Profile};
use self::session_actor::LazySessionActor;
use crate::actors::registry::{Audience, RegistryHandle, severity};
use crate::actors::session::{ListenStream, SessionMsg};
use crate::catalog::{Catalog, Change, ChangeKind};
use crate::check::view::{self, VIEW_TOOL, View};
use crate::notice::NoticeSink;
use crate::observe::{Client, Event, Origin, Outcome};
use crate::revision;
use crate::trigger_tools::{self, TriggerTool};

/// Serves one client's MCP requests on behalf of its Session actor.
#[derive(Clone)]
pub struct McpHandler {
    registry: RegistryHandle,
    session_actor: Arc<LazySessionActor>,
    profile: Arc<Profile>,
    /// The session's way to its client that skips rmcp's peer, if its
    /// transport handed one over in `initialize` ([`SessionHooks`]); shared
    /// by every copy of this session's handler.
    direct: Arc<OnceLock<Arc<dyn NoticeSink>>>,
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
    /// The session's GET stream, written without the service loop.
    pub direct: Arc<dyn NoticeSink>,
}

/// Spawns a Session actor for a handler that needs one.
pub type SpawnSession = Arc<dyn Fn() -> Result<ActorRef<SessionMsg>, SpawnErr> + Send + Sync>;

impl McpHandler {
    /// A handler for a client whose Session is already running.
    pub fn new(
        registry: RegistryHandle,
        session: ActorRef<SessionMsg>,
        profile: Arc<Profile>,
    ) -> Self {
        Self::with(registry, LazySessionActor::running(session), profile)
    }

    /// A handler that spawns its Session with `spawn` when a request first
    /// needs one (a handshake, a listen stream, a log level, a resource
    /// subscription). rmcp makes a handler for every HTTP request that might
    /// open a session, including stateless requests and requests it then
    /// refuses; those open none.
    pub fn lazy(registry: RegistryHandle, spawn: SpawnSession, profile: Arc<Profile>) -> Self {
        Self::with(registry, LazySessionActor::on_demand(spawn), profile)
    }

    fn with(
        registry: RegistryHandle,
        session_actor: LazySessionActor,
        profile: Arc<Profile>,
    ) -> Self {
        Self {
            registry,
            session_actor: Arc::new(session_actor),
            profile,
            direct: Arc::default(),
        }
    }

    /// Show the watchers what this session's client did in the request
    /// whose `_meta` is `meta`; a watcher running a scenario step at this
    /// point holds the answer until the step ran.
    async fn see(&self, meta: &RequestMetaObject, make: impl FnOnce(Origin) -> Event) {
        let watch = &self.profile.watch;
        if watch.is_watched() {
            watch.see(|| make(self.origin(meta))).await;
        }
    }

    /// Whose request it is: this handler's Session's, or, if it has none (a
    /// 2026-07-28 stateless request), the client its `_meta` names, so that
    /// the report can credit the client's own listen stream.
    fn origin(&self, meta: &RequestMetaObject) -> Origin {
        match self.session_actor.key() {
            Some(session) => Origin::Session(session),
            None => Origin::Stateless(meta.client_info().map(|client| {
                Arc::new(Client {
                    name: client.name,
                    version: client.version,
                })
            })),
        }
    }

    /// Show the watchers how `method`'s request ended.
    async fn answered<T>(
        &self,
        meta: &RequestMetaObject,
        method: &'static str,
        answer: &Result<T, McpError>,
    ) {
        let outcome = match answer {
            Ok(_) => Outcome::Ok,
            Err(error) => Outcome::Error(error.code.0),
        };
        self.see(meta, |session| Event::Answered {
            session,
            method,
            outcome,
        })
        .await;
    }

    async fn snapshot(&self) -> Result<Catalog, McpError> {
        self.registry.snapshot().await.map_err(|_| shutting_down())
    }

    /// The way to this session's handshake client: HTTP's direct way if its
    /// transport handed one over (see [`SessionHooks`]), faster than the
    /// peer, or else the peer.
    fn sink(&self, peer: &Peer<RoleServer>) -> Arc<dyn NoticeSink> {
        match self.direct.get() {
            Some(direct) => Arc::clone(direct),
            None => Arc::new(peer.clone()),
        }
    }

    /// Tell the Session who its client is, for `GET /state`, and the
    /// watchers. The Session first: a listen stream's Session starts here,
    /// and the watchers need its key.
    async fn hello(
        &self,
        meta: &RequestMetaObject,
        client: &Implementation,
        protocol: &ProtocolVersion,
    ) {
        let hello = SessionMsg::Hello {
            client: json!({ "name": client.name, "version": client.version }),
            protocol: protocol.to_string(),
        };
        if self.session_actor.cast(hello).is_err() {
            tracing::debug!("a client said hello while its session was stopping");
        }
        self.see(meta, |session| Event::Hello {
            session,
            name: client.name.clone(),
            version: client.version.clone(),
            protocol: protocol.to_string(),
        })
        .await;
    }

    /// Apply one change for a trigger tool and wait until it is applied.
    async fn apply(&self, change: Change) -> Result<Catalog, McpError> {
        Ok(self.registry.apply(change, Audience::All).await?)
    }

    /// Check mode's `view` tool: compare what the client says it holds with
    /// the catalog now, and show the watchers.
    async fn call_view(
        &self,
        request: CallToolRequestParams,
        meta: &RequestMetaObject,
    ) -> Result<CallToolResponse, McpError> {
        let view = View::parse(request.arguments.as_ref())
            .map_err(|why| McpError::invalid_params(format!("view: {why}"), None))?;
        let catalog = self.snapshot().await?;
        let comparison = view::compare(&view, &catalog);
        self.see(meta, |session| Event::View {
            session,
            comparison,
        })
        .await;
        let text = json!({ "recorded": true }).to_string();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
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
                let catalog = self.apply(Change::new(ChangeKind::AddPrompt)).await?;
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
        call!(self.session_actor.get()?, SessionMsg::Started).map_err(|_| shutting_down())?;
        context.peer.set_peer_info(request.clone());
        if let Some(hooks) = context.extensions.get::<SessionHooks>() {
            let _ = self.direct.set(Arc::clone(&hooks.direct));
            (hooks.keep)(self.clone());
        }
        if self.profile.watch.is_watched() {
            // For a scenario's notification before `initialized`: rmcp
            // writes it after this answer, as the peer is read only then.
            let _ = self
                .session_actor
                .cast(SessionMsg::Answering(self.sink(&context.peer)));
        }
        self.see(&context.meta, |session| Event::Request {
            session,
            method: "initialize",
        })
        .await;
        let result = self.negotiate_initialize(&request);
        self.answered(&context.meta, "initialize", &result).await;
        let result = result?;
        self.hello(
            &context.meta,
            &request.client_info,
            &result.protocol_version,
        )
        .await;
        self.see(&context.meta, |session| Event::InitializeAnswered {
            session,
        })
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
            .set_log_level(self.session_actor.get()?.get_id(), request.level)
            .map_err(|_| shutting_down())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let answer = self.tools_page(request, &context).await;
        self.answered(&context.meta, "tools/list", &answer).await;
        delayed(self.profile.hostile.list_delay(), &context.ct, answer).await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if self.profile.offer.view && request.name == VIEW_TOOL {
            // Check mode's own tool: no request of the client's run, never
            // delayed, never a stale call.
            return self.call_view(request, &context.meta).await;
        }
        let delay = self.profile.hostile.call_delay();
        let cancelled = context.ct.clone();
        let meta = context.meta.clone();
        let answer = self.answer_call(request, context).await;
        match &answer {
            Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
                self.see(&meta, |session| Event::Answered {
                    session,
                    method: "tools/call",
                    outcome: Outcome::ToolError,
                })
                .await;
            }
            answer => self.answered(&meta, "tools/call", answer).await,
        }
        delayed(delay, &cancelled, answer).await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let answer = self.prompts_page(request, &context).await;
        self.answered(&context.meta, "prompts/list", &answer).await;
        delayed(self.profile.hostile.list_delay(), &context.ct, answer).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let answer = self.answer_get(request, &context.meta).await;
        self.answered(&context.meta, "prompts/get", &answer).await;
        delayed(self.profile.hostile.call_delay(), &context.ct, answer).await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let answer = self.resources_page(request, &context).await;
        self.answered(&context.meta, "resources/list", &answer)
            .await;
        delayed(self.profile.hostile.list_delay(), &context.ct, answer).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let answer = self.answer_read(request, &context.meta).await;
        self.answered(&context.meta, "resources/read", &answer)
            .await;
        delayed(self.profile.hostile.call_delay(), &context.ct, answer).await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if !self.profile.offer.resources {
            return Err(method_not_found("resources/subscribe"));
        }
        // Any URI, listed or not: a resource added later may be subscribed to
        // before it exists, as a file may be watched, and the spec asks only
        // that the server track what was subscribed.
        self.session_actor.cast(SessionMsg::Subscribe(request.uri))
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if !self.profile.offer.resources {
            return Err(method_not_found("resources/unsubscribe"));
        }
        // Unsubscribing from a resource since removed is still fine: the
        // client is tidying up.
        self.session_actor
            .cast(SessionMsg::Unsubscribe(request.uri))
    }

    /// rmcp routes a request it cannot parse, such as `tools/call` without
    /// params, here: say which of the two went wrong, the method or its params.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        Err(unparsed_request(
            &request.method,
            context.protocol_version().as_ref(),
        ))
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
            && self
                .session_actor
                .cast(SessionMsg::ListenAccepted(task))
                .is_err()
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
            self.hello(&request.meta, &client, &protocol).await;
        }
        let end = CancellationToken::new();
        let accepted = context.accepted();
        let wants = |flag: Option<bool>| flag == Some(true);
        let stream = ListenStream {
            task: tokio::task::try_id(),
            sink: Arc::new(context.sink().clone()),
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
        let _ = self.session_actor.cast(SessionMsg::Listen(stream));
        tokio::select! {
            () = context.cancelled() => tracing::debug!("the client ended a listen stream"),
            () = end.cancelled() => {}
        }
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // A notification's `_meta` names no client; its session does.
        self.see(&RequestMetaObject::default(), |session| {
            Event::Initialized { session }
        })
        .await;
        let initialized = SessionMsg::Initialized {
            sink: self.sink(&context.peer),
        };
        if self.session_actor.cast(initialized).is_err() {
            tracing::debug!("client initialized while its session was stopping");
        }
    }
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn an_answer_is_held_back_for_its_delay() {
        let delay = Duration::from_millis(50);
        let start = Instant::now();
        let answer = delayed(Some(delay), &CancellationToken::new(), 7).await;
        assert_eq!(answer, 7);
        assert!(start.elapsed() >= delay);
    }

    #[tokio::test]
    async fn a_cancelled_request_is_let_go_at_once() {
        let cancelled = CancellationToken::new();
        cancelled.cancel();
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            delayed(Some(Duration::from_secs(3600)), &cancelled, "late"),
        )
        .await
        .expect("not held for the delay");
        assert_eq!(answer, "late");
    }
}
