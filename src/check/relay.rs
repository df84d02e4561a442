//! `dynamic-mcp-server check-relay SOCKET` (hidden): the server command a
//! stdio client of `check` spawns. It joins its stdin and stdout to the Unix
//! socket on which the `check` process serves the scenario's server, byte
//! for byte: the client speaks to that server exactly as to a server it
//! spawned, and the `check` process sees everything the server records.
//!
//! Its stdin's end shuts the socket's writing half, which the server reads as
//! the client gone; the socket's end (the server stopped) ends the relay.
//! Nothing but the server's bytes is written to stdout; errors go to stderr.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;

/// Relay stdin and stdout to the socket at `path` until the server ends.
pub fn main(path: &Path) -> ExitCode {
    let stream = match UnixStream::connect(path) {
        Ok(stream) => stream,
        Err(error) => {
            eprintln!(
                "error: check-relay: cannot connect to {}: {error}",
                path.display()
            );
            return ExitCode::from(1);
        }
    };
    let Ok(mut to_server) = stream.try_clone() else {
        eprintln!("error: check-relay: cannot use the socket twice");
        return ExitCode::from(1);
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to_server);
        let _ = to_server.shutdown(std::net::Shutdown::Write);
    });
    let mut from_server = stream;
    let mut stdout = std::io::stdout().lock();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match from_server.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                // Each chunk at once: a client waits on whole lines.
                if stdout
                    .write_all(&buffer[..n])
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    ExitCode::SUCCESS
}
