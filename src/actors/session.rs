//! The Session actor: one per connected client. It owns the client's rmcp
//! [`Peer`] once the client is initialized, and turns the registry's change
//! messages into `notifications/tools/list_changed`.
//!
//! Two rules shape it. A change before the client's `notifications/initialized`
//! is remembered and notified right after it. And while one notification is
//! being written, any number of further changes fold into exactly one more: the
//! writer task waits on a [`Notify`], which holds at most one permit.
//!
//! Log lines (`notifications/message`) reach a session only if its client
//! asked for them with `logging/setLevel`; unlike changes they do not fold.

#![allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::{Peer, RoleServer};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
    /// A change arrived before the client was initialized.
    changed_before_initialized: bool,
    /// Present once the client is initialized.
    writer: Option<NotificationWriter>,
    /// Kept for the log writer, which starts only with the first log line:
    /// most clients never ask for one.
    peer: Option<Peer<RoleServer>>,
    log_writer: Option<LogWriter>,
}

/// The task that writes notifications to the client, one at a time.
struct NotificationWriter {
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl NotificationWriter {
    fn start(peer: Peer<RoleServer>) -> Self {
        let wake = Arc::new(Notify::new());
        let woken = Arc::clone(&wake);
        let task = tokio::spawn(async move {
            loop {
                woken.notified().await;
                if let Err(error) = peer.notify_tool_list_changed().await {
                    tracing::debug!(%error, "client gone; stopping its notifications");
                    return;
                }
            }
        });
        Self { wake, task }
    }
}

/// The task that writes log lines to the client, in order.
struct LogWriter {
    lines: mpsc::Sender<LoggingMessageNotificationParam>,
    task: JoinHandle<()>,
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
            changed_before_initialized: false,
            writer: None,
            peer: None,
            log_writer: None,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::ToolsChanged => match &state.writer {
                Some(writer) => writer.wake.notify_one(),
                None => state.changed_before_initialized = true,
            },
            SessionMsg::Initialized(peer) => {
                if state.writer.is_some() {
                    tracing::debug!("client sent notifications/initialized twice; ignored");
                    return Ok(());
                }
                let writer = NotificationWriter::start(peer.clone());
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
        state.service.cancel();
        if let Some(writer) = state.writer.take() {
            writer.task.abort();
        }
        if let Some(writer) = state.log_writer.take() {
            writer.task.abort();
        }
        Ok(())
    }
}
