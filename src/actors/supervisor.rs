//! The Supervisor actor: the root of the actor tree and the one shutdown path.
//!
//! Every other actor is spawned linked to it. Whatever ends the server (the
//! client closing stdin, SIGTERM, SIGINT, a handle's `shutdown`, or any actor
//! failing) arrives here, and the supervisor then stops every child (the
//! pidfile writer removes the pidfile as it stops; the recorder, if any, goes
//! last and writes the client report), stops itself, and reports the outcome
//! to whoever waits on the server.

use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::oneshot;

use super::pidfile::PidfileMsg;
use super::ready_file::ReadyFileMsg;
use super::registry::RegistryMsg;
use super::session::SessionMsg;
use super::signals::SignalListenerMsg;
use crate::control::actor::ControlMsg;
use crate::error::ServerError;
use crate::http::server::HttpServerMsg;
use crate::report::recorder::RecorderMsg;
use crate::scenario::timeline::TimelineMsg;

/// How long the children get to stop before the supervisor stops anyway.
const CHILD_STOP_TIMEOUT: Duration = Duration::from_secs(2);

pub enum SupervisorMsg {
    Shutdown(ShutdownCause),
}

/// What asked the server to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownCause {
    /// The client closed the transport (stdin EOF for stdio).
    TransportClosed,
    Signal(&'static str),
    /// A `ServerHandle::shutdown` call.
    Requested,
}

pub type Outcome = Result<(), ServerError>;

pub struct Supervisor;

/// Which of the server's actors `cell` is, for the failure report.
fn actor_kind(cell: &ActorCell) -> &'static str {
    if cell.is_message_type_of::<RegistryMsg>() == Some(true) {
        "registry"
    } else if cell.is_message_type_of::<SignalListenerMsg>() == Some(true) {
        "signal listener"
    } else if cell.is_message_type_of::<PidfileMsg>() == Some(true) {
        "pidfile writer"
    } else if cell.is_message_type_of::<ReadyFileMsg>() == Some(true) {
        "ready file writer"
    } else if cell.is_message_type_of::<ControlMsg>() == Some(true) {
        "control endpoint"
    } else if cell.is_message_type_of::<HttpServerMsg>() == Some(true) {
        "HTTP server"
    } else if cell.is_message_type_of::<SessionMsg>() == Some(true) {
        "session"
    } else if cell.is_message_type_of::<TimelineMsg>() == Some(true) {
        "scenario timeline"
    } else if is_recorder(cell) {
        "recorder"
    } else {
        "unknown"
    }
}

fn is_recorder(cell: &ActorCell) -> bool {
    cell.is_message_type_of::<RecorderMsg>() == Some(true)
}

pub struct SupervisorState {
    outcome: Option<oneshot::Sender<Outcome>>,
    failure: Option<ServerError>,
    stopping: bool,
}

impl Supervisor {
    async fn stop_everything(myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
        state.stopping = true;
        // The recorder goes last, drained rather than stopped: every other
        // actor's last events (the sessions' closes) are in its mailbox by
        // then, and it writes the report once it has read them all.
        let (recorders, others): (Vec<_>, Vec<_>) =
            myself.get_children().into_iter().partition(is_recorder);
        futures::future::join_all(
            others
                .iter()
                .map(|child| child.stop_and_wait(None, Some(CHILD_STOP_TIMEOUT))),
        )
        .await;
        for recorder in recorders {
            if recorder
                .drain_and_wait(Some(CHILD_STOP_TIMEOUT))
                .await
                .is_err()
            {
                recorder.stop(None);
            }
        }
        myself.stop(None);
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    /// Receives the outcome once everything has stopped.
    type Arguments = oneshot::Sender<Outcome>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        outcome: oneshot::Sender<Outcome>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState {
            outcome: Some(outcome),
            failure: None,
            stopping: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisorMsg::Shutdown(cause) = message;
        tracing::debug!(?cause, "shutting down");
        Self::stop_everything(&myself, state).await;
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A session ends whenever its client leaves: routine. Any other child
        // ending before shutdown leaves the server half alive, so that is a
        // failure just like a panic.
        let (who, reason) = match event {
            SupervisionEvent::ActorFailed(who, error) => (who, error.to_string()),
            SupervisionEvent::ActorTerminated(who, _, reason)
                if !state.stopping && who.is_message_type_of::<SessionMsg>() != Some(true) =>
            {
                let reason = reason.unwrap_or_else(|| "stopped unexpectedly".to_owned());
                (who, reason)
            }
            _ => return Ok(()),
        };
        let actor = actor_kind(&who).to_owned();
        tracing::error!(%actor, %reason, "actor failed; shutting down");
        state
            .failure
            .get_or_insert(ServerError::ActorFailed { actor, reason });
        Self::stop_everything(&myself, state).await;
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(outcome) = state.outcome.take() {
            let _ = outcome.send(state.failure.take().map_or(Ok(()), Err));
        }
        Ok(())
    }
}
