//! The Timeline actor: runs a scenario's steps in order, one timeline per
//! server.
//!
//! Each step waits for its moment once the step before it has run: a timer
//! (`at_ms`, `every_ms`), or a protocol point that its [`CueWatcher`] spots
//! among the run's events (`after`). A change goes to the Registry as the
//! same [`Change`](crate::catalog::Change) a signal or the control endpoint
//! sends; a notification with no change goes to the Registry as
//! [`RegistryHandle::notify_spurious`], which has the Sessions write it as
//! spurious; the
//! HTTP-only steps go to the HttpServer. Every run is shown to the watchers
//! as [`Event::StepRan`] and logged.
//!
//! The HTTP-only steps end sessions through rmcp's session manager, and cut
//! SSE responses at the HTTP edge: rmcp can close a session's standalone
//! stream or a request's stream by its id, but neither a stateless
//! `subscriptions/listen` stream nor a stream whose request id the edge
//! never learns.
//!
//! A request at a step's protocol point is held: the watcher hands its
//! handler a future that completes once the step has run, so the change
//! lands exactly there (a `tools/call` in flight is answered after it, a
//! page's next page is asked for after it).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, MessagingErr, call};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::actors::registry::{Audience, RegistryHandle};
use crate::fleet::upstreams::Upstreams;
use crate::http::server::HttpServerMsg;
use crate::observe::{Event, Origin, SessionKey, Watch, Watcher};
use crate::scenario::{Moment, Point, Scenario, Since, Step, StepAction};
use crate::trigger::{Serving, Stage, Started, Starting, Trigger};

/// A scenario's timeline as a trigger, if the server runs a scenario.
pub fn trigger(scenario: Option<Arc<Scenario>>) -> Option<Box<dyn Trigger>> {
    scenario.map(|scenario| Box::new(TimelineTrigger(scenario)) as Box<dyn Trigger>)
}

struct TimelineTrigger(Arc<Scenario>);

impl Trigger for TimelineTrigger {
    /// Before the edges, which show its watcher their events; its clock
    /// starts once they serve.
    fn stage(&self) -> Stage {
        Stage::BeforeEdges
    }

    fn start(self: Box<Self>, starting: &mut Starting) -> Started<'_> {
        Box::pin(async move {
            let scenario = self.0;
            let cues = Arc::default();
            let args = TimelineArgs {
                scenario: Arc::clone(&scenario),
                registry: starting.registry.clone(),
                fleet: starting
                    .upstreams
                    .is_fleet()
                    .then(|| Arc::clone(&starting.upstreams)),
                cues: Arc::clone(&cues),
                watch: starting.watch.clone(),
                serving: Some(starting.serving.clone()),
            };
            let timeline = starting
                .supervisor
                .spawn("scenario timeline", Timeline, args)
                .await?;
            let watcher = CueWatcher::new(cues, timeline, scenario);
            starting.watch = starting.watch.and(Arc::new(watcher));
            Ok(())
        })
    }
}

pub enum TimelineMsg {
    /// The server has started: arm the first step. Carries the HttpServer of
    /// an HTTP server, for the HTTP-only steps.
    Begin(Option<ActorRef<HttpServerMsg>>),
    /// The armed step's moment came; a held request waits on `done`.
    Due {
        step: usize,
        done: Option<oneshot::Sender<()>>,
    },
    /// Run the step's `run`-th repetition (from 2).
    Again { step: usize, run: u64 },
    /// The first client's `notifications/initialized` came, which the armed
    /// step's `at_ms` counts from.
    FirstInitialized(Instant),
}

pub struct TimelineArgs {
    pub scenario: Arc<Scenario>,
    pub registry: RegistryHandle,
    /// A fleet's upstreams, which its steps name; `None`: the server's one
    /// registry above.
    pub fleet: Option<Arc<Upstreams>>,
    /// Shared with its [`CueWatcher`].
    pub cues: Arc<Mutex<Cues>>,
    /// Who sees each step run (the timeline's own watcher is not among them).
    pub watch: Watch,
    /// Says once clients can come, which begins the timeline; `None`: its
    /// owner sends [`TimelineMsg::Begin`] itself.
    pub serving: Option<watch::Receiver<Option<Serving>>>,
}

pub struct Timeline;

pub struct TimelineState {
    scenario: Arc<Scenario>,
    registry: RegistryHandle,
    fleet: Option<Arc<Upstreams>>,
    http: Option<ActorRef<HttpServerMsg>>,
    cues: Arc<Mutex<Cues>>,
    watch: Watch,
    start: Instant,
    /// The step waiting for its moment (or repeating); past the end when all
    /// have run.
    next: usize,
    timer: Option<JoinHandle<Result<(), MessagingErr<TimelineMsg>>>>,
    /// Waits to begin the timeline once clients can come.
    begin: Option<JoinHandle<()>>,
    /// Whether `Begin` came; what came before it waits here.
    begun: bool,
    early: Vec<TimelineMsg>,
}

/// What the watcher keeps of the run, shared with the actor: the armed
/// protocol point, and what the points are counted from.
#[derive(Default)]
pub struct Cues {
    /// The step waiting for a protocol point, and the point.
    armed: Option<(usize, Point)>,
    /// The step waiting for the first `notifications/initialized`.
    waiting_initialized: Option<usize>,
    first_initialized: Option<Instant>,
    /// Requests per session and method so far.
    requests: HashMap<(Option<SessionKey>, &'static str), u64>,
    /// Each session's client name, for a step's `client`.
    clients: HashMap<SessionKey, String>,
}

/// The watcher half of a timeline: spots the armed step's protocol point,
/// and holds the requests the scenario delays.
pub struct CueWatcher {
    cues: Arc<Mutex<Cues>>,
    timeline: ActorRef<TimelineMsg>,
    scenario: Arc<Scenario>,
}

impl CueWatcher {
    pub fn new(
        cues: Arc<Mutex<Cues>>,
        timeline: ActorRef<TimelineMsg>,
        scenario: Arc<Scenario>,
    ) -> Self {
        Self {
            cues,
            timeline,
            scenario,
        }
    }

    /// Run the armed step now, holding the emitter until it ran.
    fn fire(&self, step: usize) -> Option<BoxFuture<'static, ()>> {
        let (done, ran) = oneshot::channel();
        let due = TimelineMsg::Due {
            step,
            done: Some(done),
        };
        self.timeline.cast(due).ok()?;
        Some(Box::pin(async move {
            // Dropped when the timeline stops: the request goes on.
            let _ = ran.await;
        }))
    }
}

impl Watcher for CueWatcher {
    fn see(&self, at: Instant, event: &Event) -> Option<BoxFuture<'static, ()>> {
        let step = self.step_at(at, event);
        let delay = match event {
            Event::Request { method, .. } => self.scenario.delay(method),
            _ => None,
        };
        match (step, delay) {
            (step, None) => step,
            (None, Some(delay)) => Some(Box::pin(tokio::time::sleep(delay))),
            (Some(step), Some(delay)) => Some(Box::pin(async move {
                futures::future::join(step, tokio::time::sleep(delay)).await;
            })),
        }
    }
}

impl CueWatcher {
    /// The hold of the armed step, if `event` is its point.
    fn step_at(&self, at: Instant, event: &Event) -> Option<BoxFuture<'static, ()>> {
        let mut cues = self.cues.lock().unwrap_or_else(|e| e.into_inner());
        let reached = match event {
            Event::Hello {
                session: Origin::Session(session),
                name,
                ..
            } => {
                cues.clients.insert(*session, name.clone());
                return None;
            }
            Event::Closed { session } => {
                cues.clients.remove(session);
                cues.requests.retain(|(s, _), _| *s != Some(*session));
                return None;
            }
            Event::Request { session, method } => {
                let count = cues
                    .requests
                    .entry((session.session(), method))
                    .or_default();
                *count += 1;
                let count = *count;
                matches!(&cues.armed, Some((_, Point::Request { method: m, n })) if m == method && *n == count)
            }
            Event::InitializeAnswered { .. } => {
                matches!(cues.armed, Some((_, Point::Initialize)))
            }
            Event::Initialized { .. } => {
                if cues.first_initialized.is_none() {
                    cues.first_initialized = Some(at);
                    if cues.waiting_initialized.take().is_some() {
                        let _ = self.timeline.cast(TimelineMsg::FirstInitialized(at));
                    }
                }
                matches!(cues.armed, Some((_, Point::Initialized)))
            }
            Event::Page {
                list, page, pages, ..
            } => {
                matches!(&cues.armed, Some((_, Point::Page { list: l, page: p })) if l == list && page + 1 == *p && pages > p)
            }
            Event::ToolCall { name, .. } => {
                matches!(&cues.armed, Some((_, Point::Call { tool })) if tool == name)
            }
            _ => false,
        };
        if !reached {
            return None;
        }
        let (step, _) = cues.armed.take()?;
        drop(cues);
        self.fire(step)
    }
}

impl TimelineState {
    fn step(&self, index: usize) -> Option<&Step> {
        self.scenario.steps.get(index)
    }

    /// Whether the first step waits for a protocol point.
    fn starts_at_a_point(&self) -> bool {
        matches!(
            self.step(0),
            Some(Step {
                moment: Moment::After(_),
                ..
            })
        )
    }

    /// Wait for step `next`'s moment.
    fn arm(&mut self, myself: &ActorRef<TimelineMsg>) {
        let index = self.next;
        let Some(step) = self.step(index) else {
            tracing::info!(steps = self.scenario.steps.len(), "scenario done");
            return;
        };
        let mut cues = self.cues.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = match &step.moment {
            Moment::Next => Some(Instant::now()),
            Moment::At {
                ms,
                from: Since::Start,
            } => Some(self.start + std::time::Duration::from_millis(*ms)),
            Moment::At {
                ms,
                from: Since::Initialized,
            } => match cues.first_initialized {
                Some(at) => Some(at + std::time::Duration::from_millis(*ms)),
                None => {
                    cues.waiting_initialized = Some(index);
                    None
                }
            },
            Moment::After(point) => {
                cues.armed = Some((index, point.clone()));
                None
            }
        };
        drop(cues);
        if let Some(deadline) = deadline {
            self.due_at(myself, deadline);
        }
    }

    fn due_at(&mut self, myself: &ActorRef<TimelineMsg>, deadline: Instant) {
        let step = self.next;
        let wait = deadline.saturating_duration_since(Instant::now());
        self.timer = Some(myself.send_after(wait, move || TimelineMsg::Due { step, done: None }));
    }

    /// The sessions a step's notifications go to.
    fn audience(&self, step: &Step) -> Audience {
        let Some(client) = &step.client else {
            return Audience::All;
        };
        let cues = self.cues.lock().unwrap_or_else(|e| e.into_inner());
        let keys: HashSet<SessionKey> = cues
            .clients
            .iter()
            .filter(|(_, name)| *name == client)
            .map(|(&key, _)| key)
            .collect();
        Audience::Only(keys)
    }

    /// Run step `index` once, and show it.
    async fn run(&self, index: usize, run: u64) {
        let Some(step) = self.step(index) else {
            return;
        };
        let audience = self.audience(step);
        // A fleet's step acts on the upstream it names (checked at start).
        let upstream = self
            .fleet
            .as_ref()
            .and_then(|fleet| fleet.pick(step.upstream.as_deref()).ok());
        let (registry, http, watch) = match upstream {
            Some(upstream) => (&upstream.registry, upstream.http(), &upstream.watch),
            None => (&self.registry, self.http.as_ref(), &self.watch),
        };
        let outcome: Result<(), String> = match &step.action {
            StepAction::Change(change) => (registry.apply(change.clone(), audience).await)
                .map(drop)
                .map_err(|error| error.to_string()),
            &StepAction::Notify {
                list,
                before_initialized,
            } => registry
                .notify_spurious(list, before_initialized, audience)
                .await
                .map(drop)
                .map_err(|error| error.to_string()),
            StepAction::StopUpstream => match upstream {
                Some(upstream) => upstream.stop().await.map(drop).map_err(|e| e.to_string()),
                None => Err("skipped: no fleet upstream".into()),
            },
            StepAction::StartUpstream => match upstream {
                Some(upstream) => (upstream.start().await)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                None => Err("skipped: no fleet upstream".into()),
            },
            StepAction::EndSession => match http {
                Some(http) => call!(http, HttpServerMsg::EndSessions)
                    .map(|_| ())
                    .map_err(|_| "the HTTP server has stopped".into()),
                None => Err("skipped: not served over HTTP".into()),
            },
            StepAction::DropStream => match http {
                Some(http) => call!(http, HttpServerMsg::DropStreams)
                    .map_err(|_| "the HTTP server has stopped".into()),
                None => Err("skipped: not served over HTTP".into()),
            },
        };
        let mut what = step.what();
        if let Some(repeat) = step.repeat {
            what = format!("{what} (run {run} of {})", repeat.times);
        }
        match outcome {
            Ok(()) => tracing::info!(step = index, what, "scenario step ran"),
            Err(why) => {
                tracing::info!(step = index, what, why, "scenario step did nothing");
                what = format!("{what}: {why}");
            }
        }
        let _ = watch.tell(|| Event::StepRan { step: index, what });
    }

    /// After run `run` of step `index`: repeat it, or arm the next step.
    fn after_run(&mut self, myself: &ActorRef<TimelineMsg>, index: usize, run: u64) {
        let repeat = self.step(index).and_then(|step| step.repeat);
        match repeat {
            Some(repeat) if run < repeat.times => {
                let next = run + 1;
                self.timer = Some(myself.send_after(repeat.every, move || TimelineMsg::Again {
                    step: index,
                    run: next,
                }));
            }
            _ => {
                self.next = index + 1;
                self.arm(myself);
            }
        }
    }
}

impl Actor for Timeline {
    type Msg = TimelineMsg;
    type State = TimelineState;
    type Arguments = TimelineArgs;

    /// A first step at a protocol point is armed here, before any client can
    /// reach the server; a timed one waits for `Begin`.
    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: TimelineArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = TimelineState {
            scenario: args.scenario,
            registry: args.registry,
            fleet: args.fleet,
            http: None,
            cues: args.cues,
            watch: args.watch,
            start: Instant::now(),
            next: 0,
            timer: None,
            begin: None,
            begun: false,
            early: Vec::new(),
        };
        if let Some(mut serving) = args.serving {
            let timeline = myself.clone();
            state.begin = Some(tokio::spawn(async move {
                if let Ok(serving) = serving.wait_for(Option::is_some).await
                    && let Some(serving) = &*serving
                {
                    let _ = timeline.cast(TimelineMsg::Begin(serving.http.clone()));
                }
            }));
        }
        if state.starts_at_a_point() {
            state.arm(&myself);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            TimelineMsg::Begin(http) => {
                state.http = http;
                state.begun = true;
                state.start = Instant::now();
                tracing::info!(
                    scenario = %state.scenario.path.display(),
                    steps = state.scenario.steps.len(),
                    "scenario started"
                );
                if !state.starts_at_a_point() {
                    state.arm(&myself);
                }
                // A step whose point came first runs next, with the HTTP
                // server known; its request is held meanwhile.
                for message in std::mem::take(&mut state.early) {
                    myself.send_message(message)?;
                }
            }
            message if !state.begun => state.early.push(message),
            TimelineMsg::Due { step, done } => {
                // Only the armed step is due; anything else is stale.
                if step == state.next {
                    state.run(step, 1).await;
                    state.after_run(&myself, step, 1);
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            TimelineMsg::Again { step, run } => {
                if step == state.next {
                    state.run(step, run).await;
                    state.after_run(&myself, step, run);
                }
            }
            TimelineMsg::FirstInitialized(at) => {
                if let Some(Step {
                    moment:
                        Moment::At {
                            ms,
                            from: Since::Initialized,
                        },
                    ..
                }) = state.step(state.next)
                {
                    let deadline = at + std::time::Duration::from_millis(*ms);
                    state.due_at(&myself, deadline);
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(timer) = state.timer.take() {
            timer.abort();
        }
        if let Some(begin) = state.begin.take() {
            begin.abort();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::actors::registry::RegistryArgs;
    use crate::catalog::CatalogSize;
    use crate::hostile::Hostile;
    use crate::scenario::Setting;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// Records the steps that ran.
    #[derive(Default)]
    struct Ran(Mutex<Vec<(usize, String)>>);

    impl Watcher for Ran {
        fn see(&self, _at: Instant, event: &Event) -> Option<BoxFuture<'static, ()>> {
            if let Event::StepRan { step, what } = event {
                self.0.lock().unwrap().push((*step, what.clone()));
            }
            None
        }
    }

    struct Fixture {
        registry: RegistryHandle,
        timeline: ActorRef<TimelineMsg>,
        /// What the edges would show: the timeline's watcher.
        edge: Watch,
        ran: Arc<Ran>,
    }

    impl Fixture {
        async fn start(scenario: &str) -> Self {
            let setting = Setting {
                http: false,
                size: CatalogSize {
                    tools: 1,
                    prompts: None,
                    resources: None,
                },
                hostile: Hostile::default(),
            };
            let scenario = Scenario::parse(scenario, true, &setting).unwrap();
            let (registry, _) = RegistryHandle::spawn(RegistryArgs::tools(1)).await.unwrap();
            let ran = Arc::new(Ran::default());
            let cues = Arc::default();
            let args_scenario = Arc::new(scenario);
            let args = TimelineArgs {
                scenario: Arc::clone(&args_scenario),
                registry: registry.clone(),
                fleet: None,
                cues: Arc::clone(&cues),
                watch: Watch::new(vec![ran.clone()]),
                serving: None,
            };
            let (timeline, _) = Actor::spawn(None, Timeline, args).await.unwrap();
            let scenario = Arc::clone(&args_scenario);
            let edge = Watch::new(vec![Arc::new(CueWatcher::new(
                cues,
                timeline.clone(),
                scenario,
            ))]);
            timeline.cast(TimelineMsg::Begin(None)).unwrap();
            Self {
                registry,
                timeline,
                edge,
                ran,
            }
        }

        async fn tools(&self) -> usize {
            self.registry.snapshot().await.unwrap().tools.len()
        }

        fn ran(&self) -> Vec<(usize, String)> {
            self.ran.0.lock().unwrap().clone()
        }

        fn request(&self, method: &'static str) -> Option<BoxFuture<'static, ()>> {
            self.edge.tell(|| Event::Request {
                session: Origin::Session(1),
                method,
            })
        }

        async fn stop(self) {
            self.timeline.stop_and_wait(None, None).await.unwrap();
            self.registry
                .actor()
                .stop_and_wait(None, None)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn the_nth_request_is_held_until_its_step_ran() {
        let fixture = Fixture::start(
            "[[steps]]\nchange = \"add_tool\"\nafter = { method = \"tools/list\", n = 2 }",
        )
        .await;
        assert!(fixture.request("tools/list").is_none(), "not the 2nd");
        assert!(fixture.request("tools/call").is_none(), "another method");
        let hold = fixture.request("tools/list").expect("the 2nd tools/list");
        tokio::time::timeout(TIMEOUT, hold).await.unwrap();
        // Released only once the change was applied.
        assert_eq!(fixture.tools().await, 2);
        assert_eq!(fixture.ran(), [(0, "add_tool".to_owned())]);
        // Each point runs its step once.
        assert!(fixture.request("tools/list").is_none());
        fixture.stop().await;
    }

    #[tokio::test]
    async fn steps_run_in_order_and_a_point_counts_once_armed() {
        let fixture = Fixture::start(
            "[[steps]]\nchange = \"add_tool\"\nafter = \"initialized\"\n\n\
             [[steps]]\nchange = \"add_tool\"\nevery_ms = 1\ntimes = 3\n\n\
             [[steps]]\nchange = \"remove_tool\"\nafter = { call = \"echo\" }",
        )
        .await;
        // The call comes before its step is armed: nothing.
        let early = fixture.edge.tell(|| Event::ToolCall {
            session: Origin::Session(1),
            name: "echo".into(),
            revision: None,
            current: Some(1),
        });
        assert!(early.is_none());
        let hold = fixture
            .edge
            .tell(|| Event::Initialized {
                session: Origin::Session(1),
            })
            .expect("held at initialized");
        tokio::time::timeout(TIMEOUT, hold).await.unwrap();
        tokio::time::timeout(TIMEOUT, async {
            while fixture.ran().len() < 4 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(fixture.tools().await, 5);
        let hold = fixture
            .edge
            .tell(|| Event::ToolCall {
                session: Origin::Session(1),
                name: "echo".into(),
                revision: None,
                current: Some(1),
            })
            .expect("armed now");
        tokio::time::timeout(TIMEOUT, hold).await.unwrap();
        assert_eq!(fixture.tools().await, 4);
        let whats: Vec<String> = fixture.ran().into_iter().map(|(_, what)| what).collect();
        assert_eq!(
            whats,
            [
                "add_tool",
                "add_tool (run 1 of 3)",
                "add_tool (run 2 of 3)",
                "add_tool (run 3 of 3)",
                "remove_tool",
            ]
        );
        fixture.stop().await;
    }
}
