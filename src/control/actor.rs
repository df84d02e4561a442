//! The Control actor: owns the control endpoint's listening socket.
//!
//! It starts serving when it starts and stops when it stops; everything a
//! request does goes to the Registry as messages (see [`crate::control`]).
//! Like every trigger, it only sends changes: it holds no catalog state.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::actors::registry::RegistryMsg;
use crate::control::{self, ControlOptions};
use crate::metrics::watcher::MetricsWatcher;
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
    /// What `GET /metrics` scrapes.
    pub metrics: Arc<MetricsWatcher>,
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
            args.metrics,
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
