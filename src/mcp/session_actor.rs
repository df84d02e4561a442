//! A handler's Session actor: there from the start (stdio), or spawned when
//! a request first needs it (HTTP), and stopped with the last copy of the
//! handler.

use std::sync::Mutex;

use ractor::ActorRef;
use rmcp::ErrorData as McpError;

use super::SpawnSession;
use super::errors::shutting_down;
use crate::actors::session::SessionMsg;
use crate::observe::SessionKey;

/// The Session actor of one handler and its copies, spawned on demand if it
/// is not running from the start. Stops it when dropped.
pub(super) struct LazySessionActor {
    actor: Mutex<Option<ActorRef<SessionMsg>>>,
    spawn: Option<SpawnSession>,
}

impl LazySessionActor {
    /// A Session actor that is already running.
    pub(super) fn running(actor: ActorRef<SessionMsg>) -> Self {
        Self {
            actor: Mutex::new(Some(actor)),
            spawn: None,
        }
    }

    /// A Session actor that `spawn` starts on first use.
    pub(super) fn on_demand(spawn: SpawnSession) -> Self {
        Self {
            actor: Mutex::new(None),
            spawn: Some(spawn),
        }
    }

    /// The actor, spawned if need be; an error once the server is stopping.
    pub(super) fn get(&self) -> Result<ActorRef<SessionMsg>, McpError> {
        let mut actor = self.actor.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(actor) = &*actor {
            return Ok(actor.clone());
        }
        let spawned = self
            .spawn
            .as_ref()
            .and_then(|spawn| spawn().ok())
            .ok_or_else(shutting_down)?;
        *actor = Some(spawned.clone());
        Ok(spawned)
    }

    /// The Session's key for the watchers, if it runs; never spawns one.
    pub(super) fn key(&self) -> Option<SessionKey> {
        let actor = self.actor.lock().unwrap_or_else(|e| e.into_inner());
        actor.as_ref().map(|actor| actor.get_id().pid())
    }

    /// Send `message` to the Session, spawning it if need be.
    pub(super) fn cast(&self, message: SessionMsg) -> Result<(), McpError> {
        self.get()?.cast(message).map_err(|_| shutting_down())
    }
}

impl Drop for LazySessionActor {
    fn drop(&mut self) {
        let actor = self.actor.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(actor) = actor {
            actor.stop(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use ractor::{ActorRuntime, SpawnErr};
    use tokio::task::JoinHandle;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::actors::registry::{RegistryArgs, RegistryHandle};
    use crate::actors::session::{Session, SessionArgs};
    use crate::observe::Watch;

    const TIMEOUT: Duration = Duration::from_secs(10);

    type Started = JoinHandle<Result<JoinHandle<()>, SpawnErr>>;

    /// A registry, and a spawner of Session actors subscribed to it that
    /// counts its spawns and keeps each one's handle.
    async fn spawner() -> (
        RegistryHandle,
        SpawnSession,
        Arc<AtomicUsize>,
        Arc<Mutex<Vec<Started>>>,
    ) {
        let (registry, _) = RegistryHandle::spawn(RegistryArgs::tools(1)).await.unwrap();
        let spawns = Arc::new(AtomicUsize::new(0));
        let started: Arc<Mutex<Vec<Started>>> = Arc::default();
        let spawn: SpawnSession = {
            let (registry, spawns, started) =
                (registry.clone(), Arc::clone(&spawns), Arc::clone(&started));
            Arc::new(move || {
                spawns.fetch_add(1, Ordering::Relaxed);
                let args = SessionArgs {
                    registry: registry.clone(),
                    service: CancellationToken::new(),
                    watch: Watch::default(),
                    style: Default::default(),
                };
                let (actor, handle) = ActorRuntime::spawn_instant(None, Session, args)?;
                started.lock().unwrap().push(handle);
                Ok(actor)
            })
        };
        (registry, spawn, spawns, started)
    }

    #[tokio::test]
    async fn an_on_demand_actor_is_spawned_once_at_first_use_and_stopped_with_the_last_copy() {
        let (registry, spawn, spawns, started) = spawner().await;
        let lazy = LazySessionActor::on_demand(spawn);
        assert_eq!(lazy.key(), None, "asking for the key spawns nothing");
        assert_eq!(spawns.load(Ordering::Relaxed), 0);

        let actor = lazy.get().unwrap();
        assert_eq!(lazy.get().unwrap().get_id(), actor.get_id());
        lazy.cast(SessionMsg::Subscribe("test://x".into())).unwrap();
        assert_eq!(spawns.load(Ordering::Relaxed), 1);
        assert_eq!(lazy.key(), Some(actor.get_id().pid()));

        drop(lazy);
        let handle = started.lock().unwrap().pop().unwrap();
        let stopped = handle.await.unwrap().unwrap();
        tokio::time::timeout(TIMEOUT, stopped)
            .await
            .expect("dropping the last copy stops the Session")
            .unwrap();
        registry.actor().stop_and_wait(None, None).await.unwrap();
    }

    #[tokio::test]
    async fn a_running_actor_is_never_respawned() {
        let (registry, spawn, spawns, _) = spawner().await;
        let actor = spawn().unwrap();
        let running = LazySessionActor::running(actor.clone());
        assert_eq!(running.key(), Some(actor.get_id().pid()));
        assert_eq!(running.get().unwrap().get_id(), actor.get_id());
        assert_eq!(spawns.load(Ordering::Relaxed), 1);
        drop(running);
        registry.actor().stop_and_wait(None, None).await.unwrap();
    }

    #[tokio::test]
    async fn a_spawn_refused_at_shutdown_is_the_shutting_down_error() {
        let spawn: SpawnSession = Arc::new(|| Err(SpawnErr::ActorAlreadyStarted));
        let lazy = LazySessionActor::on_demand(spawn);
        let error = lazy
            .cast(SessionMsg::Unsubscribe("test://x".into()))
            .unwrap_err();
        assert_eq!(error, shutting_down());
        assert_eq!(lazy.key(), None);
    }
}
