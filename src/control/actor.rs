//! The Control actor: owns the control endpoint's listening socket.
//!
//! It starts serving when it starts and stops accepting when it stops; the
//! answers then still owed are written by the serving task, which drops
//! [`ControlArgs::answered`] when it is done (see [`crate::control`]).
//! Everything a request does goes to the Registry as messages.
//! Like every trigger, it only sends changes: it holds no catalog state.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::control::{self, ControlOptions};
use crate::fleet::upstreams::Upstreams;
use crate::metrics::watcher::MetricsWatcher;
use crate::trigger::{Started, Starting, Trigger};

/// The control endpoint as a trigger, if the server serves one: its
/// listener is bound before anything starts, so that a bad address fails
/// first.
/// `answered` is cancelled once the endpoint owes no answer (see
/// [`ControlArgs::answered`]).
pub fn trigger(
    listener: Option<TcpListener>,
    options: Option<ControlOptions>,
    answered: Option<CancellationToken>,
    metrics: Option<Arc<MetricsWatcher>>,
) -> Option<Box<dyn Trigger>> {
    let (listener, options, answered) = (listener?, options?, answered?);
    Some(Box::new(ControlTrigger {
        listener,
        options,
        answered: answered.drop_guard(),
        metrics: metrics?,
    }))
}

struct ControlTrigger {
    listener: TcpListener,
    options: ControlOptions,
    /// Dropped with the trigger if it never starts: then no answer is owed.
    answered: DropGuard,
    metrics: Arc<MetricsWatcher>,
}

impl Trigger for ControlTrigger {
    fn start(self: Box<Self>, starting: &mut Starting) -> Started<'_> {
        Box::pin(async move {
            let args = ControlArgs {
                listener: self.listener,
                options: self.options,
                upstreams: Arc::clone(&starting.upstreams),
                answered: self.answered,
                metrics: self.metrics,
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
    /// Every catalog it changes and shows, and each one's report (if the
    /// run is recorded): the server's, or a fleet's.
    pub upstreams: Arc<Upstreams>,
    /// Dropped once the endpoint owes no answer: when its serving task ends,
    /// or at once if it never starts.
    pub answered: DropGuard,
    /// What `GET /metrics` scrapes.
    pub metrics: Arc<MetricsWatcher>,
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
            args.upstreams,
            args.metrics,
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
