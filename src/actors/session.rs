//! The Session actor: one per connected client. It owns everything that turns
//! the registry's change messages into notifications for that client
//! (`notifications/{tools,prompts,resources}/list_changed` and
//! `notifications/resources/updated`): the way to a handshake client once it
//! is initialized, its resource subscriptions, and the
//! `subscriptions/listen` streams of a 2026-07-28 client.
//!
//! Three rules shape it. A list change before a handshake client's
//! `notifications/initialized` is remembered and notified right after it. A
//! change after rmcp accepted a listen stream, but before the stream reached
//! this actor, is notified as soon as it does: rmcp acknowledges the stream
//! before the handler sees it, so the handler marks the acceptance here first
//! ([`SessionMsg::ListenAccepted`]), recording the change counts at that
//! moment. And while one `list_changed` is being written to a destination, any
//! number of further changes of that list fold into exactly one more: each
//! destination has a writer per list, which remembers at most one change
//! during a write (`NotificationWriter`). Resource updates do not fold: each
//! update is one `notifications/resources/updated` to each subscriber.
//!
//! Two opt-in knobs ([`NotifyStyle`]) change that, to provoke the bugs of
//! clients that a storm or a repeat trips up. With `--coalesce off` every
//! change is its own `list_changed`, in order, through one queue per
//! destination (`ExactWriter`); a client that does not read can make it owe
//! at most 10,000 notifications per list (its `BACKLOG`), past which a
//! change folds into the ones still queued (which are written after it, so
//! the client still hears of it) and is counted as folded. Changes before
//! `initialized` (or before a listen stream reached the session) still make
//! one notification per list: the client has listed nothing yet. With
//! `--duplicate-notifications` each notification is written twice, the copy
//! shown to the watchers as [`Cause::Duplicate`].
//!
//! Dropping a listen stream's entry ends the stream: the listen handler is
//! waiting on the entry's token and returns, so rmcp sends the final result.
//! This is how shutdown ends every stream before rmcp's drain would wait on it.
//!
//! Log lines (`notifications/message`) reach a session only if its client
//! asked for them with `logging/setLevel`; unlike changes they do not fold.

#![allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Waker};

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rmcp::model::LoggingMessageNotificationParam;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::{Id as TaskId, JoinHandle};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::registry::RegistryMsg;
use crate::catalog::ListKind;
use crate::observe::{Cause, Event, SessionKey, Watch};

pub enum SessionMsg {
    /// One of the registry's lists changed, `times` times (the steps of one
    /// change, told at once).
    ListChanged { list: ListKind, times: usize },
    /// A resource's contents changed, `times` times: tell the destinations
    /// subscribed to it.
    ResourceUpdated { uri: String, times: usize },
    /// Who the client is and which protocol revision it speaks, for `GET /state`:
    /// from `initialize`, or from a 2026-07-28 request's `_meta`.
    Hello { client: Value, protocol: String },
    /// The client sent `notifications/initialized`; notifications may flow,
    /// through `send`, and log lines through `log`.
    Initialized { send: SendNotice, log: SendLog },
    /// A handshake client subscribed to a resource (`resources/subscribe`).
    Subscribe(String),
    /// A handshake client unsubscribed from a resource.
    Unsubscribe(String),
    /// Replies once the session has started, and so has subscribed: a client
    /// answered after this misses no change.
    Started(RpcReplyPort<()>),
    /// Reply with what `GET /state` shows of this session.
    Describe(RpcReplyPort<Value>),
    /// A log line for a client that asked for log messages.
    Log(LoggingMessageNotificationParam),
    /// rmcp accepted a `subscriptions/listen` request handled in this task and
    /// is about to acknowledge it.
    ListenAccepted(TaskId),
    /// The acknowledged stream, handed over by its listen handler.
    Listen(ListenStream),
    /// A listen stream's request ended: the client cancelled it or left.
    ListenClosed(u64),
    /// A scenario's `list_changed` with no change behind it (written as
    /// [`Cause::Spurious`], not folded with real ones): to the initialized
    /// client and the listen streams that want the list or, with
    /// `before_initialized`, only to a handshake client that has been
    /// answered `initialize` but has not sent `notifications/initialized`.
    Spurious {
        list: ListKind,
        before_initialized: bool,
    },
    /// The handshake client's peer from its `initialize` request, kept only
    /// for a scenario's notification before `notifications/initialized`.
    Answering(SendNotice),
}

/// A notification a session sends, whatever carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    ListChanged(ListKind),
    ResourceUpdated(String),
}

/// Writes one notification to one destination (a handshake client's peer, a
/// listen stream), and says whether the destination is still there.
pub type SendNotice = Arc<dyn Fn(Notice) -> BoxFuture<'static, bool> + Send + Sync>;

/// Writes one log line (`notifications/message`) to a handshake client, and
/// says whether the client is still there.
pub type SendLog =
    Arc<dyn Fn(LoggingMessageNotificationParam) -> BoxFuture<'static, bool> + Send + Sync>;

/// One open `subscriptions/listen` stream, as its handler hands it over.
pub struct ListenStream {
    /// The task its request runs in, which marked its acceptance.
    pub task: Option<TaskId>,
    pub send: SendNotice,
    /// The lists whose changes the stream accepted, by [`ListKind::index`].
    pub lists: [bool; 3],
    /// The resources whose updates the stream accepted.
    pub resources: HashSet<String>,
    /// Cancelled when the client ends the request.
    pub closed: CancellationToken,
    /// Ends the stream when dropped: the handler waits for it. Part of the
    /// message so that a session that stops before taking the stream still
    /// ends it.
    pub end: DropGuard,
}

/// How a session writes its notifications. The default is what every client
/// of a normal server gets; the rest is hostile, for testing clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyStyle {
    /// Whether changes during a write fold into one more `list_changed`.
    pub coalesce: Coalesce,
    /// Write each notification twice (`--duplicate-notifications`).
    pub duplicates: bool,
}

/// Whether a destination's `list_changed` notifications fold (`--coalesce`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Coalesce {
    /// Any number of changes during a write fold into exactly one more.
    #[default]
    On,
    /// One notification per change, in order: the storm a burst would be.
    Off,
}

impl Coalesce {
    pub fn as_str(self) -> &'static str {
        match self {
            Coalesce::On => "on",
            Coalesce::Off => "off",
        }
    }
}

pub struct SessionArgs {
    pub registry: ActorRef<RegistryMsg>,
    /// Cancels the rmcp service that serves this session's client.
    pub service: CancellationToken,
    /// Who sees what this session writes, and that it ended.
    pub watch: Watch,
    /// How it writes its notifications.
    pub style: NotifyStyle,
}

pub struct Session;

pub struct SessionState {
    registry: ActorRef<RegistryMsg>,
    service: CancellationToken,
    /// Changes seen so far per list; listen marks compare against them.
    changes: [u64; 3],
    /// Lists that changed before the handshake client was initialized.
    changed_before_initialized: [bool; 3],
    /// The handshake client's destination, once it is initialized.
    client: Option<Destination>,
    /// `resources/subscribe` calls, kept from before `initialized` too.
    subscribed: HashSet<String>,
    /// `changes` when rmcp accepted a listen stream not yet handed over. A
    /// mark whose stream never comes (the acknowledgment could not be written:
    /// the client is gone) stays until the session ends.
    accepted: HashMap<TaskId, [u64; 3]>,
    streams: HashMap<u64, OpenStream>,
    next_stream: u64,
    /// Who the client is (`name`, `version`) and its protocol revision.
    hello: Option<(Value, String)>,
    /// Kept for the log writer, which starts only with the first log line:
    /// most clients never ask for one.
    log: Option<SendLog>,
    log_writer: Option<LogWriter>,
    /// Notifications written to this client, across all its destinations.
    sent: Arc<Written>,
    /// Where a scenario's notification before `initialized` goes.
    answering: Option<SendNotice>,
    /// Spurious notifications that came before `initialized`: written right
    /// after it, as a change would be.
    spurious_before_initialized: [bool; 3],
}

/// What a session's writers have written: counted for `GET /state`, and shown
/// to the watchers.
struct Written {
    /// Per list by [`ListKind::index`], then resource updates; copies
    /// included.
    counts: [AtomicU64; 4],
    /// Of those, the copies `--duplicate-notifications` wrote.
    duplicates: AtomicU64,
    /// Changes folded into notifications already queued, with `--coalesce
    /// off`, because a client did not read.
    folded: AtomicU64,
    style: NotifyStyle,
    session: SessionKey,
    watch: Watch,
}

impl Written {
    /// Write `notice` to a destination, and its copy if this session
    /// duplicates; false once the destination is gone.
    async fn deliver(&self, send: &SendNotice, notice: Notice) -> bool {
        let copy = self.style.duplicates.then(|| notice.clone());
        if !send(notice.clone()).await {
            return false;
        }
        self.record(notice, Cause::Change);
        if let Some(copy) = copy {
            if !send(copy.clone()).await {
                return false;
            }
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            self.record(copy, Cause::Duplicate);
        }
        true
    }

    fn record(&self, notice: Notice, cause: Cause) {
        let i = match &notice {
            Notice::ListChanged(list) => list.index(),
            Notice::ResourceUpdated(_) => 3,
        };
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let session = self.session;
        let _ = self.watch.tell(|| Event::Notified {
            session,
            notice,
            cause,
        });
    }

    /// Write one spurious `list_changed` on its own task, outside the
    /// folding writers: it stands for no change.
    fn spurious(self: &Arc<Self>, send: &SendNotice, list: ListKind) {
        let (send, sent) = (Arc::clone(send), Arc::clone(self));
        tokio::spawn(async move {
            if send(Notice::ListChanged(list)).await {
                sent.record(Notice::ListChanged(list), Cause::Spurious);
            }
        });
    }

    fn count(&self, i: usize) -> u64 {
        self.counts[i].load(Ordering::Relaxed)
    }
}

/// Where one client's notifications go: the writers per list (started by the
/// list's first change: most sessions never see prompts or resources change)
/// and the writer of resource updates.
struct Destination {
    send: SendNotice,
    /// The lists this destination wants, by [`ListKind::index`].
    wants: [bool; 3],
    lists: ListWriters,
    updates: Option<UpdateWriter>,
    sent: Arc<Written>,
}

/// What writes a destination's `list_changed` notifications, as the
/// session's [`Coalesce`] says.
enum ListWriters {
    /// One folding writer per list.
    Folding([Option<NotificationWriter>; 3]),
    /// One writer for every list, one notification per change.
    Exact(Option<ExactWriter>),
}

impl Destination {
    fn new(send: SendNotice, wants: [bool; 3], sent: Arc<Written>) -> Self {
        let lists = match sent.style.coalesce {
            Coalesce::On => ListWriters::Folding([None, None, None]),
            Coalesce::Off => ListWriters::Exact(None),
        };
        Self {
            send,
            wants,
            lists,
            updates: None,
            sent,
        }
    }

    fn list_changed(&mut self, list: ListKind) {
        let i = list.index();
        if !self.wants[i] {
            return;
        }
        match &mut self.lists {
            ListWriters::Folding(writers) => {
                writers[i]
                    .get_or_insert_with(|| {
                        NotificationWriter::new(
                            Arc::clone(&self.send),
                            list,
                            Arc::clone(&self.sent),
                        )
                    })
                    .changed();
            }
            ListWriters::Exact(writer) => writer
                .get_or_insert_with(|| {
                    ExactWriter::start(Arc::clone(&self.send), Arc::clone(&self.sent))
                })
                .list_changed(list, &self.sent),
        }
    }

    fn resource_updated(&mut self, uri: String) {
        let writer = self.updates.get_or_insert_with(|| {
            UpdateWriter::start(Arc::clone(&self.send), Arc::clone(&self.sent))
        });
        if writer.uris.try_send(uri).is_err() {
            tracing::debug!("client not reading its resource updates; one dropped");
        }
    }
}

struct OpenStream {
    destination: Destination,
    resources: HashSet<String>,
    /// Ends the stream when the entry is dropped, however the session stops.
    _end: DropGuard,
    closed_watch: JoinHandle<()>,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.closed_watch.abort();
    }
}

/// Writes one list's `list_changed` to one destination, one at a time: any
/// number of changes while one is being written fold into exactly one more.
///
/// A write runs inline, in the session actor, as far as it goes without
/// waiting; only a write that has to wait (stdio's peer, an HTTP stream whose
/// client is behind) goes on to finish on a task of its own, which then also
/// writes the folded change, if any. An HTTP session's write almost never
/// waits, so a change costs 10,000 sessions no task wake-up each (about a
/// tenth of the server's CPU per change, measured with perf).
struct NotificationWriter {
    /// [`WriteState`], shared with the write that may be finishing on a task.
    state: Arc<AtomicU8>,
    send: SendNotice,
    list: ListKind,
    sent: Arc<Written>,
    task: Option<JoinHandle<()>>,
}

/// Where a [`NotificationWriter`] is. Only the session moves `Idle` to
/// `Writing` and `Writing` to `Again`; only the write moves `Writing` to
/// `Idle`, `Again` to `Writing` (it writes once more) and anything to `Gone`.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteState {
    Idle,
    Writing,
    /// Writing, and a change came since the write began.
    Again,
    /// The destination is gone: nothing more is written.
    Gone,
}

impl WriteState {
    fn of(value: u8) -> Self {
        [Self::Idle, Self::Writing, Self::Again, Self::Gone][usize::from(value)]
    }
}

impl NotificationWriter {
    fn new(send: SendNotice, list: ListKind, sent: Arc<Written>) -> Self {
        Self {
            state: Arc::new(AtomicU8::new(WriteState::Idle as u8)),
            send,
            list,
            sent,
            task: None,
        }
    }

    /// The list changed: write, or fold into the write under way.
    fn changed(&mut self) {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let next = match WriteState::of(current) {
                WriteState::Idle => WriteState::Writing,
                WriteState::Writing => WriteState::Again,
                WriteState::Again | WriteState::Gone => return,
            };
            match self.state.compare_exchange(
                current,
                next as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if next == WriteState::Again => return,
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        let mut write = Box::pin(Self::write(
            Arc::clone(&self.send),
            self.list,
            Arc::clone(&self.sent),
            Arc::clone(&self.state),
        ));
        let mut inline = Context::from_waker(Waker::noop());
        if write.as_mut().poll(&mut inline).is_pending() {
            // Polled again on the task, with its own waker.
            self.task = Some(tokio::spawn(write));
        }
    }

    /// Write until no change is left over.
    async fn write(send: SendNotice, list: ListKind, sent: Arc<Written>, state: Arc<AtomicU8>) {
        loop {
            if !sent.deliver(&send, Notice::ListChanged(list)).await {
                tracing::debug!("notification destination gone; stopping its writer");
                state.store(WriteState::Gone as u8, Ordering::Release);
                return;
            }
            let done = state.compare_exchange(
                WriteState::Writing as u8,
                WriteState::Idle as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if done.is_ok() {
                return;
            }
            // `Again`: one more write, for all the changes since this one began.
            state.store(WriteState::Writing as u8, Ordering::Release);
        }
    }
}

impl Drop for NotificationWriter {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The task that writes one `list_changed` per change to one destination, in
/// the order of the changes (`--coalesce off`). Every notification of a list
/// is the same message, so the queue holds only which list changed.
struct ExactWriter {
    queue: mpsc::Sender<ListKind>,
    /// Per list, the notifications queued whose write has not begun: only
    /// this session adds to them, only the task takes from them.
    queued: Arc<[AtomicUsize; 3]>,
    /// Whether the session has said that this client fell behind.
    told_folding: bool,
    task: JoinHandle<()>,
}

impl ExactWriter {
    /// The most notifications of one list queued for a destination. A client
    /// reading as fast as it can stays far below it; one that does not read
    /// gets the rest folded, and the queue's memory stays bounded.
    const BACKLOG: usize = 10_000;

    fn start(send: SendNotice, sent: Arc<Written>) -> Self {
        let (queue, mut lists) = mpsc::channel::<ListKind>(3 * Self::BACKLOG);
        let queued: Arc<[AtomicUsize; 3]> = Arc::default();
        let taken = Arc::clone(&queued);
        let task = tokio::spawn(async move {
            while let Some(list) = lists.recv().await {
                taken[list.index()].fetch_sub(1, Ordering::Relaxed);
                if !sent.deliver(&send, Notice::ListChanged(list)).await {
                    tracing::debug!("notification destination gone; stopping its writer");
                    return;
                }
            }
        });
        Self {
            queue,
            queued,
            told_folding: false,
            task,
        }
    }

    fn list_changed(&mut self, list: ListKind, sent: &Written) {
        let queued = &self.queued[list.index()];
        // A full backlog holds a notification of this list not yet begun: it
        // is written after this change, so the change folds into it.
        if queued.load(Ordering::Relaxed) >= Self::BACKLOG {
            sent.folded.fetch_add(1, Ordering::Relaxed);
            if !std::mem::replace(&mut self.told_folding, true) {
                tracing::warn!(
                    list = list.as_str(),
                    backlog = Self::BACKLOG,
                    "a client is not reading its notifications; with --coalesce off, changes past the backlog fold"
                );
            }
            return;
        }
        queued.fetch_add(1, Ordering::Relaxed);
        // Never full: each list has at most BACKLOG in it.
        let _ = self.queue.try_send(list);
    }
}

impl Drop for ExactWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The task that writes `notifications/resources/updated` to one destination,
/// in order.
struct UpdateWriter {
    uris: mpsc::Sender<String>,
    task: JoinHandle<()>,
}

impl UpdateWriter {
    /// Updates queued for a client that does not read them; past this, new
    /// ones are dropped rather than held without bound.
    const BACKLOG: usize = 1024;

    fn start(send: SendNotice, sent: Arc<Written>) -> Self {
        let (uris, mut queued) = mpsc::channel::<String>(Self::BACKLOG);
        let task = tokio::spawn(async move {
            while let Some(uri) = queued.recv().await {
                if !sent.deliver(&send, Notice::ResourceUpdated(uri)).await {
                    return;
                }
            }
        });
        Self { uris, task }
    }
}

impl Drop for UpdateWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The task that writes log lines to the client, in order.
struct LogWriter {
    lines: mpsc::Sender<LoggingMessageNotificationParam>,
    task: JoinHandle<()>,
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LogWriter {
    /// Lines queued for a client that does not read them; past this, new lines
    /// are dropped rather than held without bound.
    const BACKLOG: usize = 64;

    fn start(log: SendLog) -> Self {
        let (lines, mut queued) = mpsc::channel(Self::BACKLOG);
        let task = tokio::spawn(async move {
            while let Some(line) = queued.recv().await {
                if !log(line).await {
                    return;
                }
            }
        });
        Self { lines, task }
    }
}

impl SessionState {
    /// What `GET /state` shows of this session.
    fn describe(&self) -> Value {
        let (client, protocol) = match &self.hello {
            Some((client, protocol)) => (client.clone(), Value::from(protocol.as_str())),
            None => (Value::Null, Value::Null),
        };
        let sent = |i: usize| self.sent.count(i);
        let mut notifications = json!({
            "tools": sent(0),
            "prompts": sent(1),
            "resources": sent(2),
            "resources_updated": sent(3),
        });
        // Only a hostile run has these, so a normal one's state is unchanged.
        if self.sent.style.duplicates {
            notifications["duplicates"] = self.sent.duplicates.load(Ordering::Relaxed).into();
        }
        if self.sent.style.coalesce == Coalesce::Off {
            notifications["folded"] = self.sent.folded.load(Ordering::Relaxed).into();
        }
        json!({
            "client": client,
            "protocol": protocol,
            "initialized": self.client.is_some(),
            "listen_streams": self.streams.len(),
            "notifications": notifications,
        })
    }
}

impl Actor for Session {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SessionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let session = myself.get_id().pid();
        args.registry.cast(RegistryMsg::Subscribe(myself))?;
        Ok(SessionState {
            registry: args.registry,
            service: args.service,
            changes: [0; 3],
            changed_before_initialized: [false; 3],
            client: None,
            subscribed: HashSet::new(),
            accepted: HashMap::new(),
            streams: HashMap::new(),
            next_stream: 0,
            hello: None,
            log: None,
            log_writer: None,
            answering: None,
            spurious_before_initialized: [false; 3],
            sent: Arc::new(Written {
                counts: Default::default(),
                duplicates: AtomicU64::new(0),
                folded: AtomicU64::new(0),
                style: args.style,
                session,
                watch: args.watch,
            }),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::ListChanged { list, times } => {
                state.changes[list.index()] += times as u64;
                // Each step as if told alone: a folding writer folds them, an
                // exact one queues them up to its backlog.
                for _ in 0..times {
                    match &mut state.client {
                        Some(client) => client.list_changed(list),
                        None => state.changed_before_initialized[list.index()] = true,
                    }
                    for stream in state.streams.values_mut() {
                        stream.destination.list_changed(list);
                    }
                }
            }
            SessionMsg::ResourceUpdated { uri, times } => {
                // Before `initialized` an update has nowhere to go, and unlike
                // a list change it is about contents the client has not read.
                for _ in 0..times {
                    if let Some(client) = &mut state.client
                        && state.subscribed.contains(&uri)
                    {
                        client.resource_updated(uri.clone());
                    }
                    for stream in state.streams.values_mut() {
                        if stream.resources.contains(&uri) {
                            stream.destination.resource_updated(uri.clone());
                        }
                    }
                }
            }
            SessionMsg::Hello { client, protocol } => {
                state.hello = Some((client, protocol));
            }
            SessionMsg::Initialized { send, log } => {
                if state.client.is_some() {
                    tracing::debug!("client sent notifications/initialized twice; ignored");
                    return Ok(());
                }
                let mut client = Destination::new(send, [true; 3], Arc::clone(&state.sent));
                for list in ListKind::ALL {
                    if std::mem::take(&mut state.changed_before_initialized[list.index()]) {
                        client.list_changed(list);
                    }
                }
                for list in ListKind::ALL {
                    if std::mem::take(&mut state.spurious_before_initialized[list.index()]) {
                        state.sent.spurious(&client.send, list);
                    }
                }
                state.client = Some(client);
                state.log = Some(log);
            }
            SessionMsg::Subscribe(uri) => {
                state.subscribed.insert(uri);
            }
            SessionMsg::Unsubscribe(uri) => {
                state.subscribed.remove(&uri);
            }
            SessionMsg::Started(reply) => {
                let _ = reply.send(());
            }
            SessionMsg::Describe(reply) => {
                let _ = reply.send(state.describe());
            }
            // Before `notifications/initialized` a line has nowhere to go yet.
            SessionMsg::Log(line) => {
                if let Some(log) = &state.log {
                    let writer = state
                        .log_writer
                        .get_or_insert_with(|| LogWriter::start(Arc::clone(log)));
                    if writer.lines.try_send(line).is_err() {
                        tracing::debug!("client not reading its log lines; one dropped");
                    }
                }
            }
            SessionMsg::ListenAccepted(task) => {
                state.accepted.insert(task, state.changes);
            }
            SessionMsg::Listen(stream) => {
                let accepted_at = stream.task.and_then(|task| state.accepted.remove(&task));
                let key = state.next_stream;
                state.next_stream += 1;

                let mut destination =
                    Destination::new(stream.send, stream.lists, Arc::clone(&state.sent));
                // Changes since the acknowledgment: the client already counts
                // on them. (rmcp runs every handler in a task, so the mark is
                // there.)
                if let Some(at) = accepted_at {
                    for list in ListKind::ALL {
                        if state.changes[list.index()] > at[list.index()] {
                            destination.list_changed(list);
                        }
                    }
                }
                let closed = stream.closed;
                let closed_watch = tokio::spawn(async move {
                    closed.cancelled().await;
                    let _ = myself.cast(SessionMsg::ListenClosed(key));
                });
                state.streams.insert(
                    key,
                    OpenStream {
                        destination,
                        resources: stream.resources,
                        _end: stream.end,
                        closed_watch,
                    },
                );
            }
            SessionMsg::ListenClosed(key) => {
                state.streams.remove(&key);
            }
            SessionMsg::Answering(send) => state.answering = Some(send),
            SessionMsg::Spurious {
                list,
                before_initialized: true,
            } => {
                if let (None, Some(send)) = (&state.client, &state.answering) {
                    state.sent.spurious(send, list);
                }
            }
            SessionMsg::Spurious { list, .. } => {
                if state.client.is_none() {
                    state.spurious_before_initialized[list.index()] = true;
                }
                let wanting = state
                    .client
                    .iter()
                    .chain(state.streams.values().map(|s| &s.destination));
                for destination in wanting.filter(|d| d.wants[list.index()]) {
                    state.sent.spurious(&destination.send, list);
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // The registry may already be gone at shutdown; that is fine.
        let _ = state
            .registry
            .cast(RegistryMsg::Unsubscribe(myself.get_id()));
        // End the listen streams before stopping the service: rmcp's drain
        // waits for every running handler, and a listen handler runs until
        // its stream ends.
        state.streams.clear();
        state.service.cancel();
        state.client.take();
        state.log_writer.take();
        let session = state.sent.session;
        let _ = state.sent.watch.tell(|| Event::Closed { session });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ractor::call;
    use tokio::sync::mpsc;

    use super::super::registry::{Registry, RegistryArgs};
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);
    /// How long a test listens for a notification that must not come.
    const QUIET: Duration = Duration::from_millis(200);

    struct Fixture {
        registry: ActorRef<RegistryMsg>,
        session: ActorRef<SessionMsg>,
        service: CancellationToken,
    }

    impl Fixture {
        async fn start() -> Self {
            Self::with(NotifyStyle::default(), Watch::default()).await
        }

        async fn with(style: NotifyStyle, watch: Watch) -> Self {
            let (registry, _) = Actor::spawn(None, Registry, RegistryArgs::tools(1))
                .await
                .unwrap();
            let service = CancellationToken::new();
            let args = SessionArgs {
                registry: registry.clone(),
                service: service.clone(),
                watch,
                style,
            };
            let (session, _) = Actor::spawn(None, Session, args).await.unwrap();
            Self {
                registry,
                session,
                service,
            }
        }

        /// Add a tool and wait until the registry has told the session: the
        /// session's `ToolsChanged` is queued before anything sent after this.
        async fn add_tool(&self) {
            self.registry
                .cast(RegistryMsg::Apply(crate::catalog::Change::add_tool(), None))
                .unwrap();
            call!(self.registry, RegistryMsg::Snapshot).unwrap();
        }

        /// Add `n` tools in one change (as `count: n` does), and wait until
        /// the session has taken every `ListChanged`.
        async fn add_tools(&self, n: usize) {
            let request = crate::catalog::ChangeRequest::new(crate::catalog::ChangeKind::AddTool);
            let change = crate::catalog::Change::try_from(request.count(n)).unwrap();
            self.registry
                .cast(RegistryMsg::Apply(change, None))
                .unwrap();
            call!(self.registry, RegistryMsg::Snapshot).unwrap();
            self.describe().await;
        }

        /// The session's `GET /state` entry; the session has handled every
        /// message sent to it before.
        async fn describe(&self) -> Value {
            call!(self.session, SessionMsg::Describe).unwrap()
        }

        /// A listen stream for tool changes that is open at once, whose
        /// writes each wait for a permit of the returned gate. `begun` hears
        /// of each write as it begins, the receiver of each as it is done.
        async fn gated_stream(
            &self,
        ) -> (
            Arc<tokio::sync::Semaphore>,
            mpsc::UnboundedReceiver<()>,
            mpsc::UnboundedReceiver<Notice>,
            CancellationToken,
        ) {
            let gate = Arc::new(tokio::sync::Semaphore::new(0));
            let (begun_tx, begun) = mpsc::unbounded_channel();
            let (done_tx, done) = mpsc::unbounded_channel();
            let permits = Arc::clone(&gate);
            let send: SendNotice = Arc::new(move |notice| {
                let (permits, begun_tx, done_tx) =
                    (Arc::clone(&permits), begun_tx.clone(), done_tx.clone());
                Box::pin(async move {
                    let _ = begun_tx.send(());
                    permits.acquire().await.unwrap().forget();
                    done_tx.send(notice).is_ok()
                })
            });
            let end = CancellationToken::new();
            let task = task_id().await;
            let stream = ListenStream {
                task: Some(task),
                send,
                lists: [true, false, false],
                resources: HashSet::new(),
                closed: CancellationToken::new(),
                end: end.clone().drop_guard(),
            };
            self.session.cast(SessionMsg::ListenAccepted(task)).unwrap();
            self.session.cast(SessionMsg::Listen(stream)).unwrap();
            self.describe().await;
            (gate, begun, done, end)
        }

        /// A listen stream whose notifications arrive on the receiver.
        fn stream(
            task: TaskId,
            tools: bool,
        ) -> (ListenStream, mpsc::UnboundedReceiver<()>, CancellationToken) {
            let (tx, rx) = mpsc::unbounded_channel();
            let send: SendNotice = Arc::new(move |notice| {
                assert_eq!(notice, Notice::ListChanged(ListKind::Tools));
                let tx = tx.clone();
                Box::pin(async move { tx.send(()).is_ok() })
            });
            let end = CancellationToken::new();
            let stream = ListenStream {
                task: Some(task),
                send,
                lists: [tools, false, false],
                resources: HashSet::new(),
                closed: CancellationToken::new(),
                end: end.clone().drop_guard(),
            };
            (stream, rx, end)
        }

        async fn stop(self) {
            self.session.stop_and_wait(None, None).await.unwrap();
            self.registry.stop_and_wait(None, None).await.unwrap();
        }
    }

    /// A task id, as rmcp's request tasks have.
    async fn task_id() -> TaskId {
        tokio::spawn(async { tokio::task::id() }).await.unwrap()
    }

    async fn one_notification(rx: &mut mpsc::UnboundedReceiver<()>) {
        tokio::time::timeout(TIMEOUT, rx.recv())
            .await
            .expect("a notification")
            .expect("the writer is running");
    }

    async fn no_notification<T>(rx: &mut mpsc::UnboundedReceiver<T>) {
        let extra = tokio::time::timeout(QUIET, rx.recv()).await;
        assert!(!matches!(extra, Ok(Some(_))), "no notification expected");
    }

    /// Wait until `n` notifications are written to a gated stream, and no
    /// more come.
    async fn exactly<T>(done: &mut mpsc::UnboundedReceiver<T>, n: usize) {
        for i in 0..n {
            tokio::time::timeout(TIMEOUT, done.recv())
                .await
                .unwrap_or_else(|_| panic!("notification {i} of {n}"))
                .expect("the writer is running");
        }
        no_notification(done).await;
    }

    fn exact() -> NotifyStyle {
        NotifyStyle {
            coalesce: Coalesce::Off,
            duplicates: false,
        }
    }

    /// Every notification the watchers saw, with its cause.
    #[derive(Default)]
    struct Causes(std::sync::Mutex<Vec<Cause>>);

    impl crate::observe::Watcher for Causes {
        fn see(&self, _: std::time::Instant, event: &Event) -> Option<BoxFuture<'static, ()>> {
            if let Event::Notified { cause, .. } = event {
                self.0.lock().unwrap().push(*cause);
            }
            None
        }
    }

    #[tokio::test]
    async fn by_default_changes_during_a_write_fold_into_exactly_one_more() {
        let fixture = Fixture::start().await;
        let (gate, mut begun, mut done, _end) = fixture.gated_stream().await;
        fixture.add_tool().await;
        begun.recv().await.unwrap();
        // The first write is under way: 50 more changes owe one more.
        fixture.add_tools(50).await;
        gate.add_permits(1000);
        exactly(&mut done, 2).await;
        fixture.stop().await;
    }

    #[tokio::test]
    async fn with_coalesce_off_every_change_is_one_notification() {
        let fixture = Fixture::with(exact(), Watch::default()).await;
        let (gate, mut begun, mut done, _end) = fixture.gated_stream().await;
        fixture.add_tool().await;
        begun.recv().await.unwrap();
        fixture.add_tools(50).await;
        gate.add_permits(1000);
        exactly(&mut done, 51).await;
        let state = fixture.describe().await;
        assert_eq!(state["notifications"]["tools"], 51);
        assert_eq!(state["notifications"]["folded"], 0);
        fixture.stop().await;
    }

    #[tokio::test]
    async fn with_coalesce_off_a_client_that_does_not_read_is_owed_at_most_the_backlog() {
        let fixture = Fixture::with(exact(), Watch::default()).await;
        let (gate, mut begun, mut done, _end) = fixture.gated_stream().await;
        fixture.add_tool().await;
        // The first write hangs, as on a client that stopped reading.
        begun.recv().await.unwrap();
        fixture.add_tools(ExactWriter::BACKLOG + 25).await;
        let state = fixture.describe().await;
        assert_eq!(state["notifications"]["folded"], 25);
        assert_eq!(state["notifications"]["tools"], 0);
        // Reading again, the client gets the one in flight and the backlog,
        // the last of them after the last change.
        gate.add_permits(ExactWriter::BACKLOG + 1000);
        exactly(&mut done, 1 + ExactWriter::BACKLOG).await;
        fixture.stop().await;
    }

    #[tokio::test]
    async fn duplicates_write_each_notification_twice_and_show_the_copy_as_one() {
        let causes = Arc::new(Causes::default());
        let style = NotifyStyle {
            coalesce: Coalesce::On,
            duplicates: true,
        };
        let fixture = Fixture::with(style, Watch::new(vec![causes.clone()])).await;
        let (gate, _begun, mut done, _end) = fixture.gated_stream().await;
        gate.add_permits(1000);
        fixture.add_tool().await;
        exactly(&mut done, 2).await;
        let state = fixture.describe().await;
        assert_eq!(state["notifications"]["tools"], 2);
        assert_eq!(state["notifications"]["duplicates"], 1);
        assert!(state["notifications"].get("folded").is_none());
        assert_eq!(*causes.0.lock().unwrap(), [Cause::Change, Cause::Duplicate]);
        fixture.stop().await;
    }

    #[tokio::test]
    async fn a_default_session_state_has_no_hostile_counts() {
        let fixture = Fixture::start().await;
        let state = fixture.describe().await;
        let keys: Vec<_> = state["notifications"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["prompts", "resources", "resources_updated", "tools"]);
        fixture.stop().await;
    }

    #[tokio::test]
    async fn a_change_between_acknowledgment_and_listen_is_not_lost() {
        let fixture = Fixture::start().await;
        let task = task_id().await;
        fixture
            .session
            .cast(SessionMsg::ListenAccepted(task))
            .unwrap();
        fixture.add_tool().await;

        let (stream, mut rx, _end) = Fixture::stream(task, true);
        fixture.session.cast(SessionMsg::Listen(stream)).unwrap();
        one_notification(&mut rx).await;
        no_notification(&mut rx).await;

        fixture.add_tool().await;
        one_notification(&mut rx).await;
        fixture.stop().await;
    }

    #[tokio::test]
    async fn a_change_before_acceptance_is_not_notified() {
        let fixture = Fixture::start().await;
        fixture.add_tool().await;
        let task = task_id().await;
        fixture
            .session
            .cast(SessionMsg::ListenAccepted(task))
            .unwrap();

        let (stream, mut rx, _end) = Fixture::stream(task, true);
        fixture.session.cast(SessionMsg::Listen(stream)).unwrap();
        no_notification(&mut rx).await;

        fixture.add_tool().await;
        one_notification(&mut rx).await;
        no_notification(&mut rx).await;
        fixture.stop().await;
    }

    #[tokio::test]
    async fn a_stream_without_tool_changes_gets_none_and_every_stream_ends_at_stop() {
        let fixture = Fixture::start().await;
        let (tools_task, other_task) = (task_id().await, task_id().await);
        let (tools, mut tools_rx, tools_end) = Fixture::stream(tools_task, true);
        let (other, _, other_end) = Fixture::stream(other_task, false);
        for (task, stream) in [(tools_task, tools), (other_task, other)] {
            fixture
                .session
                .cast(SessionMsg::ListenAccepted(task))
                .unwrap();
            fixture.session.cast(SessionMsg::Listen(stream)).unwrap();
        }
        fixture.add_tool().await;
        one_notification(&mut tools_rx).await;

        assert!(!tools_end.is_cancelled() && !other_end.is_cancelled());
        let service = fixture.service.clone();
        fixture.stop().await;
        assert!(tools_end.is_cancelled() && other_end.is_cancelled());
        assert!(service.is_cancelled());
    }

    #[tokio::test]
    async fn a_stream_the_client_closed_is_dropped() {
        let fixture = Fixture::start().await;
        let task = task_id().await;
        let (stream, mut rx, end) = Fixture::stream(task, true);
        let closed = stream.closed.clone();
        fixture
            .session
            .cast(SessionMsg::ListenAccepted(task))
            .unwrap();
        fixture.session.cast(SessionMsg::Listen(stream)).unwrap();

        closed.cancel();
        // Dropping the stream's entry ends it.
        tokio::time::timeout(TIMEOUT, end.cancelled())
            .await
            .expect("the session drops the closed stream");
        fixture.add_tool().await;
        no_notification(&mut rx).await;
        fixture.stop().await;
    }
}
