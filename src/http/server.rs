//! The HttpServer actor: knows which HTTP sessions still have a client.
//!
//! The edge ([`crate::http`]) tells it of every response that opens and
//! closes. When it stops it ends the accept loop (through the token they
//! share) and every HTTP session with it. A session whose client has had
//! no request or stream open for the session timeout (it vanished without a
//! DELETE, or its connection dropped) is closed here; rmcp then ends the
//! session's service, which stops its Session actor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rmcp::transport::streamable_http_server::SessionId;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::http::sessions::Sessions;

pub enum HttpServerMsg {
    /// A response of this session started: its client is there.
    ResponseOpened(SessionId),
    /// A response of this session ended: sent in full, or its connection closed.
    ResponseClosed(SessionId),
    /// The client deleted this session; rmcp has closed it.
    Deleted(SessionId),
    /// This session negotiated 2025-03-26, the one revision with JSON-RPC
    /// batches.
    TakesBatches(SessionId),
    /// Whether this session takes JSON-RPC batches.
    IfTakesBatches(SessionId, RpcReplyPort<bool>),
    /// Close the sessions that have been idle for the session timeout.
    Sweep,
    /// End every session now (a scenario's `end_session`, a fleet upstream
    /// stopping); replies with how many were ended.
    EndSessions(RpcReplyPort<usize>),
    /// Drop every open SSE response without its final result (a scenario's
    /// `drop_stream`); replies once they are cut.
    DropStreams(RpcReplyPort<()>),
}

pub struct HttpServerArgs {
    /// rmcp's sessions, which this actor ends.
    pub sessions: Arc<Sessions>,
    /// Shared with the accept loop and rmcp: cancelled when this stops.
    pub cancel: CancellationToken,
    /// How long a session may go with no response open.
    pub session_timeout: Duration,
    /// What cuts the open SSE responses, when a scenario drops streams.
    pub cut: Option<Arc<StreamCut>>,
}

/// Ends the SSE responses open when it is pulled, without the rest of their
/// stream (a scenario's `drop_stream`): the client sees its stream close
/// with no final result. Each request takes the token current when it
/// arrives; pulling cancels that one and puts a fresh one in its place.
#[derive(Default)]
pub struct StreamCut(std::sync::Mutex<CancellationToken>);

impl StreamCut {
    pub(crate) fn current(&self) -> CancellationToken {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn pull(&self) {
        let mut token = self.0.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *token).cancel();
    }
}

pub struct HttpServer;

pub struct HttpServerState {
    /// Ends the accept loop, every connection and every rmcp session.
    cancel: CancellationToken,
    sweep: JoinHandle<()>,
    rmcp_sessions: Arc<Sessions>,
    timeout: Duration,
    sessions: HashMap<SessionId, Activity>,
    /// Sweeps since a session last ended, while few enough that its memory
    /// may still be on its way back to the allocator.
    sweeps_since_release: Option<u8>,
    cut: Option<Arc<StreamCut>>,
}

impl HttpServerState {
    /// Give the memory of ended sessions back to the operating system: at
    /// the sweep after a session ended, and once more at the next, since a
    /// session's tasks may still be stopping at the first (see
    /// [`crate::memory`]).
    fn release_memory_of_ended_sessions(&mut self) {
        let Some(sweeps) = self.sweeps_since_release else {
            return;
        };
        self.sweeps_since_release = (sweeps == 0).then_some(1);
        tokio::task::spawn_blocking(crate::memory::release_free_memory);
    }

    /// Count every rmcp session this actor has not heard of as idle from now.
    ///
    /// A session is known here from its first response, but rmcp creates it
    /// while `initialize` is still being answered: a client that resets its
    /// connection then drops the request, and with it the only response that
    /// would ever have named the session. Such a session still holds its
    /// Session actor and is notified of every change, so it is swept like
    /// any other session that no client uses.
    async fn adopt_unseen_sessions(&mut self) {
        let now = Instant::now();
        for id in self.rmcp_sessions.ids() {
            self.sessions.entry(id).or_insert_with(|| Activity {
                idle_since: Some(now),
                ..Activity::default()
            });
        }
    }
}

/// What a session's client is doing.
#[derive(Default)]
struct Activity {
    open_responses: usize,
    /// Since when no response is open.
    idle_since: Option<Instant>,
    /// Negotiated 2025-03-26, so JSON-RPC batches are accepted.
    takes_batches: bool,
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
        let timeout = args.session_timeout;
        // A quarter of the timeout: a session closes at most 25% late.
        let period = (timeout / 4).max(Duration::from_millis(10));
        let sweep = myself.send_interval(period, || HttpServerMsg::Sweep);
        Ok(HttpServerState {
            cancel: args.cancel,
            sweep,
            rmcp_sessions: args.sessions,
            timeout,
            sessions: HashMap::new(),
            sweeps_since_release: None,
            cut: args.cut,
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
                state.sweeps_since_release = Some(0);
            }
            HttpServerMsg::TakesBatches(id) => {
                state.sessions.entry(id).or_default().takes_batches = true;
            }
            HttpServerMsg::IfTakesBatches(id, reply) => {
                let takes = state.sessions.get(&id).is_some_and(|a| a.takes_batches);
                let _ = reply.send(takes);
            }
            HttpServerMsg::EndSessions(reply) => {
                let ids: Vec<SessionId> = state.rmcp_sessions.ids();
                for id in &ids {
                    state.sessions.remove(id);
                }
                state.sweeps_since_release = Some(0);
                tracing::info!(sessions = ids.len(), "ending every HTTP session");
                for id in &ids {
                    state.rmcp_sessions.end(id);
                }
                let _ = reply.send(ids.len());
            }
            HttpServerMsg::DropStreams(reply) => {
                if let Some(cut) = &state.cut {
                    cut.pull();
                }
                let _ = reply.send(());
            }
            HttpServerMsg::Sweep => {
                state.release_memory_of_ended_sessions();
                state.adopt_unseen_sessions().await;
                let timeout = state.timeout;
                let idle: Vec<SessionId> = state
                    .sessions
                    .iter()
                    .filter(|(_, a)| a.idle_since.is_some_and(|since| since.elapsed() >= timeout))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in idle {
                    state.sessions.remove(&id);
                    state.sweeps_since_release = Some(0);
                    tracing::info!(session = %id, ?timeout, "closing an idle HTTP session");
                    // Never waits: a session stuck writing to a client that
                    // does not read cannot hold up the others.
                    state.rmcp_sessions.end(&id);
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
        state.rmcp_sessions.end_all();
        state.sweep.abort();
        Ok(())
    }
}
