//! Logging: every line goes to stderr, since stdout carries only JSON-RPC.

use tracing_subscriber::EnvFilter;

use crate::cli::LogLevel;

/// Install the stderr logger. `--log-level` wins over `RUST_LOG`, which wins
/// over the default, info. At info and below the libraries' chatter (rmcp logs
/// every notification it receives at info) is held to warnings.
pub fn init(level: Option<LogLevel>) {
    let filter = match level {
        Some(level) => directives(level),
        None => match std::env::var("RUST_LOG") {
            Ok(env) if !env.is_empty() => env,
            _ => directives(LogLevel::Info),
        },
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(EnvFilter::new(filter))
        .init();
}

fn directives(level: LogLevel) -> String {
    match level {
        LogLevel::Debug | LogLevel::Trace => level.as_str().to_owned(),
        _ => format!("{},rmcp=warn,ractor=warn", level.as_str()),
    }
}
