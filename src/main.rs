//! The binary: parse the command line, run the stdio or HTTP server, map the
//! result to an exit status (0 on a clean shutdown, 2 for bad start-up input,
//! 1 for a failure while running).

use std::process::ExitCode;

use clap::Parser;
use dynamic_mcp_server::actors::signals;
use dynamic_mcp_server::cli::Cli;
use dynamic_mcp_server::{Error, StartupError, logging, serve_http, serve_stdio};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_level);
    let result = cli.options().map_err(Error::from).and_then(|options| {
        // Before any thread starts, so that every thread inherits the block:
        // the change signals then stay pending until the signal listener's
        // own thread reads them (see `actors::signals`).
        signals::block_change_signals().map_err(StartupError::Signals)?;
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
