//! The Recorder actor: watches the run and keeps the client report
//! ([`crate::report`]), answers `GET /report` with it, and writes it to
//! `--report FILE` when it stops.
//!
//! It runs only when recording was asked for (`--report` or `--control`); a
//! default server has no Recorder and no watcher. Its watcher,
//! [`Recording`], casts each event with its time into the actor and returns
//! at once: the recorder never holds up the handler, a Session or the
//! Registry.
//!
//! It is the last actor to stop: the Supervisor stops every other one first,
//! then drains the Recorder, so the report holds every event sent before the
//! end (the sessions' closes included). The file is written by the pidfile's
//! rules (a temporary file and a rename; nothing but a regular file is ever
//! replaced), and stays after exit.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::Value;

use crate::actors::pidfile::write_atomically;
use crate::observe::{Event, Watcher};
use crate::report::{MAX_CHANGES, Record};

pub enum RecorderMsg {
    /// An event and when it happened.
    Saw(Instant, Event),
    /// The report as it stands.
    Report(RpcReplyPort<Value>),
    /// The changes the watcher counted instead of sending (see
    /// [`Unkept`]), so that the actor folds them into its reports.
    Unkept(Arc<Unkept>),
}

/// The changes past the record's [`MAX_CHANGES`]: the record would only
/// count them, so the watcher counts them itself instead of queueing one
/// message per change. A bulk change of a million steps then costs the
/// recorder a thousand messages, not a million (issue 24).
#[derive(Debug, Default)]
pub struct Unkept {
    count: AtomicU64,
    /// Each list's newest version among them (0: none).
    versions: [AtomicU64; 3],
}

impl Unkept {
    fn fold_into(&self, record: &mut Record) {
        let versions = std::array::from_fn(|i| match self.versions[i].load(Ordering::Relaxed) {
            0 => None,
            version => Some(version),
        });
        record.unkept_changes(self.count.load(Ordering::Relaxed), versions);
    }
}

pub struct RecorderArgs {
    /// Where to write the report at exit; `None` serves it only live.
    pub path: Option<PathBuf>,
    /// The server's start: report times are milliseconds from it.
    pub start: Instant,
}

pub struct Recorder;

pub struct RecorderState {
    record: Record,
    unkept: Option<Arc<Unkept>>,
    path: Option<PathBuf>,
    start: Instant,
}

impl RecorderState {
    fn report(&mut self) -> Value {
        if let Some(unkept) = &self.unkept {
            unkept.fold_into(&mut self.record);
        }
        self.record.report(ms_since(self.start, Instant::now()))
    }
}

fn ms_since(start: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(start).as_millis()).unwrap_or(u64::MAX)
}

/// The recorder's watcher: hands every event to the actor, but counts the
/// changes past the first [`MAX_CHANGES`] itself.
pub struct Recording {
    recorder: ActorRef<RecorderMsg>,
    /// The changes sent to the actor so far.
    changes_sent: AtomicUsize,
    unkept: Arc<Unkept>,
}

impl Recording {
    pub fn new(recorder: &ActorRef<RecorderMsg>) -> Arc<Self> {
        let unkept = Arc::new(Unkept::default());
        let _ = recorder.cast(RecorderMsg::Unkept(Arc::clone(&unkept)));
        Arc::new(Self {
            recorder: recorder.clone(),
            changes_sent: AtomicUsize::new(0),
            unkept,
        })
    }
}

impl Watcher for Recording {
    fn see(&self, at: Instant, event: &Event) -> Option<BoxFuture<'static, ()>> {
        if let Event::Changed { list, version, .. } = event
            && self.changes_sent.fetch_add(1, Ordering::Relaxed) >= MAX_CHANGES
        {
            self.unkept.count.fetch_add(1, Ordering::Relaxed);
            self.unkept.versions[list.index()].fetch_max(*version, Ordering::Relaxed);
            return None;
        }
        // Once the recorder has stopped, the server is stopping: nothing
        // more to record.
        let _ = self.recorder.cast(RecorderMsg::Saw(at, event.clone()));
        None
    }
}

impl Actor for Recorder {
    type Msg = RecorderMsg;
    type State = RecorderState;
    type Arguments = RecorderArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: RecorderArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Its path was checked before anything started (the server's
        // `check_paths`), and is checked again when the report is written.
        Ok(RecorderState {
            record: Record::default(),
            unkept: None,
            path: args.path,
            start: args.start,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RecorderMsg::Saw(at, event) => state.record.see(ms_since(state.start, at), &event),
            RecorderMsg::Report(reply) => {
                let _ = reply.send(state.report());
            }
            RecorderMsg::Unkept(unkept) => state.unkept = Some(unkept),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let Some(path) = state.path.clone() else {
            return Ok(());
        };
        let mut bytes = serde_json::to_vec_pretty(&state.report()).expect("JSON values serialize");
        bytes.push(b'\n');
        // The report is the run's result: it stays, unlike the pidfile.
        match write_atomically(&path, &bytes) {
            Ok(_) => tracing::info!(report = %path.display(), "client report written"),
            Err(error) => {
                tracing::warn!(report = %path.display(), %error, "cannot write the client report")
            }
        }
        Ok(())
    }
}
