//! The metrics' watcher: folds each event into the shared [`Metrics`] on the
//! emitter's own task, and hands a scrape its text.
//!
//! No actor: a fold is a few counter bumps and a short scan of one session's
//! owed changes, cheaper than the message an actor would need, and the lock
//! is never held across an await. It is watched only on a server with a
//! control endpoint, which serves the text as `GET /metrics`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;

use crate::metrics::Metrics;
use crate::observe::{Event, Watcher};

/// One server's metrics, shared by its emitters and its scrapes.
#[derive(Debug)]
pub struct MetricsWatcher(Mutex<Metrics>);

impl MetricsWatcher {
    /// See [`Metrics::new`].
    pub fn new(transport: &'static str) -> Arc<Self> {
        Arc::new(Self(Mutex::new(Metrics::new(transport))))
    }

    /// The text a scrape gets.
    pub fn scrape(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).encode()
    }
}

impl Watcher for MetricsWatcher {
    fn see(&self, at: Instant, event: &Event) -> Option<BoxFuture<'static, ()>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .see(at, event);
        None
    }
}
