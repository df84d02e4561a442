//! The Supervisor actor: the root of the actor tree and the one shutdown path.
//!
//! Every other actor is spawned linked to it. Whatever ends the server (the
//! client closing stdin, SIGTERM, SIGINT, a handle's `shutdown`, or any actor
//! failing) arrives here, and the supervisor then stops every child (the
//! pidfile writer removes the pidfile as it stops; the recorder, if any, goes
//! last and writes the client report), stops itself, and reports the outcome
//! to whoever waits on the server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};
use tokio::sync::oneshot;

use crate::error::{ServerError, StartupError};

/// How long the children get to stop before the supervisor stops anyway.
const CHILD_STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// The child that writes the client report: stopped last (see
/// `stop_everything`).
pub const RECORDER: &str = "recorder";

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

/// The names of the server's own actors, by id, as [`SupervisorHandle::spawn`]
/// gave them: what a failure report calls each. A child without a name is a
/// session, which ends whenever its client leaves. Names, not message types,
/// so that the supervisor imports none of the actors it supervises.
type Names = Arc<Mutex<HashMap<ActorId, &'static str>>>;

/// The way to the supervisor: spawn the server's actors under it, and ask it
/// to shut the server down.
#[derive(Clone)]
pub struct SupervisorHandle {
    actor: ActorRef<SupervisorMsg>,
    names: Names,
}

impl SupervisorHandle {
    /// Start a supervisor; `outcome` hears how the server ended once every
    /// child has stopped.
    pub async fn start(outcome: oneshot::Sender<Outcome>) -> Result<Self, StartupError> {
        let names = Names::default();
        let args = SupervisorArgs {
            outcome,
            names: Arc::clone(&names),
        };
        let (actor, _) = Actor::spawn(None, Supervisor, args)
            .await
            .map_err(|e| startup_error("supervisor", e))?;
        Ok(Self { actor, names })
    }

    /// Spawn one of the server's actors under the supervisor, called `name`
    /// in a start-up error or a failure report.
    pub async fn spawn<A: Actor>(
        &self,
        name: &'static str,
        actor: A,
        args: A::Arguments,
    ) -> Result<ActorRef<A::Msg>, StartupError> {
        let (child, _) = Actor::spawn_linked(None, actor, args, self.actor.get_cell())
            .await
            .map_err(|e| startup_error(name, e))?;
        lock(&self.names).insert(child.get_id(), name);
        Ok(child)
    }

    /// What sessions are linked to: they are spawned by the edges, unnamed.
    pub fn cell(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// Stop the server (the one shutdown path); false if it is already gone.
    pub fn shutdown(&self, cause: ShutdownCause) -> bool {
        self.actor.cast(SupervisorMsg::Shutdown(cause)).is_ok()
    }
}

fn lock(names: &Names) -> std::sync::MutexGuard<'_, HashMap<ActorId, &'static str>> {
    names.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the supervisor calls a fleet upstream's `actor` in a failure
/// report: made once per upstream at start-up, and kept for the process's
/// life as the supervisor's names are.
pub(crate) fn upstream_actor_name(actor: &str, upstream: &str) -> &'static str {
    Box::leak(format!("{actor} of {upstream}").into_boxed_str())
}

/// A failed spawn as a start-up error, keeping the actor's own error (such as
/// the pidfile's) when it has one.
pub(crate) fn startup_error(actor: &'static str, error: SpawnErr) -> StartupError {
    let reason = match error {
        SpawnErr::StartupFailed(inner) => match inner.downcast::<StartupError>() {
            Ok(startup) => return *startup,
            Err(other) => other.to_string(),
        },
        other => other.to_string(),
    };
    StartupError::Actor { actor, reason }
}

pub struct SupervisorArgs {
    outcome: oneshot::Sender<Outcome>,
    names: Names,
}

pub struct SupervisorState {
    outcome: Option<oneshot::Sender<Outcome>>,
    names: Names,
    failure: Option<ServerError>,
    stopping: bool,
}

impl SupervisorState {
    /// The child's name; `None` for a session.
    fn name(&self, child: &ActorCell) -> Option<&'static str> {
        lock(&self.names).get(&child.get_id()).copied()
    }
}

impl Supervisor {
    async fn stop_everything(myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
        state.stopping = true;
        let is_recorder = |child: &ActorCell| state.name(child) == Some(RECORDER);
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
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState {
            outcome: Some(args.outcome),
            names: args.names,
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
                if !state.stopping && state.name(&who).is_some() =>
            {
                let reason = reason.unwrap_or_else(|| "stopped unexpectedly".to_owned());
                (who, reason)
            }
            _ => return Ok(()),
        };
        let actor = state.name(&who).unwrap_or("session").to_owned();
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
