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
//! update is one `notifications/resources/updated` to each subscriber. The
//! writers are in `writers`; this file holds the actor that drives them.
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
//! shown to the watchers as [`Cause::Duplicate`](crate::observe::Cause::Duplicate).
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

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rmcp::model::LoggingMessageNotificationParam;
use serde_json::{Value, json};
use tokio::task::{Id as TaskId, JoinHandle};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::registry::{RegistryHandle, SubscriberMsg};
use crate::catalog::ListKind;
use crate::notice::{NoticeSink, NotifyStyle};
use crate::observe::Watch;

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
    /// The client sent `notifications/initialized`; notifications and log
    /// lines may flow, through `sink`.
    Initialized { sink: Arc<dyn NoticeSink> },
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
    /// [`Cause::Spurious`](crate::observe::Cause::Spurious), not folded with real ones): to the initialized
    /// client and the listen streams that want the list or, with
    /// `before_initialized`, only to a handshake client that has been
    /// answered `initialize` but has not sent `notifications/initialized`.
    Spurious {
        list: ListKind,
        before_initialized: bool,
    },
    /// The handshake client's peer from its `initialize` request, kept only
    /// for a scenario's notification before `notifications/initialized`.
    Answering(Arc<dyn NoticeSink>),
}

/// What the Registry tells its subscribers, as a Session takes it.
impl From<SubscriberMsg> for SessionMsg {
    fn from(message: SubscriberMsg) -> Self {
        match message {
            SubscriberMsg::ListChanged { list, times } => SessionMsg::ListChanged { list, times },
            SubscriberMsg::ResourceUpdated { uri, times } => {
                SessionMsg::ResourceUpdated { uri, times }
            }
            SubscriberMsg::Spurious {
                list,
                before_initialized,
            } => SessionMsg::Spurious {
                list,
                before_initialized,
            },
            SubscriberMsg::Log(line) => SessionMsg::Log(line),
            SubscriberMsg::Describe(reply) => SessionMsg::Describe(reply),
        }
    }
}

/// The way back, which ractor needs to hand a message to a stopped session
/// back to the Registry; only what [`From`] made comes back.
impl TryFrom<SessionMsg> for SubscriberMsg {
    type Error = SessionMsg;

    fn try_from(message: SessionMsg) -> Result<Self, SessionMsg> {
        Ok(match message {
            SessionMsg::ListChanged { list, times } => SubscriberMsg::ListChanged { list, times },
            SessionMsg::ResourceUpdated { uri, times } => {
                SubscriberMsg::ResourceUpdated { uri, times }
            }
            SessionMsg::Spurious {
                list,
                before_initialized,
            } => SubscriberMsg::Spurious {
                list,
                before_initialized,
            },
            SessionMsg::Log(line) => SubscriberMsg::Log(line),
            SessionMsg::Describe(reply) => SubscriberMsg::Describe(reply),
            other => return Err(other),
        })
    }
}

/// One open `subscriptions/listen` stream, as its handler hands it over.
pub struct ListenStream {
    /// The task its request runs in, which marked its acceptance.
    pub task: Option<TaskId>,
    pub sink: Arc<dyn NoticeSink>,
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

pub struct SessionArgs {
    pub registry: RegistryHandle,
    /// Cancels the rmcp service that serves this session's client.
    pub service: CancellationToken,
    /// Who sees what this session writes, and that it ended.
    pub watch: Watch,
    /// How it writes its notifications.
    pub style: NotifyStyle,
}

pub struct Session;

pub struct SessionState {
    registry: RegistryHandle,
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
    /// Started with the first log line (to the client's sink): most clients
    /// never ask for one.
    log_writer: Option<LogWriter>,
    /// Notifications written to this client, across all its destinations.
    sent: Arc<Written>,
    /// Where a scenario's notification before `initialized` goes.
    answering: Option<Arc<dyn NoticeSink>>,
    /// Spurious notifications that came before `initialized`: written right
    /// after it, as a change would be.
    spurious_before_initialized: [bool; 3],
}

mod writers;

use writers::{Destination, LogWriter, Written};

/// A listen stream the session writes to.
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

impl SessionState {
    /// What `GET /state` shows of this session.
    fn describe(&self) -> Value {
        let (client, protocol) = match &self.hello {
            Some((client, protocol)) => (client.clone(), Value::from(protocol.as_str())),
            None => (Value::Null, Value::Null),
        };
        json!({
            "client": client,
            "protocol": protocol,
            "initialized": self.client.is_some(),
            "listen_streams": self.streams.len(),
            "notifications": self.sent.describe(),
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
        args.registry.subscribe(&myself)?;
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
            log_writer: None,
            answering: None,
            spurious_before_initialized: [false; 3],
            sent: Arc::new(Written::new(args.style, session, args.watch)),
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
            SessionMsg::Initialized { sink } => {
                if state.client.is_some() {
                    tracing::debug!("client sent notifications/initialized twice; ignored");
                    return Ok(());
                }
                let mut client = Destination::new(sink, [true; 3], Arc::clone(&state.sent));
                for list in ListKind::ALL {
                    if std::mem::take(&mut state.changed_before_initialized[list.index()]) {
                        client.list_changed(list);
                    }
                }
                for list in ListKind::ALL {
                    if std::mem::take(&mut state.spurious_before_initialized[list.index()]) {
                        client.spurious(list);
                    }
                }
                state.client = Some(client);
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
                if let Some(client) = &state.client {
                    state
                        .log_writer
                        .get_or_insert_with(|| LogWriter::start(Arc::clone(client.sink())))
                        .write(line);
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
                    Destination::new(stream.sink, stream.lists, Arc::clone(&state.sent));
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
            SessionMsg::Answering(sink) => state.answering = Some(sink),
            SessionMsg::Spurious {
                list,
                before_initialized: true,
            } => {
                if let (None, Some(sink)) = (&state.client, &state.answering) {
                    state.sent.spurious(sink, list);
                }
            }
            SessionMsg::Spurious { list, .. } => {
                if state.client.is_none() {
                    state.spurious_before_initialized[list.index()] = true;
                }
                let destinations = state
                    .client
                    .iter()
                    .chain(state.streams.values().map(|s| &s.destination));
                for destination in destinations {
                    destination.spurious(list);
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
        let _ = state.registry.unsubscribe(myself.get_id());
        // End the listen streams before stopping the service: rmcp's drain
        // waits for every running handler, and a listen handler runs until
        // its stream ends.
        state.streams.clear();
        state.service.cancel();
        state.client.take();
        state.log_writer.take();
        state.sent.closed();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::future::BoxFuture;
    use ractor::call;
    use tokio::sync::mpsc;

    use super::super::registry::RegistryArgs;
    use super::writers::ExactWriter;
    use super::*;
    use crate::notice::{Coalesce, Notice};
    use crate::observe::{Cause, Event};

    const TIMEOUT: Duration = Duration::from_secs(10);
    /// How long a test listens for a notification that must not come.
    const QUIET: Duration = Duration::from_millis(200);

    struct Fixture {
        registry: RegistryHandle,
        session: ActorRef<SessionMsg>,
        service: CancellationToken,
    }

    impl Fixture {
        async fn start() -> Self {
            Self::with(NotifyStyle::default(), Watch::default()).await
        }

        async fn with(style: NotifyStyle, watch: Watch) -> Self {
            let (registry, _) = RegistryHandle::spawn(RegistryArgs::tools(1)).await.unwrap();
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
                .submit(crate::catalog::Change::add_tool())
                .unwrap();
            self.registry.snapshot().await.unwrap();
        }

        /// Add `n` tools in one change (as `count: n` does), and wait until
        /// the session has taken every `ListChanged`.
        async fn add_tools(&self, n: usize) {
            let request = crate::catalog::ChangeRequest::new(crate::catalog::ChangeKind::AddTool);
            let change = crate::catalog::Change::try_from(request.count(n)).unwrap();
            self.registry.submit(change).unwrap();
            self.registry.snapshot().await.unwrap();
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
            let sink = Arc::new(Gated {
                permits: Arc::clone(&gate),
                begun: begun_tx,
                done: done_tx,
            });
            let end = CancellationToken::new();
            let task = task_id().await;
            let stream = ListenStream {
                task: Some(task),
                sink,
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
            let sink = Arc::new(ToolChanges(tx));
            let end = CancellationToken::new();
            let stream = ListenStream {
                task: Some(task),
                sink,
                lists: [tools, false, false],
                resources: HashSet::new(),
                closed: CancellationToken::new(),
                end: end.clone().drop_guard(),
            };
            (stream, rx, end)
        }

        async fn stop(self) {
            self.session.stop_and_wait(None, None).await.unwrap();
            self.registry
                .actor()
                .stop_and_wait(None, None)
                .await
                .unwrap();
        }
    }

    /// A sink whose writes each wait for a permit: `begun` hears of each
    /// write as it begins, `done` of each as it is done.
    struct Gated {
        permits: Arc<tokio::sync::Semaphore>,
        begun: mpsc::UnboundedSender<()>,
        done: mpsc::UnboundedSender<Notice>,
    }

    impl NoticeSink for Gated {
        fn notify(&self, notice: Notice) -> BoxFuture<'_, bool> {
            Box::pin(async move {
                let _ = self.begun.send(());
                self.permits.acquire().await.unwrap().forget();
                self.done.send(notice).is_ok()
            })
        }

        fn log(&self, _: LoggingMessageNotificationParam) -> BoxFuture<'_, bool> {
            unreachable!("a listen stream gets no log lines")
        }
    }

    /// A sink of tool changes only, each heard on the receiver.
    struct ToolChanges(mpsc::UnboundedSender<()>);

    impl NoticeSink for ToolChanges {
        fn notify(&self, notice: Notice) -> BoxFuture<'_, bool> {
            assert_eq!(notice, Notice::ListChanged(ListKind::Tools));
            Box::pin(std::future::ready(self.0.send(()).is_ok()))
        }

        fn log(&self, _: LoggingMessageNotificationParam) -> BoxFuture<'_, bool> {
            unreachable!("a listen stream gets no log lines")
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

    /// Issue 20: a change at the instant a listen stream's session opens
    /// (the Registry has subscribed it, the handler has not yet shown the
    /// client's hello, which it does only once rmcp hands it the stream) is
    /// in that session's changes in the report, since the stream is told of
    /// it. The report's session used to begin at the hello, after the change.
    #[tokio::test]
    async fn a_change_as_a_listen_session_opens_is_in_its_report() {
        use crate::actors::registry::Audience;
        use crate::observe::{Origin, Watcher};
        use crate::report::recorder::{Recorder, RecorderArgs, RecorderMsg, Recording};

        let start = std::time::Instant::now();
        let recorder = RecorderArgs { path: None, start };
        let (recorder, _) = Actor::spawn(None, Recorder, recorder).await.unwrap();
        let watch = Watch::new(vec![Recording::new(&recorder) as Arc<dyn Watcher>]);
        let registry = RegistryArgs {
            watch: watch.clone(),
            ..RegistryArgs::tools(1)
        };
        let (registry, _) = RegistryHandle::spawn(registry).await.unwrap();
        let args = SessionArgs {
            registry: registry.clone(),
            service: CancellationToken::new(),
            watch: watch.clone(),
            style: NotifyStyle::default(),
        };
        // As `accepted_subscription_filter`: the session starts and is
        // marked with the acceptance.
        let (session, _) = Actor::spawn(None, Session, args).await.unwrap();
        let task = task_id().await;
        session.cast(SessionMsg::ListenAccepted(task)).unwrap();
        // Subscribed: the Registry took the session's subscription (sent as
        // it started) before this.
        registry.snapshot().await.unwrap();
        registry
            .apply(crate::catalog::Change::add_tool(), Audience::All)
            .await
            .unwrap();
        // As `listen`, once rmcp has sent the acknowledgment: the hello,
        // then the stream.
        let key = session.get_id().pid();
        watch
            .see(|| Event::Hello {
                session: Origin::Session(key),
                name: "listener".into(),
                version: "1".into(),
                protocol: "2026-07-28".into(),
            })
            .await;
        let (stream, mut rx, _end) = Fixture::stream(task, true);
        session.cast(SessionMsg::Listen(stream)).unwrap();
        // Told of the change: the writer shows it to the recorder as it
        // returns from the write.
        one_notification(&mut rx).await;

        let report = call!(recorder, RecorderMsg::Report).unwrap();
        let entry = report["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["id"].as_str() == Some(key.to_string().as_str()))
            .unwrap_or_else(|| panic!("the session's entry: {report:#}"));
        let versions: Vec<&Value> = entry["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|change| &change["version"])
            .collect();
        assert_eq!(versions, [&json!(2)], "{report:#}");
        assert_eq!(entry["summary"]["seen"], 1, "{report:#}");
        session.stop_and_wait(None, None).await.unwrap();
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
