//! An MCP test server whose lists change while it runs.
//!
//! It starts with N tools, writes its PID to a pidfile, and every SIGHUP adds
//! the next tool and sends `notifications/tools/list_changed`, so a test of an
//! MCP client, gateway or proxy can prove that the client refreshes its tools.
//! On demand it also removes and changes tools (SIGUSR1, SIGUSR2, the control
//! endpoint, a scenario file, the conformance suite's trigger tools, the
//! in-process API), and adds, removes and changes prompts and resources.
//!
//! # Layout
//!
//! Three layers, and one rule between them: **pure modules import no actor;
//! edges talk to actors only through handles.** CI checks the rule and that
//! no two files import each other (`.ci/layers.py`).
//!
//! - **The pure core**: state and rules, unit-tested without a session or a
//!   socket. `catalog` (the three lists, their versions, and every change as
//!   one `Change` carrying its `ChangeKind`, the one table of change kinds),
//!   `tools`, `prompts`, `resources` (item `k` at revision `r` to its
//!   definition and a pure call, get or read), `listing` (each item
//!   serialized once per number and revision), `pagination` (pages and
//!   cursors), `notice` (the notifications a session writes, and the one
//!   mapping to the wire), `hostile` (the opt-in hostile knobs), `revision`
//!   (what each protocol revision removed), `observe` (the events a run shows
//!   its watchers), `verdict` (checks in the official conformance suite's
//!   format, its expected-failures baseline and its rule for them), and the
//!   pure halves of the feature folders:
//!   `scenario/mod.rs` (reading and checking scenario files),
//!   `report/mod.rs` (folding events into the client report) and
//!   `metrics/mod.rs` (folding them into counters and histograms).
//! - **The actors** ([ractor]): each file holds its message enum, its state,
//!   its `Actor` impl and, where others talk to it, its handle (Alice Ryhl's
//!   "Actors with Tokio": a handle with async methods hides the message enum
//!   and the reply port).
//!
//!   | actor | owns | file |
//!   |---|---|---|
//!   | Supervisor | the other actors' lifetimes, by name; the one shutdown path | `actors/supervisor.rs` |
//!   | Registry | the catalog; who to tell when it changes (`RegistryHandle`) | `actors/registry.rs` |
//!   | Session | one client's notifications: its handshake peer, its listen streams, its log lines | `actors/session/` (`writers.rs`: folding and ordering) |
//!   | SignalListener | SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT | `actors/signals.rs` |
//!   | PidfileWriter, ReadyFile | the pidfile and the ready file: written on start, removed on stop | `actors/pidfile.rs`, `actors/ready_file.rs` |
//!   | Control | the control endpoint's socket | `control/actor.rs` |
//!   | Timeline | a `--scenario`'s steps, run at their moments | `scenario/timeline.rs` |
//!   | Recorder | the client report: served live, written at exit | `report/recorder.rs` |
//!   | HttpServer | which HTTP sessions still have a client | `http/server.rs` |
//!
//! - **The edges** translate bytes to handle calls and look inside no
//!   result: `transport` (stdio framing with rmcp's codec), `http` (Streamable
//!   HTTP behind hyper, with `http/guard.rs`, the one Host/Origin gate it
//!   shares with the control endpoint), `control/mod.rs` (the control
//!   endpoint's JSON API), and `mcp` (the rmcp `ServerHandler`: requests to
//!   the registry and the session).
//!
//! Around them: `trigger` is the seam every trigger starts through (signals,
//! the control endpoint, a scenario's timeline, the trigger tools: one line
//! each in `server.rs`'s start list), `server` wires everything up and holds
//! the in-process API, `cli` reads the command line, `check` is the `check`
//! command (its battery and grading pure, its runner an edge), and
//! [`process`] is the binary's `main`. Only the in-process API is public: [`start`],
//! [`start_http`], [`serve_stdio`], [`serve_http`], [`ServerHandle`],
//! [`Options`] and what its fields name, [`catalog`], and [`verdict`].
//!
//! # From a trigger to a notification
//!
//! ```text
//! kill -HUP ─▶ SignalListener ─┐
//! POST /changes ─▶ Control ────┼─RegistryHandle::apply(Change)─▶ Registry ─ListChanged─▶ Session ─▶ client
//! ServerHandle::apply ─────────┘             (applies it to the catalog)          (notifications/<list>/list_changed)
//! ```
//!
//! Every trigger sends the same [`catalog::Change`] through the Registry's
//! handle; the Registry applies it and tells each session which list
//! changed (or which resource was updated), once per list per change however
//! many steps it had, and each session turns that into notifications for its
//! client.
//!
//! A session remembers a change that happens before its client sent
//! `notifications/initialized` and notifies right after it; while one
//! notification is being written, further changes fold into one more.
//!
//! # Protocol revisions
//!
//! Handshake clients (2024-11-05 to 2025-11-25) get the notification on the
//! session after `notifications/initialized`. A 2026-07-28 client has no
//! handshake (it may probe with `server/discover`) and gets it only on each
//! `subscriptions/listen` stream that asked for `toolsListChanged`, exactly
//! once per change on each such stream; a change between rmcp's
//! acknowledgment of a stream and the stream reaching the Session is still
//! notified. Shutdown ends every stream with its final result first, so it
//! stays as fast with streams open as without.
//!
//! # In-process use
//!
//! Rust tests can run the server in their own process over any rmcp transport
//! and make changes without signals:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use dynamic_mcp_server::catalog::{ChangeKind, ChangeRequest};
//! use dynamic_mcp_server::{Options, start};
//! use rmcp::{ServiceExt, model::CallToolRequestParams};
//!
//! let (server_io, client_io) = tokio::io::duplex(64 * 1024);
//! let server = start(Options::new(3), tokio::io::split(server_io)).await?;
//! let client = ().serve(client_io).await?;
//!
//! assert_eq!(client.list_all_tools().await?.len(), 3);
//! assert_eq!(server.add_tool().await?, 4); // what a SIGHUP does
//! let echo4 = CallToolRequestParams::new("echo4")
//!     .with_arguments(serde_json::json!({ "message": "hi" }).as_object().unwrap().clone());
//! let result = client.call_tool(echo4).await?;
//! assert_eq!(result.structured_content, Some(serde_json::json!({ "echo_message": "hi", "tool_number": 4 })));
//!
//! // Any other change, as the control endpoint makes it: here a rug pull.
//! let catalog = server.apply(ChangeRequest::new(ChangeKind::ChangeTool).name("echo4")).await?;
//! assert_eq!(catalog.tools.find("echo4").map(|(_, entry)| entry.revision), Some(2));
//!
//! client.cancel().await?;
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod actors;
pub mod catalog;
mod check;
mod cli;
mod control;
mod error;
mod fleet;
#[cfg(test)]
mod fuzzing;
mod hostile;
mod http;
mod input_file;
mod listing;
mod logging;
mod mcp;
mod memory;
mod metrics;
mod notice;
mod observe;
mod pagination;
mod probe;
pub mod process;
mod prompts;
mod report;
mod resources;
mod revision;
mod scenario;
mod server;
mod tools;
mod transport;
mod trigger;
mod trigger_tools;
pub mod verdict;

pub use actors::signals::block_change_signals;
pub use control::ControlOptions;
pub use error::{Error, ServerError, StartupError};
pub use hostile::Hostile;
pub use http::HttpOptions;
pub use notice::Coalesce;
pub use pagination::CursorStyle;
pub use scenario::{Scenario, ScenarioError, Setting};
pub use server::{Options, ServerHandle, serve_http, serve_stdio, start, start_http};

/// What the project's own integration tests and benches drive directly: the
/// Registry in process (its properties, its cost) and the stdio framing
/// (the fuzz target). Not part of the in-process API: it may change at any
/// time.
#[doc(hidden)]
pub mod internals {
    pub use crate::actors::registry::{
        ApplyError, Audience, RegistryArgs, RegistryHandle, SubscriberMsg,
    };
    pub use crate::transport::LineTransport;
}
