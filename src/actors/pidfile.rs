//! The PidfileWriter actor: writes the pidfile when it starts and removes it
//! when it stops.
//!
//! The write is atomic (a temporary file in the same directory, then a rename),
//! so a reader polling for the file never sees it empty or half written, and an
//! existing file, such as an empty one a test created, is replaced.

use std::io::Write;
use std::path::{Path, PathBuf};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::error::StartupError;

/// The writer takes no messages: it acts only when it starts and stops.
pub enum PidfileMsg {}

pub struct PidfileWriter;

pub struct PidfileState {
    /// `None` once removed.
    path: Option<PathBuf>,
}

impl Drop for PidfileState {
    /// A backstop for the paths on which `post_stop` does not run (a panic, a
    /// kill): the pidfile must not outlive the server.
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Actor for PidfileWriter {
    type Msg = PidfileMsg;
    type State = PidfileState;
    type Arguments = PathBuf;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        path: PathBuf,
    ) -> Result<Self::State, ActorProcessingErr> {
        write_atomically(&path, std::process::id().to_string().as_bytes()).map_err(|source| {
            StartupError::Pidfile {
                path: path.clone(),
                source,
            }
        })?;
        Ok(PidfileState { path: Some(path) })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(path) = state.path.take()
            && let Err(error) = std::fs::remove_file(&path)
        {
            tracing::warn!(pidfile = %path.display(), %error, "cannot remove the pidfile");
        }
        Ok(())
    }
}

/// Write `contents` to `path` through a temporary file in the same directory
/// and a rename, so that a reader never sees it half written.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path does not name a file"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);

    let result = std::fs::File::create(&temp)
        .and_then(|mut file| file.write_all(contents))
        .and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
