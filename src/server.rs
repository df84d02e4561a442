//! Starting and stopping a server: the public API.
//!
//! [`start`] builds the actor tree for one client over any rmcp transport and
//! returns a [`ServerHandle`]; [`serve_stdio`] is what the binary runs. The
//! start order matters: the signal handlers are installed before the pidfile is
//! written, so a SIGHUP sent by anyone who has read the pidfile is never fatal,
//! and the session subscribes to the registry before either, so no change that
//! happens before the client initializes goes unnotified.

use std::path::PathBuf;
use std::time::Duration;

use ractor::{Actor, ActorRef, SpawnErr, call};
use rmcp::RoleServer;
use rmcp::service::{ServerInitializeError, serve_server_with_ct};
use rmcp::transport::IntoTransport;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::actors::pidfile::PidfileWriter;
use crate::actors::registry::{Registry, RegistryMsg};
use crate::actors::session::{Session, SessionArgs};
use crate::actors::signals::{SignalListener, SignalListenerArgs};
use crate::actors::supervisor::{Outcome, ShutdownCause, Supervisor, SupervisorMsg};
use crate::error::{Error, ServerError, StartupError};
use crate::mcp::McpHandler;
use crate::transport::{InputWatch, LineTransport};

/// How long a stopped server waits for rmcp to write what is still in flight,
/// such as the final result of each listen stream that shutdown ended. rmcp
/// itself would wait up to 2 s; with the streams ended it needs a moment.
const SERVICE_STOP_TIMEOUT: Duration = Duration::from_millis(500);

/// What a server starts with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The initial number of tools, at least 1.
    pub tools: usize,
    /// Where to write the PID; `None` writes no pidfile.
    pub pidfile: Option<PathBuf>,
    /// Whether SIGHUP, SIGTERM and SIGINT drive this server. A server embedded
    /// in a test process usually leaves the process's signals alone.
    pub handle_signals: bool,
}

impl Options {
    /// `tools` tools, no pidfile, no signal handling.
    pub fn new(tools: usize) -> Self {
        Self {
            tools,
            pidfile: None,
            handle_signals: false,
        }
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
/// goes away.
pub struct ServerHandle {
    supervisor: ActorRef<SupervisorMsg>,
    registry: ActorRef<RegistryMsg>,
    outcome: oneshot::Receiver<Outcome>,
    /// The rmcp service task.
    service: JoinHandle<()>,
}

impl ServerHandle {
    /// Add the next tool and notify the client, exactly as a SIGHUP does.
    /// Returns the tool count after the addition.
    pub async fn add_tool(&self) -> Result<usize, ServerError> {
        self.registry
            .cast(RegistryMsg::AddTool)
            .map_err(|_| ServerError::Stopped)?;
        self.tool_count().await
    }

    /// The current number of tools.
    pub async fn tool_count(&self) -> Result<usize, ServerError> {
        call!(self.registry, RegistryMsg::Snapshot)
            .map(|tools| tools.len())
            .map_err(|_| ServerError::Stopped)
    }

    /// Stop the server (the same path as SIGTERM) and wait until it has stopped.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        // Already stopping is fine: the outcome still arrives.
        let _ = self
            .supervisor
            .cast(SupervisorMsg::Shutdown(ShutdownCause::Requested));
        self.wait().await
    }

    /// Wait until the server stops by itself: its client went away, a signal
    /// stopped it, or an actor failed.
    pub async fn wait(self) -> Result<(), ServerError> {
        let outcome = self.outcome.await.unwrap_or(Err(ServerError::Stopped));
        // The actors have stopped, so the service is stopping too; its last
        // writes are worth a short wait, never a long one.
        if tokio::time::timeout(SERVICE_STOP_TIMEOUT, self.service)
            .await
            .is_err()
        {
            tracing::debug!("the rmcp service did not stop in time; leaving it");
        }
        outcome
    }
}

/// Start a server for one client on `transport`: any rmcp server transport,
/// such as a `(reader, writer)` pair or a [`LineTransport`].
pub async fn start<T, E, A>(options: Options, transport: T) -> Result<ServerHandle, StartupError>
where
    T: IntoTransport<RoleServer, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let (outcome_tx, outcome) = oneshot::channel();
    let (supervisor, _) = Actor::spawn(None, Supervisor, outcome_tx)
        .await
        .map_err(|e| startup_error("supervisor", e))?;

    let children = spawn_children(&supervisor, &options).await;
    let (registry, handler, service) = match children {
        Ok(children) => children,
        Err(error) => {
            // Stops whatever did start; the pidfile, if written, goes with it.
            let _ = supervisor.cast(SupervisorMsg::Shutdown(ShutdownCause::Requested));
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

    // The client is gone when its input ends or the service ends, whichever
    // comes first: the input's end comes before rmcp's drain, which must not
    // hold up shutdown.
    let client_gone = CancellationToken::new();
    let transport = InputWatch::new(transport.into_transport(), client_gone.clone());
    let on_gone = supervisor.clone();
    let gone = client_gone.clone();
    tokio::spawn(async move {
        gone.cancelled().await;
        let _ = on_gone.cast(SupervisorMsg::Shutdown(ShutdownCause::TransportClosed));
    });
    let service = tokio::spawn(async move {
        match serve_server_with_ct(handler, transport, service).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(ServerInitializeError::ConnectionClosed(_) | ServerInitializeError::Cancelled) => {}
            Err(error) => tracing::warn!(%error, "the client's session ended before it began"),
        }
        client_gone.cancel();
    });

    Ok(ServerHandle {
        supervisor,
        registry,
        outcome,
        service,
    })
}

/// Spawn the actors under `supervisor` in the order the module doc explains.
async fn spawn_children(
    supervisor: &ActorRef<SupervisorMsg>,
    options: &Options,
) -> Result<(ActorRef<RegistryMsg>, McpHandler, CancellationToken), StartupError> {
    let cell = supervisor.get_cell();
    let (registry, _) = Actor::spawn_linked(None, Registry, options.tools, cell.clone())
        .await
        .map_err(|e| startup_error("registry", e))?;

    let service = CancellationToken::new();
    let session_args = SessionArgs {
        registry: registry.clone(),
        service: service.clone(),
    };
    let (session, _) = Actor::spawn_linked(None, Session, session_args, cell.clone())
        .await
        .map_err(|e| startup_error("session", e))?;

    if options.handle_signals {
        let args = SignalListenerArgs {
            registry: registry.clone(),
            supervisor: supervisor.clone(),
        };
        Actor::spawn_linked(None, SignalListener, args, cell.clone())
            .await
            .map_err(|e| startup_error("signal listener", e))?;
    }
    if let Some(path) = &options.pidfile {
        Actor::spawn_linked(None, PidfileWriter, path.clone(), cell)
            .await
            .map_err(|e| startup_error("pidfile writer", e))?;
    }
    let handler = McpHandler::new(registry.clone(), session);
    Ok((registry, handler, service))
}

/// A failed spawn as a start-up error, keeping the actor's own error (such as
/// the pidfile's) when it has one.
fn startup_error(actor: &'static str, error: SpawnErr) -> StartupError {
    match error {
        SpawnErr::StartupFailed(inner) => match inner.downcast::<StartupError>() {
            Ok(startup) => *startup,
            Err(other) => match other.downcast::<std::io::Error>() {
                Ok(io) if actor == "signal listener" => StartupError::Signals(*io),
                Ok(io) => StartupError::Actor {
                    actor,
                    reason: io.to_string(),
                },
                Err(other) => StartupError::Actor {
                    actor,
                    reason: other.to_string(),
                },
            },
        },
        other => StartupError::Actor {
            actor,
            reason: other.to_string(),
        },
    }
}

/// Serve one client over this process's stdin and stdout until it goes away
/// or a signal stops the server.
pub async fn serve_stdio(options: Options) -> Result<(), Error> {
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let server = start(options, LineTransport::new(stdin, stdout)).await?;
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
        server.registry.kill();
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
