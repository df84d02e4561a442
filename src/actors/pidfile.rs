//! The PidfileWriter actor: writes the pidfile when it starts and removes it
//! when it stops.
//!
//! The write is atomic (a temporary file in the same directory, then a rename),
//! so a reader polling for the file never sees it empty or half written, and an
//! existing regular file, such as an empty one a test created, is replaced.
//!
//! The path is the user's, and the process may run as root, so nothing else
//! at it or near it is ever touched:
//! - a path that exists and is not a regular file (a device such as
//!   `/dev/null`, a FIFO, a directory, a symlink) is refused before anything
//!   is written;
//! - the temporary file is created exclusively (`O_CREAT | O_EXCL`, and
//!   `O_NOFOLLOW`), so a file or symlink planted at its predictable name is
//!   never opened, truncated or followed; another name is tried instead;
//! - on exit the pidfile is removed only if it is still the file this process
//!   wrote (same device and inode) and still holds this process's PID, so a
//!   second server given the same path, or a user who replaced the file, keeps
//!   theirs.
//!
//! The ready file is written and removed by the same rules (`write_atomically`
//! and `Written::remove`).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::error::StartupError;

/// How many temporary names to try when earlier ones exist already.
const TEMP_NAME_ATTEMPTS: u32 = 16;

/// The writer takes no messages: it acts only when it starts and stops.
pub enum PidfileMsg {}

pub struct PidfileWriter;

pub struct PidfileState {
    /// `None` once removed.
    written: Option<Written>,
}

/// A file this process wrote: where, which file it was, and what it holds.
pub(crate) struct Written {
    path: PathBuf,
    dev: u64,
    ino: u64,
    contents: Vec<u8>,
}

impl Written {
    /// Remove the file if it is still ours; leave anything else alone.
    pub(crate) fn remove(self) {
        match self.still_ours() {
            Ok(true) => {
                if let Err(error) = std::fs::remove_file(&self.path) {
                    tracing::warn!(file = %self.path.display(), %error, "cannot remove our file");
                }
            }
            Ok(false) => tracing::warn!(
                file = %self.path.display(),
                "our file was replaced by another; leaving it"
            ),
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(file = %self.path.display(), %error, "cannot check our file; leaving it")
            }
        }
    }

    fn still_ours(&self) -> std::io::Result<bool> {
        let metadata = std::fs::symlink_metadata(&self.path)?;
        if !metadata.file_type().is_file()
            || (metadata.dev(), metadata.ino()) != (self.dev, self.ino)
        {
            return Ok(false);
        }
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&self.path)?;
        // Read a little more than we wrote, never the whole of whatever
        // someone put there.
        let limit = self.contents.len() + 32;
        let mut text = Vec::with_capacity(limit);
        (&mut file).take(limit as u64).read_to_end(&mut text)?;
        Ok(text == self.contents)
    }
}

impl Drop for PidfileState {
    /// A backstop for the paths on which `post_stop` does not run (a panic, a
    /// kill): the pidfile must not outlive the server.
    fn drop(&mut self) {
        if let Some(written) = self.written.take() {
            written.remove();
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
        let pid = std::process::id().to_string();
        let written =
            write_atomically(&path, pid.as_bytes()).map_err(|source| StartupError::Pidfile {
                path: path.clone(),
                source,
            })?;
        Ok(PidfileState {
            written: Some(written),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(written) = state.written.take() {
            written.remove();
        }
        Ok(())
    }
}

/// Refuse a path that exists and is not a regular file: replacing it would
/// destroy it (`--pidfile /dev/null` as root deleted the machine's
/// `/dev/null`).
pub(crate) fn check_target(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_file() => Ok(()),
        Ok(metadata) => Err(std::io::Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "it exists and is not a regular file (a {}); refusing to replace it",
                kind_of(&metadata.file_type())
            ),
        )),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Whether a file can be written at `path` by the rules above: nothing but a
/// regular file is there, and its folder is a directory. Checked for every
/// path the server writes before anything is served, so that a bad one is
/// refused with one line instead of after the listeners have started.
pub(crate) fn check_writable(path: &Path) -> std::io::Result<()> {
    check_target(path)?;
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    if std::fs::metadata(folder)?.is_dir() {
        Ok(())
    } else {
        Err(std::io::Error::other("its folder is not a directory"))
    }
}

fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_symlink() {
        "symbolic link"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}

/// A new temporary file next to `path`, created exclusively: `.NAME.PID.tmp`,
/// or `.NAME.PID.N.tmp` when that exists (left over, or planted).
fn create_temp(path: &Path) -> std::io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path does not name a file"))?;
    let mut last_error = None;
    for attempt in 0..TEMP_NAME_ATTEMPTS {
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        match attempt {
            0 => temp_name.push(format!(".{pid}.tmp")),
            n => temp_name.push(format!(".{pid}.{n}.tmp")),
        }
        let temp = path.with_file_name(temp_name);
        // create_new is O_CREAT | O_EXCL, which never follows a symlink;
        // O_NOFOLLOW says so again for any platform where it would.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)
        {
            Ok(file) => return Ok((temp, file)),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.expect("at least one attempt"))
}

/// Write `contents` to `path` by the rules above: atomically, exclusively,
/// never over anything but a regular file.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<Written> {
    check_target(path)?;
    let (temp, mut file) = create_temp(path)?;
    let result = file
        .write_all(contents)
        .and_then(|()| file.metadata())
        .and_then(|metadata| {
            // Checked again just before the rename, which would replace
            // whatever is there.
            check_target(path)?;
            std::fs::rename(&temp, path)?;
            Ok(Written {
                path: path.to_owned(),
                dev: metadata.dev(),
                ino: metadata.ino(),
                contents: contents.to_owned(),
            })
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_temp_name_is_skipped_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("server.pid");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let planted = format!(".server.pid.{}.tmp", std::process::id());
        std::os::unix::fs::symlink(&victim, dir.path().join(planted)).unwrap();
        let written = write_atomically(&pidfile, b"42").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), "42");
        written.remove();
        assert!(!pidfile.exists());
    }

    #[test]
    fn a_replaced_pidfile_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("server.pid");
        let written = write_atomically(&pidfile, b"42").unwrap();
        // Same PID, another file (another server's rename): not ours.
        let other = dir.path().join("other");
        std::fs::write(&other, "42").unwrap();
        std::fs::rename(&other, &pidfile).unwrap();
        written.remove();
        assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), "42");
    }

    #[test]
    fn a_rewritten_pidfile_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("server.pid");
        let written = write_atomically(&pidfile, b"42").unwrap();
        std::fs::write(&pidfile, "43").unwrap();
        written.remove();
        assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), "43");
    }
}
