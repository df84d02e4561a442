//! The control endpoint's HTTP edge: a small JSON API that makes changes on
//! demand and shows the server's state, for tests that need an exact change
//! at an exact moment without signals.
//!
//! - `POST /changes` with a [`ChangeRequest`] as JSON: 200 once every step is
//!   applied and the sessions told, with the catalog after it; 400 for a bad
//!   body, 404 for an unknown name or URI, 409 for a change that changes
//!   nothing or a list the server does not offer. Every error is
//!   `{"error": "..."}`, and a refused request changes nothing.
//! - `GET /state`: the catalog (names, revisions and versions per list) and
//!   the open sessions (client, protocol revision, initialized or not,
//!   notifications sent).
//! - `GET /report`: the client report as it stands (see [`crate::report`]),
//!   the same document `--report FILE` gets at exit.
//! - `GET /metrics`: counters and histograms for load tools, in the
//!   OpenMetrics text format (see [`crate::metrics`]).
//!
//! It is guarded like `/mcp`: `Host` must name the bound address (or a
//! loopback name with its port) and a present `Origin` must be that address's
//! HTTP origin, unless `--allow-host` and `--allow-origin` add more. Both are
//! checked before the body is read. The [`Control`](crate::control::actor)
//! actor owns the listener; this module only answers requests, by messages to
//! the Registry and the sessions.

pub mod actor;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HOST, ORIGIN};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use ractor::{ActorRef, call, call_t};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::actors::registry::RegistryMsg;
use crate::actors::session::SessionMsg;
use crate::catalog::{Change, ChangeError, ChangeRequest};
use crate::http::{accept_loop, allowed_hosts, allowed_origins, with_default_port};
use crate::metrics::watcher::MetricsWatcher;
use crate::report::recorder::RecorderMsg;

/// The largest change request accepted: a change is a few dozen bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a client may take to send its headers, and then its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `GET /state` waits for one session to describe itself: a session
/// stuck behind a client that does not read must not hold up the answer.
const DESCRIBE_TIMEOUT_MS: u64 = 1000;

type ControlResponse = Response<Full<Bytes>>;

/// Where and for whom the control endpoint is served.
#[derive(Debug, Clone)]
pub struct ControlOptions {
    /// The address to bind; port 0 picks a free port.
    pub addr: SocketAddr,
    /// More `Host` values to accept, `host` or `host:port`.
    pub allowed_hosts: Vec<String>,
    /// More `Origin` values to accept, `scheme://host:port`.
    pub allowed_origins: Vec<String>,
}

impl ControlOptions {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
}

/// What answering a request needs.
struct Endpoint {
    registry: ActorRef<RegistryMsg>,
    recorder: Option<ActorRef<RecorderMsg>>,
    metrics: Arc<MetricsWatcher>,
    hosts: Vec<String>,
    origins: Vec<String>,
}

/// Accept connections until `cancel` fires, serving each on its own task.
pub(crate) async fn serve(
    listener: TcpListener,
    options: ControlOptions,
    registry: ActorRef<RegistryMsg>,
    recorder: Option<ActorRef<RecorderMsg>>,
    metrics: Arc<MetricsWatcher>,
    cancel: CancellationToken,
) {
    let bound = match listener.local_addr() {
        Ok(bound) => bound,
        Err(error) => {
            tracing::error!(%error, "the control listener has no address");
            return;
        }
    };
    let endpoint = Arc::new(Endpoint {
        registry,
        recorder,
        metrics,
        hosts: allowed_hosts(bound, &options.allowed_hosts)
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        origins: allowed_origins(bound, &options.allowed_origins),
    });
    accept_loop(listener, cancel, "control", move |stream| {
        connection(stream, Arc::clone(&endpoint))
    })
    .await
}

async fn connection(stream: TcpStream, endpoint: Arc<Endpoint>) {
    let service = service_fn(move |request| {
        let endpoint = Arc::clone(&endpoint);
        async move { Ok::<_, Infallible>(answer(request, &endpoint).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(error) = connection.await {
        tracing::debug!(%error, "control connection ended with an error");
    }
}

/// A request refused before it reached the registry.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn response(self) -> ControlResponse {
        error(self.status, self.message)
    }
}

async fn answer(request: Request<Incoming>, endpoint: &Endpoint) -> ControlResponse {
    if let Err(refusal) = check_guard(request.headers(), endpoint) {
        return refusal.response();
    }
    let path = request.uri().path().to_owned();
    match (path.as_str(), request.method()) {
        ("/changes", &Method::POST) => match read_body(request.into_body()).await {
            Ok(body) => changes(&body, endpoint).await,
            Err(refusal) => refusal.response(),
        },
        ("/state", &Method::GET) => state(endpoint).await,
        ("/report", &Method::GET) => report(endpoint).await,
        ("/metrics", &Method::GET) => metrics(endpoint),
        ("/changes", _) => not_allowed("POST"),
        ("/state" | "/report" | "/metrics", _) => not_allowed("GET"),
        _ => error(
            StatusCode::NOT_FOUND,
            format!(
                "no such endpoint: {path} (POST /changes, GET /state, GET /report, GET /metrics)"
            ),
        ),
    }
}

/// DNS-rebinding protection, as on `/mcp`.
fn check_guard(headers: &HeaderMap, endpoint: &Endpoint) -> Result<(), Refusal> {
    let mut hosts = headers.get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().unwrap_or_default().to_ascii_lowercase(),
        (None, _) => return Err(Refusal::new(StatusCode::BAD_REQUEST, "no Host header")),
        // RFC 9112 section 3.2: a request with more than one Host field MUST get 400.
        (Some(_), Some(_)) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "more than one Host header",
            ));
        }
    };
    if !endpoint.hosts.contains(&host) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!("Host {host:?} is not allowed (see --allow-host)"),
        ));
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !origin_allowed(origin, &endpoint.origins) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                format!("Origin {origin:?} is not allowed (see --allow-origin)"),
            ));
        }
    }
    Ok(())
}

/// Whether `origin` is one of `allowed`, as `/mcp` matches them: a default
/// port may be left out, and `scheme://host:*` allows any port.
fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = with_default_port(origin);
    allowed.iter().any(|allowed| {
        *allowed == origin
            || allowed.strip_suffix(":*").is_some_and(|any_port| {
                origin
                    .rsplit_once(':')
                    .is_some_and(|(host, _)| host == any_port)
            })
    })
}

async fn read_body(body: Incoming) -> Result<Bytes, Refusal> {
    match tokio::time::timeout(READ_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(_)) => Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body exceeds {MAX_BODY_BYTES} bytes, or could not be read"),
        )),
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {READ_TIMEOUT:?}"),
        )),
    }
}

async fn changes(body: &[u8], endpoint: &Endpoint) -> ControlResponse {
    let request: ChangeRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad change request: {e}")),
    };
    let change = match Change::try_from(request) {
        Ok(change) => change,
        Err(refused) => return refused_response(&refused),
    };
    let applied = change.count;
    match call!(endpoint.registry, |reply| RegistryMsg::Apply(
        change,
        Some(reply)
    )) {
        Ok(Ok(catalog)) => {
            let mut body = catalog.describe();
            body["applied"] = applied.into();
            json_response(StatusCode::OK, &body)
        }
        Ok(Err(refused)) => refused_response(&refused),
        Err(_) => shutting_down(),
    }
}

async fn state(endpoint: &Endpoint) -> ControlResponse {
    let Ok(catalog) = call!(endpoint.registry, RegistryMsg::Snapshot) else {
        return shutting_down();
    };
    let Ok(sessions) = call!(endpoint.registry, RegistryMsg::Sessions) else {
        return shutting_down();
    };
    let described = futures::future::join_all(sessions.iter().map(describe)).await;
    let mut body = catalog.describe();
    body["pid"] = std::process::id().into();
    body["sessions"] = described.into();
    json_response(StatusCode::OK, &body)
}

async fn report(endpoint: &Endpoint) -> ControlResponse {
    let Some(recorder) = &endpoint.recorder else {
        return error(StatusCode::NOT_FOUND, "this server records no report");
    };
    match call!(recorder, RecorderMsg::Report) {
        Ok(report) => json_response(StatusCode::OK, &report),
        Err(_) => shutting_down(),
    }
}

fn metrics(endpoint: &Endpoint) -> ControlResponse {
    Response::builder()
        .header(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)
        .body(Full::new(Bytes::from(endpoint.metrics.scrape())))
        .expect("a valid response")
}

async fn describe(session: &ActorRef<SessionMsg>) -> Value {
    call_t!(session, SessionMsg::Describe, DESCRIBE_TIMEOUT_MS)
        .unwrap_or_else(|_| json!({ "error": "the session did not answer" }))
}

fn refused_response(refused: &ChangeError) -> ControlResponse {
    let status = match refused {
        ChangeError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ChangeError::NotFound { .. } => StatusCode::NOT_FOUND,
        ChangeError::NothingToChange(_) | ChangeError::ListDisabled(_) => StatusCode::CONFLICT,
    };
    error(status, refused.to_string())
}

fn shutting_down() -> ControlResponse {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down",
    )
}

fn not_allowed(allow: &'static str) -> ControlResponse {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("this endpoint takes {allow}"),
    );
    response
        .headers_mut()
        .insert(ALLOW, http::HeaderValue::from_static(allow));
    response
}

fn error(status: StatusCode, message: impl Into<String>) -> ControlResponse {
    json_response(status, &json!({ "error": message.into() }))
}

fn json_response(status: StatusCode, body: &Value) -> ControlResponse {
    let mut bytes = serde_json::to_vec(body).expect("JSON values serialize");
    bytes.push(b'\n');
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .expect("a valid response")
}
