//! The Control actor: owns the control endpoint's listening socket.
//!
//! It starts serving when it starts and stops when it stops; everything a
//! request does goes to the Registry as messages (see [`crate::control`]).
//! Like every trigger, it only sends changes: it holds no catalog state.

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::actors::registry::RegistryHandle;
use crate::control::{self, ControlOptions};
use crate::report::recorder::RecorderMsg;
use crate::trigger::{Started, Starting, Trigger};

/// The control endpoint as a trigger, if the server serves one: its
/// listener is bound before anything starts, so that a bad address fails
/// first.
pub fn trigger(
    listener: Option<TcpListener>,
    options: Option<ControlOptions>,
) -> Option<Box<dyn Trigger>> {
    let (listener, options) = (listener?, options?);
    Some(Box::new(ControlTrigger { listener, options }))
}

struct ControlTrigger {
    listener: TcpListener,
    options: ControlOptions,
}

impl Trigger for ControlTrigger {
    fn start(self: Box<Self>, starting: &mut Starting) -> Started<'_> {
        Box::pin(async move {
            let args = ControlArgs {
                listener: self.listener,
                options: self.options,
                registry: starting.registry.clone(),
                recorder: starting.recorder.clone(),
            };
            starting
                .supervisor
                .spawn("control endpoint", Control, args)
                .await?;
            Ok(())
        })
    }
}

/// The actor takes no messages: its input is the socket.
pub enum ControlMsg {}

pub struct ControlArgs {
    /// Already bound, so that a bad address fails start-up before anything
    /// else starts.
    pub listener: TcpListener,
    pub options: ControlOptions,
    pub registry: RegistryHandle,
    /// What `GET /report` asks; `None` answers that nothing is recorded.
    pub recorder: Option<ActorRef<RecorderMsg>>,
}

pub struct Control;

pub struct ControlState {
    /// Ends the accept loop and every connection.
    cancel: CancellationToken,
    accept: JoinHandle<()>,
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
        let accept = tokio::spawn(control::serve(
            args.listener,
            args.options,
            args.registry,
            args.recorder,
            cancel.clone(),
        ));
        tracing::info!(url = %format!("http://{bound}"), "serving the control endpoint");
        Ok(ControlState { cancel, accept })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.cancel.cancel();
        state.accept.abort();
        Ok(())
    }
}
