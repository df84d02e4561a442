//! What writes a session's notifications to one destination (a handshake
//! client, a listen stream), as the session's [`NotifyStyle`] says: a folding
//! [`NotificationWriter`] per list by default, one [`ExactWriter`] queue per
//! destination with `--coalesce off`, an [`UpdateWriter`] for resource
//! updates, which never fold, and a [`LogWriter`] for the handshake client's
//! log lines. [`Written`] counts what they all wrote, for `GET /state`, and
//! shows it to the watchers.
//!
//! The writers hold their destination as a [`NoticeSink`], and have no
//! actor of their own: the Session actor drives them.

#![allow(deprecated)] // rmcp marks MCP logging deprecated (SEP-2577); the protocol still has it

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Waker};

use rmcp::model::LoggingMessageNotificationParam;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::catalog::ListKind;
use crate::notice::{Coalesce, Notice, NoticeSink, NotifyStyle};
use crate::observe::{Cause, Event, SessionKey, Watch};

/// What a session's writers have written: counted for `GET /state`, and shown
/// to the watchers.
pub(super) struct Written {
    /// Per list by [`ListKind::index`], then resource updates; copies
    /// included.
    counts: [AtomicU64; 4],
    /// Of those, the copies `--duplicate-notifications` wrote.
    duplicates: AtomicU64,
    /// Changes folded into notifications already queued, with `--coalesce
    /// off`, because a client did not read.
    folded: AtomicU64,
    style: NotifyStyle,
    session: SessionKey,
    watch: Watch,
}

impl Written {
    pub(super) fn new(style: NotifyStyle, session: SessionKey, watch: Watch) -> Self {
        Self {
            counts: Default::default(),
            duplicates: AtomicU64::new(0),
            folded: AtomicU64::new(0),
            style,
            session,
            watch,
        }
    }

    /// Write `notice` to a destination, and its copy if this session
    /// duplicates; false once the destination is gone.
    async fn deliver(&self, sink: &dyn NoticeSink, notice: Notice) -> bool {
        let copy = self.style.duplicates.then(|| notice.clone());
        if !sink.notify(notice.clone()).await {
            return false;
        }
        self.record(notice, Cause::Change);
        if let Some(copy) = copy {
            if !sink.notify(copy.clone()).await {
                return false;
            }
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            self.record(copy, Cause::Duplicate);
        }
        true
    }

    fn record(&self, notice: Notice, cause: Cause) {
        let i = match &notice {
            Notice::ListChanged(list) => list.index(),
            Notice::ResourceUpdated(_) => 3,
        };
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let session = self.session;
        let _ = self.watch.tell(|| Event::Notified {
            session,
            notice,
            cause,
        });
    }

    /// Write one spurious `list_changed` on its own task, outside the
    /// folding writers: it stands for no change.
    pub(super) fn spurious(self: &Arc<Self>, sink: &Arc<dyn NoticeSink>, list: ListKind) {
        let (sink, sent) = (Arc::clone(sink), Arc::clone(self));
        tokio::spawn(async move {
            if sink.notify(Notice::ListChanged(list)).await {
                sent.record(Notice::ListChanged(list), Cause::Spurious);
            }
        });
    }

    /// The counts `GET /state` shows of this session.
    pub(super) fn describe(&self) -> Value {
        let sent = |i: usize| self.counts[i].load(Ordering::Relaxed);
        let mut notifications = json!({
            "tools": sent(0),
            "prompts": sent(1),
            "resources": sent(2),
            "resources_updated": sent(3),
        });
        // Only a hostile run has these, so a normal one's state is unchanged.
        if self.style.duplicates {
            notifications["duplicates"] = self.duplicates.load(Ordering::Relaxed).into();
        }
        if self.style.coalesce == Coalesce::Off {
            notifications["folded"] = self.folded.load(Ordering::Relaxed).into();
        }
        notifications
    }

    /// Tell the watchers the session ended.
    pub(super) fn closed(&self) {
        let session = self.session;
        let _ = self.watch.tell(|| Event::Closed { session });
    }
}

/// Where one client's notifications go: the writers per list (started by the
/// list's first change: most sessions never see prompts or resources change)
/// and the writer of resource updates.
pub(super) struct Destination {
    sink: Arc<dyn NoticeSink>,
    /// The lists this destination wants, by [`ListKind::index`].
    wants: [bool; 3],
    lists: ListWriters,
    updates: Option<UpdateWriter>,
    sent: Arc<Written>,
}

/// What writes a destination's `list_changed` notifications, as the
/// session's [`Coalesce`] says.
enum ListWriters {
    /// One folding writer per list.
    Folding([Option<NotificationWriter>; 3]),
    /// One writer for every list, one notification per change.
    Exact(Option<ExactWriter>),
}

impl Destination {
    pub(super) fn new(sink: Arc<dyn NoticeSink>, wants: [bool; 3], sent: Arc<Written>) -> Self {
        let lists = match sent.style.coalesce {
            Coalesce::On => ListWriters::Folding([None, None, None]),
            Coalesce::Off => ListWriters::Exact(None),
        };
        Self {
            sink,
            wants,
            lists,
            updates: None,
            sent,
        }
    }

    pub(super) fn sink(&self) -> &Arc<dyn NoticeSink> {
        &self.sink
    }

    /// One spurious `list_changed`, if this destination wants the list.
    pub(super) fn spurious(&self, list: ListKind) {
        if self.wants[list.index()] {
            self.sent.spurious(&self.sink, list);
        }
    }

    pub(super) fn list_changed(&mut self, list: ListKind) {
        let i = list.index();
        if !self.wants[i] {
            return;
        }
        match &mut self.lists {
            ListWriters::Folding(writers) => {
                writers[i]
                    .get_or_insert_with(|| {
                        NotificationWriter::new(
                            Arc::clone(&self.sink),
                            list,
                            Arc::clone(&self.sent),
                        )
                    })
                    .changed();
            }
            ListWriters::Exact(writer) => writer
                .get_or_insert_with(|| {
                    ExactWriter::start(Arc::clone(&self.sink), Arc::clone(&self.sent))
                })
                .list_changed(list, &self.sent),
        }
    }

    pub(super) fn resource_updated(&mut self, uri: String) {
        let writer = self.updates.get_or_insert_with(|| {
            UpdateWriter::start(Arc::clone(&self.sink), Arc::clone(&self.sent))
        });
        if writer.uris.try_send(uri).is_err() {
            tracing::debug!("client not reading its resource updates; one dropped");
        }
    }
}

/// Writes one list's `list_changed` to one destination, one at a time: any
/// number of changes while one is being written fold into exactly one more.
///
/// A write runs inline, in the session actor, as far as it goes without
/// waiting; only a write that has to wait (stdio's peer, an HTTP stream whose
/// client is behind) goes on to finish on a task of its own, which then also
/// writes the folded change, if any. An HTTP session's write almost never
/// waits, so a change costs 10,000 sessions no task wake-up each (about a
/// tenth of the server's CPU per change, measured with perf).
struct NotificationWriter {
    /// [`WriteState`], shared with the write that may be finishing on a task.
    state: Arc<AtomicU8>,
    sink: Arc<dyn NoticeSink>,
    list: ListKind,
    sent: Arc<Written>,
    task: Option<JoinHandle<()>>,
}

/// Where a [`NotificationWriter`] is. Only the session moves `Idle` to
/// `Writing` and `Writing` to `Again`; only the write moves `Writing` to
/// `Idle`, `Again` to `Writing` (it writes once more) and anything to `Gone`.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteState {
    Idle,
    Writing,
    /// Writing, and a change came since the write began.
    Again,
    /// The destination is gone: nothing more is written.
    Gone,
}

impl WriteState {
    fn of(value: u8) -> Self {
        [Self::Idle, Self::Writing, Self::Again, Self::Gone][usize::from(value)]
    }
}

impl NotificationWriter {
    fn new(sink: Arc<dyn NoticeSink>, list: ListKind, sent: Arc<Written>) -> Self {
        Self {
            state: Arc::new(AtomicU8::new(WriteState::Idle as u8)),
            sink,
            list,
            sent,
            task: None,
        }
    }

    /// The list changed: write, or fold into the write under way.
    fn changed(&mut self) {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let next = match WriteState::of(current) {
                WriteState::Idle => WriteState::Writing,
                WriteState::Writing => WriteState::Again,
                WriteState::Again | WriteState::Gone => return,
            };
            match self.state.compare_exchange(
                current,
                next as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if next == WriteState::Again => return,
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        let mut write = Box::pin(Self::write(
            Arc::clone(&self.sink),
            self.list,
            Arc::clone(&self.sent),
            Arc::clone(&self.state),
        ));
        let mut inline = Context::from_waker(Waker::noop());
        if write.as_mut().poll(&mut inline).is_pending() {
            // Polled again on the task, with its own waker.
            self.task = Some(tokio::spawn(write));
        }
    }

    /// Write until no change is left over.
    async fn write(
        sink: Arc<dyn NoticeSink>,
        list: ListKind,
        sent: Arc<Written>,
        state: Arc<AtomicU8>,
    ) {
        loop {
            if !sent.deliver(&*sink, Notice::ListChanged(list)).await {
                tracing::debug!("notification destination gone; stopping its writer");
                state.store(WriteState::Gone as u8, Ordering::Release);
                return;
            }
            let done = state.compare_exchange(
                WriteState::Writing as u8,
                WriteState::Idle as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if done.is_ok() {
                return;
            }
            // `Again`: one more write, for all the changes since this one began.
            state.store(WriteState::Writing as u8, Ordering::Release);
        }
    }
}

impl Drop for NotificationWriter {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The task that writes one `list_changed` per change to one destination, in
/// the order of the changes (`--coalesce off`). Every notification of a list
/// is the same message, so the queue holds only which list changed.
pub(super) struct ExactWriter {
    queue: mpsc::Sender<ListKind>,
    /// Per list, the notifications queued whose write has not begun: only
    /// this session adds to them, only the task takes from them.
    queued: Arc<[AtomicUsize; 3]>,
    /// Whether the session has said that this client fell behind.
    told_folding: bool,
    task: JoinHandle<()>,
}

impl ExactWriter {
    /// The most notifications of one list queued for a destination. A client
    /// reading as fast as it can stays far below it; one that does not read
    /// gets the rest folded, and the queue's memory stays bounded.
    pub(super) const BACKLOG: usize = 10_000;

    fn start(sink: Arc<dyn NoticeSink>, sent: Arc<Written>) -> Self {
        let (queue, mut lists) = mpsc::channel::<ListKind>(3 * Self::BACKLOG);
        let queued: Arc<[AtomicUsize; 3]> = Arc::default();
        let taken = Arc::clone(&queued);
        let task = tokio::spawn(async move {
            while let Some(list) = lists.recv().await {
                taken[list.index()].fetch_sub(1, Ordering::Relaxed);
                if !sent.deliver(&*sink, Notice::ListChanged(list)).await {
                    tracing::debug!("notification destination gone; stopping its writer");
                    return;
                }
            }
        });
        Self {
            queue,
            queued,
            told_folding: false,
            task,
        }
    }

    fn list_changed(&mut self, list: ListKind, sent: &Written) {
        let queued = &self.queued[list.index()];
        // A full backlog holds a notification of this list not yet begun: it
        // is written after this change, so the change folds into it.
        if queued.load(Ordering::Relaxed) >= Self::BACKLOG {
            sent.folded.fetch_add(1, Ordering::Relaxed);
            if !std::mem::replace(&mut self.told_folding, true) {
                tracing::warn!(
                    list = list.as_str(),
                    backlog = Self::BACKLOG,
                    "a client is not reading its notifications; with --coalesce off, changes past the backlog fold"
                );
            }
            return;
        }
        queued.fetch_add(1, Ordering::Relaxed);
        // Never full: each list has at most BACKLOG in it.
        let _ = self.queue.try_send(list);
    }
}

impl Drop for ExactWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The task that writes `notifications/resources/updated` to one destination,
/// in order.
struct UpdateWriter {
    uris: mpsc::Sender<String>,
    task: JoinHandle<()>,
}

impl UpdateWriter {
    /// Updates queued for a client that does not read them; past this, new
    /// ones are dropped rather than held without bound.
    const BACKLOG: usize = 1024;

    fn start(sink: Arc<dyn NoticeSink>, sent: Arc<Written>) -> Self {
        let (uris, mut queued) = mpsc::channel::<String>(Self::BACKLOG);
        let task = tokio::spawn(async move {
            while let Some(uri) = queued.recv().await {
                if !sent.deliver(&*sink, Notice::ResourceUpdated(uri)).await {
                    return;
                }
            }
        });
        Self { uris, task }
    }
}

impl Drop for UpdateWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The task that writes log lines to the client, in order.
pub(super) struct LogWriter {
    lines: mpsc::Sender<LoggingMessageNotificationParam>,
    task: JoinHandle<()>,
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LogWriter {
    /// Lines queued for a client that does not read them; past this, new lines
    /// are dropped rather than held without bound.
    const BACKLOG: usize = 64;

    pub(super) fn start(sink: Arc<dyn NoticeSink>) -> Self {
        let (lines, mut queued) = mpsc::channel(Self::BACKLOG);
        let task = tokio::spawn(async move {
            while let Some(line) = queued.recv().await {
                if !sink.log(line).await {
                    return;
                }
            }
        });
        Self { lines, task }
    }

    /// Queue `line`, or drop it if the client is not reading them.
    pub(super) fn write(&self, line: LoggingMessageNotificationParam) {
        if self.lines.try_send(line).is_err() {
            tracing::debug!("client not reading its log lines; one dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::future::BoxFuture;

    use super::*;

    /// A sink whose writes finish at once, or wait forever.
    struct Sink {
        waits: bool,
    }

    impl NoticeSink for Sink {
        fn notify(&self, _: Notice) -> BoxFuture<'_, bool> {
            match self.waits {
                false => Box::pin(std::future::ready(true)),
                true => Box::pin(std::future::pending()),
            }
        }

        fn log(&self, _: LoggingMessageNotificationParam) -> BoxFuture<'_, bool> {
            Box::pin(std::future::ready(true))
        }
    }

    fn writer(waits: bool) -> (NotificationWriter, Arc<Written>) {
        let sent = Arc::new(Written::new(NotifyStyle::default(), 1, Watch::default()));
        let sink = Arc::new(Sink { waits });
        let writer = NotificationWriter::new(sink, ListKind::Tools, Arc::clone(&sent));
        (writer, sent)
    }

    #[tokio::test]
    async fn a_write_that_need_not_wait_is_done_inline_without_a_task() {
        let (mut writer, sent) = writer(false);
        writer.changed();
        writer.changed();
        assert!(writer.task.is_none());
        assert_eq!(sent.describe()["tools"], 2);
        assert!(WriteState::of(writer.state.load(Ordering::Acquire)) == WriteState::Idle);
    }

    #[tokio::test]
    async fn a_write_that_waits_finishes_on_a_task_and_later_changes_fold_into_one() {
        let (mut writer, sent) = writer(true);
        writer.changed();
        assert!(writer.task.is_some());
        for _ in 0..5 {
            writer.changed();
        }
        assert!(WriteState::of(writer.state.load(Ordering::Acquire)) == WriteState::Again);
        assert_eq!(sent.describe()["tools"], 0);
    }
}
