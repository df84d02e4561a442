//! The SignalListener actor: owns the process's signal handlers.
//!
//! Every SIGHUP the process receives becomes one change cast straight to the
//! registry: the next tool is added. SIGUSR1 removes the newest tool (never
//! the last one) and SIGUSR2 changes it (a rug pull). SIGTERM and SIGINT ask
//! the supervisor to shut down. The handlers are installed in `pre_start`, so
//! once this actor has started none of these signals can kill the process; the
//! server starts it before it writes the pidfile.
//!
//! The change signals are taken off the kernel's queue by a thread of their
//! own, through a signalfd, as the benchmark's floor takes them. A standard
//! signal does not queue: one sent while another of its kind is pending is
//! lost, so how many of a burst become tools depends on how soon each one
//! stops being pending. Traced with perf over 1,000-SIGHUP bursts: with a
//! handler on the runtime's thread (as before), that thread, busy applying
//! the previous change, took the next one about 6 us after it was sent (once
//! the kernel's interrupt reached it); a thread that only reads the signalfd
//! and casts takes it within about 2 us, and sleeps in `poll` otherwise. Each
//! delivery it reads becomes one change cast straight to the registry, so a
//! burst of N makes fewer than N changes only where the kernel merged them.
//!
//! For the signalfd to see them, the change signals must be blocked in every
//! thread: [`block_change_signals`], called by `main` before any thread
//! starts, so that all threads inherit the block (and so would a child
//! process, across `exec`; the server starts none). A library user who asks
//! for signal handling without blocking first still loses nothing: the
//! listener also installs a counting handler for each change signal, which
//! runs whenever the kernel hands one to a thread that does not block it, and
//! wakes the same thread through a socket pair.
//!
//! A SIGTERM or SIGINT that arrives while the server is still starting (the
//! handlers are installed before the pidfile is written) is held until the
//! start-up has finished: stopping half-way would fail the start (exit 2) or
//! race the pidfile's creation (a pidfile left naming a dead process).

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use signal_hook::SigId;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_tokio::{Handle, Signals};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::registry::RegistryHandle;
use super::supervisor::{ShutdownCause, SupervisorHandle};
use crate::catalog::Change;
use crate::error::StartupError;
use crate::trigger::{Started, Starting, Trigger};

/// The signals as a trigger, if the server handles them.
pub fn trigger(handle_signals: bool) -> Option<Box<dyn Trigger>> {
    handle_signals.then(|| Box::new(SignalTrigger) as Box<dyn Trigger>)
}

struct SignalTrigger;

impl Trigger for SignalTrigger {
    fn start(self: Box<Self>, starting: &mut Starting) -> Started<'_> {
        Box::pin(async move {
            // A fleet's signals change every upstream, or the one named.
            let registries = match &starting.signals_to {
                Some(name) => {
                    let picked = starting.upstreams.pick(Some(name)).map_err(|e| {
                        StartupError::NoUpstream {
                            flag: "--signals-to",
                            name: name.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    vec![picked.registry.clone()]
                }
                None => starting
                    .upstreams
                    .all()
                    .iter()
                    .map(|upstream| upstream.registry.clone())
                    .collect(),
            };
            let args = SignalListenerArgs {
                registries,
                supervisor: starting.supervisor.clone(),
                started: starting.started.clone(),
            };
            starting
                .supervisor
                .spawn("signal listener", SignalListener, args)
                .await?;
            Ok(())
        })
    }
}

/// The signals that change the catalog, and the change each one makes.
const CHANGE_SIGNALS: [(i32, fn() -> Change); 3] = [
    (SIGHUP, Change::add_tool),
    (SIGUSR1, Change::remove_newest_tool),
    (SIGUSR2, Change::change_newest_tool),
];

/// The listener takes no messages: its input is the signals.
pub enum SignalListenerMsg {}

pub struct SignalListenerArgs {
    /// Where each change goes: the server's one registry, or each of a
    /// fleet's (`--signals-to` picks one).
    pub registries: Vec<RegistryHandle>,
    pub supervisor: SupervisorHandle,
    /// Cancelled once the server has started: a shutdown signal waits for it.
    pub started: CancellationToken,
}

pub struct SignalListener;

pub struct SignalListenerState {
    /// Each change signal's fallback counting and waking actions.
    actions: Vec<SigId>,
    catcher: Catcher,
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
        Ok(install(args).map_err(StartupError::Signals)?)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // signal-hook keeps its handler installed after the actions are gone,
        // so a late change signal is still ignored rather than fatal; one sent
        // to a process that blocks them stays pending, as harmless.
        for action in state.actions.drain(..) {
            signal_hook::low_level::unregister(action);
        }
        state.catcher.stop();
        state.shutdown_signals.close();
        state.task.abort();
        Ok(())
    }
}

/// Install the handlers and start the catcher thread and the shutdown task.
fn install(args: SignalListenerArgs) -> io::Result<SignalListenerState> {
    let (wakeups, wake) = UnixStream::pair()?;
    wakeups.set_nonblocking(true)?;
    let mut actions = Vec::new();
    let mut fallback = Vec::new();
    for (signal, _) in CHANGE_SIGNALS {
        let delivered = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&delivered);
        // SAFETY: the action only increments an atomic, which is
        // async-signal-safe: no allocation, no lock, no panic.
        actions.push(unsafe {
            signal_hook::low_level::register(signal, move || {
                counter.fetch_add(1, Ordering::Relaxed);
            })
        }?);
        // Registered second, so it runs after the count: a woken catcher
        // always finds the delivery that woke it.
        actions.push(signal_hook::low_level::pipe::register(
            signal,
            wake.try_clone()?,
        )?);
        fallback.push(delivered);
    }
    let mut shutdown = Signals::new([SIGTERM, SIGINT])?;
    let shutdown_signals = shutdown.handle();
    let catcher = CatcherLoop {
        signals: change_signalfd()?,
        wakeups,
        fallback,
        stop: Arc::new(AtomicBool::new(false)),
        registries: args.registries.clone(),
    };
    let catcher = Catcher::spawn(catcher, wake)?;
    let task = tokio::spawn(async move {
        while let Some(signal) = shutdown.next().await {
            let name = if signal == SIGTERM {
                "SIGTERM"
            } else {
                "SIGINT"
            };
            let cause = ShutdownCause::Signal(name);
            args.started.cancelled().await;
            if !args.supervisor.shutdown(cause) {
                return;
            }
        }
    });
    Ok(SignalListenerState {
        actions,
        catcher,
        shutdown_signals,
        task,
    })
}

/// Block the change signals (SIGHUP, SIGUSR1, SIGUSR2) in the calling thread
/// and every thread it starts from now on. The binary calls it in `main`,
/// before it builds the runtime and so before any thread starts, so that the
/// kernel leaves every change signal pending for the listener's signalfd
/// rather than interrupting whichever thread it picks. A child process would
/// inherit the block too (the server starts none). A process that never
/// starts a listener must not call it: the signals would stay pending for ever.
pub fn block_change_signals() -> io::Result<()> {
    sigmask(libc::SIG_BLOCK, &change_set()).map(drop)
}

/// `pthread_sigmask(how, set)` for the calling thread; returns the old mask.
fn sigmask(how: libc::c_int, set: &libc::sigset_t) -> io::Result<libc::sigset_t> {
    let mut old = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: a valid, initialized set, and room for the old one, which
    // pthread_sigmask fills when it succeeds.
    match unsafe { libc::pthread_sigmask(how, set, old.as_mut_ptr()) } {
        0 => Ok(unsafe { old.assume_init() }),
        error => Err(io::Error::from_raw_os_error(error)),
    }
}

/// The change signals as a set.
fn change_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initializes the set before sigaddset fills it.
    unsafe {
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        for (signal, _) in CHANGE_SIGNALS {
            libc::sigaddset(set.as_mut_ptr(), signal);
        }
        set.assume_init()
    }
}

/// A non-blocking signalfd for the change signals.
fn change_signalfd() -> io::Result<OwnedFd> {
    let set = change_set();
    // SAFETY: a valid set; the new descriptor is owned here.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: signalfd returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The thread that takes the change signals, and how to stop it.
struct Catcher {
    stop: Arc<AtomicBool>,
    wake: UnixStream,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Catcher {
    fn spawn(work: CatcherLoop, wake: UnixStream) -> io::Result<Self> {
        let stop = Arc::clone(&work.stop);
        // A thread starts with its creator's mask: blocked from its first
        // instruction, it never takes a change signal through a handler.
        let old = sigmask(libc::SIG_BLOCK, &change_set())?;
        let (running, started) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let _ = running.send(());
                work.run()
            });
        sigmask(libc::SIG_SETMASK, &old)?;
        let thread = thread?;
        // Started means running: its name and mask are in place.
        let _ = started.recv();
        Ok(Self {
            stop,
            wake,
            thread: Some(thread),
        })
    }

    /// Stop the thread and wait for it (it is woken at once), so that a
    /// listener started after this one is the only reader of the signals.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // MSG_NOSIGNAL: the thread may have gone already (the registry
        // stopped first), and a SIGPIPE must not be what stops us.
        // SAFETY: sends one byte from a live buffer on a socket we own.
        unsafe {
            libc::send(
                self.wake.as_raw_fd(),
                [0u8].as_ptr().cast(),
                1,
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            );
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The catcher thread's work: read the signalfd, cast one change per
/// delivery, and sleep in `poll` only when nothing is pending.
struct CatcherLoop {
    signals: OwnedFd,
    /// Woken by the fallback handlers, and to stop.
    wakeups: UnixStream,
    /// The fallback handlers' counts, in `CHANGE_SIGNALS` order.
    fallback: Vec<Arc<AtomicUsize>>,
    stop: Arc<AtomicBool>,
    registries: Vec<RegistryHandle>,
}

/// `struct signalfd_siginfo`: one per delivery read.
const SIGINFO: usize = std::mem::size_of::<libc::signalfd_siginfo>();

impl CatcherLoop {
    fn run(self) {
        // Room for more records than there are change signals: each is
        // pending at most once, so one read takes all that are.
        let mut records = [0u8; SIGINFO * (CHANGE_SIGNALS.len() + 1)];
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.signals.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.wakeups.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfds we own. Under a burst the next signal
            // is usually pending already, and poll returns at once.
            if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
                continue; // EINTR
            }
            if fds[0].revents != 0 {
                // SAFETY: reads into a buffer we own, within its length.
                let n = unsafe {
                    libc::read(
                        self.signals.as_raw_fd(),
                        records.as_mut_ptr().cast(),
                        records.len(),
                    )
                };
                for record in records[..n.max(0) as usize].chunks_exact(SIGINFO) {
                    // ssi_signo is the record's first field, a u32.
                    let signo = u32::from_ne_bytes(record[..4].try_into().unwrap()) as i32;
                    if let Some(index) = CHANGE_SIGNALS.iter().position(|(s, _)| *s == signo)
                        && !self.apply(index, 1)
                    {
                        return;
                    }
                }
            }
            if fds[1].revents != 0 {
                let mut drained = [0u8; 64];
                while matches!((&self.wakeups).read(&mut drained), Ok(1..)) {}
                if self.stop.load(Ordering::SeqCst) {
                    return;
                }
                for index in 0..self.fallback.len() {
                    let count = self.fallback[index].swap(0, Ordering::Relaxed);
                    if !self.apply(index, count) {
                        return;
                    }
                }
            }
        }
    }

    /// Cast `count` of the change `CHANGE_SIGNALS[index]` makes; false once
    /// the registry is gone (the server is stopping).
    fn apply(&self, index: usize, count: usize) -> bool {
        let change = CHANGE_SIGNALS[index].1;
        (0..count).all(|_| {
            self.registries
                .iter()
                .all(|registry| registry.submit(change()).is_ok())
        })
    }
}
