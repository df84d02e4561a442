//! What happens during a run, as the edges and the actors see it, for whoever
//! watches: the recorder (the client report) and the scenario timeline (steps
//! at protocol points).
//!
//! The handler, the Registry and each Session hold a [`Watch`]: the watchers
//! of this server, none by default. Emitting is [`Watch::see`], which builds
//! the [`Event`] only when someone watches, so a default server pays one
//! branch per event and allocates nothing.
//!
//! A watcher may hold the emitter up: a scenario step that must land "while
//! `tools/call` is in flight" or "between page 1 and page 2" has the handler
//! wait until the step has run before it answers. Only awaiting emitters (the
//! handler) can be held; the actors' events are fire-and-forget.

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;

use crate::catalog::{ChangeKind, ListKind};
use crate::check::view::Comparison;
use crate::notice::Notice;

/// Which session an event belongs to: its Session actor's id (`pid` of the
/// ractor `ActorId`).
pub type SessionKey = u64;

/// Whose request an event comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A Session actor's client: a handshake session, or a 2026-07-28
    /// `subscriptions/listen` stream.
    Session(SessionKey),
    /// A 2026-07-28 client's stateless HTTP request, which has no session:
    /// the client its `_meta` names (`io.modelcontextprotocol/clientInfo`),
    /// if it names one. Shared by the events of one request.
    Stateless(Option<Arc<Client>>),
}

impl Origin {
    /// The session, if the event has one.
    pub fn session(&self) -> Option<SessionKey> {
        match self {
            Origin::Session(session) => Some(*session),
            Origin::Stateless(_) => None,
        }
    }
}

/// A client as it names itself (`clientInfo`), whole: a watcher cuts what
/// it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub name: String,
    pub version: String,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The Registry applied one step of a change.
    Changed {
        /// The list it touched (one of several, for a reset).
        list: ListKind,
        kind: ChangeKind,
        /// The item made, removed or revised (`None` for a reset).
        item: Option<String>,
        /// The list's version after the step.
        version: u64,
    },
    /// A client said who it is: in `initialize`, or in a 2026-07-28
    /// request's `_meta`.
    Hello {
        session: Origin,
        name: String,
        version: String,
        protocol: String,
    },
    /// A request reached the handler. Per-method counts are the watcher's to
    /// keep.
    Request {
        session: Origin,
        method: &'static str,
    },
    /// The handler answered a request that [`Event::Request`] showed.
    Answered {
        session: Origin,
        method: &'static str,
        outcome: Outcome,
    },
    /// The handler has its `initialize` result and is about to return it for
    /// rmcp to write.
    InitializeAnswered { session: Origin },
    /// The client sent `notifications/initialized`.
    Initialized { session: Origin },
    /// A list page was served: page `page` (from 0) of `pages`, of the
    /// list at `version`.
    Page {
        session: Origin,
        list: ListKind,
        version: u64,
        page: usize,
        pages: usize,
        cursor: Option<String>,
    },
    /// A list request's cursor was refused with -32602.
    RefusedCursor {
        session: Origin,
        list: ListKind,
        cursor: String,
        reason: String,
    },
    /// A `tools/call` reached the handler, before it is answered: `revision`
    /// is the revision argument the client sent, `current` the tool's
    /// revision now (`None`: no such tool at this moment).
    ToolCall {
        session: Origin,
        name: String,
        revision: Option<u64>,
        current: Option<u64>,
    },
    /// A check-mode client reported the lists it holds (the `view` tool),
    /// compared with the catalog at that moment.
    View {
        session: Origin,
        comparison: Comparison,
    },
    /// A notification was written to one of a session's destinations.
    Notified {
        session: SessionKey,
        notice: Notice,
        cause: Cause,
    },
    /// A scenario step ran: its index in the file (from 0) and what it did,
    /// as the report lists it.
    StepRan { step: usize, what: String },
    /// A session ended (its client left, or the server stopped).
    Closed { session: SessionKey },
}

/// How a request ended, as its client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A result.
    Ok,
    /// A `tools/call` result with `isError`: the call reached the tool.
    ToolError,
    /// A JSON-RPC error with this code.
    Error(i32),
}

/// Why a `tools/call` is stale, if it is: the tool is gone (`current` is
/// `None`), or it was revised since and the client sent an older `revision`
/// (none sent counts as revision 1).
pub fn stale_call(revision: Option<u64>, current: Option<u64>) -> Option<&'static str> {
    match current {
        None => Some("unknown tool"),
        Some(current) if current >= 2 && revision.unwrap_or(1) < current => Some("stale revision"),
        Some(_) => None,
    }
}

/// Why a notification was written, so that a report can tell real ones from
/// the ones a hostile run adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A change (or changes folded into it).
    Change,
    /// A deliberate copy of a notification already written.
    Duplicate,
    /// A scenario's notification with no change behind it.
    Spurious,
}

/// Something that watches a run. `see` is called on the emitter's task and
/// must not block; to hold the emitter, return a future it awaits.
pub trait Watcher: Send + Sync {
    fn see(&self, at: Instant, event: &Event) -> Option<BoxFuture<'static, ()>>;
}

/// The watchers of one server; cheap to clone. Empty unless a scenario or a
/// report asked for them.
#[derive(Clone, Default)]
pub struct Watch {
    watchers: Arc<[Arc<dyn Watcher>]>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Watch({} watchers)", self.watchers.len())
    }
}

impl Watch {
    pub fn new(watchers: Vec<Arc<dyn Watcher>>) -> Self {
        Self {
            watchers: watchers.into(),
        }
    }

    /// These watchers and one more.
    pub fn and(&self, watcher: Arc<dyn Watcher>) -> Self {
        let mut watchers = self.watchers.to_vec();
        watchers.push(watcher);
        Self::new(watchers)
    }

    /// Whether anyone watches: an emitter with costly work to describe an
    /// event may skip it.
    pub fn is_watched(&self) -> bool {
        !self.watchers.is_empty()
    }

    /// Show every watcher the event `make` builds, and wait for those that
    /// hold it up.
    pub async fn see(&self, make: impl FnOnce() -> Event) {
        if let Some(hold) = self.tell(make) {
            hold.await;
        }
    }

    /// Show every watcher the event, without waiting: for emitters that
    /// cannot be held (the actors).
    pub fn tell(&self, make: impl FnOnce() -> Event) -> Option<BoxFuture<'static, ()>> {
        if self.watchers.is_empty() {
            return None;
        }
        let at = Instant::now();
        let event = make();
        let holds: Vec<_> = self
            .watchers
            .iter()
            .filter_map(|watcher| watcher.see(at, &event))
            .collect();
        if holds.is_empty() {
            None
        } else {
            Some(Box::pin(async move {
                futures::future::join_all(holds).await;
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Log(Mutex<Vec<Event>>);

    impl Watcher for Log {
        fn see(&self, _at: Instant, event: &Event) -> Option<BoxFuture<'static, ()>> {
            self.0.lock().unwrap().push(event.clone());
            None
        }
    }

    #[tokio::test]
    async fn an_unwatched_run_never_builds_its_events() {
        Watch::default()
            .see(|| unreachable!("no watcher, no event"))
            .await;
    }

    #[tokio::test]
    async fn every_watcher_sees_every_event_and_holds_are_awaited() {
        let log = Arc::new(Log::default());
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let done_rx = Mutex::new(Some(done_rx));
        struct Hold(Mutex<Option<tokio::sync::oneshot::Receiver<()>>>);
        impl Watcher for Hold {
            fn see(&self, _at: Instant, _event: &Event) -> Option<BoxFuture<'static, ()>> {
                let rx = self.0.lock().unwrap().take()?;
                Some(Box::pin(async move {
                    let _ = rx.await;
                }))
            }
        }
        let watch = Watch::new(vec![log.clone(), Arc::new(Hold(done_rx))]);
        let event = Event::Initialized {
            session: Origin::Session(7),
        };
        let shown = event.clone();
        let held = watch.see(move || shown);
        tokio::pin!(held);
        // Held until the watcher lets go.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), &mut held)
                .await
                .is_err()
        );
        done_tx.send(()).unwrap();
        held.await;
        assert_eq!(*log.0.lock().unwrap(), vec![event]);
    }
}
