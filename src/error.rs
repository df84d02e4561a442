//! The server's error types: what stops it from starting, and what stops it
//! while it runs. `main` maps the first to exit status 2 and the second to 1.

use std::path::PathBuf;

/// Bad start-up input: reported on one line before anything is served, and
/// no pidfile is left behind.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("--toolcount-file {}: cannot read it: {source}", path.display())]
    ToolcountUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--toolcount-file {}: {reason}", path.display())]
    ToolcountInvalid { path: PathBuf, reason: String },
    #[error("--tools: {reason}")]
    ToolsInvalid { reason: String },
    #[error("--pidfile {}: cannot write it: {source}", path.display())]
    Pidfile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--ready-file {}: cannot write it: {source}", path.display())]
    ReadyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--report {}: cannot write it there: {source}", path.display())]
    Report {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--control {addr}: cannot listen there: {source}")]
    ControlBind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("--http {addr}: cannot listen there: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("--scenario {}: {reason}", path.display())]
    Scenario { path: PathBuf, reason: String },
    #[error("--fleet {given}: {reason}")]
    Fleet { given: String, reason: String },
    /// `--upstream` or `--signals-to` names no upstream of the fleet.
    #[error("{flag} {name}: {reason}")]
    NoUpstream {
        flag: &'static str,
        name: String,
        reason: String,
    },
    #[error("cannot install the signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("cannot start the {actor} actor: {reason}")]
    Actor { actor: &'static str, reason: String },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Why a running server stopped other than by a clean shutdown.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServerError {
    #[error("the {actor} actor failed: {reason}")]
    ActorFailed { actor: String, reason: String },
    #[error("the server has already stopped")]
    Stopped,
    #[error("change refused: {0}")]
    Refused(crate::catalog::ChangeError),
}

/// Anything that ends the binary with a non-zero status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl Error {
    /// 2 for bad start-up input, as with a bad flag; 1 for a failure while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Startup(_) => 2,
            Error::Server(_) => 1,
        }
    }
}
