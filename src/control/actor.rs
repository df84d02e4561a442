//! The Control actor: owns the control endpoint's listening socket.
//!
//! It starts serving when it starts and stops accepting when it stops; the
//! answers then still owed are written by the serving task, which drops
//! [`ControlArgs::answered`] when it is done (see [`crate::control`]).
//! Everything a request does goes to the Registry as messages.
//! Like every trigger, it only sends changes: it holds no catalog state.

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::actors::registry::RegistryMsg;
use crate::control::{self, ControlOptions};
use crate::report::recorder::RecorderMsg;

/// The actor takes no messages: its input is the socket.
pub enum ControlMsg {}

pub struct ControlArgs {
    /// Already bound, so that a bad address fails start-up before anything
    /// else starts.
    pub listener: TcpListener,
    pub options: ControlOptions,
    pub registry: ActorRef<RegistryMsg>,
    /// What `GET /report` asks; `None` answers that nothing is recorded.
    pub recorder: Option<ActorRef<RecorderMsg>>,
    /// Dropped once the endpoint owes no answer: when its serving task ends,
    /// or at once if it never starts.
    pub answered: DropGuard,
}

pub struct Control;

pub struct ControlState {
    /// Ends the accept loop; each connection then finishes its answer.
    cancel: CancellationToken,
}

impl Actor for Control {
    type Msg = ControlMsg;
    type State = ControlState;
    type Arguments = ControlArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ControlArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let bound = args.listener.local_addr()?;
        let cancel = CancellationToken::new();
        // Not aborted when the actor stops: it ends by itself once the
        // answers it owes are written (see `control::serve`).
        tokio::spawn(control::serve(
            args.listener,
            args.options,
            args.registry,
            args.recorder,
            cancel.clone(),
            args.answered,
        ));
        tracing::info!(url = %format!("http://{bound}"), "serving the control endpoint");
        Ok(ControlState { cancel })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.cancel.cancel();
        Ok(())
    }
}
