//! The SignalListener actor: owns the process's signal stream.
//!
//! A SIGHUP becomes an [`RegistryMsg::AddTool`] cast straight to the registry;
//! SIGTERM and SIGINT ask the supervisor to shut down. The handlers are
//! installed in `pre_start`, so once this actor has started a SIGHUP can never
//! kill the process; the server starts it before it writes the pidfile.
//!
//! The kernel, and signal-hook after it, merge a signal that arrives while the
//! same one is still pending: a burst of N SIGHUPs may add fewer than N tools.

use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::{Handle, Signals};
use tokio::task::JoinHandle;

use super::registry::RegistryMsg;
use super::supervisor::{ShutdownCause, SupervisorMsg};

/// The listener takes no messages: its input is the signal stream.
pub enum SignalListenerMsg {}

pub struct SignalListenerArgs {
    pub registry: ActorRef<RegistryMsg>,
    pub supervisor: ActorRef<SupervisorMsg>,
}

pub struct SignalListener;

pub struct SignalListenerState {
    handle: Handle,
    task: JoinHandle<()>,
}

impl Actor for SignalListener {
    type Msg = SignalListenerMsg;
    type State = SignalListenerState;
    type Arguments = SignalListenerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SignalListenerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut signals = Signals::new([SIGHUP, SIGTERM, SIGINT])?;
        let handle = signals.handle();
        let task = tokio::spawn(async move {
            while let Some(signal) = signals.next().await {
                let sent = match signal {
                    SIGHUP => args.registry.cast(RegistryMsg::AddTool).is_ok(),
                    _ => {
                        let cause = ShutdownCause::Signal(if signal == SIGTERM {
                            "SIGTERM"
                        } else {
                            "SIGINT"
                        });
                        args.supervisor.cast(SupervisorMsg::Shutdown(cause)).is_ok()
                    }
                };
                if !sent {
                    // The server is stopping; the stream ends with this actor.
                    break;
                }
            }
        });
        Ok(SignalListenerState { handle, task })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Unregisters our actions; signal-hook keeps its handler installed, so
        // a late SIGHUP is still ignored rather than fatal.
        state.handle.close();
        state.task.abort();
        Ok(())
    }
}
