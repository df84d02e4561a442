//! The ReadyFile actor: writes the ready file when it starts and removes it
//! when it stops.
//!
//! The ready file tells a test everything it needs to reach the server (its
//! PID, and the MCP and control URLs where they exist) as one JSON object, so
//! that no test parses logs to find a port. It is written atomically, like the
//! pidfile, and before it: a test that waits for either finds the server ready.

use std::path::PathBuf;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::pidfile::write_atomically;
use crate::error::StartupError;

/// The writer takes no messages: it acts only when it starts and stops.
pub enum ReadyFileMsg {}

pub struct ReadyFileArgs {
    pub path: PathBuf,
    /// The JSON object to write.
    pub contents: serde_json::Value,
}

pub struct ReadyFile;

pub struct ReadyFileState {
    /// `None` once removed.
    path: Option<PathBuf>,
}

impl Drop for ReadyFileState {
    /// A backstop for the paths on which `post_stop` does not run.
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Actor for ReadyFile {
    type Msg = ReadyFileMsg;
    type State = ReadyFileState;
    type Arguments = ReadyFileArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ReadyFileArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut bytes = serde_json::to_vec(&args.contents)?;
        bytes.push(b'\n');
        write_atomically(&args.path, &bytes).map_err(|source| StartupError::ReadyFile {
            path: args.path.clone(),
            source,
        })?;
        Ok(ReadyFileState {
            path: Some(args.path),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(path) = state.path.take()
            && let Err(error) = std::fs::remove_file(&path)
        {
            tracing::warn!(ready_file = %path.display(), %error, "cannot remove the ready file");
        }
        Ok(())
    }
}
