//! The process: parse the command line, run the stdio or HTTP server, map the
//! result to an exit status (0 on a clean shutdown, 2 for bad start-up input,
//! 1 for a failure while running).
//!
//! It lives in the library, not in `main.rs`, so that the server's code is
//! compiled once. Rust compiles a closure or an `async fn`'s future in the
//! crate that uses it: with this body in the binary crate, most of the
//! server was compiled there, and whatever the library reached on its own (a
//! parked HTTP session restarting rmcp's service loop) a second time in the
//! library, 0.46 MB of duplicate code, and the binary's size is most of its
//! idle memory (BENCHMARKS.md).

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::{Error, StartupError, actors, logging, serve_http, serve_stdio};

/// The binary's `main`. Never inlined into the binary crate, for the reason
/// above.
#[inline(never)]
pub fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(command) = cli.command.take() {
        return run(command);
    }
    logging::init(cli.log_level);
    let result = cli.options().map_err(Error::from).and_then(|options| {
        // Before any thread starts, so that every thread inherits the block:
        // the change signals then stay pending until the signal listener's
        // own thread reads them (see `actors::signals`).
        actors::signals::block_change_signals().map_err(StartupError::Signals)?;
        let http = cli.http_options();
        // One client needs one thread; many HTTP clients get every core.
        let mut builder = match http {
            Some(_) => tokio::runtime::Builder::new_multi_thread(),
            None => tokio::runtime::Builder::new_current_thread(),
        };
        let runtime = builder
            .enable_all()
            .build()
            .map_err(StartupError::Runtime)?;
        let result = match http {
            Some(http) => runtime.block_on(serve_http(options, http)),
            None => runtime.block_on(serve_stdio(options)),
        };
        // Everything has stopped; don't wait on a blocking stdin read.
        runtime.shutdown_background();
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Run a command other than the server.
fn run(command: Command) -> ExitCode {
    match command {
        Command::Check(args) => {
            // The scenarios' servers run in this process: their routine
            // lines (a hostile scenario, a refused cursor) are no news here.
            logging::init_errors_only();
            crate::check::main(args)
        }
        Command::CheckRelay { socket } => crate::check::relay::main(&socket),
        Command::Probe(args) => crate::probe::main(args),
    }
}
