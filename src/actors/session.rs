//! The Session actor: one per connected client. It owns everything that turns
//! the registry's change messages into `notifications/tools/list_changed`:
//! the rmcp [`Peer`] of a handshake client once it is initialized, and the
//! `subscriptions/listen` streams of a 2026-07-28 client.
//!
//! Three rules shape it. A change before a handshake client's
//! `notifications/initialized` is remembered and notified right after it. A
//! change after rmcp accepted a listen stream, but before the stream reached
//! this actor, is notified as soon as it does: rmcp acknowledges the stream
//! before the handler sees it, so the handler marks the acceptance here first
//! ([`SessionMsg::ListenAccepted`]), recording the change count at that moment.
//! And while one notification is being written to a destination, any number of
//! further changes fold into exactly one more: each destination's writer task
//! waits on a [`Notify`], which holds at most one permit.
//!
//! Dropping a listen stream's entry ends the stream: the listen handler is
//! waiting on the entry's token and returns, so rmcp sends the final result.
//! This is how shutdown ends every stream before rmcp's drain would wait on it.
//!
//! Log lines (`notifications/message`) reach a session only if its client
//! asked for them with `logging/setLevel`; unlike changes they do not fold.

#![allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::{Peer, RoleServer};
use tokio::sync::{Notify, mpsc};
use tokio::task::{Id as TaskId, JoinHandle};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::registry::RegistryMsg;

pub enum SessionMsg {
    /// The registry's tool list changed.
    ToolsChanged,
    /// The client sent `notifications/initialized`; notifications may flow.
    Initialized(Peer<RoleServer>),
    /// Replies once the session has started, and so has subscribed: a client
    /// answered after this misses no change.
    Started(RpcReplyPort<()>),
    /// A log line for a client that asked for log messages.
    Log(LoggingMessageNotificationParam),
    /// rmcp accepted a `subscriptions/listen` request handled in this task and
    /// is about to acknowledge it.
    ListenAccepted(TaskId),
    /// The acknowledged stream, handed over by its listen handler.
    Listen(ListenStream),
    /// A listen stream's request ended: the client cancelled it or left.
    ListenClosed(u64),
}

/// Writes one `notifications/tools/list_changed` to one destination, and
/// says whether the destination is still there.
pub type SendListChanged = Box<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// One open `subscriptions/listen` stream, as its handler hands it over.
pub struct ListenStream {
    /// The task its request runs in, which marked its acceptance.
    pub task: Option<TaskId>,
    /// `None` when the client did not ask for tool-list changes.
    pub send: Option<SendListChanged>,
    /// Cancelled when the client ends the request.
    pub closed: CancellationToken,
    /// Ends the stream when dropped: the handler waits for it. Part of the
    /// message so that a session that stops before taking the stream still
    /// ends it.
    pub end: DropGuard,
}

pub struct SessionArgs {
    pub registry: ActorRef<RegistryMsg>,
    /// Cancels the rmcp service that serves this session's client.
    pub service: CancellationToken,
}

pub struct Session;

pub struct SessionState {
    registry: ActorRef<RegistryMsg>,
    service: CancellationToken,
    /// Changes seen so far; listen marks compare against it.
    changes: u64,
    /// A change arrived before the handshake client was initialized.
    changed_before_initialized: bool,
    /// Present once a handshake client is initialized.
    writer: Option<NotificationWriter>,
    /// `changes` when rmcp accepted a listen stream not yet handed over. A
    /// mark whose stream never comes (the acknowledgment could not be written:
    /// the client is gone) stays until the session ends.
    accepted: HashMap<TaskId, u64>,
    streams: HashMap<u64, OpenStream>,
    next_stream: u64,
    /// Kept for the log writer, which starts only with the first log line:
    /// most clients never ask for one.
    peer: Option<Peer<RoleServer>>,
    log_writer: Option<LogWriter>,
}

struct OpenStream {
    /// `None` for a stream that did not ask for tool-list changes.
    writer: Option<NotificationWriter>,
    /// Ends the stream when the entry is dropped, however the session stops.
    _end: DropGuard,
    closed_watch: JoinHandle<()>,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.closed_watch.abort();
    }
}

/// The task that writes notifications to one destination, one at a time.
struct NotificationWriter {
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl NotificationWriter {
    fn start(send: SendListChanged) -> Self {
        let wake = Arc::new(Notify::new());
        let woken = Arc::clone(&wake);
        let task = tokio::spawn(async move {
            loop {
                woken.notified().await;
                if !send().await {
                    tracing::debug!("notification destination gone; stopping its writer");
                    return;
                }
            }
        });
        Self { wake, task }
    }
}

impl Drop for NotificationWriter {
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

    fn start(peer: Peer<RoleServer>) -> Self {
        let (lines, mut queued) = mpsc::channel(Self::BACKLOG);
        let task = tokio::spawn(async move {
            while let Some(line) = queued.recv().await {
                if peer.notify_logging_message(line).await.is_err() {
                    return;
                }
            }
        });
        Self { lines, task }
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
        args.registry.cast(RegistryMsg::Subscribe(myself))?;
        Ok(SessionState {
            registry: args.registry,
            service: args.service,
            changes: 0,
            changed_before_initialized: false,
            writer: None,
            accepted: HashMap::new(),
            streams: HashMap::new(),
            next_stream: 0,
            peer: None,
            log_writer: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::ToolsChanged => {
                state.changes += 1;
                match &state.writer {
                    Some(writer) => writer.wake.notify_one(),
                    None => state.changed_before_initialized = true,
                }
                for writer in state.streams.values().filter_map(|s| s.writer.as_ref()) {
                    writer.wake.notify_one();
                }
            }
            SessionMsg::Initialized(peer) => {
                if state.writer.is_some() {
                    tracing::debug!("client sent notifications/initialized twice; ignored");
                    return Ok(());
                }
                let writer = NotificationWriter::start(Box::new({
                    let peer = peer.clone();
                    move || {
                        let peer = peer.clone();
                        Box::pin(async move { peer.notify_tool_list_changed().await.is_ok() })
                    }
                }));
                if std::mem::take(&mut state.changed_before_initialized) {
                    writer.wake.notify_one();
                }
                state.writer = Some(writer);
                state.peer = Some(peer);
            }
            SessionMsg::Started(reply) => {
                let _ = reply.send(());
            }
            // Before `notifications/initialized` a line has nowhere to go yet.
            SessionMsg::Log(line) => {
                if let Some(peer) = &state.peer {
                    let writer = state
                        .log_writer
                        .get_or_insert_with(|| LogWriter::start(peer.clone()));
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

                let writer = stream.send.map(NotificationWriter::start);
                // Changes since the acknowledgment: the client already counts
                // on them. (rmcp runs every handler in a task, so the mark is
                // there.)
                if let (Some(writer), Some(at)) = (&writer, accepted_at)
                    && state.changes > at
                {
                    writer.wake.notify_one();
                }
                let closed = stream.closed;
                let closed_watch = tokio::spawn(async move {
                    closed.cancelled().await;
                    let _ = myself.cast(SessionMsg::ListenClosed(key));
                });
                state.streams.insert(
                    key,
                    OpenStream {
                        writer,
                        _end: stream.end,
                        closed_watch,
                    },
                );
            }
            SessionMsg::ListenClosed(key) => {
                state.streams.remove(&key);
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
        state.writer.take();
        state.log_writer.take();
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
            let args = RegistryArgs {
                tools: 1,
                log_sessions: false,
            };
            let (registry, _) = Actor::spawn(None, Registry, args).await.unwrap();
            let service = CancellationToken::new();
            let args = SessionArgs {
                registry: registry.clone(),
                service: service.clone(),
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
            self.registry.cast(RegistryMsg::AddTool).unwrap();
            call!(self.registry, RegistryMsg::Snapshot).unwrap();
        }

        /// A listen stream whose notifications arrive on the receiver.
        fn stream(
            task: TaskId,
            tools: bool,
        ) -> (ListenStream, mpsc::UnboundedReceiver<()>, CancellationToken) {
            let (tx, rx) = mpsc::unbounded_channel();
            let send: SendListChanged = Box::new(move || {
                let tx = tx.clone();
                Box::pin(async move { tx.send(()).is_ok() })
            });
            let end = CancellationToken::new();
            let stream = ListenStream {
                task: Some(task),
                send: tools.then_some(send),
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

    async fn no_notification(rx: &mut mpsc::UnboundedReceiver<()>) {
        let extra = tokio::time::timeout(QUIET, rx.recv()).await;
        assert!(!matches!(extra, Ok(Some(()))), "no notification expected");
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
