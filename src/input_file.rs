//! Reading a file the user names as input (`--toolcount-file`,
//! `--scenario`): only a regular file, and only up to a size. A FIFO nobody
//! writes would hang start-up, a device such as `/dev/zero` would fill
//! memory, and both are refused at once instead.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputFileError {
    /// It could not be opened or read, or it is not a regular file.
    #[error("{0}")]
    Unreadable(std::io::Error),
    /// It holds more than the most bytes it may.
    #[error("longer than {0} bytes")]
    TooLong(u64),
}

/// The contents of the regular file at `path` (a symlink to one is fine), if
/// it holds at most `max` bytes. Never waits: a FIFO is opened without
/// waiting for a writer, and then refused.
pub fn read_regular_file(path: &Path, max: u64) -> Result<Vec<u8>, InputFileError> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(InputFileError::Unreadable)?;
    if !file
        .metadata()
        .map_err(InputFileError::Unreadable)?
        .is_file()
    {
        return Err(InputFileError::Unreadable(std::io::Error::other(
            "it is not a regular file",
        )));
    }
    // One byte past the cap tells a file at the cap from a longer one, even
    // one that grows while it is read.
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(InputFileError::Unreadable)?;
    if bytes.len() as u64 > max {
        return Err(InputFileError::TooLong(max));
    }
    Ok(bytes)
}

/// `text` read as TOML (a scenario or fleet file), or the one line that
/// says where it is not: `not valid TOML (line 3): ...`.
pub fn parse_toml(text: &str) -> Result<serde_json::Value, String> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().trim().replace('\n', " ");
        match line {
            Some(line) => format!("not valid TOML (line {line}): {message}"),
            None => format!("not valid TOML: {message}"),
        }
    })
}
