//! The integration tests, in one binary: a module per feature, each driving
//! the real server binary (or, for the properties and the fuzz target, the
//! library in process).
//!
//! One binary, not one per file, so that the suite links once and libtest runs
//! its tests in parallel: most of them spend their time waiting on a child
//! process, which Cargo would otherwise run one binary after another. So every
//! test here is independent of the others: each server has its own temporary
//! directory, binds port 0, and gets its signals by PID, and no test changes
//! the environment or other state of this process.
//!
//! Three tests keep their own binaries, because they would disturb the others
//! or be disturbed by them: `signals_in_process` signals its own process and
//! reads every thread's signal mask; `http_scale` raises this process's
//! open-file limit and holds 2,000 sockets; `soak` loads the machine for
//! seconds on purpose. They reach `common` and `http_support` by `#[path]`.
//!
//! Run one module with `cargo test --test it MODULE::`, one test by its name.

mod common;
mod http_support;

mod bad_input;
mod bulk_change;
mod burst;
mod catalog_properties;
mod changes;
mod check;
mod conformance_stdio;
mod discover;
mod fleet;
mod fuzz_stdio;
mod hardening_stdio;
mod http_edge;
mod http_fanout;
mod http_hardening;
mod http_idle;
mod http_lists;
mod logging;
mod metrics;
mod notify_behaviour;
mod pagination;
mod probe;
mod protocol;
mod report;
mod revisions;
mod scenario;
mod shutdown;
mod sighup;
mod signal_mask;
mod startup_errors;
mod tools;
