//! Running one scenario: a fresh server in this process, the client program
//! as the conformance suite runs it, and the checks.
//!
//! The server is always in this process, so that what it recorded needs no
//! file or socket of its own to come back: over HTTP the client gets its
//! URL; over stdio the client spawns the context's `command`, which is this
//! binary's hidden `check-relay` (see [`super::relay`]): it connects its
//! stdin and stdout to a Unix socket this process serves the scenario's
//! server on. Either way the server records the client report to a file in
//! the scenario's scratch folder, written when it stops.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::battery::BatteryScenario;
use super::grade::{self, CheckKind};
use crate::hostile::Hostile;
use crate::http::HttpOptions;
use crate::scenario::{Scenario, Setting};
use crate::server::{Options, ServerHandle, start, start_http};
use crate::transport::LineTransport;
use crate::verdict::{Check, SpecReference, Status};

/// The most bytes of the client's stdout, and of its stderr, kept.
const MAX_OUTPUT: usize = 1024 * 1024;

/// How long a stopping server may take to write its report.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How the client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    Http,
    Stdio,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Stdio => "stdio",
        }
    }
}

/// What a run of one scenario needs.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The client command, run through `sh -c`.
    pub client: String,
    pub transport: Transport,
    /// Kill the client after this long.
    pub timeout: Duration,
    /// This binary, for the stdio relay.
    pub exe: PathBuf,
}

/// One scenario's result: its checks and the client's output.
#[derive(Debug)]
pub struct Ran {
    pub checks: Vec<Check>,
    /// The client report the server recorded (with its views).
    pub report: Value,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A server of one scenario, however it is reached.
struct Served {
    /// Over stdio the server starts only when the client connects.
    server: tokio::task::JoinHandle<Option<ServerHandle>>,
    /// Cancelled once the client has exited: a server nobody connected to
    /// is not waited for.
    client_gone: CancellationToken,
    /// What the client is given: the URL (HTTP) or the command (stdio).
    reach: Reach,
}

enum Reach {
    Url(String),
    Command(Vec<String>),
}

impl Runner {
    /// Run `scenario` in the scratch folder `dir`: serve it, run the client,
    /// grade what it did.
    pub async fn run(&self, scenario: &BatteryScenario, dir: &Path) -> Result<Ran, String> {
        let report_path = dir.join("report.json");
        let served = self.serve(scenario, &report_path, dir).await?;
        let mut context = scenario.context();
        context["transport"] = json!(self.transport.as_str());
        let mut command = Command::new("sh");
        match &served.reach {
            Reach::Url(url) => {
                // The suite appends the URL as the last argument.
                command
                    .arg("-c")
                    .arg(format!("{} \"$@\"", self.client))
                    .arg("sh")
                    .arg(url);
            }
            Reach::Command(argv) => {
                context["command"] = json!(argv);
                command.arg("-c").arg(&self.client);
            }
        }
        command
            .env("MCP_CONFORMANCE_SCENARIO", scenario.name)
            .env("MCP_CONFORMANCE_PROTOCOL_VERSION", scenario.protocol)
            .env("MCP_CONFORMANCE_CONTEXT", context.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group: a timeout kills whatever it started.
            .process_group(0);
        let started = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run the client (sh -c {:?}): {e}", self.client))?;
        let group = child.id();
        let stdout = tokio::spawn(read_bounded(child.stdout.take()));
        let stderr = tokio::spawn(read_bounded(child.stderr.take()));
        let exit = tokio::time::timeout(self.timeout, child.wait()).await;
        // Whatever the client left running (a server it spawned, a helper)
        // goes with it.
        if let Some(group) = group {
            kill_group(group);
        }
        let exit: Option<ExitStatus> = match exit {
            Ok(status) => status.ok(),
            Err(_) => {
                let _ = child.kill().await;
                None
            }
        };
        let elapsed = started.elapsed();
        served.client_gone.cancel();
        let stdout = stdout.await.unwrap_or_default();
        let mut stderr = stderr.await.unwrap_or_default();
        let server = match tokio::time::timeout(STOP_TIMEOUT, served.server).await {
            Ok(Ok(server)) => server,
            _ => None,
        };
        if let Some(server) = server
            && tokio::time::timeout(STOP_TIMEOUT, server.shutdown())
                .await
                .is_err()
        {
            stderr.extend_from_slice(b"\n[check] the server did not stop in time\n");
        }
        let report = std::fs::read(&report_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .unwrap_or_else(|| json!({ "changes": [], "sessions": [] }));
        let mut checks = grade_scenario(scenario, &report);
        if exit.is_none() {
            checks.push(
                Check::new(
                    "client-finished",
                    "ClientFinished",
                    "The client finishes by itself after durationMs",
                    Status::Failure,
                )
                .details(json!({ "timeout_ms": self.timeout.as_millis() as u64 }))
                .error(format!(
                    "killed after the timeout ({:.1} s)",
                    elapsed.as_secs_f64()
                )),
            );
        }
        Ok(Ran {
            checks,
            report,
            stdout,
            stderr,
        })
    }

    /// Start the scenario's server, reachable as the transport says.
    async fn serve(
        &self,
        scenario: &BatteryScenario,
        report: &Path,
        dir: &Path,
    ) -> Result<Served, String> {
        let http = self.transport == Transport::Http;
        let setting = Setting {
            http,
            size: scenario.size(),
            hostile: Hostile::default(),
        };
        let mut timeline = Scenario::parse(scenario.timeline, true, &setting)
            .map_err(|e| format!("scenario {}: {e}", scenario.name))?;
        timeline.path = PathBuf::from(format!("check:{}", scenario.name));
        let mut options = Options::new(scenario.tools).scenario(timeline);
        options.prompts = scenario.prompts;
        options.resources = scenario.resources;
        options.view_tool = true;
        options.report = Some(report.to_owned());
        if http {
            let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let (server, addr) = start_http(options, HttpOptions::new(local))
                .await
                .map_err(|e| format!("cannot start the server: {e}"))?;
            return Ok(Served {
                server: tokio::spawn(async move { Some(server) }),
                client_gone: CancellationToken::new(),
                reach: Reach::Url(format!("http://{addr}{}", crate::http::MCP_PATH)),
            });
        }
        let socket = dir.join("server.sock");
        let listener = tokio::net::UnixListener::bind(&socket)
            .map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
        // One client: the first connection is served, the listener closes.
        let client_gone = CancellationToken::new();
        let gone = client_gone.clone();
        let server = tokio::spawn(async move {
            let (stream, _) = tokio::select! {
                // A client that connected and left is still served: its
                // connection waits in the backlog.
                biased;
                accepted = listener.accept() => accepted.ok()?,
                () = gone.cancelled() => return None,
            };
            drop(listener);
            let (read, write) = stream.into_split();
            match start(options, LineTransport::new(read, write)).await {
                Ok(server) => Some(server),
                Err(error) => {
                    tracing::warn!(%error, "the check server did not start");
                    None
                }
            }
        });
        let argv = vec![
            self.exe.display().to_string(),
            super::RELAY_COMMAND.to_owned(),
            socket.display().to_string(),
        ];
        Ok(Served {
            server,
            client_gone,
            reach: Reach::Command(argv),
        })
    }
}

/// The scenario's checks of `report`, each with the scenario's own spec
/// rules beside the check's.
pub fn grade_scenario(scenario: &BatteryScenario, report: &Value) -> Vec<Check> {
    let expect = scenario.expect();
    scenario
        .checks
        .iter()
        .map(|&kind: &CheckKind| {
            let mut check = grade::grade(kind, report, &expect);
            for spec in scenario.spec {
                if !check.spec_references.iter().any(|r| r.url == spec.1) {
                    check
                        .spec_references
                        .push(SpecReference::new(spec.0, spec.1));
                }
            }
            check
        })
        .collect()
}

/// Read all of `pipe`, keeping the first [`MAX_OUTPUT`] bytes.
async fn read_bounded(pipe: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let Some(mut pipe) = pipe else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    let mut dropped = 0;
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&chunk[..room]);
                dropped += n - room;
            }
        }
    }
    if dropped > 0 {
        kept.extend_from_slice(format!("\n[check] {dropped} more bytes not kept\n").as_bytes());
    }
    kept
}

/// SIGKILL to every process of the group `group` (the client's, which it
/// leads): nothing it started outlives its scenario.
fn kill_group(group: u32) {
    if let Ok(group) = i32::try_from(group) {
        // SAFETY: kill(2) with a negative pid signals a process group; it
        // touches no memory of ours.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
}
