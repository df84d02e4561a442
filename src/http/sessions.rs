//! The HTTP sessions' message routing: rmcp's [`SessionManager`], lean enough
//! for 10,000 sessions.
//!
//! rmcp's `LocalSessionManager` runs a worker task per session behind four
//! bounded channels (its events, and the `WorkerTransport`'s three), each of
//! which allocates its first block of 32 messages up front: at about 380
//! bytes a message that is 72 KiB of each session's 79 KiB, and the worker is
//! one more task hop for every notification. Here a session is a routing
//! table behind a mutex: the handler's messages are routed where they are
//! sent, with no task in between, and the client's messages reach the handler
//! boxed through an unbounded channel (a block of 32 pointers).
//!
//! The routing is rmcp's, kept message for message, because the HTTP tests
//! and the conformance suite check it: a request's answer, its progress and
//! the server requests it caused go on its POST's SSE stream, which ends with
//! the answer; everything else on the GET stream; event ids `N` on the GET
//! stream and `N/R` on the stream of the R-th POST, the last 16 events of
//! each kept for `Last-Event-ID`; a GET while one is open gets a quiet shadow
//! stream (at most 32); a GET after the previous one ended replays what the
//! session kept.
//!
//! rmcp's service loop runs only while a session has something to do. Left
//! running, it holds about 30 KiB per session (its peer's and its sink's
//! channels, each a first block of 32 messages, and two tasks) for as long
//! as the session is open, which for a load test's idle sessions is all the
//! time. So once `initialize` has been answered, the loop ends whenever no
//! request of the session is in flight and no message waits: its transport
//! parks the session's inbound channel, and the next message starts a new
//! loop over it, with a copy of the session's handler (kept in `initialize`
//! through [`SessionHooks`]) and what its client said in `initialize`.
//! Nothing the client sees changes: the handler and its Session actor live
//! as long as the session, and notifications never go through a loop.
//!
//! A `tools/list` answer comes from the handler without its tools, its page
//! left in the request's [`Prepared`] (see [`crate::listing`]). The page
//! travels with the answer's event, kept for a resume too, and the stream
//! that yields the event hands it to the [`Prepared`] of the HTTP response it
//! is part of, whose body writes the page's bytes into rmcp's serialization
//! of the answer. A stream learns its response's [`Prepared`] from
//! [`for_response`]: rmcp asks for a GET or resumed stream with no request.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::Stream;
use futures::future::BoxFuture;
use rmcp::RoleServer;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, GetExtensions, GetMeta,
    InitializeRequestParams, JsonRpcRequest, ProgressToken, RequestId, ServerJsonRpcMessage,
    ServerNotification, ServerResult,
};
use rmcp::service::{OriginatingRequestId, serve_directly_with_ct};
use rmcp::transport::Transport;
use rmcp::transport::common::server_side_http::session_id;
use rmcp::transport::streamable_http_server::SessionId;
use rmcp::transport::streamable_http_server::session::{ServerSseMessage, SessionManager};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::catalog::ListKind;
use crate::listing::{Page, Prepared};
use crate::mcp::{McpHandler, SessionHooks};
use crate::notice::{Notice, NoticeSink};

/// Events an SSE stream keeps for `Last-Event-ID`, and messages its channel
/// holds before a send waits: rmcp's default.
const KEPT: usize = 16;
/// Shadow GET streams a session keeps open at most: rmcp's limit.
const MAX_SHADOWS: usize = 32;
/// How long a cancelled request's stream stays resumable: rmcp's default.
const COMPLETED_TTL: Duration = Duration::from_secs(60);
/// How long a new session waits for its `initialize`: rmcp's default.
const INIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a service loop that has served a request waits, with nothing
/// left to do, for the session's next message before it ends: a client
/// sending requests back to back keeps its loop rather than paying for a new
/// one per request (about 10 us each, 12 % of a sequential call).
const LINGER: Duration = Duration::from_millis(100);
/// The `retry:` hint of a POST stream's priming event: rmcp's default.
const SSE_RETRY: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("Session not found: {0}")]
    NotFound(SessionId),
    #[error("Session closed")]
    Closed,
    #[error("Invalid event id: {0}")]
    InvalidEventId(String),
    #[error("Channel closed: {0:?}")]
    ChannelClosed(Option<u64>),
}

/// Every open session.
pub struct Sessions {
    sessions: RwLock<HashMap<SessionId, Arc<HttpSession>>>,
    /// The server's: cancelling it ends every running service loop, as it
    /// ends rmcp's own.
    cancel: CancellationToken,
}

/// A session's inbound messages, boxed: the channel's first block holds 32.
type Inbound = mpsc::UnboundedReceiver<Box<ClientJsonRpcMessage>>;

impl Sessions {
    pub fn new(cancel: CancellationToken) -> Self {
        Self {
            sessions: RwLock::default(),
            cancel,
        }
    }

    /// End session `id` (idle, or a scenario's `end_session`): unlike
    /// [`SessionManager::close_session`], never mistaken for rmcp's worker
    /// leaving a parked session.
    pub fn end(&self, id: &SessionId) {
        let session = self.sessions.write().unwrap().remove(id);
        if let Some(session) = session {
            session.close();
        }
    }

    /// End every session, at shutdown: a parked session has no service loop
    /// for the server's cancellation to end.
    pub fn end_all(&self) {
        let sessions = std::mem::take(&mut *self.sessions.write().unwrap());
        for session in sessions.into_values() {
            session.close();
        }
    }

    /// The ids of the open sessions.
    pub fn ids(&self) -> Vec<SessionId> {
        self.sessions.read().unwrap().keys().cloned().collect()
    }

    fn get(&self, id: &SessionId) -> Result<Arc<HttpSession>, SessionError> {
        self.sessions
            .read()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| SessionError::NotFound(id.clone()))
    }
}

/// What rmcp's handling of one HTTP request shares with the session calls it
/// makes: rmcp passes a GET's streams no request, and maps every error of
/// ours to a 500.
struct Handling {
    /// The response's [`Prepared`] (see the module doc), if it may carry a
    /// list answer.
    prepared: Option<Prepared>,
    /// The request's session ended between rmcp's check that it exists and
    /// the message's delivery (the idle sweep, a DELETE, a scenario).
    session_gone: std::cell::Cell<bool>,
}

tokio::task_local! {
    static HANDLING: Handling;
}

/// Run `handling` (rmcp's handling of one HTTP request) with `prepared` as
/// its response's [`Prepared`], if it may carry a list answer: the streams it
/// opens hand their answers' pages to it. Also whether the request's session ended while rmcp handled
/// it, which rmcp would answer with a 500 though the spec says 404: its
/// message went nowhere, and the edge answers 404 instead.
pub(crate) async fn for_response<F: Future>(
    prepared: Option<Prepared>,
    handling: F,
) -> (F::Output, bool) {
    let scope = Handling {
        prepared,
        session_gone: std::cell::Cell::new(false),
    };
    HANDLING
        .scope(scope, async {
            let output = handling.await;
            (
                output,
                HANDLING.with(|handling| handling.session_gone.get()),
            )
        })
        .await
}

/// The session of a message ended meanwhile: say so to the edge, if it asked
/// (see [`for_response`]).
fn session_gone(id: &SessionId) {
    tracing::debug!(session = %id, "a message for a session that has just ended");
    let _ = HANDLING.try_with(|handling| handling.session_gone.set(true));
}

/// The JSON-RPC message for `notice`, as rmcp's peer sends it. A list change
/// is one message shared by every session.
fn message_for(notice: Notice) -> Arc<ServerJsonRpcMessage> {
    static LIST_CHANGED: LazyLock<[Arc<ServerJsonRpcMessage>; 3]> = LazyLock::new(|| {
        ListKind::ALL.map(|list| {
            Arc::new(ServerJsonRpcMessage::notification(
                Notice::ListChanged(list).into(),
            ))
        })
    });
    match notice {
        Notice::ListChanged(list) => Arc::clone(&LIST_CHANGED[list.index()]),
        update => Arc::new(ServerJsonRpcMessage::notification(update.into())),
    }
}

/// The request `message` answers, if it is an answer.
fn answered(message: &ServerJsonRpcMessage) -> Option<&RequestId> {
    match message {
        ServerJsonRpcMessage::Response(response) => Some(&response.id),
        ServerJsonRpcMessage::Error(error) => error.id.as_ref(),
        _ => None,
    }
}

/// One HTTP session (rmcp's `Mcp-Session-Id`, not the Session actor): what
/// its handler's transport and its HTTP requests share.
struct HttpSession {
    routes: Mutex<Routes>,
    /// Cancelled when the session closes.
    closed: CancellationToken,
    /// The handshake's loop parked the session, so rmcp's worker is about to
    /// close it: that one call must not.
    worker_leaving: AtomicBool,
}

impl HttpSession {
    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap()
    }

    /// Write `message` to the GET stream; false once the session is closed.
    fn write(&self, message: Arc<ServerJsonRpcMessage>) -> BoxFuture<'static, bool> {
        let pending = {
            let mut routes = self.routes();
            // Closed: asked under the lock taken anyway, not of `closed`,
            // whose own lock is one more cache miss per session per change.
            if routes.inbound.is_none() {
                return Box::pin(std::future::ready(false));
            }
            let mut event = ServerSseMessage::default();
            event.message = Some(message);
            routes.common.send(event, None)
        };
        Box::pin(async move {
            if let Some((tx, event)) = pending {
                let _ = tx.send(event).await;
            }
            true
        })
    }

    /// Pass `message` to the handler, starting a service loop for it if the
    /// session is parked.
    fn deliver(
        self: &Arc<Self>,
        message: ClientJsonRpcMessage,
        cancel: &CancellationToken,
    ) -> Result<(), SessionError> {
        let mut routes = self.routes();
        let in_flight = &mut routes.in_flight;
        match &message {
            ClientJsonRpcMessage::Request(request) => {
                in_flight.insert(request.id.clone());
            }
            // A cancelled request may never be answered (rmcp drops the
            // answer), so it stops counting now.
            ClientJsonRpcMessage::Notification(notification) => {
                if let ClientNotification::CancelledNotification(cancelled) =
                    &notification.notification
                    && let Some(id) = &cancelled.params.request_id
                {
                    in_flight.remove(id);
                }
            }
            _ => {}
        }
        routes
            .inbound
            .as_ref()
            .ok_or(SessionError::Closed)?
            .send(Box::new(message))
            .map_err(|_| SessionError::Closed)?;
        if let Some(inbound) = routes.parked.take() {
            // Parked only once both are there (`Routes::may_park`).
            let (Some(handler), Some(client)) = (routes.handler.clone(), routes.client.clone())
            else {
                unreachable!("a session parks only after its handshake");
            };
            tracing::debug!("HTTP session busy again: its service loop starts");
            let transport = SessionTransport {
                session: Arc::clone(self),
                inbound: Some(inbound),
                first_within: None,
                handshake: false,
                served_request: false,
            };
            let running =
                serve_directly_with_ct(handler, transport, Some(client), cancel.child_token());
            tokio::spawn(async move {
                let _ = running.waiting().await;
            });
        }
        Ok(())
    }

    /// Keep `handler` to serve the session's requests after the handshake.
    fn keep(&self, handler: McpHandler) {
        let mut routes = self.routes();
        // A handler kept after `close` would never be dropped.
        if !self.closed.is_cancelled() {
            routes.handler = Some(handler);
        }
    }

    fn close(&self) {
        self.closed.cancel();
        // Dropping the senders ends every SSE stream of the session.
        let mut routes = self.routes();
        // Dropping the sender also ends the handler's `receive`.
        routes.inbound = None;
        routes.parked = None;
        // Its last copy stops the session's Session actor.
        routes.handler = None;
        routes.common.tx = None;
        routes.request_wise.clear();
        routes.shadows.clear();
        routes.initialize = None;
    }
}

/// Sends the session's notifications and log lines straight onto its GET
/// stream, where rmcp's service loop would have routed them, without the
/// loop: a hop through its peer channel and a task per message, for each of
/// 10,000 sessions on every change, and a loop that runs only while the
/// session has a request in flight.
#[allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it
impl NoticeSink for HttpSession {
    fn notify(&self, notice: Notice) -> BoxFuture<'_, bool> {
        self.write(message_for(notice))
    }

    fn log(&self, line: rmcp::model::LoggingMessageNotificationParam) -> BoxFuture<'_, bool> {
        self.write(Arc::new(ServerJsonRpcMessage::notification(
            ServerNotification::LoggingMessageNotification(
                rmcp::model::LoggingMessageNotification::new(line),
            ),
        )))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ResourceKey {
    McpRequestId(RequestId),
    ProgressToken(ProgressToken),
}

/// Where the handler's messages go.
#[derive(Default)]
struct Routes {
    /// To the handler; `None` once the session closed.
    inbound: Option<mpsc::UnboundedSender<Box<ClientJsonRpcMessage>>>,
    /// The inbound channel's receiving end while no service loop runs.
    parked: Option<Inbound>,
    /// The requests delivered and not yet answered or cancelled: while there
    /// are any, the service loop runs.
    in_flight: HashSet<RequestId>,
    /// The session's handler, kept in `initialize` to serve later loops.
    handler: Option<McpHandler>,
    /// What the client said in `initialize`, with the version negotiated.
    client: Option<InitializeRequestParams>,
    /// `initialize` has been answered with a result.
    handshaken: bool,
    /// Waits for the answer to `initialize`.
    initialize: Option<oneshot::Sender<ServerJsonRpcMessage>>,
    next_http_request_id: u64,
    request_wise: HashMap<u64, RequestWise>,
    resources: HashMap<ResourceKey, u64>,
    common: Kept,
    shadows: Vec<mpsc::Sender<StreamEvent>>,
}

struct RequestWise {
    resources: HashSet<ResourceKey>,
    stream: Kept,
    completed_at: Option<Instant>,
    /// Where the handler leaves its answer's page, if it prepares one: the
    /// POST's.
    prepared: Option<Prepared>,
}

/// An event on its way to an SSE stream, with the page of the list answer it
/// carries, if it is one (see the module doc). Boxed: every session's
/// channel has room for 32 events from the start.
struct StreamEvent {
    sse: ServerSseMessage,
    page: Option<Box<Page>>,
}

/// One SSE stream's sender and the events it keeps for a resume.
#[derive(Default)]
struct Kept {
    tx: Option<mpsc::Sender<StreamEvent>>,
    /// The last events sent, oldest first, the last one numbered
    /// `next_index - 1`.
    kept: VecDeque<KeptEvent>,
    http_request_id: Option<u64>,
    next_index: usize,
}

/// An event kept for a resume, without its id, which its place in
/// [`Kept::kept`] gives: copying the id string for every event sent is
/// the larger part of keeping it, and few streams are ever resumed.
struct KeptEvent {
    message: Option<Arc<ServerJsonRpcMessage>>,
    retry: Option<Duration>,
    page: Option<Box<Page>>,
}

/// Where a message of the handler goes.
enum Outbound {
    RequestWise { id: u64, close: bool },
    Common,
}

/// An SSE stream's receiving end, as rmcp serves it.
type SseStream = futures::stream::PollFn<
    Box<
        dyn FnMut(&mut std::task::Context<'_>) -> std::task::Poll<Option<ServerSseMessage>>
            + Send
            + Sync,
    >,
>;

/// The stream of `rx`'s events for the HTTP response being made: an
/// answer's page goes to the response's [`Prepared`] as its event is yielded,
/// so that the body finds it in the frame rmcp makes of the event at once.
fn sse_stream(mut rx: mpsc::Receiver<StreamEvent>) -> SseStream {
    let prepared = HANDLING
        .try_with(|handling| handling.prepared.clone())
        .ok()
        .flatten();
    futures::stream::poll_fn(Box::new(move |cx| {
        rx.poll_recv(cx).map(|event| {
            let StreamEvent { sse, page } = event?;
            if let Some(page) = page
                && let Some(prepared) = &prepared
                && let Some(id) = sse.message.as_deref().and_then(answered)
            {
                prepared.put(id.clone(), *page);
            }
            Some(sse)
        })
    }))
}

fn channel() -> (mpsc::Sender<StreamEvent>, mpsc::Receiver<StreamEvent>) {
    mpsc::channel(KEPT)
}

/// A send that found the stream's channel full: it waits outside the lock.
type Pending = Option<(mpsc::Sender<StreamEvent>, StreamEvent)>;

impl Kept {
    fn is_open(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| !tx.is_closed())
    }

    fn event_id(&self, index: usize) -> String {
        match self.http_request_id {
            Some(request) => format!("{index}/{request}"),
            None => index.to_string(),
        }
    }

    /// Number, keep and send `event`, an answer with its `page` if it has
    /// one; a full channel leaves the send pending.
    #[must_use]
    fn send(&mut self, mut event: ServerSseMessage, page: Option<Box<Page>>) -> Pending {
        event.event_id = Some(self.event_id(self.next_index));
        self.next_index += 1;
        if self.kept.len() >= KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(KeptEvent {
            message: event.message.clone(),
            retry: event.retry,
            page: page.clone(),
        });
        let event = StreamEvent { sse: event, page };
        let tx = self.tx.as_ref()?;
        match tx.try_send(event) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(event)) => Some((tx.clone(), event)),
            // A client that left: rmcp drops the event the same way.
            Err(mpsc::error::TrySendError::Closed(_)) => None,
        }
    }

    /// Replay the kept events from `index` onwards into a new stream.
    fn resume(&mut self, index: usize) -> Result<mpsc::Receiver<StreamEvent>, SessionError> {
        let front = self.next_index - self.kept.len();
        let skip = index.saturating_sub(front);
        if !self.kept.is_empty() && skip > self.kept.len() {
            return Err(SessionError::InvalidEventId(index.to_string()));
        }
        // The channel holds all that is kept, so the replay never waits.
        let (tx, rx) = mpsc::channel(KEPT.max(self.kept.len()));
        for (index, event) in (front..).zip(&self.kept).skip(skip) {
            let mut replayed = ServerSseMessage::default();
            replayed.event_id = Some(self.event_id(index));
            replayed.message = event.message.clone();
            replayed.retry = event.retry;
            let _ = tx.try_send(StreamEvent {
                sse: replayed,
                page: event.page.clone(),
            });
        }
        self.tx = Some(tx);
        Ok(rx)
    }
}

impl Routes {
    /// Whether the service loop may end: the handshake is done, its handler
    /// kept, and nothing is in flight.
    fn may_park(&self) -> bool {
        self.handshaken && self.handler.is_some() && self.in_flight.is_empty()
    }

    fn register(&mut self, resource: ResourceKey, http_request_id: u64) {
        if let Some(channel) = self.request_wise.get_mut(&http_request_id) {
            channel.resources.insert(resource.clone());
            self.resources.insert(resource, http_request_id);
        }
    }

    fn register_request(&mut self, request: &JsonRpcRequest<ClientRequest>, http_request_id: u64) {
        self.register(
            ResourceKey::McpRequestId(request.id.clone()),
            http_request_id,
        );
        if let Some(token) = request.request.get_meta().get_progress_token() {
            self.register(ResourceKey::ProgressToken(token), http_request_id);
        }
    }

    /// A cancelled request's stream ends, but stays resumable for a while.
    fn unregister(&mut self, resource: &ResourceKey) {
        let Some(http_request_id) = self.resources.remove(resource) else {
            return;
        };
        let Some(channel) = self.request_wise.get_mut(&http_request_id) else {
            return;
        };
        if !channel.resources.is_empty() && !matches!(resource, ResourceKey::McpRequestId(_)) {
            return;
        }
        channel.completed_at = Some(Instant::now());
        channel.stream.tx = None;
        for resource in std::mem::take(&mut channel.resources) {
            self.resources.remove(&resource);
        }
    }

    fn evict_expired(&mut self) {
        self.request_wise.retain(|_, rw| {
            rw.completed_at
                .is_none_or(|at| at.elapsed() < COMPLETED_TTL)
        });
    }

    fn request_stream(&mut self, resource: ResourceKey, close: bool) -> Outbound {
        match self.resources.get(&resource) {
            Some(&id) => Outbound::RequestWise { id, close },
            None => Outbound::Common,
        }
    }

    fn outbound(&mut self, message: &ServerJsonRpcMessage) -> Outbound {
        match message {
            // SEP-2260: a server request rides the stream of the request
            // that caused it.
            ServerJsonRpcMessage::Request(request) => {
                match request.request.extensions().get::<OriginatingRequestId>() {
                    Some(originating) => {
                        self.request_stream(ResourceKey::McpRequestId(originating.0.clone()), false)
                    }
                    None => Outbound::Common,
                }
            }
            ServerJsonRpcMessage::Notification(notification) => match &notification.notification {
                ServerNotification::ProgressNotification(progress) => self.request_stream(
                    ResourceKey::ProgressToken(progress.params.progress_token.clone()),
                    false,
                ),
                ServerNotification::CancelledNotification(cancelled) => {
                    match &cancelled.params.request_id {
                        Some(id) => {
                            self.request_stream(ResourceKey::McpRequestId(id.clone()), false)
                        }
                        None => Outbound::Common,
                    }
                }
                _ => Outbound::Common,
            },
            ServerJsonRpcMessage::Response(response) => {
                self.request_stream(ResourceKey::McpRequestId(response.id.clone()), true)
            }
            ServerJsonRpcMessage::Error(error) => match &error.id {
                Some(id) => self.request_stream(ResourceKey::McpRequestId(id.clone()), true),
                None => Outbound::Common,
            },
        }
    }

    /// Send one message of the handler where it belongs.
    #[must_use]
    fn route(&mut self, message: ServerJsonRpcMessage) -> Pending {
        self.evict_expired();
        let answered = answered(&message).cloned().map(ResourceKey::McpRequestId);
        let event = ServerSseMessage::from_message(message);
        let pending = match self.outbound(event.message.as_deref().expect("a message")) {
            Outbound::RequestWise { id, close } => match self.request_wise.get_mut(&id) {
                Some(channel) => {
                    let page = match (&channel.prepared, &answered) {
                        (Some(prepared), Some(ResourceKey::McpRequestId(answered))) => {
                            prepared.take(answered).map(Box::new)
                        }
                        _ => None,
                    };
                    let pending = channel.stream.send(event, page);
                    // The answer ends its request's stream.
                    if close && let Some(channel) = self.request_wise.remove(&id) {
                        for resource in channel.resources {
                            self.resources.remove(&resource);
                        }
                    }
                    pending
                }
                None => None,
            },
            Outbound::Common => self.common.send(event, None),
        };
        if let Some(answered) = answered {
            if let ResourceKey::McpRequestId(id) = &answered {
                self.in_flight.remove(id);
            }
            self.unregister(&answered);
        }
        pending
    }

    fn open_request_stream(
        &mut self,
        prepared: Option<Prepared>,
    ) -> (u64, mpsc::Receiver<StreamEvent>) {
        let id = self.next_http_request_id;
        self.next_http_request_id = self.next_http_request_id.wrapping_add(1);
        let (tx, rx) = channel();
        let mut stream = Kept {
            tx: Some(tx),
            http_request_id: Some(id),
            ..Kept::default()
        };
        // The priming event names the stream for a resume (SEP-1699); the
        // channel is empty, so it never waits.
        let _ = stream.send(ServerSseMessage::retry(SSE_RETRY), None);
        self.request_wise.insert(
            id,
            RequestWise {
                resources: HashSet::new(),
                stream,
                completed_at: None,
                prepared,
            },
        );
        (id, rx)
    }

    /// The GET stream: the session's one notification stream if there is
    /// none (replaying what it kept from `index`), a quiet shadow if there is.
    fn open_common_stream(
        &mut self,
        index: usize,
    ) -> Result<mpsc::Receiver<StreamEvent>, SessionError> {
        if !self.common.is_open() {
            return self.common.resume(index);
        }
        if self.shadows.len() >= MAX_SHADOWS {
            tracing::warn!(
                shadows = self.shadows.len(),
                "shadow stream limit reached, dropping the oldest"
            );
            self.shadows.remove(0);
        }
        let (tx, rx) = mpsc::channel(1);
        self.shadows.push(tx);
        Ok(rx)
    }
}

/// The handler's end of a session, for one service loop: rmcp's handshake
/// worker's, or one started for a parked session.
pub struct SessionTransport {
    session: Arc<HttpSession>,
    /// `None` once this loop parked the session.
    inbound: Option<Inbound>,
    /// How long the first message may take (the handshake's `initialize`).
    first_within: Option<Duration>,
    /// This is rmcp's handshake worker's loop, which closes the session when
    /// it ends.
    handshake: bool,
    /// This loop has served a request since the handshake, so it lingers.
    served_request: bool,
}

impl SessionTransport {
    /// The session's next message; `None` once it is closed.
    async fn next(&mut self) -> Option<ClientJsonRpcMessage> {
        let inbound = self.inbound.as_mut()?;
        let message = tokio::select! {
            message = inbound.recv() => message.map(|message| *message),
            () = self.session.closed.cancelled() => None,
        };
        if !self.handshake && matches!(message, Some(ClientJsonRpcMessage::Request(_))) {
            self.served_request = true;
        }
        message
    }

    /// Whether the loop has nothing to do but wait for the next message.
    fn is_idle(&self) -> bool {
        self.inbound
            .as_ref()
            .is_some_and(|inbound| inbound.is_empty() && self.session.routes().may_park())
    }

    /// Hand the inbound channel back to the session, ending this loop, if
    /// the loop has nothing left to do.
    fn park_if_idle(&mut self) -> bool {
        let Some(inbound) = &self.inbound else {
            return false;
        };
        let mut routes = self.session.routes();
        if !routes.may_park() || !inbound.is_empty() {
            return false;
        }
        routes.parked = self.inbound.take();
        tracing::debug!("HTTP session idle: its service loop ends until its next message");
        if self.handshake {
            self.session.worker_leaving.store(true, Ordering::Release);
        }
        true
    }

    /// The session closes with the loop, unless the loop parked it.
    fn close_unless_parked(&self) {
        if self.inbound.is_some() {
            self.session.close();
        }
    }
}

impl Transport<RoleServer> for SessionTransport {
    type Error = SessionError;

    fn send(
        &mut self,
        message: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), SessionError>> + Send + 'static {
        // Routed here, in the order the handler sends: the event ids follow it.
        let routed = if self.session.closed.is_cancelled() {
            Err(SessionError::Closed)
        } else {
            let mut routes = self.session.routes();
            match routes.initialize.take() {
                Some(answer)
                    if matches!(
                        message,
                        ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_)
                    ) =>
                {
                    if let Some(id) = answered(&message) {
                        routes.in_flight.remove(id);
                    }
                    if let ServerJsonRpcMessage::Response(response) = &message
                        && let ServerResult::InitializeResult(result) = &response.result
                        && let Some(client) = &mut routes.client
                    {
                        client.protocol_version = result.protocol_version.clone();
                        routes.handshaken = true;
                    }
                    let _ = answer.send(message);
                    Ok(None)
                }
                initialize => {
                    routes.initialize = initialize;
                    Ok(routes.route(message))
                }
            }
        };
        async move {
            if let Some((tx, event)) = routed? {
                // A client that reads slowly holds up its session's sends,
                // as in rmcp; one that left drops the event.
                let _ = tx.send(event).await;
            }
            Ok(())
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        // The handshake's `initialize` must come within its limit, or rmcp's
        // worker ends.
        if let Some(limit) = self.first_within.take() {
            return tokio::time::timeout(limit, self.next())
                .await
                .ok()
                .flatten();
        }
        // rmcp's loop asks again after every event, an answer sent included,
        // so an idle loop lingers from its last event. Only after a request:
        // a session that has just opened (its handshake, its `initialized`)
        // usually goes quiet, and a load test opens thousands at once.
        if self.served_request {
            if !self.is_idle() {
                return self.next().await;
            }
            if let Ok(message) = tokio::time::timeout(LINGER, self.next()).await {
                return message;
            }
        }
        if self.park_if_idle() {
            return None;
        }
        // Busy, or a message came at the last instant: serve it.
        self.next().await
    }

    async fn close(&mut self) -> Result<(), SessionError> {
        self.close_unless_parked();
        Ok(())
    }
}

impl Drop for SessionTransport {
    fn drop(&mut self) {
        self.close_unless_parked();
    }
}

impl SessionManager for Sessions {
    type Error = SessionError;
    type Transport = SessionTransport;

    async fn create_session(&self) -> Result<(SessionId, SessionTransport), SessionError> {
        let id = session_id();
        let (inbound, receiving) = mpsc::unbounded_channel();
        let session = Arc::new(HttpSession {
            routes: Mutex::new(Routes {
                inbound: Some(inbound),
                ..Routes::default()
            }),
            closed: CancellationToken::new(),
            worker_leaving: AtomicBool::new(false),
        });
        self.sessions
            .write()
            .unwrap()
            .insert(id.clone(), Arc::clone(&session));
        let transport = SessionTransport {
            session,
            inbound: Some(receiving),
            first_within: Some(INIT_TIMEOUT),
            handshake: true,
            served_request: false,
        };
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, SessionError> {
        let session = self.get(id)?;
        let mut message = message;
        if let ClientJsonRpcMessage::Request(request) = &mut message
            && let ClientRequest::InitializeRequest(initialize) = &mut request.request
        {
            session.routes().client = Some(initialize.params.clone());
            let keep = {
                let session = Arc::downgrade(&session);
                Arc::new(move |handler| {
                    if let Some(session) = session.upgrade() {
                        session.keep(handler);
                    }
                })
            };
            let direct = Arc::clone(&session) as Arc<dyn NoticeSink>;
            initialize.extensions.insert(SessionHooks { keep, direct });
        }
        let (answer, answered) = oneshot::channel();
        session.routes().initialize = Some(answer);
        session.deliver(message, &self.cancel)?;
        answered.await.map_err(|_| SessionError::Closed)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, SessionError> {
        Ok(self.sessions.read().unwrap().contains_key(id))
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), SessionError> {
        if let Ok(session) = self.get(id)
            && session.worker_leaving.swap(false, Ordering::AcqRel)
        {
            // rmcp's handshake worker, ending because its loop parked the
            // session. (A DELETE in this instant is taken for it, and the
            // worker's call that follows ends the session all the same.)
            return Ok(());
        }
        self.end(id);
        Ok(())
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, SessionError> {
        // rmcp has just checked that the session exists, but it may have
        // ended since: the edge answers 404, and rmcp gets a stream that
        // ends at once instead of an error it would log and answer 500.
        let Ok(session) = self.get(id) else {
            session_gone(id);
            return Ok(sse_stream(channel().1));
        };
        // Where the handler leaves its answer's page: the edge put it in the
        // HTTP request's extensions, which rmcp passes on.
        let prepared = match &message {
            ClientJsonRpcMessage::Request(request) => request
                .request
                .extensions()
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Prepared>())
                .cloned(),
            _ => None,
        };
        let rx = {
            let mut routes = session.routes();
            let (http_request_id, rx) = routes.open_request_stream(prepared);
            if let ClientJsonRpcMessage::Request(request) = &message {
                routes.register_request(request, http_request_id);
            }
            rx
        };
        if session.deliver(message, &self.cancel).is_err() {
            session_gone(id);
            return Ok(sse_stream(channel().1));
        }
        Ok(sse_stream(rx))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), SessionError> {
        // As in `create_stream`: rmcp checked the session just before.
        let Ok(session) = self.get(id) else {
            session_gone(id);
            return Ok(());
        };
        if let ClientJsonRpcMessage::Notification(notification) = &message
            && let ClientNotification::CancelledNotification(cancelled) = &notification.notification
            && let Some(request_id) = &cancelled.params.request_id
        {
            session
                .routes()
                .unregister(&ResourceKey::McpRequestId(request_id.clone()));
        }
        if session.deliver(message, &self.cancel).is_err() {
            session_gone(id);
        }
        Ok(())
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, SessionError> {
        // rmcp checked that the session exists just before, but the client
        // may have ended it (DELETE) in between: rmcp would answer that race
        // with a 500 and an ERROR line, though nothing is wrong with the
        // server. The stream of a session that is gone simply ends at once,
        // as rmcp ends a failed resume; the client's next request gets 404.
        let rx = match self.get(id) {
            Ok(session) => session.routes().open_common_stream(0)?,
            Err(SessionError::NotFound(_)) => {
                tracing::debug!(session = %id, "GET stream for a session ended meanwhile");
                mpsc::channel(1).1
            }
            Err(error) => return Err(error),
        };
        Ok(sse_stream(rx))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, SessionError> {
        let session = self.get(id)?;
        let invalid = || SessionError::InvalidEventId(last_event_id.clone());
        let (index, request) = match last_event_id.split_once('/') {
            Some((index, request)) => (index, Some(request.parse::<u64>().map_err(|_| invalid())?)),
            None => (last_event_id.as_str(), None),
        };
        let index = index.parse::<usize>().map_err(|_| invalid())?;
        let mut routes = session.routes();
        routes.shadows.retain(|tx| !tx.is_closed());
        let rx = match request {
            Some(request) => {
                let channel = routes
                    .request_wise
                    .get_mut(&request)
                    .ok_or(SessionError::ChannelClosed(Some(request)))?;
                let rx = channel.stream.resume(index)?;
                if channel.completed_at.is_some() {
                    // Replayed; now the stream ends instead of hanging.
                    channel.stream.tx = None;
                }
                rx
            }
            None => routes.open_common_stream(index)?,
        };
        Ok(sse_stream(rx))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use rmcp::model::ClientJsonRpcMessage;
    use rmcp::transport::streamable_http_server::session::SessionManager;
    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    // By its full path: `super` here would read, to the layers check, as
    // the parent module.
    use crate::http::sessions::{Sessions, for_response};

    fn message(value: serde_json::Value) -> ClientJsonRpcMessage {
        serde_json::from_value(value).unwrap()
    }

    /// A POST that races the end of its session (the idle sweep, a DELETE):
    /// rmcp has found the session, then asks for the stream or hands over
    /// the message. It must be told nothing failed, or it answers 500 and
    /// logs an ERROR; the edge, told the session is gone, answers 404.
    #[tokio::test]
    async fn a_message_for_a_session_ended_after_rmcps_check_is_a_session_gone() {
        let sessions = Sessions::new(CancellationToken::new());
        let (id, _transport) = sessions.create_session().await.unwrap();
        assert!(sessions.has_session(&id).await.unwrap());
        sessions.end(&id);

        let ping = message(json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }));
        let (stream, gone) = for_response(None, sessions.create_stream(&id, ping)).await;
        assert!(gone);
        let events: Vec<_> = stream.expect("no error for rmcp").collect().await;
        assert!(events.is_empty(), "the stream ends at once");

        let initialized = |session| {
            let message =
                message(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
            for_response(None, sessions.accept_message(session, message))
        };
        let (accepted, gone) = initialized(&id).await;
        assert!(gone);
        assert!(accepted.is_ok(), "no error for rmcp");
        // A live session's message is delivered, and nothing is gone.
        let (live, _transport) = sessions.create_session().await.unwrap();
        let (accepted, gone) = initialized(&live).await;
        assert!(!gone);
        assert!(accepted.is_ok());
    }
}
