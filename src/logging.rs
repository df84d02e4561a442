//! Logging: every line goes to stderr, since stdout carries only JSON-RPC,
//! and ERROR means the server is wrong.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata};
use tracing_subscriber::EnvFilter;
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
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(ClientDisconnects);
    tracing_subscriber::registry()
        .with(EnvFilter::new(filter))
        .with(stderr)
        .init();
}

fn directives(level: LogLevel) -> String {
    match level {
        LogLevel::Debug | LogLevel::Trace => level.as_str().to_owned(),
        _ => format!("{},rmcp=warn,ractor=warn", level.as_str()),
    }
}

/// Drops rmcp's ERROR `failed to send pending response during drain`.
///
/// rmcp logs it when a request's service ends while a handler's answer is
/// still on its way and the transport no longer takes it. Here that happens
/// only when the client has gone: a client ending a `subscriptions/listen`
/// stream closes the stream the listen result would go to, and a stdio
/// client that closed its pipes takes no answer. A normal disconnect, not a
/// server fault; the session's end is logged at INFO, the stream's at DEBUG
/// ([`crate::mcp`]). rmcp has no other level for it, so it is filtered here.
struct ClientDisconnects;

impl ClientDisconnects {
    const TARGET: &str = "rmcp::service";
    const MESSAGE: &str = "failed to send pending response during drain";
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
        let mut message = MessageIs(Self::MESSAGE, false);
        event.record(&mut message);
        !message.1
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
