//! The SignalListener actor: owns the process's signal handlers.
//!
//! Every SIGHUP the process receives becomes one [`RegistryMsg::AddTool`] cast
//! straight to the registry; SIGTERM and SIGINT ask the supervisor to shut
//! down. The handlers are installed in `pre_start`, so once this actor has
//! started a SIGHUP can never kill the process; the server starts it before it
//! writes the pidfile.
//!
//! SIGHUP does not go through signal-hook-tokio's stream, which folds every
//! delivery between two polls into one. Its handler counts each delivery in an
//! atomic and wakes the listener through a socket pair; the listener takes the
//! whole count and casts that many `AddTool`s. (A byte per delivery would not
//! do: under a burst the socket fills after a few hundred.) Only the kernel
//! still merges a SIGHUP that arrives while another is pending, so a burst of N
//! may add fewer than N tools, but never fewer than the kernel delivered.
//!
//! A SIGTERM or SIGINT that arrives while the server is still starting (the
//! handlers are installed before the pidfile is written) is held until the
//! start-up has finished: stopping half-way would fail the start (exit 2) or
//! race the pidfile's creation (a pidfile left naming a dead process).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use signal_hook::SigId;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::{Handle, Signals};
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::registry::RegistryMsg;
use super::supervisor::{ShutdownCause, SupervisorMsg};

/// The listener takes no messages: its input is the signals.
pub enum SignalListenerMsg {}

pub struct SignalListenerArgs {
    pub registry: ActorRef<RegistryMsg>,
    pub supervisor: ActorRef<SupervisorMsg>,
    /// Cancelled once the server has started: a shutdown signal waits for it.
    pub started: CancellationToken,
}

pub struct SignalListener;

pub struct SignalListenerState {
    /// The counting action and the waking action.
    sighup: [SigId; 2],
    shutdown_signals: Handle,
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
        let delivered = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&delivered);
        // SAFETY: the action only increments an atomic, which is
        // async-signal-safe: no allocation, no lock, no panic.
        let count = unsafe {
            signal_hook::low_level::register(SIGHUP, move || {
                counter.fetch_add(1, Ordering::Relaxed);
            })
        }?;
        // Registered second, so it runs after the count: a woken listener
        // always finds the delivery that woke it.
        let (read, write) = std::os::unix::net::UnixStream::pair()?;
        read.set_nonblocking(true)?;
        let mut wake = UnixStream::from_std(read)?;
        let waker = signal_hook::low_level::pipe::register(SIGHUP, write)?;
        let mut shutdown = Signals::new([SIGTERM, SIGINT])?;
        let shutdown_signals = shutdown.handle();

        let task = tokio::spawn(async move {
            let mut wakeups = [0u8; 4096];
            loop {
                tokio::select! {
                    read = wake.read(&mut wakeups) => {
                        let Ok(1..) = read else { break };
                        for _ in 0..delivered.swap(0, Ordering::Relaxed) {
                            if args.registry.cast(RegistryMsg::AddTool).is_err() {
                                return; // the server is stopping
                            }
                        }
                    }
                    Some(signal) = shutdown.next() => {
                        let name = if signal == SIGTERM { "SIGTERM" } else { "SIGINT" };
                        let cause = ShutdownCause::Signal(name);
                        args.started.cancelled().await;
                        if args.supervisor.cast(SupervisorMsg::Shutdown(cause)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(SignalListenerState {
            sighup: [count, waker],
            shutdown_signals,
            task,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // signal-hook keeps its handler installed after the actions are gone,
        // so a late SIGHUP is still ignored rather than fatal.
        for action in state.sighup {
            signal_hook::low_level::unregister(action);
        }
        state.shutdown_signals.close();
        state.task.abort();
        Ok(())
    }
}
