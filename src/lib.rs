//! An MCP test server whose tool list grows while it runs.
//!
//! It starts with N tools, writes its PID to a pidfile, and every SIGHUP adds
//! the next tool and sends `notifications/tools/list_changed`, so a test of an
//! MCP client, gateway or proxy can prove that the client refreshes its tools.
//! On demand it also removes and changes tools (SIGUSR1, SIGUSR2, the control
//! endpoint), and adds, removes and changes prompts and resources.
//!
//! # Layout
//!
//! The server is a small tree of [ractor] actors that share no state and talk
//! only in messages:
//!
//! | actor | owns | module |
//! |---|---|---|
//! | Supervisor | the other actors' lifetimes; the one shutdown path | [`actors::supervisor`] |
//! | Registry | the catalog (tools, prompts, resources); who to tell when it changes | [`actors::registry`] |
//! | SignalListener | the signal stream: SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT | [`actors::signals`] |
//! | Control | the control endpoint's socket: changes on demand, the state, the report | [`control::actor`] |
//! | Recorder | the client report (with `--report` or `--control`): written at exit, served live | [`report::recorder`] |
//! | PidfileWriter | the pidfile: written on start, removed on stop | [`actors::pidfile`] |
//! | ReadyFile | the ready file (PID and URLs): written on start, removed on stop | [`actors::ready_file`] |
//! | Session | one client's notifications: its rmcp `Peer` after the handshake, its `subscriptions/listen` streams on 2026-07-28 | [`actors::session`] |
//! | HttpServer | which HTTP sessions still have a client; stopping it ends the accept loop | [`http::server`] |
//! | Timeline | a `--scenario`'s steps, run in order at their moments | [`scenario::timeline`] |
//!
//! Around them: [`catalog`] holds the three lists and the changes to them;
//! [`tools`], [`prompts`] and [`resources`] map item `k` at revision `r` to its
//! definition and a pure call, get or read, and [`listing`] serializes each
//! listed item once per (number, revision); [`mcp`] is the rmcp `ServerHandler` that
//! only translates requests into messages, [`notice`] names the notifications
//! a Session sends and the ways to a client it writes them to (the handshake
//! peer, a listen stream, an HTTP GET stream), [`transport`] frames stdio and
//! answers bad lines, [`http`] serves Streamable HTTP (one Session actor per
//! HTTP session, all subscribed to the one registry), [`control`] answers the
//! control endpoint, [`revision`] knows what each protocol revision removed,
//! [`pagination`] pages the lists and reads their cursors, [`hostile`] holds
//! the opt-in hostile behaviour (paging, delays), [`scenario`] reads and
//! checks scenario files, [`observe`] shows what happens to whoever watches a
//! run, [`report`] folds what happened into the client report, [`server`]
//! wires everything up, [`cli`] reads the command line, and [`process`] is
//! the binary's `main`. [`trigger`] is the seam every trigger (signals, the
//! control endpoint, a scenario's timeline, the trigger tools) starts through.
//!
//! # From a trigger to a notification
//!
//! ```text
//! kill -HUP ─▶ SignalListener ─┐
//! POST /changes ─▶ Control ────┼─apply(Change)─▶ Registry ─ListChanged(list)─▶ Session ─▶ client
//! ServerHandle::apply ─────────┘            (applies it to the catalog)   (notifications/<list>/list_changed)
//! ```
//!
//! Every trigger sends the same [`catalog::Change`] through a
//! [`RegistryHandle`](actors::registry::RegistryHandle); the Registry applies it
//! and tells each session which list changed (or which resource was updated),
//! and each session turns that into notifications for its client.
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

pub mod actors;
pub mod catalog;
pub mod cli;
pub mod control;
pub mod error;
#[cfg(test)]
mod fuzzing;
pub mod hostile;
pub mod http;
pub mod input_file;
pub mod listing;
pub mod logging;
pub mod mcp;
pub mod memory;
pub mod metrics;
pub mod notice;
pub mod observe;
pub mod pagination;
pub mod process;
pub mod prompts;
pub mod report;
pub mod resources;
pub mod revision;
pub mod scenario;
pub mod server;
pub mod tools;
pub mod transport;
pub mod trigger;
pub mod trigger_tools;

pub use error::{Error, ServerError, StartupError};
pub use http::HttpOptions;
pub use server::{Options, ServerHandle, serve_http, serve_stdio, start, start_http};
