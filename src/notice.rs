//! What a session tells its client when the server's lists change, and the
//! ways it can reach the client.
//!
//! A [`Notice`] is the notification itself, whatever carries it; the one
//! mapping to rmcp's [`ServerNotification`] is its `From` impl, so the
//! handshake peer, a listen stream and an HTTP session's GET stream write
//! the same message. A [`NoticeSink`] is one way to a client: rmcp's
//! [`Peer`] after the handshake (stdio, or an HTTP session's service loop),
//! a 2026-07-28 `subscriptions/listen` stream's [`SubscriptionSink`], and an
//! HTTP session's GET stream written directly (in [`crate::http::sessions`]).
//! [`NotifyStyle`] says how a session writes them: folded or one per change,
//! once or twice.
//!
//! This module is vocabulary only: it imports no actor, so the hostile
//! knobs, the watchers and the command line can name these types.

#![allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it

use futures::future::BoxFuture;
use rmcp::model::{
    LoggingMessageNotificationParam, PromptListChangedNotification,
    ResourceListChangedNotification, ResourceUpdatedNotification, ResourceUpdatedNotificationParam,
    ServerNotification, ToolListChangedNotification,
};
use rmcp::service::SubscriptionSink;
use rmcp::{Peer, RoleServer};

use crate::catalog::ListKind;

/// A notification a session sends, whatever carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `notifications/{tools,prompts,resources}/list_changed`.
    ListChanged(ListKind),
    /// `notifications/resources/updated` for this URI.
    ResourceUpdated(String),
}

impl From<Notice> for ServerNotification {
    /// The notification as rmcp's peer and listen sink would build it.
    fn from(notice: Notice) -> Self {
        match notice {
            Notice::ListChanged(ListKind::Tools) => {
                ServerNotification::ToolListChangedNotification(
                    ToolListChangedNotification::default(),
                )
            }
            Notice::ListChanged(ListKind::Prompts) => {
                ServerNotification::PromptListChangedNotification(
                    PromptListChangedNotification::default(),
                )
            }
            Notice::ListChanged(ListKind::Resources) => {
                ServerNotification::ResourceListChangedNotification(
                    ResourceListChangedNotification::default(),
                )
            }
            Notice::ResourceUpdated(uri) => ServerNotification::ResourceUpdatedNotification(
                ResourceUpdatedNotification::new(ResourceUpdatedNotificationParam::new(uri)),
            ),
        }
    }
}

/// One way to a client: writes a notification or a log line and says
/// whether the client is still there.
///
/// A session holds its sinks as `Arc<dyn NoticeSink>`, since one session has
/// sinks of different kinds. Each write is one boxed future, as a boxed
/// closure's was: an HTTP change sends one notification per session, so a
/// write costs no more than that.
pub trait NoticeSink: Send + Sync + 'static {
    /// Write `notice`; false once the client is gone.
    fn notify(&self, notice: Notice) -> BoxFuture<'_, bool>;

    /// Write one log line (`notifications/message`); false once the client
    /// is gone. Only a handshake client is sent log lines.
    fn log(&self, line: LoggingMessageNotificationParam) -> BoxFuture<'_, bool>;
}

/// A handshake client, through rmcp's peer.
impl NoticeSink for Peer<RoleServer> {
    fn notify(&self, notice: Notice) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.send_notification(notice.into()).await.is_ok() })
    }

    fn log(&self, line: LoggingMessageNotificationParam) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.notify_logging_message(line).await.is_ok() })
    }
}

/// A 2026-07-28 `subscriptions/listen` stream: rmcp's sink adds the
/// subscription's id to each notification.
impl NoticeSink for SubscriptionSink {
    fn notify(&self, notice: Notice) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.send(notice.into()).await.is_ok() })
    }

    /// A listen stream carries no log lines (rmcp refuses
    /// `notifications/message` on it), and a session never sends it one.
    fn log(&self, _line: LoggingMessageNotificationParam) -> BoxFuture<'_, bool> {
        Box::pin(std::future::ready(false))
    }
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

#[cfg(test)]
mod tests {
    use rmcp::model::ServerJsonRpcMessage;
    use serde_json::{Value, json};

    use super::*;

    /// The JSON-RPC message a client reads for `notice`.
    fn wire(notice: Notice) -> Value {
        let message = ServerJsonRpcMessage::notification(notice.into());
        serde_json::to_value(message).unwrap()
    }

    #[test]
    fn each_list_change_is_its_lists_list_changed_without_params() {
        for (list, method) in [
            (ListKind::Tools, "notifications/tools/list_changed"),
            (ListKind::Prompts, "notifications/prompts/list_changed"),
            (ListKind::Resources, "notifications/resources/list_changed"),
        ] {
            assert_eq!(
                wire(Notice::ListChanged(list)),
                json!({ "jsonrpc": "2.0", "method": method })
            );
        }
    }

    #[test]
    fn a_resource_update_names_its_uri() {
        assert_eq!(
            wire(Notice::ResourceUpdated("test://resource/1".into())),
            json!({
                "jsonrpc": "2.0",
                "method": "notifications/resources/updated",
                "params": { "uri": "test://resource/1" },
            })
        );
    }

    #[test]
    fn coalesce_is_spelled_as_on_the_command_line() {
        for coalesce in [Coalesce::On, Coalesce::Off] {
            let value = clap::ValueEnum::to_possible_value(&coalesce).unwrap();
            assert_eq!(value.get_name(), coalesce.as_str());
            assert_eq!(serde_json::to_value(coalesce).unwrap(), coalesce.as_str());
        }
    }
}
