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
//! - `GET /verdict`: that report graded with the checks that need no
//!   scenario (missed changes, stale calls, refused cursors, cursor loops),
//!   `{"passed", "checks"}` in the conformance suite's check format (see
//!   docs/check.md).
//! - `GET /metrics`: counters and histograms for load tools, in the
//!   OpenMetrics text format (see [`crate::metrics`]).
//!
//! It keeps the gate `/mcp` keeps, from the same function
//! ([`Gate::check`](crate::http::guard)): one `Host` without userinfo, an
//! absolute-form target only if it names that same host, `Host` naming the
//! bound address (or a loopback name with its port) and a present `Origin`
//! that address's HTTP origin, unless `--allow-host` and `--allow-origin` add
//! more; all checked before the body is read. The
//! [`Control`](crate::control::actor) actor owns the listener; this module
//! only answers requests, by messages to the Registry and the sessions.
//!
//! At shutdown a change already handed to the Registry is answered: 200 once
//! applied, or 503 if the Registry stopped before applying it; a request not
//! yet handed over gets 503 and changes nothing. Before it exits the server
//! waits for the changes being applied (our own work, bounded by the largest
//! `count`; [`APPLY_TIMEOUT`] only guards against a bug) and then, at most
//! [`ANSWER_TIMEOUT`], for their answers to be written to clients.

pub mod actor;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use ractor::call;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::actors::registry::{ApplyError, Audience};
use crate::catalog::{Catalog, CatalogView, Change, ChangeError, ChangeRequest};
use crate::fleet::upstreams::{PickError, StopError, Upstream, Upstreams};
use crate::http::accept_loop;
use crate::http::guard::Gate;
use crate::metrics::watcher::MetricsWatcher;
use crate::report::recorder::RecorderMsg;

/// The largest change request accepted: a change is a few dozen bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a client may take to send its headers, and then its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server, once stopping, waits for the changes being applied
/// and their answers built: the largest (`count` 1,000,000) takes a few
/// seconds, more in a debug build on a busy machine. Only a bug reaches it.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the server, once the changes are applied, gives clients to take
/// the answers it owes them.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `GET /state` waits for one session to describe itself: a session
/// stuck behind a client that does not read must not hold up the answer.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(1);

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
    gate: Gate,
    /// Every catalog it changes and shows: the server's, or a fleet's.
    upstreams: Arc<Upstreams>,
    /// Fired when the server stops: no new change is handed on.
    stopping: CancellationToken,
    /// How many changes are being applied and answered (see [`Applying`]).
    applying: watch::Sender<usize>,
    /// What `GET /metrics` scrapes.
    metrics: Arc<MetricsWatcher>,
}

/// Counts one change as being applied, from before it is handed to the
/// Registry until its answer is built: what shutdown waits for first.
struct Applying<'a>(&'a watch::Sender<usize>);

impl<'a> Applying<'a> {
    fn new(applying: &'a watch::Sender<usize>) -> Self {
        applying.send_modify(|n| *n += 1);
        Self(applying)
    }
}

impl Drop for Applying<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// Accept connections until `cancel` fires, serving each on its own task;
/// then let the changes in flight be applied and every request in flight
/// be answered (see the module doc for the bounds).
/// `answered` is dropped when this returns (or is dropped), which tells
/// whoever waits that no answer is owed any more.
pub(crate) async fn serve(
    listener: TcpListener,
    options: ControlOptions,
    upstreams: Arc<Upstreams>,
    metrics: Arc<MetricsWatcher>,
    cancel: CancellationToken,
    answered: DropGuard,
) {
    let bound = match listener.local_addr() {
        Ok(bound) => bound,
        Err(error) => {
            tracing::error!(%error, "the control listener has no address");
            return;
        }
    };
    let endpoint = Arc::new(Endpoint {
        gate: Gate::new(bound, &options.allowed_hosts, &options.allowed_origins),
        upstreams,
        stopping: cancel.clone(),
        applying: watch::Sender::new(0),
        metrics,
    });
    let mut applying = endpoint.applying.subscribe();
    let mut open = accept_loop(listener, cancel, "control", move |stream| {
        connection(stream, Arc::clone(&endpoint))
    })
    .await;
    // Every change already counted is applied and its answer built; any
    // later one sees `stopping` and is refused (see `changes`).
    if tokio::time::timeout(APPLY_TIMEOUT, applying.wait_for(|n| *n == 0))
        .await
        .is_err()
    {
        tracing::error!("control changes still being applied at shutdown; leaving them");
    }
    // Each connection finishes the request it is answering and closes
    // (see `connection`); those still open after the bound are dropped.
    let answered_all = async { while open.join_next().await.is_some() {} };
    if tokio::time::timeout(ANSWER_TIMEOUT, answered_all)
        .await
        .is_err()
    {
        tracing::warn!(
            connections = open.len(),
            "control requests still unanswered at shutdown; closing them"
        );
    }
    drop(answered);
}

async fn connection(stream: TcpStream, endpoint: Arc<Endpoint>) {
    let stopping = endpoint.stopping.clone();
    let service = service_fn(move |request| {
        let endpoint = Arc::clone(&endpoint);
        async move { Ok::<_, Infallible>(answer(request, &endpoint).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = stopping.cancelled() => {
            // hyper closes an idle connection at once, and one with a
            // request in flight once its answer is written.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%error, "control connection ended with an error");
    }
}

async fn answer(request: Request<Incoming>, endpoint: &Endpoint) -> ControlResponse {
    if let Err(refusal) = endpoint.gate.check(request.uri(), request.headers()).await {
        return error(refusal.status, refusal.message);
    }
    let path = request.uri().path().to_owned();
    let asked = asked_upstream(request.uri().query());
    if let Some(name) = path.strip_prefix("/upstreams/") {
        return upstream_control(name, request.method(), endpoint).await;
    }
    match (path.as_str(), request.method()) {
        ("/changes", &Method::POST) => {
            let read = tokio::select! {
                read = read_body(request.into_body()) => read,
                () = endpoint.stopping.cancelled() => return shutting_down(),
            };
            match read {
                Ok(body) => changes(&body, endpoint).await,
                Err(refused) => refused,
            }
        }
        ("/state", &Method::GET) => state(endpoint, asked).await,
        ("/report", &Method::GET) => report(endpoint, asked).await,
        ("/verdict", &Method::GET) => verdict(endpoint, asked).await,
        ("/metrics", &Method::GET) => metrics(endpoint),
        ("/changes", _) => not_allowed("POST"),
        ("/state" | "/report" | "/verdict" | "/metrics", _) => not_allowed("GET"),
        _ => error(
            StatusCode::NOT_FOUND,
            format!(
                "no such endpoint: {path} (POST /changes, GET /state, GET /report, GET /metrics, POST /upstreams/NAME/stop or start)"
            ),
        ),
    }
}

/// The body, or the answer to a body that could not be read.
async fn read_body(body: Incoming) -> Result<Bytes, ControlResponse> {
    match tokio::time::timeout(READ_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(_)) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body exceeds {MAX_BODY_BYTES} bytes, or could not be read"),
        )),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {READ_TIMEOUT:?}"),
        )),
    }
}

async fn changes(body: &[u8], endpoint: &Endpoint) -> ControlResponse {
    let (name, request) = match parse_change(body) {
        Ok(parsed) => parsed,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad change request: {e}")),
    };
    let upstream = match endpoint.upstreams.pick(name.as_deref()) {
        Ok(upstream) => upstream,
        Err(refused) => return unpicked(&refused),
    };
    let change = match Change::try_from(request) {
        Ok(change) => change,
        Err(refused) => return refused_response(&refused),
    };
    let applied = change.count;
    // Counted before `stopping` is read: shutdown fires `stopping`, then
    // waits for the count to fall to 0, so a change is either counted and
    // waited for, or sees `stopping` and is not handed on; the client then
    // hears 503 and knows that nothing was applied.
    let _applying = Applying::new(&endpoint.applying);
    if endpoint.stopping.is_cancelled() {
        return shutting_down();
    }
    match upstream.registry.apply(change, Audience::All).await {
        Ok(catalog) => {
            // Written straight from the catalog: a bulk change's answer costs
            // its bytes, not a JSON tree of every item.
            #[derive(serde::Serialize)]
            struct Answer<'a> {
                #[serde(flatten)]
                catalog: CatalogView<'a>,
                applied: usize,
            }
            let answer = Answer {
                catalog: catalog.view(),
                applied,
            };
            json_response(StatusCode::OK, &answer)
        }
        Err(ApplyError::Refused(refused)) => refused_response(&refused),
        Err(ApplyError::Stopped(_)) => shutting_down(),
    }
}

/// A change request is a JSON object: serde would also fill the request's
/// fields in order from an array (`["add_tool"]`), which is no request.
/// Its `"upstream"`, if any, names the fleet upstream it is for.
pub(crate) fn parse_change(body: &[u8]) -> serde_json::Result<(Option<String>, ChangeRequest)> {
    use serde::de::Error;
    let mut object: serde_json::Map<String, Value> = serde_json::from_slice(body)?;
    let upstream = match object.remove("upstream") {
        None => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err(serde_json::Error::custom("`upstream` must be a string")),
    };
    Ok((upstream, serde_json::from_value(Value::Object(object))?))
}

/// The `upstream` a `GET` asks for: `?upstream=NAME`.
fn asked_upstream(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("upstream="))
        .map(str::to_owned)
}

/// The answer to a request that names no upstream of this server.
fn unpicked(refused: &PickError) -> ControlResponse {
    let status = match refused {
        PickError::Unnamed(_) => StatusCode::BAD_REQUEST,
        PickError::Unknown(..) | PickError::NoFleet(_) => StatusCode::NOT_FOUND,
    };
    error(status, refused.to_string())
}

/// `GET /state`: the server's one upstream as it always was; a fleet's
/// upstreams by name (with the `pid` once), or with `?upstream=NAME` that
/// one. Written straight from each catalog, as a change's answer is: a
/// list of a million items never becomes a JSON tree.
async fn state(endpoint: &Endpoint, asked: Option<String>) -> ControlResponse {
    let (one, picked) = match pick(endpoint, asked) {
        Ok(picked) => picked,
        Err(refused) => return unpicked(&refused),
    };
    let mut taken = Vec::with_capacity(picked.len());
    for upstream in picked {
        let Ok(catalog) = upstream.registry.snapshot().await else {
            return shutting_down();
        };
        let Ok(sessions) = upstream.registry.describe_sessions(DESCRIBE_TIMEOUT).await else {
            return shutting_down();
        };
        let described: Vec<Value> = sessions
            .into_iter()
            .map(|session| {
                session.unwrap_or_else(|| json!({ "error": "the session did not answer" }))
            })
            .collect();
        taken.push((upstream, catalog, described));
    }
    let pid = std::process::id();
    if one {
        return json_response(StatusCode::OK, &State::of(&taken[0], Some(pid)));
    }
    let upstreams = taken
        .iter()
        .map(|taken| (taken.0.name().unwrap_or_default(), State::of(taken, None)))
        .collect();
    json_response(
        StatusCode::OK,
        &Fleet {
            pid,
            upstreams: ByName(upstreams),
        },
    )
}

/// One upstream's state; a fleet upstream's says its name and whether it
/// is stopped, and the `pid` is the fleet's, said once.
#[derive(serde::Serialize)]
struct State<'a> {
    #[serde(flatten)]
    catalog: CatalogView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    sessions: &'a [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<bool>,
}

/// An upstream, its catalog and its sessions described, as `GET /state`
/// took them.
type Taken<'a> = (&'a Arc<Upstream>, Catalog, Vec<Value>);

impl<'a> State<'a> {
    fn of((upstream, catalog, sessions): &'a Taken<'a>, pid: Option<u32>) -> Self {
        State {
            catalog: catalog.view(),
            pid,
            sessions,
            upstream: upstream.name(),
            stopped: upstream.name().map(|_| upstream.is_stopped()),
        }
    }
}

/// A fleet's states by name, in the fleet's order.
struct ByName<'a>(Vec<(&'a str, State<'a>)>);

impl serde::Serialize for ByName<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, state)| (name, state)))
    }
}

#[derive(serde::Serialize)]
struct Fleet<'a> {
    pid: u32,
    upstreams: ByName<'a>,
}

/// The upstreams a `GET /state` or `GET /report` is about, and whether it
/// is about one (the server's, or the one `?upstream=NAME` asks for) or a
/// fleet's every one.
fn pick(
    endpoint: &Endpoint,
    asked: Option<String>,
) -> Result<(bool, Vec<&Arc<Upstream>>), PickError> {
    let upstreams = &endpoint.upstreams;
    if upstreams.is_fleet() && asked.is_none() {
        return Ok((false, upstreams.all().iter().collect()));
    }
    Ok((true, vec![upstreams.pick(asked.as_deref())?]))
}

/// `GET /report`: the server's one report; a fleet's by upstream, or with
/// `?upstream=NAME` that one's.
async fn report(endpoint: &Endpoint, asked: Option<String>) -> ControlResponse {
    per_report(endpoint, asked, |report| report).await
}

/// `GET /verdict`: the report graded with the scenario-independent checks
/// (`check::grade::verdict`), picked by upstream as `GET /report` is.
async fn verdict(endpoint: &Endpoint, asked: Option<String>) -> ControlResponse {
    per_report(endpoint, asked, |report| {
        crate::check::grade::verdict(&report)
    })
    .await
}

/// Each picked upstream's report, shaped by `shape`: one upstream's as it
/// is, a fleet's under `upstreams` by name.
async fn per_report(
    endpoint: &Endpoint,
    asked: Option<String>,
    shape: impl Fn(Value) -> Value,
) -> ControlResponse {
    let (one, picked) = match pick(endpoint, asked) {
        Ok(picked) => picked,
        Err(refused) => return unpicked(&refused),
    };
    let mut shaped = serde_json::Map::new();
    for upstream in picked {
        let report = match upstream_report(upstream).await {
            Ok(report) => shape(report),
            Err(refused) => return refused,
        };
        if one {
            return json_response(StatusCode::OK, &report);
        }
        shaped.insert(upstream.name().unwrap_or_default().to_owned(), report);
    }
    json_response(StatusCode::OK, &json!({ "upstreams": shaped }))
}

/// One upstream's report, or the answer that it has none.
async fn upstream_report(upstream: &Upstream) -> Result<Value, ControlResponse> {
    let Some(recorder) = &upstream.recorder else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "this server records no report",
        ));
    };
    call!(recorder, RecorderMsg::Report).map_err(|_| shutting_down())
}

/// `POST /upstreams/NAME/stop` and `.../start`: a fleet upstream stops
/// serving (its path and its sessions answer 404) or serves again, with its
/// catalog as it is by then; the others never notice.
async fn upstream_control(rest: &str, method: &Method, endpoint: &Endpoint) -> ControlResponse {
    let Some((name, action)) = rest.rsplit_once('/') else {
        return error(
            StatusCode::NOT_FOUND,
            "no such endpoint: POST /upstreams/NAME/stop or /upstreams/NAME/start",
        );
    };
    if !matches!(action, "stop" | "start") {
        return error(
            StatusCode::NOT_FOUND,
            format!("no such endpoint: /upstreams/{rest} (POST /upstreams/NAME/stop or start)"),
        );
    }
    if method != Method::POST {
        return not_allowed("POST");
    }
    let upstream = match endpoint.upstreams.pick(Some(name)) {
        Ok(upstream) => upstream,
        Err(refused) => return unpicked(&refused),
    };
    let answer = match action {
        "stop" => upstream.stop().await.map(|ended| {
            tracing::info!(upstream = name, sessions = ended, "upstream stopped");
            json!({ "upstream": name, "stopped": true, "sessions_ended": ended })
        }),
        _ => upstream.start().await.map(|was_stopped| {
            tracing::info!(upstream = name, "upstream started");
            json!({ "upstream": name, "stopped": false, "was_stopped": was_stopped })
        }),
    };
    match answer {
        Ok(answer) => json_response(StatusCode::OK, &answer),
        Err(StopError::Stopping) => shutting_down(),
        Err(refused @ StopError::NotHttp) => error(StatusCode::CONFLICT, refused.to_string()),
    }
}

fn metrics(endpoint: &Endpoint) -> ControlResponse {
    Response::builder()
        .header(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)
        .body(Full::new(Bytes::from(endpoint.metrics.scrape())))
        .expect("a valid response")
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

fn json_response(status: StatusCode, body: &impl serde::Serialize) -> ControlResponse {
    let mut bytes = serde_json::to_vec(body).expect("the answers serialize");
    bytes.push(b'\n');
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .expect("a valid response")
}
