//! The Streamable HTTP transport: MCP at `/mcp`, one rmcp session and one
//! Session actor per client.
//!
//! rmcp's [`StreamableHttpService`] does the protocol work (sessions, SSE
//! streams, `Host` and `Origin` checks); this module puts plain hyper in front
//! of it and adds three things rmcp leaves to its user:
//!
//! - **A Session actor per client.** rmcp asks a factory for a handler for
//!   every session it opens; ours spawns a Session actor linked to the
//!   supervisor, subscribed to the registry like the stdio one, and stopped
//!   when rmcp drops the handler (see [`crate::mcp`]).
//! - **Knowing when a client has gone.** rmcp's own idle timeout counts only
//!   messages, so it would close a client that listens quietly on its SSE
//!   stream and keep one whose connection dropped for as long. Instead every
//!   response that belongs to a session is counted while its body is alive
//!   (hyper drops it when the connection closes), and the
//!   [`HttpServer`](crate::http::server) actor closes a session that
//!   has had no response in flight for [`HttpOptions::session_timeout`].
//! - **JSON-RPC errors for bad bodies.** rmcp answers a body that is not a
//!   JSON-RPC message with a plain-text 415; here it gets 400 with a JSON-RPC
//!   -32700 parse error or -32600 invalid request, as on stdio.
//!
//! DNS-rebinding protection: `Host` must name the bound address (or a loopback
//! name with its port) and a present `Origin` must be that address's HTTP
//! origin, unless `--allow-host` and `--allow-origin` add more. The request
//! head is checked ([`guard`]) before its body is read (`body`), and both
//! are read within `--request-timeout`.

mod batch;
mod body;
pub mod descriptors;
#[cfg(test)]
mod fuzz;
pub mod guard;
pub mod server;
pub mod sessions;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use ractor::{ActorCell, ActorRef, ActorRuntime, SpawnErr};
use rmcp::model::{ClientJsonRpcMessage, ErrorData, RequestId, ServerJsonRpcMessage};
use rmcp::transport::common::http_header::{HEADER_SESSION_ID, JSON_MIME_TYPE};
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::{SessionId, StreamableHttpService};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::actors::registry::RegistryHandle;
use crate::actors::session::{Session, SessionArgs};
use crate::actors::supervisor::{SupervisorHandle, startup_error, upstream_actor_name};
use crate::error::StartupError;
use crate::fleet::upstreams::Upstream;
use crate::http::server::{HttpServer, HttpServerArgs, HttpServerMsg, StreamCut};
use crate::mcp::{McpHandler, Profile};
use crate::pagination::misread_list_params;
use crate::revision;
use body::{BodyBudget, BodyError};
use guard::Gate;
use sessions::Sessions;

/// Where MCP is served.
pub const MCP_PATH: &str = "/mcp";

/// rmcp's HTTP service with our handler.
pub type McpService = StreamableHttpService<McpHandler, Sessions>;

type HttpResponse = Response<BoxBody<Bytes, Infallible>>;

/// How to serve MCP over HTTP.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The address to bind; port 0 picks a free port (the log says which).
    pub addr: SocketAddr,
    /// More `Host` values to accept, `host` or `host:port`.
    pub allowed_hosts: Vec<String>,
    /// More `Origin` values to accept, such as `https://app.example:443`.
    pub allowed_origins: Vec<String>,
    /// How long a session may go with no request or stream open before it is
    /// closed: what frees a client that vanished without a DELETE.
    pub session_timeout: Duration,
    /// How long a client has to send a request's head, and then its body:
    /// what frees the connection of a client that stalls.
    pub request_timeout: Duration,
}

impl HttpOptions {
    pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(60);
    /// hyper's own default for the head, and ample for a 4 MiB body.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

    /// Serve on `addr` with the default security and timeout.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            session_timeout: Self::DEFAULT_SESSION_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// Parse `--http`'s value: `HOST:PORT` with an IP address or `localhost`, or
/// a bare port, which binds the IPv4 loopback address.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        let port = port.parse::<u16>().map_err(|e| format!("bad port: {e}"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!(
            "expected IP:PORT (such as 127.0.0.1:8765), localhost:PORT or a port, found {text:?}"
        )
    })
}

/// rmcp's HTTP service for a server bound to `bound`. A session it opens
/// gets a Session actor linked to `supervisor` once its handler needs one.
pub(crate) fn service(
    bound: SocketAddr,
    options: &HttpOptions,
    profile: Arc<Profile>,
    registry: RegistryHandle,
    supervisor: ActorCell,
    sessions: Arc<Sessions>,
    cancel: CancellationToken,
) -> McpService {
    let config = guard::rebinding_config(bound, &options.allowed_hosts, &options.allowed_origins)
        .with_cancellation_token(cancel);
    let spawner = registry.clone();
    let watch = profile.watch().clone();
    let style = profile.notify();
    let spawn_session = Arc::new(move || {
        let args = SessionArgs {
            registry: spawner.clone(),
            watch: watch.clone(),
            style,
            // rmcp owns an HTTP session's service and ends it itself (on
            // DELETE, idle, or shutdown through `cancel`), so the session
            // has no service of its own to cancel.
            service: CancellationToken::new(),
        };
        // rmcp's handler cannot wait here, so the session starts in the
        // background; `initialize` waits for it (see `McpHandler::initialize`).
        ActorRuntime::spawn_linked_instant(None, Session, args, supervisor.clone())
            .map(|(session, _)| session)
    });
    // rmcp asks for a handler for every stateless (2026-07-28) request too,
    // and for requests it then refuses: the Session is spawned only when the
    // handler first needs one, so those open none.
    let factory = move || {
        Ok(McpHandler::lazy(
            registry.clone(),
            spawn_session.clone(),
            Arc::clone(&profile),
        ))
    };
    StreamableHttpService::new(factory, sessions, config)
}

/// A session manager whose sessions close only when told: rmcp's idle timeout
/// counts messages, not open streams (see the module doc), so [`Sessions`]
/// has none. `cancel` is the server's.
pub(crate) fn session_manager(cancel: CancellationToken) -> Sessions {
    Sessions::new(cancel)
}

/// Everything the requests of one upstream (the server's, or one of a
/// fleet's) share.
pub(crate) struct Edge {
    /// What every request passes first, as on the control endpoint.
    gate: Arc<Gate>,
    /// Whose requests these are: stopped, it answers 404; if it answers
    /// nothing, nothing.
    upstream: Arc<Upstream>,
    /// Cancelled when its HttpServer actor stops (the server is shutting
    /// down): what a request that is never answered waits for.
    closing: CancellationToken,
    service: McpService,
    tracker: ActorRef<HttpServerMsg>,
    sessions: Arc<Sessions>,
    budget: BodyBudget,
    request_timeout: Duration,
    /// Only for a scenario that drops streams: no other server pays for it.
    cut: Option<Arc<StreamCut>>,
}

/// What the supervisor calls the HttpServer actor.
const HTTP_SERVER: &str = "HTTP server";

/// What serving MCP over HTTP needs.
pub(crate) struct HttpArgs {
    /// Already bound, so that a bad address fails start-up before anything
    /// else starts.
    pub listener: TcpListener,
    pub options: HttpOptions,
    /// Each upstream served, and what its sessions answer with: the
    /// server's one at `/mcp`, or with `fleet` each at `/mcp/{name}`.
    pub served: Vec<(Arc<Upstream>, Arc<Profile>)>,
    pub fleet: bool,
    /// What the HttpServer actors and each Session actor are spawned under.
    pub supervisor: SupervisorHandle,
    /// Whether SSE responses may be dropped (a scenario's `drop_stream`).
    pub drop_streams: bool,
}

/// Which upstream's edge a path leads to.
enum Routes {
    /// The server's one, at `/mcp`.
    One(Arc<Edge>),
    /// A fleet's, each at `/mcp/{name}`; nothing at `/mcp`.
    Fleet(HashMap<String, Arc<Edge>>),
}

impl Routes {
    /// Every upstream's: the server's `--request-timeout`.
    fn request_timeout(&self) -> Duration {
        match self {
            Routes::One(edge) => edge.request_timeout,
            Routes::Fleet(edges) => edges
                .values()
                .next()
                .map_or(HttpOptions::DEFAULT_REQUEST_TIMEOUT, |e| e.request_timeout),
        }
    }

    /// The edge at `path`, or why there is none (a 404's text).
    fn route(&self, path: &str) -> Result<&Arc<Edge>, &'static str> {
        match self {
            Routes::One(edge) if path == MCP_PATH => Ok(edge),
            Routes::One(_) => Err("Not Found: MCP is served at /mcp"),
            Routes::Fleet(edges) => path
                .strip_prefix(MCP_PATH)
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(|name| edges.get(name))
                .ok_or("Not Found: this fleet serves MCP at /mcp/{name}, one path per upstream"),
        }
    }
}

/// Serve MCP over HTTP: spawn the [`HttpServer`] actor, which knows which
/// sessions still have a client, then accept connections on the listener
/// and hand each request through the edge here, until the actor stops.
/// Wired here rather than in the actor, so that the actor's file needs
/// nothing of the edge, which talks to it.
pub(crate) async fn spawn(args: HttpArgs) -> Result<Vec<ActorRef<HttpServerMsg>>, StartupError> {
    let bound = args
        .listener
        .local_addr()
        .map_err(|error| startup_error(HTTP_SERVER, SpawnErr::StartupFailed(error.into())))?;
    // Before the first connection is accepted; logged after the URL, which
    // stays the log's first line.
    let descriptors = descriptors::raise_to_hard_limit();
    let gate = Arc::new(Gate::new(
        bound,
        &args.options.allowed_hosts,
        &args.options.allowed_origins,
    ));
    // One budget for every upstream: the process's memory is what it bounds.
    let budget = BodyBudget::default();
    let mut trackers = Vec::with_capacity(args.served.len());
    let mut edges = Vec::with_capacity(args.served.len());
    for (upstream, profile) in args.served {
        let cancel = CancellationToken::new();
        let sessions = Arc::new(session_manager(cancel.clone()));
        let cut = args.drop_streams.then(Arc::<StreamCut>::default);
        let tracking = HttpServerArgs {
            sessions: Arc::clone(&sessions),
            cancel: cancel.clone(),
            session_timeout: args.options.session_timeout,
            cut: cut.clone(),
        };
        let name = match upstream.name() {
            Some(name) if args.fleet => upstream_actor_name(HTTP_SERVER, name),
            _ => HTTP_SERVER,
        };
        let tracker = args.supervisor.spawn(name, HttpServer, tracking).await?;
        upstream.serves_http(tracker.clone());
        let edge = Edge {
            gate: Arc::clone(&gate),
            closing: cancel.clone(),
            service: service(
                bound,
                &args.options,
                profile,
                upstream.registry.clone(),
                args.supervisor.cell(),
                Arc::clone(&sessions),
                cancel.clone(),
            ),
            upstream,
            tracker: tracker.clone(),
            sessions,
            budget: budget.clone(),
            request_timeout: args.options.request_timeout,
            cut,
        };
        trackers.push(tracker);
        edges.push((cancel, Arc::new(edge)));
    }
    let (routes, cancel) = if args.fleet {
        // The accept loop ends once every upstream's actor has stopped.
        let all_stopped = CancellationToken::new();
        let tokens: Vec<CancellationToken> = edges.iter().map(|(t, _)| t.clone()).collect();
        let ended = all_stopped.clone();
        tokio::spawn(async move {
            futures::future::join_all(tokens.iter().map(|t| t.cancelled())).await;
            ended.cancel();
        });
        let edges = edges
            .into_iter()
            .map(|(_, edge)| (edge.upstream.name().unwrap_or_default().to_owned(), edge))
            .collect();
        (Routes::Fleet(edges), all_stopped)
    } else {
        let (cancel, edge) = edges.pop().expect("one upstream");
        (Routes::One(edge), cancel)
    };
    let count = trackers.len();
    // Ends when the actors stop and cancel `cancel`.
    tokio::spawn(accept(args.listener, routes, cancel));
    if args.fleet {
        tracing::info!(
            url = %format!("http://{bound}{MCP_PATH}/{{name}}"),
            upstreams = count,
            "serving a fleet over Streamable HTTP"
        );
    } else {
        tracing::info!(url = %format!("http://{bound}{MCP_PATH}"), "serving MCP over Streamable HTTP");
    }
    descriptors.log();
    Ok(trackers)
}

/// Accept connections until `cancel` fires, serving each on its own task.
async fn accept(listener: TcpListener, routes: Routes, cancel: CancellationToken) {
    let routes = Arc::new(routes);
    // Dropped at once, which aborts the connections still open.
    let _open = accept_loop(listener, cancel, "MCP", move |stream| {
        serve_connection(stream, Arc::clone(&routes))
    })
    .await;
}

/// Accept connections on `listener` until `cancel` fires, handing each to
/// `serve` on a task of its own, and then return the connections still
/// open: dropping the set aborts them. What the MCP and control listeners
/// share.
///
/// The MCP listener's connections end by being aborted, not by each waiting
/// on `cancel`: a connection's task would check the token on every wake-up,
/// which takes the token's lock, and with 10,000 SSE streams that is one
/// more lock and cache miss per session on every notification. The control
/// endpoint's few connections wait on it, to answer what is in flight.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    cancel: CancellationToken,
    what: &'static str,
    serve: F,
) -> tokio::task::JoinSet<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return connections,
            accepted = listener.accept() => accepted,
            // Reaped as they end, so that the set holds only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        match accepted {
            Ok((stream, _)) => {
                connections.spawn(serve(stream));
            }
            Err(error) => {
                // Out of file descriptors, typically: give connections time to close.
                tracing::warn!(%error, listener = what, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, routes: Arc<Routes>) {
    // Notifications are small writes that must leave at once.
    let _ = stream.set_nodelay(true);
    let header_timeout = routes.request_timeout();
    // Boxed: hyper keeps the box of a connection's in-flight future for as
    // long as the connection lives, sized for the largest future, and
    // rmcp's request handling makes that over 6 KB. Boxed per request, an
    // idle connection (a session's open GET stream) keeps only a pointer.
    let handler = service_fn(move |request| {
        let routes = Arc::clone(&routes);
        let handling: Pin<Box<dyn Future<Output = _> + Send>> =
            Box::pin(async move { Ok::<_, Infallible>(handle(request, &routes).await) });
        handling
    });
    // The head timer runs whenever hyper waits for a head, so it also closes
    // a connection kept alive with no request.
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), handler);
    if let Err(error) = connection.await {
        tracing::debug!(%error, "HTTP connection ended with an error");
    }
}

async fn handle(request: Request<Incoming>, routes: &Routes) -> HttpResponse {
    let edge = match routes.route(request.uri().path()) {
        Ok(edge) => edge,
        Err(why) => return text(StatusCode::NOT_FOUND, why),
    };
    let (parts, body) = request.into_parts();
    // Everything about the head first: a refused request's body is never read.
    if let Err(refusal) = edge.gate.check(&parts.uri, &parts.headers).await {
        return closing(text(refusal.status, refusal.message));
    }
    if edge.upstream.is_stopped() {
        // As a server that has stopped: its sessions are gone too.
        return text(StatusCode::NOT_FOUND, "Not Found: this upstream is stopped");
    }
    if edge
        .upstream
        .spec
        .as_ref()
        .is_some_and(|s| s.answer_nothing)
    {
        // A hung upstream: the request waits until the server stops.
        edge.closing.cancelled().await;
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    }
    let method = parts.method.clone();
    let request_session = session_id(&parts.headers);
    if method == Method::DELETE
        && let Some(session) = &request_session
        && !edge.sessions.has_session(session).await.unwrap_or(false)
    {
        // rmcp answers 202 whether or not the session existed; the spec and
        // docs/http.md say 404 (MCP Streamable HTTP, session management).
        return text(StatusCode::NOT_FOUND, "Not Found: Session not found");
    }

    let body = if method == Method::POST {
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        match body::read(body, declared, &edge.budget, edge.request_timeout).await {
            Ok(bytes) => bytes,
            Err(error) => return body_refusal(&error),
        }
    } else {
        Bytes::new()
    };
    if method == Method::POST && is_json(&parts.headers) && batch::is_batch(&body) {
        return batch::serve(edge, parts, body).await;
    }
    serve(edge, parts, body).await
}

/// Hand one request, its body read, to rmcp, and count its response as open
/// for its session.
async fn serve(edge: &Edge, parts: Parts, body: Bytes) -> HttpResponse {
    let method = parts.method.clone();
    let request_session = session_id(&parts.headers);
    let posted_json = method == Method::POST && is_json(&parts.headers);
    let checked = posted_json.then(|| check_message(&body));
    if let Some(Ok(message)) = &checked
        && let Some((id, error)) = refuse_initialize(message)
    {
        return json_rpc_error(StatusCode::NOT_FOUND, Some(id), error);
    }
    if let Some(Ok(ClientJsonRpcMessage::Request(request))) = &checked
        && let Some(error) = misread_list_params(&request.request, &body)
        && session_is_live(edge, request_session.as_ref()).await
    {
        // A JSON-RPC error for a request that was read: a response, 200.
        return json_rpc_error(StatusCode::OK, Some(request.id.clone()), error);
    }
    let bad_message = checked.and_then(Result::err);
    // Taken before rmcp sees the request: a stream dropped while the request
    // is handled is this request's stream too.
    let cut = edge.cut.as_ref().map(|cut| cut.current());
    let takes_batches =
        posted_json && request_session.is_none() && batch::opens_batch_session(&body);

    let response = edge
        .service
        .handle(Request::from_parts(parts, Full::new(body)))
        .await;
    // rmcp checks Host, Origin, Accept and Content-Type first and answers
    // those itself; a 415 after them means the body did not parse.
    if let Some((id, error)) = bad_message
        && response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
    {
        return json_rpc_error(StatusCode::BAD_REQUEST, id, error);
    }

    let Some(session) = request_session.or_else(|| session_id(response.headers())) else {
        return response;
    };
    if !response.status().is_success() {
        return response;
    }
    if method == Method::DELETE {
        let _ = edge.tracker.cast(HttpServerMsg::Deleted(session));
        // rmcp answers an ended session 202 Accepted, which the Python SDK
        // (and so fastmcp) takes as a failure: it accepts only 200, 204 or
        // 405 and logs "Session termination failed: 202" on every close. The
        // session is ended by now, so say so: 200, as FastMCP's server does.
        if response.status() == StatusCode::ACCEPTED {
            let (mut parts, _) = response.into_parts();
            parts.status = StatusCode::OK;
            return Response::from_parts(parts, Full::new(Bytes::new()).boxed());
        }
        return response;
    }
    if takes_batches {
        let _ = edge
            .tracker
            .cast(HttpServerMsg::TakesBatches(session.clone()));
    }
    let open = OpenResponse::new(session, edge.tracker.clone());
    let sse = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
    let cut = cut.filter(|_| sse);
    // Moved into the body, so that it counts exactly as long as the body lives.
    response.map(|body| {
        let body = body.map_frame(move |frame| {
            let _alive = &open;
            frame
        });
        match cut {
            Some(cut) => {
                use futures::StreamExt;
                let frames = http_body_util::BodyStream::new(body);
                BodyExt::boxed(http_body_util::StreamBody::new(
                    frames.take_until(cut.cancelled_owned()),
                ))
            }
            None => body.boxed(),
        }
    })
}

/// The answer to a body that could not be read. The connection closes after
/// it: whatever is left of the body is not worth reading.
fn body_refusal(error: &BodyError) -> HttpResponse {
    let status = match error {
        BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        BodyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
        BodyError::Broken(_) => StatusCode::BAD_REQUEST,
    };
    let mut response = closing(text(status, error.to_string()));
    if matches!(error, BodyError::Busy) {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    response
}

/// `response` with `Connection: close`, for a request whose body was not
/// read: hyper would otherwise have to read it to find the next request.
fn closing(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

/// Counts one response of a session as open until its body is dropped: when
/// it has been sent in full, or its connection closed.
struct OpenResponse {
    session: SessionId,
    tracker: ActorRef<HttpServerMsg>,
}

impl OpenResponse {
    fn new(session: SessionId, tracker: ActorRef<HttpServerMsg>) -> Self {
        let _ = tracker.cast(HttpServerMsg::ResponseOpened(session.clone()));
        Self { session, tracker }
    }
}

impl Drop for OpenResponse {
    fn drop(&mut self) {
        // At shutdown the tracker may be gone, and so is the session.
        let _ = self
            .tracker
            .cast(HttpServerMsg::ResponseClosed(self.session.clone()));
    }
}

fn session_id(headers: &HeaderMap) -> Option<SessionId> {
    headers
        .get(HEADER_SESSION_ID)
        .and_then(|value| value.to_str().ok())
        .map(SessionId::from)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(JSON_MIME_TYPE))
}

/// The message `body` holds if it is one JSON-RPC message a client may send;
/// if not, the JSON-RPC error for it, with the request's `id` when one can be
/// read.
fn check_message(body: &[u8]) -> Result<ClientJsonRpcMessage, (Option<RequestId>, ErrorData)> {
    // The typed parse alone on the usual path; the body is read again as a
    // `Value` only to recover the `id` of a message that failed.
    let error = match serde_json::from_slice::<ClientJsonRpcMessage>(body) {
        Ok(message) => return Ok(message),
        Err(error) => error,
    };
    if !matches!(error.classify(), serde_json::error::Category::Data) {
        let message = format!("Parse error: {error}");
        return Err((None, ErrorData::parse_error(message, None)));
    }
    // The typed parse stops at the first value that has the wrong shape, so
    // a body such as `0` followed by garbage fails as data, not as JSON: only
    // the full parse tells (found by the fuzzer, see `fuzz`).
    let value = match serde_json::from_slice::<Value>(body) {
        Ok(value) => value,
        Err(error) => {
            let message = format!("Parse error: {error}");
            return Err((None, ErrorData::parse_error(message, None)));
        }
    };
    let id = value.get("id").and_then(exact_id);
    let message = format!("Invalid request: {error}");
    Err((id, ErrorData::invalid_request(message, None)))
}

/// Whether a request names no session or a live one: a request for an
/// unknown session is left to rmcp, which answers 404 whatever it holds.
async fn session_is_live(edge: &Edge, session: Option<&SessionId>) -> bool {
    match session {
        Some(id) => edge.sessions.has_session(id).await.unwrap_or(false),
        None => true,
    }
}

/// rmcp's stateless path opens an old-style session for any `initialize`
/// (see [`crate::revision`]): one that declares 2026-07-28 is answered here.
fn refuse_initialize(message: &ClientJsonRpcMessage) -> Option<(RequestId, ErrorData)> {
    match message {
        ClientJsonRpcMessage::Request(request) => {
            revision::refuse_initialize(&request.request).map(|error| (request.id.clone(), error))
        }
        _ => None,
    }
}

/// `id` as a request id if it is one exactly: a string or an integer. A
/// number with a fraction or an exponent is read as a float, which rounds,
/// and answering with a rounded id would answer another request (found by
/// the fuzzer: `1039743338578475.9` came back as `1039743338578476`).
pub(crate) fn exact_id(id: &Value) -> Option<RequestId> {
    if !(id.is_string() || id.is_i64()) {
        return None;
    }
    serde_json::from_value(id.clone()).ok()
}

/// A JSON-RPC error response. rmcp leaves out an `id` it does not have, but
/// JSON-RPC 2.0 §5 requires `"id": null` when the request's id could not be
/// read (a parse error, an invalid request), and strict clients drop a
/// response without one.
fn json_rpc_error(status: StatusCode, id: Option<RequestId>, error: ErrorData) -> HttpResponse {
    let body = match id {
        Some(id) => serde_json::to_vec(&ServerJsonRpcMessage::error(error, Some(id))),
        None => serde_json::to_vec(&error)
            .map(|error| [br#"{"jsonrpc":"2.0","id":null,"error":"#, &error[..], b"}"].concat()),
    }
    .expect("a JSON-RPC error serializes");
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, JSON_MIME_TYPE)
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("a valid response")
}

fn text(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(message.into())).boxed())
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("8765"), Ok("127.0.0.1:8765".parse().unwrap()));
        assert_eq!(
            parse_addr("localhost:0"),
            Ok("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(parse_addr("0.0.0.0:80"), Ok("0.0.0.0:80".parse().unwrap()));
        assert_eq!(parse_addr("[::1]:9"), Ok("[::1]:9".parse().unwrap()));
        assert!(parse_addr("example.com:80").is_err());
        assert!(parse_addr("127.0.0.1").is_err());
    }

    #[test]
    fn bad_bodies_get_the_json_rpc_error_for_them() {
        let (id, error) = check_message(b"{not json").unwrap_err();
        assert_eq!((id, error.code.0), (None, -32700));
        let (id, error) = check_message(br#"{"id": 7, "hello": "world"}"#).unwrap_err();
        assert_eq!((id, error.code.0), (Some(RequestId::Number(7)), -32600));
        // A valid JSON prefix of the wrong type, then garbage: still no JSON.
        let (id, error) = check_message(b"0\0").unwrap_err();
        assert_eq!((id, error.code.0), (None, -32700));
        let (_, error) = check_message(b"[]").unwrap_err();
        assert_eq!(error.code.0, -32600);
        assert!(check_message(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).is_ok());
    }
}
