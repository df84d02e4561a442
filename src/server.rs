//! Starting and stopping a server: the public API.
//!
//! [`start`] builds the actor tree for one client over any rmcp transport and
//! returns a [`ServerHandle`]; [`start_http`] builds it for any number of
//! clients over Streamable HTTP. [`serve_stdio`] and [`serve_http`] are what
//! the binary runs. The start order matters: the signal handlers are installed
//! before the pidfile is written, so a SIGHUP sent by anyone who has read the
//! pidfile is never fatal; the stdio session subscribes to the registry before
//! either, so no change that happens before the client initializes goes
//! unnotified; and the HTTP server listens before the pidfile appears, so a
//! client that waits for the pidfile can connect at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorRef};
use rmcp::RoleServer;
use rmcp::service::{ServerInitializeError, serve_server_with_ct};
use rmcp::transport::{IntoTransport, Transport};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::actors::pidfile::PidfileWriter;
use crate::actors::ready_file::{ReadyFile, ReadyFileArgs};
use crate::actors::registry::{Audience, Registry, RegistryArgs, RegistryHandle};
use crate::actors::session::{Session, SessionArgs};
use crate::actors::signals;
use crate::actors::supervisor::{
    Outcome, RECORDER, ShutdownCause, SupervisorHandle, startup_error, upstream_actor_name,
};
use crate::catalog::{Catalog, CatalogSize, Change, ChangeKind, ChangeRequest};
use crate::control::ControlOptions;
use crate::error::{Error, ServerError, StartupError};
use crate::fleet::upstreams::{Upstream, Upstreams};
use crate::fleet::{Fleet, UpstreamSpec};
use crate::hostile::Hostile;
use crate::http::server::HttpServerMsg;
use crate::http::{HttpArgs, HttpOptions, MCP_PATH};
use crate::mcp::{McpHandler, Offer, Profile};
use crate::metrics::watcher::MetricsWatcher;
use crate::observe::{Watch, Watcher};
use crate::report::recorder::{Recorder, RecorderArgs, Recording};
use crate::revision::Gate;
use crate::scenario::{Scenario, timeline};
use crate::transport::{InputWatch, LineTransport};
use crate::trigger::{self, Serving, Stage, Starting};

/// How long [`ServerHandle::wait`] gives rmcp's service, once the actors have
/// stopped, to write its last messages (the final results of listen streams).
const SERVICE_STOP_TIMEOUT: Duration = Duration::from_millis(500);

/// How long the stdio server, once stopped, waits for a client that has taken
/// no byte of its pending answers before it exits anyway.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What a server starts with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The initial number of tools, at least 1.
    pub tools: usize,
    /// The initial number of prompts; `None` offers no prompts at all.
    pub prompts: Option<usize>,
    /// The initial number of resources; `None` offers no resources at all.
    pub resources: Option<usize>,
    /// Where to write the PID; `None` writes no pidfile.
    pub pidfile: Option<PathBuf>,
    /// Where to write the ready file (PID and URLs, as JSON) before the
    /// pidfile; `None` writes none.
    pub ready_file: Option<PathBuf>,
    /// Serve the control endpoint (changes on demand) here.
    pub control: Option<ControlOptions>,
    /// List the conformance suite's fixture tools after the catalog's.
    pub trigger_tools: bool,
    /// Check mode: offer the `view` tool, through which a client reports the
    /// lists it holds (docs/check.md); each call is compared with the
    /// catalog and recorded in the client report's `views` (with
    /// [`Options::report`] or [`Options::control`]).
    pub view_tool: bool,
    /// Hostile but legal behaviour: paged lists, slow answers, notification
    /// storms and copies. Off by default.
    pub hostile: Hostile,
    /// Run this scenario's steps (see [`Scenario`]).
    pub scenario: Option<Arc<Scenario>>,
    /// Whether SIGHUP, SIGUSR1, SIGUSR2, SIGTERM and SIGINT drive this server.
    /// A server embedded in a test process usually leaves the process's
    /// signals alone. A process that wants every change signal of a burst
    /// counted calls [`block_change_signals`] before it starts any thread, as
    /// the binary does; without it they are still counted, through handlers.
    ///
    /// [`block_change_signals`]: crate::block_change_signals
    pub handle_signals: bool,
    /// Where to write the client report at exit. The report is recorded when
    /// this or [`Options::control`] is set (the control endpoint serves it
    /// as `GET /report`); otherwise nothing is recorded at all.
    pub report: Option<PathBuf>,
    /// Serve these upstreams, each its own server at `/mcp/{name}` (HTTP
    /// only), instead of one at `/mcp`.
    pub(crate) fleet: Option<Arc<Fleet>>,
    /// Which fleet upstream the signals change; `None`: every one.
    pub(crate) signals_to: Option<String>,
    /// The fleet upstream this server is (`--fleet FILE --upstream NAME`):
    /// its name, tool names and knobs.
    pub(crate) upstream: Option<Arc<UpstreamSpec>>,
}

impl Options {
    /// `tools` tools, no prompts or resources, no pidfile, no control
    /// endpoint, no signal handling.
    pub fn new(tools: usize) -> Self {
        Self {
            tools,
            prompts: None,
            resources: None,
            pidfile: None,
            ready_file: None,
            control: None,
            trigger_tools: false,
            view_tool: false,
            hostile: Hostile::default(),
            scenario: None,
            handle_signals: false,
            report: None,
            fleet: None,
            signals_to: None,
            upstream: None,
        }
    }

    /// Write the client report to `path` at exit.
    pub fn report(mut self, path: impl Into<PathBuf>) -> Self {
        self.report = Some(path.into());
        self
    }

    /// Where the run's client report goes, for the first log lines: `None`
    /// when nothing is recorded.
    fn recording(&self) -> Option<String> {
        match (&self.report, &self.control) {
            (Some(path), Some(_)) => Some(format!("--report {}, GET /report", path.display())),
            (Some(path), None) => Some(format!("--report {}", path.display())),
            (None, Some(_)) => Some("GET /report".to_owned()),
            (None, None) => None,
        }
    }

    /// Offer `n` prompts (and the prompts capability).
    pub fn prompts(mut self, n: usize) -> Self {
        self.prompts = Some(n);
        self
    }

    /// Offer `n` resources (and the resources capability).
    pub fn resources(mut self, n: usize) -> Self {
        self.resources = Some(n);
        self
    }

    pub fn ready_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ready_file = Some(path.into());
        self
    }

    pub fn control(mut self, control: ControlOptions) -> Self {
        self.control = Some(control);
        self
    }

    /// Run `scenario`'s steps once the server has started, with its hostile
    /// knobs.
    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.hostile = scenario.hostile;
        self.scenario = Some(Arc::new(scenario));
        self
    }

    pub(crate) fn size(&self) -> CatalogSize {
        CatalogSize {
            tools: self.tools,
            prompts: self.prompts,
            resources: self.resources,
        }
    }

    /// What the edges offer, with the trigger tools if that trigger started.
    fn offer(&self, starting: &Starting) -> Offer {
        Offer {
            prompts: self.prompts.is_some(),
            resources: self.resources.is_some(),
            trigger_tools: starting.trigger_tools,
            view: self.view_tool,
        }
    }

    /// Behave as `hostile` says (paged lists, slow answers, notification
    /// storms and copies).
    pub fn hostile(mut self, hostile: Hostile) -> Self {
        self.hostile = hostile;
        self
    }

    pub fn pidfile(mut self, path: impl Into<PathBuf>) -> Self {
        self.pidfile = Some(path.into());
        self
    }

    pub fn handle_signals(mut self, yes: bool) -> Self {
        self.handle_signals = yes;
        self
    }
}

/// A running server. Dropping it leaves the server running until its client
/// goes away (stdio) or a signal stops it (HTTP).
pub struct ServerHandle {
    supervisor: SupervisorHandle,
    registry: RegistryHandle,
    outcome: oneshot::Receiver<Outcome>,
    /// The rmcp service task of a single-client server.
    service: Option<JoinHandle<()>>,
    /// Tells the triggers how clients are served, once they can come (a
    /// scenario's clock starts then).
    serving: watch::Sender<Option<Serving>>,
    /// Cancelled once the control endpoint, if any, owes no answer.
    control_answered: Option<CancellationToken>,
}

impl ServerHandle {
    /// Clients can come now, served by `http` over HTTP.
    fn begin_serving(&self, http: Option<ActorRef<HttpServerMsg>>) {
        self.serving.send_replace(Some(Serving { http }));
    }

    /// Add the next tool and notify the client, exactly as a SIGHUP does.
    /// Returns the tool count after the addition.
    pub async fn add_tool(&self) -> Result<usize, ServerError> {
        let catalog = self.apply(ChangeRequest::new(ChangeKind::AddTool)).await?;
        Ok(catalog.tools.len())
    }

    /// Apply any change, exactly as the control endpoint does, and return the
    /// catalog once every step is applied and the sessions told.
    pub async fn apply(&self, request: ChangeRequest) -> Result<Catalog, ServerError> {
        let change = Change::try_from(request).map_err(ServerError::Refused)?;
        Ok(self.registry.apply(change, Audience::All).await?)
    }

    /// The current catalog.
    pub async fn catalog(&self) -> Result<Catalog, ServerError> {
        Ok(self.registry.snapshot().await?)
    }

    /// The current number of tools.
    pub async fn tool_count(&self) -> Result<usize, ServerError> {
        Ok(self.catalog().await?.tools.len())
    }

    /// Stop the server (the same path as SIGTERM) and wait until it has stopped.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        // Already stopping is fine: the outcome still arrives.
        self.supervisor.shutdown(ShutdownCause::Requested);
        self.wait().await
    }

    /// Wait until the server stops by itself: its client went away, a signal
    /// stopped it, or an actor failed.
    pub async fn wait(self) -> Result<(), ServerError> {
        let outcome = self.outcome.await.unwrap_or(Err(ServerError::Stopped));
        // A control change in flight is answered before the process exits;
        // the endpoint bounds its own wait, this only backs it up.
        if let Some(answered) = self.control_answered
            && tokio::time::timeout(
                crate::control::APPLY_TIMEOUT
                    + crate::control::ANSWER_TIMEOUT
                    + SERVICE_STOP_TIMEOUT,
                answered.cancelled(),
            )
            .await
            .is_err()
        {
            tracing::debug!("the control endpoint did not finish its answers; leaving them");
        }
        // The actors have stopped, so the service is stopping too; its last
        // writes are worth a short wait, never a long one.
        if let Some(service) = self.service
            && tokio::time::timeout(SERVICE_STOP_TIMEOUT, service)
                .await
                .is_err()
        {
            tracing::debug!("the rmcp service did not stop in time; leaving it");
        }
        outcome
    }
}

/// Start a server for one client on `transport`: any rmcp server transport,
/// such as a `(reader, writer)` pair or a [`LineTransport`]. The server stops
/// when the client goes away.
pub async fn start<T, E, A>(options: Options, transport: T) -> Result<ServerHandle, StartupError>
where
    T: IntoTransport<RoleServer, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let (handle, (handler, service)) = start_tree(&options, None, async |starting| {
        let service = CancellationToken::new();
        let offer = options.offer(starting);
        let profile = Profile::of(
            offer,
            options.hostile,
            options.upstream.clone(),
            starting.watch.clone(),
        );
        let session_args = SessionArgs {
            registry: starting.registry.clone(),
            service: service.clone(),
            watch: profile.watch().clone(),
            style: profile.notify(),
        };
        // Unnamed: a session, whose end is routine for the supervisor.
        let (session, _) =
            Actor::spawn_linked(None, Session, session_args, starting.supervisor.cell())
                .await
                .map_err(|e| startup_error("session", e))?;
        let registry = starting.registry.clone();
        Ok((McpHandler::new(registry, session, profile), service))
    })
    .await?;

    let mut handle = handle;
    // One client: when it goes, the server goes. It is gone when its input
    // ends or the service ends, whichever comes first: the input's end comes
    // before rmcp's drain, which must not hold up shutdown.
    let client_gone = CancellationToken::new();
    let transport = InputWatch::new(Gate::new(transport.into_transport()), client_gone.clone());
    let on_gone = handle.supervisor.clone();
    let gone = client_gone.clone();
    tokio::spawn(async move {
        gone.cancelled().await;
        on_gone.shutdown(ShutdownCause::TransportClosed);
    });
    let silent = options.upstream.as_ref().is_some_and(|u| u.answer_nothing);
    handle.service = Some(tokio::spawn(async move {
        if silent {
            // A hung upstream: it reads every message and answers none.
            let mut transport = transport;
            while Transport::<RoleServer>::receive(&mut transport)
                .await
                .is_some()
            {}
            client_gone.cancel();
            return;
        }
        match serve_server_with_ct(handler, transport, service).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(ServerInitializeError::ConnectionClosed(_) | ServerInitializeError::Cancelled) => {}
            Err(error) => tracing::warn!(%error, "the client's session ended before it began"),
        }
        client_gone.cancel();
    }));
    handle.begin_serving(None);
    Ok(handle)
}

/// Start a server for any number of clients over Streamable HTTP. Returns the
/// address it listens on (which names the port when `http.addr` asked for
/// port 0). Clients come and go; only a signal, [`ServerHandle::shutdown`] or
/// a failure stops the server.
pub async fn start_http(
    options: Options,
    http: HttpOptions,
) -> Result<(ServerHandle, SocketAddr), StartupError> {
    let addr = http.addr;
    let bind_error = |source| StartupError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    let mcp_url = format!("http://{bound}{MCP_PATH}");
    let (handle, http_server) = start_tree(&options, Some(mcp_url), async |starting| {
        let served = starting
            .upstreams
            .all()
            .iter()
            .map(|upstream| {
                let spec = upstream.spec.as_ref();
                let offer = Offer {
                    prompts: spec.map_or(options.prompts.is_some(), |s| s.size.prompts.is_some()),
                    resources: spec
                        .map_or(options.resources.is_some(), |s| s.size.resources.is_some()),
                    ..options.offer(starting)
                };
                // The server's one upstream is watched by whatever watches
                // the run, a scenario's timeline too.
                let watch = match starting.upstreams.is_fleet() {
                    true => upstream.watch.clone(),
                    false => starting.watch.clone(),
                };
                let profile = Profile::of(offer, options.hostile, upstream.spec.clone(), watch);
                (Arc::clone(upstream), profile)
            })
            .collect();
        let args = HttpArgs {
            listener,
            options: http,
            served,
            fleet: starting.upstreams.is_fleet(),
            supervisor: starting.supervisor.clone(),
            drop_streams: options.scenario.as_ref().is_some_and(|s| s.drops_streams()),
        };
        crate::http::spawn(args).await
    })
    .await?;
    handle.begin_serving(http_server.into_iter().next());
    Ok((handle, bound))
}

/// Spawn the supervisor and its children in the order the module doc
/// explains: the recorder and the registry, the triggers that the edges must
/// know of, then `edge` (what serves the clients), the other triggers, the
/// ready file and the pidfile writer. If any fails, whatever did start is
/// stopped again. A server with an `mcp_url` serves many clients over HTTP,
/// and logs each session that opens and closes.
async fn start_tree<T>(
    options: &Options,
    mcp_url: Option<String>,
    edge: impl AsyncFnOnce(&Starting) -> Result<T, StartupError>,
) -> Result<(ServerHandle, T), StartupError> {
    let start = Instant::now();
    // Before anything is logged, bound or served: a path that cannot be
    // written is refused with its one line.
    check_paths(options)?;
    // First, so that nobody mistakes a hostile run for a normal one.
    let scenario = options
        .scenario
        .as_ref()
        .map(|scenario| scenario.describe());
    let knobs: Vec<String> = scenario
        .into_iter()
        .chain(options.hostile.describe())
        .collect();
    if !knobs.is_empty() {
        tracing::warn!("hostile: {}", knobs.join(" "));
    }
    // Each upstream that is more than a plain server: its names and knobs.
    let upstreams = options.fleet.iter().flat_map(|fleet| &fleet.upstreams);
    let shapes: Vec<String> = options
        .upstream
        .iter()
        .chain(upstreams)
        .filter_map(|u| u.describe())
        .collect();
    if !shapes.is_empty() {
        tracing::warn!("fleet: {}", shapes.join("; "));
    }
    // With the hostile behaviours: a recorded run says so from the start.
    if let Some(recording) = options.recording() {
        tracing::info!("recording the client report: {recording}");
    }
    // Bound first, so that a bad address fails before anything starts.
    let control = match &options.control {
        Some(control) => {
            let addr = control.addr;
            let bind_error = |source| StartupError::ControlBind { addr, source };
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(bind_error)?;
            let bound = listener.local_addr().map_err(bind_error)?;
            Some((listener, bound))
        }
        None => None,
    };
    let mut ready = serde_json::json!({
        "pid": std::process::id(),
        "mcp_url": mcp_url,
        "control_url": control.as_ref().map(|(_, bound)| format!("http://{bound}")),
    });
    if let (Some(fleet), Some(base)) = (&options.fleet, &mcp_url) {
        // A fleet serves nothing at `/mcp`: its upstreams are below it.
        let urls: serde_json::Map<String, serde_json::Value> = fleet
            .upstreams
            .iter()
            .map(|u| (u.name.clone(), format!("{base}/{}", u.name).into()))
            .collect();
        ready["mcp_url"] = serde_json::Value::Null;
        ready["upstreams"] = urls.into();
    }
    let control_answered = control.as_ref().map(|_| CancellationToken::new());
    let control_listener = control.map(|(listener, _)| listener);
    let many_clients = mcp_url.is_some();
    let (outcome_tx, outcome) = oneshot::channel();
    let supervisor = SupervisorHandle::start(outcome_tx).await?;
    let (serving, serving_rx) = watch::channel(None);

    let started = CancellationToken::new();
    let children = async {
        // Only a server with a control endpoint has a scraper to pay for.
        let metrics = options
            .control
            .as_ref()
            .map(|_| MetricsWatcher::new(if many_clients { "http" } else { "stdio" }));
        let upstreams =
            spawn_upstreams(&supervisor, options, metrics.as_ref(), many_clients, start).await?;
        let first = upstreams.first();
        let registry = first.registry.clone();
        let mut starting = Starting {
            registry: registry.clone(),
            supervisor: supervisor.clone(),
            watch: first.watch.clone(),
            started: started.clone(),
            serving: serving_rx,
            trigger_tools: false,
            upstreams: Arc::new(upstreams),
            signals_to: options.signals_to.clone(),
        };
        // Every trigger, made from the options that ask for it: adding one
        // is one line here.
        let triggers = [
            timeline::trigger(options.scenario.clone()),
            trigger::trigger_tools(options.trigger_tools),
            crate::control::actor::trigger(
                control_listener,
                options.control.clone(),
                control_answered.clone(),
                metrics,
            ),
            signals::trigger(options.handle_signals),
        ];
        let (before, after): (Vec<_>, Vec<_>) = triggers
            .into_iter()
            .flatten()
            .partition(|trigger| trigger.stage() == Stage::BeforeEdges);
        for trigger in before {
            trigger.start(&mut starting).await?;
        }
        let edge = edge(&starting).await?;
        for trigger in after {
            trigger.start(&mut starting).await?;
        }
        spawn_files(&supervisor, options, ready).await?;
        Ok((registry, edge))
    };
    let (registry, edge) = match children.await {
        Ok(children) => {
            started.cancel();
            children
        }
        Err(error) => {
            // Stops whatever did start; the pidfile, if written, goes with it.
            supervisor.shutdown(ShutdownCause::Requested);
            let _ = outcome.await;
            return Err(error);
        }
    };

    tracing::info!(
        pid = std::process::id(),
        pidfile = %options.pidfile.as_deref().map_or("(none)".into(), |p| p.display().to_string()),
        tools = options.tools,
        "dynamic-mcp-server started"
    );
    let handle = ServerHandle {
        supervisor,
        registry,
        outcome,
        service: None,
        serving,
        control_answered,
    };
    Ok((handle, edge))
}

/// Refuse every path the server would write (the ready file, the pidfile,
/// the report) that cannot be written, in the order they are written.
/// Each writer checks its path again when it writes.
fn check_paths(options: &Options) -> Result<(), StartupError> {
    type Refusal = fn(PathBuf, std::io::Error) -> StartupError;
    let paths: [(&Option<PathBuf>, Refusal); 3] = [
        (&options.ready_file, |path, source| {
            StartupError::ReadyFile { path, source }
        }),
        (&options.pidfile, |path, source| StartupError::Pidfile {
            path,
            source,
        }),
        (&options.report, |path, source| StartupError::Report {
            path,
            source,
        }),
    ];
    for (path, refusal) in paths {
        if let Some(path) = path {
            crate::actors::pidfile::check_writable(path)
                .map_err(|source| refusal(path.clone(), source))?;
        }
    }
    Ok(())
}

/// Each upstream's Recorder (when the run is recorded: `--report` or
/// `--control`) and Registry: a fleet's, or the server's one.
async fn spawn_upstreams(
    supervisor: &SupervisorHandle,
    options: &Options,
    metrics: Option<&Arc<MetricsWatcher>>,
    many_clients: bool,
    start: Instant,
) -> Result<Upstreams, StartupError> {
    let specs: Vec<Option<Arc<UpstreamSpec>>> = match &options.fleet {
        Some(fleet) => fleet.upstreams.iter().cloned().map(Some).collect(),
        None => vec![options.upstream.clone()],
    };
    let mut all = Vec::with_capacity(specs.len());
    for spec in specs {
        // The recorder and the scenario timeline join here.
        let mut watchers: Vec<Arc<dyn Watcher>> = Vec::new();
        let recorder = match options.recording() {
            Some(_) => {
                let args = RecorderArgs {
                    // A fleet's reports are served, not written.
                    path: options.report.clone().filter(|_| options.fleet.is_none()),
                    start,
                };
                Some(supervisor.spawn(RECORDER, Recorder, args).await?)
            }
            None => None,
        };
        if let Some(recorder) = &recorder {
            watchers.push(Recording::new(recorder));
        }
        if let Some(metrics) = metrics {
            watchers.push(metrics.clone());
        }
        let watch = Watch::new(watchers);
        // A fleet's upstream logs no session line: a hundred upstreams'
        // counts, unnamed, would say nothing (`GET /state` names them).
        let (size, name, log_sessions) = match &spec {
            Some(spec) if options.fleet.is_some() => (
                spec.size,
                upstream_actor_name("registry", &spec.name),
                false,
            ),
            _ => (options.size(), "registry", many_clients),
        };
        let args = RegistryArgs {
            size,
            log_sessions,
            watch: watch.clone(),
        };
        let registry = RegistryHandle::from(supervisor.spawn(name, Registry, args).await?);
        all.push(Arc::new(Upstream::new(spec, registry, recorder, watch)));
    }
    Ok(Upstreams::new(all, options.fleet.is_some()))
}

/// The ready file, then the pidfile: what says the server has started.
async fn spawn_files(
    supervisor: &SupervisorHandle,
    options: &Options,
    ready: serde_json::Value,
) -> Result<(), StartupError> {
    if let Some(path) = &options.ready_file {
        let args = ReadyFileArgs {
            path: path.clone(),
            contents: ready,
        };
        supervisor
            .spawn("ready file writer", ReadyFile, args)
            .await?;
    }
    if let Some(path) = &options.pidfile {
        supervisor
            .spawn("pidfile writer", PidfileWriter, path.clone())
            .await?;
    }
    Ok(())
}

/// Serve one client over this process's stdin and stdout until it goes away
/// or a signal stops the server.
///
/// Every answer queued by then is written whole before it returns, however
/// slowly the client reads; only a client that takes no byte for
/// `WRITE_STALL_TIMEOUT` is given up on (see docs/guarantees.md).
pub async fn serve_stdio(options: Options) -> Result<(), Error> {
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let transport = LineTransport::new(stdin, stdout);
    let output = transport.output();
    let server = start(options, transport).await?;
    let outcome = server.wait().await;
    if !output.finish(WRITE_STALL_TIMEOUT).await {
        tracing::warn!(
            unwritten = output.unwritten(),
            "the client stopped reading stdout; exiting without the rest"
        );
    }
    Ok(outcome?)
}

/// Serve MCP over Streamable HTTP until a signal stops the server.
pub async fn serve_http(options: Options, http: HttpOptions) -> Result<(), Error> {
    let (server, _) = start_http(options, http).await?;
    Ok(server.wait().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a test holds on to: dropping the client end would close the
    /// transport and stop the server.
    struct Running {
        _dir: tempfile::TempDir,
        _client_io: tokio::io::DuplexStream,
    }

    /// A server with `tools` tools and a pidfile in a fresh temp dir, waiting
    /// for a client that never speaks.
    async fn with_pidfile(tools: usize) -> (Running, PathBuf, ServerHandle) {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("server.pid");
        let (server_io, client_io) = tokio::io::duplex(1024);
        let options = Options::new(tools).pidfile(&pidfile);
        let server = start(options, tokio::io::split(server_io)).await.unwrap();
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        assert_eq!(pid, std::process::id().to_string());
        let running = Running {
            _dir: dir,
            _client_io: client_io,
        };
        (running, pidfile, server)
    }

    #[tokio::test]
    async fn a_failed_actor_stops_the_server_and_removes_the_pidfile() {
        let (_running, pidfile, server) = with_pidfile(1).await;
        server.registry.actor().kill();
        match server.wait().await {
            Err(ServerError::ActorFailed { actor, .. }) => assert_eq!(actor, "registry"),
            other => panic!("expected a registry failure, got {other:?}"),
        }
        assert!(!pidfile.exists(), "the pidfile goes with the server");
    }

    #[tokio::test]
    async fn a_shutdown_removes_the_pidfile() {
        let (_running, pidfile, server) = with_pidfile(2).await;
        assert_eq!(server.add_tool().await.unwrap(), 3);
        server.shutdown().await.unwrap();
        assert!(!pidfile.exists());
    }
}
