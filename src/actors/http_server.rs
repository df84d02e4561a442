//! The HttpServer actor: owns the listening socket and knows which HTTP
//! sessions still have a client.
//!
//! It starts accepting connections when it starts and stops when it stops,
//! and then ends every HTTP session with it. A session whose client has had
//! no request or stream open for the session timeout (it vanished without a
//! DELETE, or its connection dropped) is closed here; rmcp then ends the
//! session's service, which stops its Session actor.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use rmcp::transport::streamable_http_server::SessionId;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::registry::RegistryMsg;
use crate::http::{self, HttpOptions, MCP_PATH};
use crate::mcp::Profile;

pub enum HttpServerMsg {
    /// A response of this session started: its client is there.
    ResponseOpened(SessionId),
    /// A response of this session ended: sent in full, or its connection closed.
    ResponseClosed(SessionId),
    /// The client deleted this session; rmcp has closed it.
    Deleted(SessionId),
    /// Close the sessions that have been idle for the session timeout.
    Sweep,
}

pub struct HttpServerArgs {
    /// Already bound, so that a bad address fails start-up before anything
    /// else starts.
    pub listener: TcpListener,
    pub options: HttpOptions,
    /// What every session answers with.
    pub profile: Arc<Profile>,
    pub registry: ActorRef<RegistryMsg>,
    /// What each Session actor is linked to.
    pub supervisor: ActorCell,
}

pub struct HttpServer;

pub struct HttpServerState {
    /// Ends the accept loop, every connection and every rmcp session.
    cancel: CancellationToken,
    accept: JoinHandle<()>,
    sweep: JoinHandle<()>,
    rmcp_sessions: Arc<LocalSessionManager>,
    timeout: Duration,
    sessions: HashMap<SessionId, Activity>,
}

/// What a session's client is doing.
#[derive(Default)]
struct Activity {
    open_responses: usize,
    /// Since when no response is open.
    idle_since: Option<Instant>,
}

impl Actor for HttpServer {
    type Msg = HttpServerMsg;
    type State = HttpServerState;
    type Arguments = HttpServerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: HttpServerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let bound: SocketAddr = args.listener.local_addr()?;
        let cancel = CancellationToken::new();
        let rmcp_sessions = Arc::new(http::session_manager());
        let service = http::service(
            bound,
            &args.options,
            args.profile,
            args.registry,
            args.supervisor,
            Arc::clone(&rmcp_sessions),
            cancel.clone(),
        );
        let accept = tokio::spawn(http::accept(
            args.listener,
            service,
            myself.clone(),
            cancel.clone(),
        ));
        let timeout = args.options.session_timeout;
        // A quarter of the timeout: a session closes at most 25% late.
        let period = (timeout / 4).max(Duration::from_millis(10));
        let sweep = myself.send_interval(period, || HttpServerMsg::Sweep);
        tracing::info!(url = %format!("http://{bound}{MCP_PATH}"), "serving MCP over Streamable HTTP");
        Ok(HttpServerState {
            cancel,
            accept,
            sweep,
            rmcp_sessions,
            timeout,
            sessions: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            HttpServerMsg::ResponseOpened(id) => {
                let activity = state.sessions.entry(id).or_default();
                activity.open_responses += 1;
                activity.idle_since = None;
            }
            HttpServerMsg::ResponseClosed(id) => {
                if let Some(activity) = state.sessions.get_mut(&id) {
                    activity.open_responses = activity.open_responses.saturating_sub(1);
                    if activity.open_responses == 0 {
                        activity.idle_since = Some(Instant::now());
                    }
                }
            }
            HttpServerMsg::Deleted(id) => {
                state.sessions.remove(&id);
            }
            HttpServerMsg::Sweep => {
                let timeout = state.timeout;
                let idle: Vec<SessionId> = state
                    .sessions
                    .iter()
                    .filter(|(_, a)| a.idle_since.is_some_and(|since| since.elapsed() >= timeout))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in idle {
                    state.sessions.remove(&id);
                    tracing::info!(session = %id, ?timeout, "closing an idle HTTP session");
                    // Not awaited here: a session stuck writing to a client
                    // that does not read must not hold up the others.
                    let rmcp_sessions = Arc::clone(&state.rmcp_sessions);
                    tokio::spawn(async move {
                        if let Err(error) = rmcp_sessions.close_session(&id).await {
                            tracing::debug!(session = %id, %error, "cannot close a session");
                        }
                    });
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.cancel.cancel();
        state.accept.abort();
        state.sweep.abort();
        Ok(())
    }
}
