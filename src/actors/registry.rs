//! The Registry actor: sole owner of the tool list.
//!
//! It grows the list by one tool per [`RegistryMsg::AddTool`], hands out
//! immutable snapshots for `tools/list` and `tools/call`, and tells every
//! subscribed session that the list changed.

use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use rmcp::model::Tool;

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
}

pub struct Registry;

pub struct RegistryState {
    /// Shared with readers; `AddTool` appends in place unless a reader still
    /// holds the previous snapshot, in which case it copies once.
    tools: ToolList,
    subscribers: Vec<ActorRef<SessionMsg>>,
}

impl Actor for Registry {
    type Msg = RegistryMsg;
    type State = RegistryState;
    /// The initial tool count.
    type Arguments = usize;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        initial_count: usize,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RegistryState {
            tools: Arc::new((1..=initial_count).map(tools::definition).collect()),
            subscribers: Vec::new(),
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
                state
                    .subscribers
                    .retain(|session| session.cast(SessionMsg::ToolsChanged).is_ok());
                tracing::info!(tool = %list[k - 1].name, tools = k, "tool added");
            }
            RegistryMsg::Snapshot(reply) => {
                // A caller that gave up waiting is no error of ours.
                let _ = reply.send(Arc::clone(&state.tools));
            }
            RegistryMsg::Subscribe(session) => state.subscribers.push(session),
            RegistryMsg::Unsubscribe(id) => state.subscribers.retain(|s| s.get_id() != id),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ractor::call;

    use super::*;

    async fn snapshot(registry: &ActorRef<RegistryMsg>) -> ToolList {
        call!(registry, RegistryMsg::Snapshot).expect("registry answers")
    }

    fn names(list: &ToolList) -> Vec<String> {
        list.iter().map(|t| t.name.to_string()).collect()
    }

    #[tokio::test]
    async fn starts_with_the_initial_tools_and_grows_in_order() {
        let (registry, handle) = Actor::spawn(None, Registry, 3).await.unwrap();
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
        let (registry, handle) = Actor::spawn(None, Registry, 1).await.unwrap();
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
