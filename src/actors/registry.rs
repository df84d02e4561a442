//! The Registry actor: sole owner of the catalog (tools, prompts, resources).
//!
//! Every trigger (a signal, a control request, a trigger tool, a scenario
//! step, the in-process API) arrives here as one [`Change`], through a
//! [`RegistryHandle`]. The Registry applies it step by step and after each
//! step tells every subscriber which list changed, or which resource was
//! updated; the sessions turn that into notifications. Readers get immutable
//! snapshots ([`Catalog`]) for `*/list`, `tools/call`, `prompts/get` and
//! `resources/read`.
//!
//! It knows its subscribers only as actors that take [`SubscriberMsg`]: the
//! Session module depends on this one, never the other way round.
//!
//! Its subscribers are the live sessions, so it is also what counts them: over
//! HTTP it logs each session that opens or closes with the number still open.
//! It sends those lines and each change as `notifications/message` to the
//! sessions whose client asked for log messages with `logging/setLevel`.

#![allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, DerivedActorRef, RpcReplyPort,
    SpawnErr, call, call_t,
};
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::catalog::{Applied, Catalog, CatalogSize, Change, ChangeError, ListKind};
use crate::error::ServerError;
use crate::observe::{Event, SessionKey, Watch};

/// What a change's sender hears back: the catalog after every step, or why
/// nothing was changed.
type ChangeReply = RpcReplyPort<Result<Catalog, ChangeError>>;

/// The Registry's messages. Only [`RegistryHandle`] sends them.
pub enum RegistryMsg {
    /// Apply a change (`count` steps), telling the audience's subscribers
    /// after each step (the others miss it); reply, if asked, once all are
    /// applied.
    Apply {
        change: Change,
        audience: Audience,
        reply: Option<ChangeReply>,
    },
    /// A scenario's `list_changed` with no change behind it, to the
    /// audience's sessions (with `before_initialized`, only to those not yet
    /// initialized); replies with how many sessions were told.
    Notify {
        list: ListKind,
        before_initialized: bool,
        audience: Audience,
        reply: RpcReplyPort<usize>,
    },
    /// Reply with the current catalog.
    Snapshot(RpcReplyPort<Catalog>),
    /// Reply with the subscribers, for `GET /state`.
    Sessions(RpcReplyPort<Vec<Subscriber>>),
    /// Tell this subscriber about every change from now on.
    Subscribe(Subscriber),
    /// Stop telling this subscriber.
    Unsubscribe(ActorId),
    /// This session's client sent `logging/setLevel`: send it our log lines
    /// at this level and above from now on.
    SetLogLevel(ActorId, LoggingLevel),
}

/// What the Registry tells a subscriber (a Session), or asks it for `GET
/// /state`. Defined here, so that the Registry knows nothing of who
/// subscribes: a subscriber's own messages convert from these.
pub enum SubscriberMsg {
    /// One of the lists changed, `times` times in one change (a bulk change
    /// is one message per list, not one per step: its cost is its catalog's).
    ListChanged { list: ListKind, times: usize },
    /// A resource's contents changed, `times` times.
    ResourceUpdated { uri: String, times: usize },
    /// A scenario's `list_changed` with no change behind it: to the
    /// initialized client and the listen streams that want the list or, with
    /// `before_initialized`, only to a handshake client that has been
    /// answered `initialize` but has not sent `notifications/initialized`.
    Spurious {
        list: ListKind,
        before_initialized: bool,
    },
    /// A log line for a client that asked for log messages.
    Log(LoggingMessageNotificationParam),
    /// Reply with what `GET /state` shows of this subscriber.
    Describe(RpcReplyPort<Value>),
}

/// A subscriber as the Registry holds it: any actor whose messages convert
/// from [`SubscriberMsg`]. One reference each, no task: a server holds
/// 10,000 of them.
pub type Subscriber = DerivedActorRef<SubscriberMsg>;

/// Why a change was not applied: refused (the catalog is unchanged), or
/// there is no registry any more (the server is stopping).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("refused: {0}")]
    Refused(ChangeError),
    #[error("{0}")]
    Stopped(#[from] Stopped),
}

/// The Registry has stopped: the server is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the registry has stopped")]
pub struct Stopped;

impl From<ApplyError> for ServerError {
    fn from(error: ApplyError) -> Self {
        match error {
            ApplyError::Refused(refused) => ServerError::Refused(refused),
            ApplyError::Stopped(Stopped) => ServerError::Stopped,
        }
    }
}

impl From<Stopped> for ServerError {
    fn from(Stopped: Stopped) -> Self {
        ServerError::Stopped
    }
}

/// The way to the Registry: every trigger (a signal, a control request, a
/// trigger tool, a scenario step, the in-process API) and every session
/// talks to it through one of these.
#[derive(Clone)]
pub struct RegistryHandle {
    actor: ActorRef<RegistryMsg>,
}

impl RegistryHandle {
    /// A Registry of its own, for tests and benchmarks; a server's is spawned
    /// under its supervisor.
    pub async fn spawn(args: RegistryArgs) -> Result<(Self, JoinHandle<()>), SpawnErr> {
        let (actor, running) = Actor::spawn(None, Registry, args).await?;
        Ok((Self { actor }, running))
    }

    /// Apply `change`, telling `audience`, and wait: the catalog once every
    /// step is applied and the subscribers told.
    pub async fn apply(&self, change: Change, audience: Audience) -> Result<Catalog, ApplyError> {
        call!(self.actor, |reply| RegistryMsg::Apply {
            change,
            audience,
            reply: Some(reply),
        })
        .map_err(|_| Stopped)?
        .map_err(ApplyError::Refused)
    }

    /// Apply `change` for every subscriber without waiting for it (what a
    /// signal does: nobody waits on a signal). Callable from any thread.
    pub fn submit(&self, change: Change) -> Result<(), Stopped> {
        let apply = RegistryMsg::Apply {
            change,
            audience: Audience::All,
            reply: None,
        };
        self.actor.cast(apply).map_err(|_| Stopped)
    }

    /// A `list_changed` of `list` with no change behind it, to `audience`
    /// (with `before_initialized`, only to the sessions that are not yet
    /// initialized); how many sessions were told.
    pub async fn notify_spurious(
        &self,
        list: ListKind,
        before_initialized: bool,
        audience: Audience,
    ) -> Result<usize, Stopped> {
        call!(self.actor, |reply| RegistryMsg::Notify {
            list,
            before_initialized,
            audience,
            reply,
        })
        .map_err(|_| Stopped)
    }

    /// The current catalog.
    pub async fn snapshot(&self) -> Result<Catalog, Stopped> {
        call!(self.actor, RegistryMsg::Snapshot).map_err(|_| Stopped)
    }

    /// Tell `subscriber` about every change from now on, until it stops or
    /// unsubscribes.
    pub fn subscribe<M>(&self, subscriber: &ActorRef<M>) -> Result<(), Stopped>
    where
        M: ractor::Message + From<SubscriberMsg>,
        SubscriberMsg: TryFrom<M>,
    {
        let subscriber = subscriber.get_derived();
        self.actor
            .cast(RegistryMsg::Subscribe(subscriber))
            .map_err(|_| Stopped)
    }

    /// Stop telling the subscriber `id`.
    pub fn unsubscribe(&self, id: ActorId) -> Result<(), Stopped> {
        self.actor
            .cast(RegistryMsg::Unsubscribe(id))
            .map_err(|_| Stopped)
    }

    /// Send the subscriber `id` our log lines at `level` and above.
    pub fn set_log_level(&self, id: ActorId, level: LoggingLevel) -> Result<(), Stopped> {
        self.actor
            .cast(RegistryMsg::SetLogLevel(id, level))
            .map_err(|_| Stopped)
    }

    /// What each subscriber shows of itself for `GET /state`, asked of all at
    /// once; `None` for one that did not answer within `timeout` (a session
    /// stuck behind a client that does not read must not hold up the rest).
    pub async fn describe_sessions(
        &self,
        timeout: Duration,
    ) -> Result<Vec<Option<Value>>, Stopped> {
        let subscribers = call!(self.actor, RegistryMsg::Sessions).map_err(|_| Stopped)?;
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let described = subscribers
            .iter()
            .map(async |subscriber| call_t!(subscriber, SubscriberMsg::Describe, ms).ok());
        Ok(futures::future::join_all(described).await)
    }

    /// The actor itself, to stop it or to see it fail.
    pub fn actor(&self) -> ActorCell {
        self.actor.get_cell()
    }
}

/// The handle of a Registry spawned under a supervisor.
impl From<ActorRef<RegistryMsg>> for RegistryHandle {
    fn from(actor: ActorRef<RegistryMsg>) -> Self {
        Self { actor }
    }
}

pub struct Registry;

/// Which sessions hear of a change: every one, or only these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Audience {
    #[default]
    All,
    Only(HashSet<SessionKey>),
}

impl Audience {
    fn includes(&self, subscriber: &Subscriber) -> bool {
        match self {
            Audience::All => true,
            Audience::Only(keys) => keys.contains(&subscriber.get_id().pid()),
        }
    }
}

pub struct RegistryArgs {
    /// The initial size of each list.
    pub size: CatalogSize,
    /// Log each session that opens or closes on stderr: the point with many
    /// HTTP clients, noise before stdio's one client (and before a start-up
    /// error, which must stay the only line).
    pub log_sessions: bool,
    /// Who sees each change applied.
    pub watch: Watch,
}

impl RegistryArgs {
    /// `tools` tools, no prompts, no resources, sessions not logged, no
    /// watchers.
    pub fn tools(tools: usize) -> Self {
        Self {
            size: CatalogSize {
                tools,
                prompts: None,
                resources: None,
            },
            log_sessions: false,
            watch: Watch::default(),
        }
    }
}

/// What the steps of one change did, for the sessions: per list, how many
/// steps changed it, and the resource updated and how often (the steps of
/// one change update one resource).
#[derive(Default)]
struct Told {
    lists: [usize; 3],
    updated: Option<(String, usize)>,
}

impl Told {
    fn add(&mut self, applied: &Applied) {
        for list in &applied.lists {
            self.lists[list.index()] += 1;
        }
        if let Some(uri) = &applied.updated {
            match &mut self.updated {
                Some((_, times)) => *times += 1,
                None => self.updated = Some((uri.clone(), 1)),
            }
        }
    }
}

pub struct RegistryState {
    /// Shared with readers; a change edits a list in place unless a reader
    /// still holds it, in which case that list is copied once.
    catalog: Catalog,
    subscribers: Vec<Subscriber>,
    /// Only the sessions whose client asked for log messages: the others never
    /// get one.
    log_levels: HashMap<ActorId, LoggingLevel>,
    log_sessions: bool,
    watch: Watch,
}

impl RegistryState {
    /// Apply every step of `change`, or none if any would fail.
    ///
    /// The sessions are told once the steps are applied, one message per
    /// list with how many steps changed it: a bulk change of a million steps
    /// costs each session one message, not a million queued (issue 24).
    fn apply(&mut self, change: &Change, audience: &Audience) -> Result<(), ChangeError> {
        self.catalog.check(change)?;
        let mut told = Told::default();
        for _ in 0..change.count {
            let applied = self.catalog.apply(change)?;
            // Shown before the sessions are told, so that a watcher sees the
            // change before any notification it causes.
            self.show(change, &applied);
            told.add(&applied);
            if change.count == 1 {
                self.log_change(change, &applied);
            }
        }
        self.notify(&told, audience);
        if change.count > 1 {
            tracing::info!(count = change.count, action = ?change.action(), list = change.list().map_or("all", ListKind::as_str), "changes applied");
        }
        Ok(())
    }

    fn apply_and_reply(
        &mut self,
        change: &Change,
        audience: &Audience,
        reply: Option<ChangeReply>,
    ) {
        let result = self.apply(change, audience);
        if let Err(error) = &result {
            tracing::info!(%error, "change refused");
        }
        if let Some(reply) = reply {
            // A sender that gave up waiting is no error of ours.
            let _ = reply.send(result.map(|()| self.catalog.clone()));
        }
    }

    /// Tell every session in `audience` what the steps changed. Sessions
    /// that are gone are dropped here.
    fn notify(&mut self, told: &Told, audience: &Audience) {
        let mut gone = Vec::new();
        self.subscribers.retain(|session| {
            if !audience.includes(session) {
                return true;
            }
            let mut reached = ListKind::ALL
                .into_iter()
                .filter(|list| told.lists[list.index()] > 0)
                .all(|list| {
                    let times = told.lists[list.index()];
                    session
                        .cast(SubscriberMsg::ListChanged { list, times })
                        .is_ok()
                });
            if let Some((uri, times)) = &told.updated {
                reached &= session
                    .cast(SubscriberMsg::ResourceUpdated {
                        uri: uri.clone(),
                        times: *times,
                    })
                    .is_ok();
            }
            if !reached {
                gone.push(session.get_id());
            }
            reached
        });
        for id in gone {
            self.session_closed(id);
        }
    }

    /// Show the watchers one step: one event per list it touched (a reset
    /// touches several; a resource update touches its list, at the same
    /// version).
    fn show(&self, change: &Change, applied: &Applied) {
        if !self.watch.is_watched() {
            return;
        }
        let lists = match change.list() {
            Some(list) => vec![list],
            None => applied.lists.clone(),
        };
        for list in lists {
            let version = self.catalog.version(list).unwrap_or_default();
            let _ = self.watch.tell(|| Event::Changed {
                list,
                kind: change.kind,
                item: applied.item.clone(),
                version,
            });
        }
    }

    /// One line on stderr and to the clients that asked, per change, named
    /// by the kind's noun and verb: `tool added tool=echo4 tools=4`.
    fn log_change(&self, change: &Change, applied: &Applied) {
        let message = format!("{} {}", change.kind.noun(), change.kind.verb());
        let Some(list) = change.list() else {
            let lists: Vec<&str> = applied.lists.iter().map(|l| l.as_str()).collect();
            tracing::info!(?lists, "{message}");
            self.log_to_clients(json!({ "message": message, "lists": lists }));
            return;
        };
        let item = applied.item.as_deref().unwrap_or_default();
        let count = match list {
            ListKind::Tools => self.catalog.tools.len(),
            ListKind::Prompts => self.catalog.prompts.as_ref().map_or(0, |l| l.len()),
            ListKind::Resources => self.catalog.resources.as_ref().map_or(0, |l| l.len()),
        };
        // The fields name the list, as the first log line did: `tool added
        // tool=echo4 tools=4`.
        match list {
            ListKind::Tools => tracing::info!(tool = item, tools = count, "{message}"),
            ListKind::Prompts => tracing::info!(prompt = item, prompts = count, "{message}"),
            ListKind::Resources => {
                tracing::info!(resource = item, resources = count, "{message}")
            }
        }
        let noun = change.kind.noun();
        self.log_to_clients(json!({ "message": message, noun: item, list.as_str(): count }));
    }

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
                let _ = session.cast(SubscriberMsg::Log(line.clone()));
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
pub fn severity(level: LoggingLevel) -> u8 {
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
            catalog: Catalog::new(args.size),
            subscribers: Vec::new(),
            log_levels: HashMap::new(),
            log_sessions: args.log_sessions,
            watch: args.watch,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RegistryMsg::Apply {
                change,
                audience,
                reply,
            } => state.apply_and_reply(&change, &audience, reply),
            RegistryMsg::Notify {
                list,
                before_initialized,
                audience,
                reply,
            } => {
                let mut told = 0;
                for session in state.subscribers.iter().filter(|s| audience.includes(s)) {
                    let spurious = SubscriberMsg::Spurious {
                        list,
                        before_initialized,
                    };
                    told += usize::from(session.cast(spurious).is_ok());
                }
                let _ = reply.send(told);
            }
            RegistryMsg::Snapshot(reply) => {
                let _ = reply.send(state.catalog.clone());
            }
            RegistryMsg::Sessions(reply) => {
                let _ = reply.send(state.subscribers.clone());
            }
            RegistryMsg::Subscribe(session) => {
                let key = session.get_id().pid();
                let _ = state.watch.tell(|| Event::Opened { session: key });
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
    use std::sync::Arc;

    use super::*;
    use crate::catalog::{ChangeKind, ChangeRequest, ToolList};
    use crate::tools;

    async fn snapshot(registry: &RegistryHandle) -> Arc<ToolList> {
        registry.snapshot().await.expect("registry answers").tools
    }

    fn names(list: &ToolList) -> Vec<String> {
        list.definitions()
            .iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    fn add_tool(registry: &RegistryHandle) {
        registry.submit(Change::add_tool()).unwrap();
    }

    #[tokio::test]
    async fn starts_with_the_initial_tools_and_grows_in_order() {
        let (registry, handle) = RegistryHandle::spawn(RegistryArgs::tools(3)).await.unwrap();
        let before = snapshot(&registry).await;
        assert_eq!(names(&before), ["echo", "calculator", "counter"]);

        for _ in 0..3 {
            add_tool(&registry);
        }
        let after = snapshot(&registry).await;
        assert_eq!(
            names(&after),
            ["echo", "calculator", "counter", "echo4", "echo5", "echo6"]
        );
        // A snapshot taken earlier is not changed by later additions.
        assert_eq!(before.len(), 3);

        registry.actor().stop(None);
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn thousands_of_additions_stay_contiguous() {
        let (registry, handle) = RegistryHandle::spawn(RegistryArgs::tools(1)).await.unwrap();
        for _ in 0..5000 {
            add_tool(&registry);
        }
        let list = snapshot(&registry).await;
        assert_eq!(list.len(), 5001);
        for (i, tool) in list.definitions().iter().enumerate() {
            assert_eq!(tool.name, tools::name(i + 1));
        }
        registry.actor().stop(None);
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn a_counted_change_is_applied_whole_or_not_at_all() {
        let (registry, handle) = RegistryHandle::spawn(RegistryArgs::tools(2)).await.unwrap();
        let apply = async |request: ChangeRequest| {
            let change = Change::try_from(request).unwrap();
            registry
                .apply(change, Audience::All)
                .await
                .map_err(|error| match error {
                    ApplyError::Refused(refused) => refused,
                    ApplyError::Stopped(_) => panic!("the registry answers"),
                })
        };
        let catalog = apply(ChangeRequest::new(ChangeKind::AddTool).count(1000))
            .await
            .unwrap();
        assert_eq!((catalog.tools.len(), catalog.tools.version()), (1002, 1001));
        let refused = apply(ChangeRequest::new(ChangeKind::RemoveTool).count(1003)).await;
        assert!(matches!(refused, Err(ChangeError::NothingToChange(_))));
        assert_eq!(snapshot(&registry).await.len(), 1002);
        registry.actor().stop(None);
        handle.await.unwrap();
    }
}
