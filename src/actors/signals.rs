//! The SignalListener actor: owns the process's signal handlers.
//!
//! Every SIGHUP the process receives becomes one change cast straight to the
//! registry: the next tool is added. SIGUSR1 removes the newest tool (never
//! the last one) and SIGUSR2 changes it (a rug pull). SIGTERM and SIGINT ask
//! the supervisor to shut down. The handlers are installed in `pre_start`, so
//! once this actor has started none of these signals can kill the process; the
//! server starts it before it writes the pidfile.
//!
//! The change signals do not go through signal-hook-tokio's stream, which
//! folds every delivery between two polls into one. Each one's handler counts
//! its deliveries in an atomic and wakes the listener through a socket pair;
//! the listener takes the whole count and casts that many changes. (A byte per
//! delivery would not do: under a burst the socket fills after a few hundred.)
//! Only the kernel still merges a signal that arrives while another of its
//! kind is pending, so a burst of N may make fewer than N changes, but never
//! fewer than the kernel delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use signal_hook::SigId;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_tokio::{Handle, Signals};
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

use super::registry::RegistryMsg;
use super::supervisor::{ShutdownCause, SupervisorMsg};
use crate::catalog::Change;

/// The signals that change the catalog, and the change each one makes.
const CHANGE_SIGNALS: [(i32, fn() -> Change); 3] = [
    (SIGHUP, Change::add_tool),
    (SIGUSR1, Change::remove_newest_tool),
    (SIGUSR2, Change::change_newest_tool),
];

/// The listener takes no messages: its input is the signals.
pub enum SignalListenerMsg {}

pub struct SignalListenerArgs {
    pub registry: ActorRef<RegistryMsg>,
    pub supervisor: ActorRef<SupervisorMsg>,
}

pub struct SignalListener;

pub struct SignalListenerState {
    /// Each change signal's counting and waking actions.
    actions: Vec<SigId>,
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
        let (read, write) = std::os::unix::net::UnixStream::pair()?;
        read.set_nonblocking(true)?;
        let mut wake = UnixStream::from_std(read)?;
        let mut actions = Vec::new();
        let mut counts = Vec::new();
        for (signal, change) in CHANGE_SIGNALS {
            let delivered = Arc::new(AtomicUsize::new(0));
            let counter = Arc::clone(&delivered);
            // SAFETY: the action only increments an atomic, which is
            // async-signal-safe: no allocation, no lock, no panic.
            actions.push(unsafe {
                signal_hook::low_level::register(signal, move || {
                    counter.fetch_add(1, Ordering::Relaxed);
                })
            }?);
            // Registered second, so it runs after the count: a woken listener
            // always finds the delivery that woke it.
            actions.push(signal_hook::low_level::pipe::register(
                signal,
                write.try_clone()?,
            )?);
            counts.push((delivered, change));
        }
        let mut shutdown = Signals::new([SIGTERM, SIGINT])?;
        let shutdown_signals = shutdown.handle();

        let task = tokio::spawn(async move {
            let mut wakeups = [0u8; 4096];
            loop {
                tokio::select! {
                    read = wake.read(&mut wakeups) => {
                        let Ok(1..) = read else { break };
                        for (delivered, change) in &counts {
                            for _ in 0..delivered.swap(0, Ordering::Relaxed) {
                                let message = RegistryMsg::Apply(change(), None);
                                if args.registry.cast(message).is_err() {
                                    return; // the server is stopping
                                }
                            }
                        }
                    }
                    Some(signal) = shutdown.next() => {
                        let name = if signal == SIGTERM { "SIGTERM" } else { "SIGINT" };
                        let cause = ShutdownCause::Signal(name);
                        if args.supervisor.cast(SupervisorMsg::Shutdown(cause)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(SignalListenerState {
            actions,
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
        // so a late change signal is still ignored rather than fatal.
        for action in state.actions.drain(..) {
            signal_hook::low_level::unregister(action);
        }
        state.shutdown_signals.close();
        state.task.abort();
        Ok(())
    }
}
