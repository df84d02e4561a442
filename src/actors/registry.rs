//! The Registry actor: sole owner of the tool list.
//!
//! It grows the list by one tool per [`RegistryMsg::AddTool`], hands out
//! immutable snapshots for `tools/list` and `tools/call`, and tells every
//! subscribed session that the list changed.
//!
//! Its subscribers are the live sessions, so it is also what counts them: over
//! HTTP it logs each session that opens or closes with the number still open.
//! It sends those lines and "tool added" as `notifications/message` to the
//! sessions whose client asked for log messages with `logging/setLevel`.

#![allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, Tool};
use serde_json::{Value, json};

use super::session::SessionMsg;
use crate::tools;

/// An immutable view of the tool list at one moment: tool `k` is at index
/// `k - 1`, and the length is the tool count.
pub type ToolList = Arc<Vec<Tool>>;

pub enum RegistryMsg {
    /// Add the next tool and tell the subscribers: what a SIGHUP does.
    AddTool,
    /// Reply with the current tool list.
    Snapshot(RpcReplyPort<ToolList>),
    /// Tell this session about every change from now on.
    Subscribe(ActorRef<SessionMsg>),
    /// Stop telling this session.
    Unsubscribe(ActorId),
    /// This session's client sent `logging/setLevel`: send it our log lines
    /// at this level and above from now on.
    SetLogLevel(ActorId, LoggingLevel),
}

pub struct Registry;

pub struct RegistryArgs {
    /// The initial tool count.
    pub tools: usize,
    /// Log each session that opens or closes on stderr: the point with many
    /// HTTP clients, noise before stdio's one client (and before a start-up
    /// error, which must stay the only line).
    pub log_sessions: bool,
}

pub struct RegistryState {
    /// Shared with readers; `AddTool` appends in place unless a reader still
    /// holds the previous snapshot, in which case it copies once.
    tools: ToolList,
    subscribers: Vec<ActorRef<SessionMsg>>,
    /// Only the sessions whose client asked for log messages: the others never
    /// get one.
    log_levels: HashMap<ActorId, LoggingLevel>,
    log_sessions: bool,
}

impl RegistryState {
    /// Send a log line at info level to every session that asked for it.
    fn log_to_clients(&self, data: Value) {
        if self.log_levels.is_empty() {
            return;
        }
        let line = LoggingMessageNotificationParam::new(LoggingLevel::Info, data)
            .with_logger(env!("CARGO_PKG_NAME"));
        for session in &self.subscribers {
            if let Some(&level) = self.log_levels.get(&session.get_id())
                && severity(level) <= severity(LoggingLevel::Info)
            {
                let _ = session.cast(SessionMsg::Log(line.clone()));
            }
        }
    }

    fn session_closed(&mut self, id: ActorId) {
        self.log_levels.remove(&id);
        let sessions = self.subscribers.len();
        if self.log_sessions {
            tracing::info!(sessions, "session closed");
        }
        self.log_to_clients(json!({ "message": "session closed", "sessions": sessions }));
    }
}

/// MCP's log levels in rising order of severity (RFC 5424's, reversed).
fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

impl Actor for Registry {
    type Msg = RegistryMsg;
    type State = RegistryState;
    type Arguments = RegistryArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: RegistryArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RegistryState {
            tools: Arc::new((1..=args.tools).map(tools::definition).collect()),
            subscribers: Vec::new(),
            log_levels: HashMap::new(),
            log_sessions: args.log_sessions,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RegistryMsg::AddTool => {
                let list = Arc::make_mut(&mut state.tools);
                let k = list.len() + 1;
                list.push(tools::definition(k));
                // Tell the sessions before logging: the notification is the hot path.
                let mut gone = Vec::new();
                state.subscribers.retain(|session| {
                    let told = session.cast(SessionMsg::ToolsChanged).is_ok();
                    if !told {
                        gone.push(session.get_id());
                    }
                    told
                });
                let tool = list[k - 1].name.to_string();
                tracing::info!(%tool, tools = k, "tool added");
                state.log_to_clients(json!({ "message": "tool added", "tool": tool, "tools": k }));
                for id in gone {
                    state.session_closed(id);
                }
            }
            RegistryMsg::Snapshot(reply) => {
                // A caller that gave up waiting is no error of ours.
                let _ = reply.send(Arc::clone(&state.tools));
            }
            RegistryMsg::Subscribe(session) => {
                state.subscribers.push(session);
                let sessions = state.subscribers.len();
                if state.log_sessions {
                    tracing::info!(sessions, "session opened");
                }
                state.log_to_clients(json!({ "message": "session opened", "sessions": sessions }));
            }
            RegistryMsg::Unsubscribe(id) => {
                let before = state.subscribers.len();
                state.subscribers.retain(|s| s.get_id() != id);
                // Already gone if a notification found it stopped.
                if state.subscribers.len() < before {
                    state.session_closed(id);
                }
            }
            RegistryMsg::SetLogLevel(id, level) => {
                if state.subscribers.iter().any(|s| s.get_id() == id) {
                    state.log_levels.insert(id, level);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ractor::call;

    use super::*;

    fn args(tools: usize) -> RegistryArgs {
        RegistryArgs {
            tools,
            log_sessions: false,
        }
    }

    async fn snapshot(registry: &ActorRef<RegistryMsg>) -> ToolList {
        call!(registry, RegistryMsg::Snapshot).expect("registry answers")
    }

    fn names(list: &ToolList) -> Vec<String> {
        list.iter().map(|t| t.name.to_string()).collect()
    }

    #[tokio::test]
    async fn starts_with_the_initial_tools_and_grows_in_order() {
        let (registry, handle) = Actor::spawn(None, Registry, args(3)).await.unwrap();
        let before = snapshot(&registry).await;
        assert_eq!(names(&before), ["echo", "calculator", "counter"]);

        for _ in 0..3 {
            registry.cast(RegistryMsg::AddTool).unwrap();
        }
        let after = snapshot(&registry).await;
        assert_eq!(
            names(&after),
            ["echo", "calculator", "counter", "echo4", "echo5", "echo6"]
        );
        // A snapshot taken earlier is not changed by later additions.
        assert_eq!(before.len(), 3);

        registry.stop(None);
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn thousands_of_additions_stay_contiguous() {
        let (registry, handle) = Actor::spawn(None, Registry, args(1)).await.unwrap();
        for _ in 0..5000 {
            registry.cast(RegistryMsg::AddTool).unwrap();
        }
        let list = snapshot(&registry).await;
        assert_eq!(list.len(), 5001);
        for (i, tool) in list.iter().enumerate() {
            assert_eq!(tool.name, tools::name(i + 1));
        }
        registry.stop(None);
        handle.await.unwrap();
    }
}
