//! Triggers: what changes the catalog besides a client's own requests. The
//! signals, the control endpoint, a scenario's timeline and the conformance
//! suite's trigger tools are each a [`Trigger`], made from the options that
//! ask for it and started from one list in the server's start-up
//! (`start_tree` in [`crate::server`]), each given a [`RegistryHandle`].
//! Adding a trigger is its own file and one line of that list.
//!
//! A trigger starts at one of two moments ([`Stage`]): before the edges (what
//! serves the clients), when the edges must know of it (the timeline watches
//! what they do; the trigger tools are in their tool list), or once they serve,
//! before the ready file and the pidfile say that the server has started.

use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::ActorRef;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::actors::registry::RegistryHandle;
use crate::actors::supervisor::SupervisorHandle;
use crate::error::StartupError;
use crate::fleet::upstreams::Upstreams;
use crate::http::server::HttpServerMsg;
use crate::observe::Watch;

/// Something that makes changes.
pub trait Trigger: Send {
    /// When it starts.
    fn stage(&self) -> Stage {
        Stage::AfterEdges
    }

    /// Start it: spawn its actor under `starting.supervisor`, or tell the
    /// edges of it.
    fn start(self: Box<Self>, starting: &mut Starting) -> Started<'_>;
}

/// A trigger's start: its start-up error stops the server's start.
pub type Started<'a> = BoxFuture<'a, Result<(), StartupError>>;

/// When a trigger starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before the edges: they show it their events, or offer it to clients.
    BeforeEdges,
    /// Once the edges serve: a change it makes reaches every session there is.
    AfterEdges,
}

/// What a trigger starts with.
pub struct Starting {
    /// Where every change goes.
    pub registry: RegistryHandle,
    /// What its actor is spawned under, and the way to shut the server down.
    pub supervisor: SupervisorHandle,
    /// The run's watchers. A trigger started before the edges may add one;
    /// the edges show it their events.
    pub watch: Watch,
    /// Cancelled once the server has started (the pidfile is written).
    pub started: CancellationToken,
    /// Says, once clients can come, how they are served.
    pub serving: watch::Receiver<Option<Serving>>,
    /// Whether the edges list the conformance suite's trigger tools.
    pub trigger_tools: bool,
    /// Every upstream: a fleet's, or the server's one (whose registry,
    /// watch and recorder are the ones above).
    pub upstreams: Arc<Upstreams>,
    /// The fleet upstream the signals change (`--signals-to`); `None`:
    /// every one.
    pub signals_to: Option<String>,
}

/// How the clients are served, as the triggers that act on sessions need to
/// know: the HTTP server over HTTP, nothing over stdio.
#[derive(Clone)]
pub struct Serving {
    pub http: Option<ActorRef<HttpServerMsg>>,
}

/// The conformance suite's trigger tools as a trigger, if the server offers
/// them. They run inside the MCP handler, which has the registry already:
/// started, they are in the edges' tool list.
pub fn trigger_tools(offered: bool) -> Option<Box<dyn Trigger>> {
    offered.then(|| Box::new(TriggerTools) as Box<dyn Trigger>)
}

struct TriggerTools;

impl Trigger for TriggerTools {
    fn stage(&self) -> Stage {
        Stage::BeforeEdges
    }

    fn start(self: Box<Self>, starting: &mut Starting) -> Started<'_> {
        starting.trigger_tools = true;
        Box::pin(async { Ok(()) })
    }
}
