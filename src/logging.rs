//! Logging: every line goes to stderr, since stdout carries only JSON-RPC,
//! and ERROR means the server is wrong.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::prelude::*;

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
    install(&filter);
}

/// Install the stderr logger for errors only, libraries' included, unless
/// `RUST_LOG` says otherwise: for a command that runs servers in its own
/// process (`check`), whose routine lines are no news to its user.
pub fn init_errors_only() {
    match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => install(&env),
        _ => install("error"),
    }
}

fn install(filter: &str) {
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(ClientDisconnects);
    tracing_subscriber::registry()
        .with(targets(filter))
        .with(stderr)
        .init();
}

/// `RUST_LOG`'s `target=level` directives, each parsed on its own so that a
/// bad one is reported and skipped, as `EnvFilter` does, and the rest apply.
///
/// `Targets`, not `EnvFilter`: its span and field-value filters need regex,
/// which made the binary about 0.5 MB larger, and a binary's size is most of
/// this server's idle memory (see BENCHMARKS.md).
fn targets(filter: &str) -> Targets {
    let mut targets = Targets::new();
    let mut default = None;
    let mut any_valid = false;
    for directive in filter.split(',').filter(|directive| !directive.is_empty()) {
        match directive.parse::<Targets>() {
            Ok(parsed) => {
                any_valid = true;
                default = parsed.default_level().or(default);
                targets.extend(parsed);
            }
            Err(error) => eprintln!("warning: ignoring log directive {directive:?}: {error}"),
        }
    }
    // As `EnvFilter::new`: errors only when nothing valid was given, and
    // nothing from targets left unnamed when some were named.
    let fallback = if any_valid {
        LevelFilter::OFF
    } else {
        LevelFilter::ERROR
    };
    targets.with_default(default.unwrap_or(fallback))
}

fn directives(level: LogLevel) -> String {
    match level {
        LogLevel::Debug | LogLevel::Trace => level.as_str().to_owned(),
        _ => format!("{},rmcp=warn,ractor=warn", level.as_str()),
    }
}

/// Drops rmcp's ERROR `failed to send pending response during drain`, and
/// its ERROR `fail to response message` for the same event seen a moment
/// earlier.
///
/// rmcp logs it when a request's service ends while a handler's answer is
/// still on its way and the transport no longer takes it. Here that happens
/// only when the client has gone: a client ending a `subscriptions/listen`
/// stream closes the stream the listen result would go to, and a stdio
/// client that closed its pipes takes no answer. A normal disconnect, not a
/// server fault; the session's end is logged at INFO, the stream's at DEBUG
/// ([`crate::mcp`]). rmcp has no other level for it, so it is filtered here.
/// Which of the two lines rmcp writes depends only on whether its service
/// loop had begun to drain when the answer came: under load the listen
/// result can reach the loop first and fail to send with `channel closed`
/// (seen once in a parallel run of
/// `protocol::http_a_client_ending_its_listen_stream_is_no_error`).
struct ClientDisconnects;

impl ClientDisconnects {
    const TARGET: &str = "rmcp::service";
    const MESSAGES: [&str; 2] = [
        "failed to send pending response during drain",
        "fail to response message",
    ];
}

impl<S> Filter<S> for ClientDisconnects {
    fn enabled(&self, _metadata: &Metadata<'_>, _context: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _context: &Context<'_, S>) -> bool {
        let metadata = event.metadata();
        if *metadata.level() != Level::ERROR || metadata.target() != Self::TARGET {
            return true;
        }
        Self::MESSAGES.iter().all(|&text| {
            let mut message = MessageIs(text, false);
            event.record(&mut message);
            !message.1
        })
    }
}

/// Whether an event's message is the given text.
struct MessageIs(&'static str, bool);

impl Visit for MessageIs {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.1 = format!("{value:?}") == self.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn the_default_directives_hold_the_libraries_to_warnings() {
        let filter = targets(&directives(LogLevel::Info));
        assert!(filter.would_enable("dynamic_mcp_server::server", &Level::INFO));
        assert!(!filter.would_enable("dynamic_mcp_server::server", &Level::DEBUG));
        assert!(!filter.would_enable("rmcp::service", &Level::INFO));
        assert!(filter.would_enable("rmcp::service", &Level::WARN));
        assert!(!filter.would_enable("ractor::actor", &Level::INFO));
    }

    #[test]
    fn a_bad_directive_is_skipped_and_the_rest_apply() {
        let filter = targets("debug,rmcp=loud,ractor=error");
        assert!(filter.would_enable("rmcp::service", &Level::DEBUG));
        assert!(!filter.would_enable("ractor::actor", &Level::WARN));
        assert!(!filter.would_enable("dynamic_mcp_server", &Level::TRACE));
    }

    #[test]
    fn named_targets_alone_leave_the_rest_off_and_nothing_valid_means_errors() {
        let filter = targets("dynamic_mcp_server=trace");
        assert!(filter.would_enable("dynamic_mcp_server::http", &Level::TRACE));
        assert!(!filter.would_enable("rmcp::service", &Level::ERROR));
        let filter = targets("nonsense=level");
        assert!(filter.would_enable("rmcp::service", &Level::ERROR));
        assert!(!filter.would_enable("rmcp::service", &Level::WARN));
    }
}
