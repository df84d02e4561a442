//! The Session actor: one per connected client. It owns the client's rmcp
//! [`Peer`] once the client is initialized, and turns the registry's change
//! messages into `notifications/tools/list_changed`.
//!
//! Two rules shape it. A change before the client's `notifications/initialized`
//! is remembered and notified right after it. And while one notification is
//! being written, any number of further changes fold into exactly one more: the
//! writer task waits on a [`Notify`], which holds at most one permit.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use rmcp::{Peer, RoleServer};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::registry::RegistryMsg;

pub enum SessionMsg {
    /// The registry's tool list changed.
    ToolsChanged,
    /// The client sent `notifications/initialized`; notifications may flow.
    Initialized(Peer<RoleServer>),
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
                let writer = NotificationWriter::start(peer);
                if std::mem::take(&mut state.changed_before_initialized) {
                    writer.wake.notify_one();
                }
                state.writer = Some(writer);
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
        Ok(())
    }
}
