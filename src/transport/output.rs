//! The writing half of the stdio transport: one writer task owns the pipe and
//! writes whole messages, in order, from a queue.
//!
//! A send queues its message at once and resolves when the message has been
//! written (or could not be). Because the task owns the pipe, no cancelled
//! future can leave half a message on it: a message is written whole or not
//! started. Messages queued behind one another share one write.
//!
//! The queue is the transport's memory: [`Pending`] counts what is queued and
//! which requests are in flight, and the reading half stops reading while
//! there are too many (see [`MAX_PENDING`]).
//!
//! When a write fails (EPIPE: the client closed its end of stdout), the
//! client is gone: the task writes nothing more and says so on
//! [`Shared::gone`], which ends the reading half, so the server takes its one
//! shutdown path. A client may also close its end after the last answer was
//! written, when no write is left to fail: [`watch_reader`] has the pipe
//! itself say so.
//!
//! An answer whose items were serialized before (a `tools/list` page: see
//! [`crate::listing`]) comes as pieces, which go to the pipe without a copy.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::fd::BorrowedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::SinkExt;
use rmcp::RoleServer;
use rmcp::model::RequestId;
use rmcp::service::TxJsonRpcMessage;
use rmcp::transport::async_rw::JsonRpcMessageCodec;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;

/// The most requests in flight plus messages waiting to be written before the
/// transport stops reading input. Each costs a few kilobytes, so a client that
/// pipelines without reading holds the server to a few megabytes; 256 keeps
/// a pipelining client's throughput.
pub const MAX_PENDING: usize = 256;

/// The most queued messages written with one flush.
const BATCH: usize = 64;

/// What a send learns: written, or why not.
type Done = Result<(), ErrorKind>;

/// One message for the writer.
pub(crate) struct Outgoing {
    pub item: Item,
    pub done: Option<oneshot::Sender<Done>>,
}

// Messages are the common case: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Item {
    /// A message rmcp serializes.
    Message(TxJsonRpcMessage<RoleServer>),
    /// A line the transport serialized itself (no newline).
    Line(Vec<u8>),
    /// A line in pieces (no newline), written without joining them.
    Pieces(crate::listing::Line),
}

/// What the reading half waits on: the requests it handed to rmcp that have
/// no answer queued yet, and the messages queued and not yet written.
#[derive(Default)]
pub(crate) struct Pending {
    /// Request id to whether it is a `subscriptions/listen` stream, which is
    /// answered only when it ends and so does not count as load.
    pub requests: HashMap<RequestId, bool>,
    /// Requests in `requests` that are not streams.
    pub busy: usize,
    /// Messages queued and not yet written.
    pub queued: usize,
}

impl Pending {
    pub fn has_room(&self) -> bool {
        self.busy + self.queued < MAX_PENDING
    }

    /// Record a request; `false` if its id is already in flight.
    pub fn start(&mut self, id: RequestId, stream: bool) -> bool {
        if self.requests.contains_key(&id) {
            return false;
        }
        self.requests.insert(id, stream);
        self.busy += usize::from(!stream);
        true
    }

    /// The request `id` is answered (or cancelled): it is no longer in flight.
    pub fn finish(&mut self, id: &RequestId) {
        if let Some(stream) = self.requests.remove(id) {
            self.busy -= usize::from(!stream);
        }
    }
}

/// What both halves share.
pub(crate) struct Shared {
    pub pending: watch::Sender<Pending>,
    /// Bytes the pipe has accepted, to tell a slow reader from a stuck one.
    pub written: AtomicU64,
    /// Cancelled when writing failed: the client is gone.
    pub gone: CancellationToken,
}

impl Shared {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            pending: watch::Sender::new(Pending::default()),
            written: AtomicU64::new(0),
            gone: CancellationToken::new(),
        })
    }

    /// Queue `item` on `queue`; the receiver learns when it is written.
    pub fn enqueue(
        &self,
        queue: Option<&mpsc::UnboundedSender<Outgoing>>,
        item: Item,
        answered: Option<&RequestId>,
    ) -> Result<oneshot::Receiver<Done>, ErrorKind> {
        let queue = queue.ok_or(ErrorKind::NotConnected)?;
        let (done, written) = oneshot::channel();
        self.pending.send_modify(|pending| {
            if let Some(id) = answered {
                pending.finish(id);
            }
            pending.queued += 1;
        });
        let outgoing = Outgoing {
            item,
            done: Some(done),
        };
        if queue.send(outgoing).is_err() {
            self.pending.send_modify(|pending| pending.queued -= 1);
            return Err(ErrorKind::BrokenPipe);
        }
        Ok(written)
    }
}

/// Waits, at exit, for the queued messages to be written.
#[derive(Clone)]
pub struct OutputDrain(pub(crate) Arc<Shared>);

impl OutputDrain {
    /// Wait until every queued message is written or the client is gone
    /// (`true`), or until the pipe has taken no byte for `stall` while
    /// messages wait (`false`): a reader that is slow is waited for, one that
    /// stopped reading is not waited for forever.
    pub async fn finish(&self, stall: Duration) -> bool {
        let shared = &self.0;
        let mut pending = shared.pending.subscribe();
        loop {
            let before = shared.written.load(Ordering::Acquire);
            tokio::select! {
                _ = pending.wait_for(|p| p.queued == 0) => return true,
                () = shared.gone.cancelled() => return true,
                () = tokio::time::sleep(stall) => {
                    if shared.written.load(Ordering::Acquire) == before {
                        return false;
                    }
                }
            }
        }
    }

    /// Messages queued and not yet written.
    pub fn unwritten(&self) -> usize {
        self.0.pending.borrow().queued
    }
}

/// Start the writer task on `writer`; it ends when every sender is dropped
/// and the queue is written, or when writing fails.
pub(crate) fn spawn_writer<W>(writer: W, shared: Arc<Shared>) -> mpsc::UnboundedSender<Outgoing>
where
    W: AsyncWrite + Send + Unpin + 'static,
{
    let (queue, receiver) = mpsc::unbounded_channel();
    let output = Output {
        framed: FramedWrite::new(
            Counted {
                inner: writer,
                shared: Arc::clone(&shared),
            },
            JsonRpcMessageCodec::default(),
        ),
    };
    tokio::spawn(write_loop(receiver, output, shared));
    queue
}

/// Say the client is gone once the pipe behind `output` (stdout) has lost
/// its last reader, whether or not a write is left to fail: the kernel
/// reports that as an error on the pipe's writing end (`EPOLLERR`), without
/// a write. Without it, a client that closed stdout after reading its last
/// answer (or, in a test binary, whose end a child forked at that moment
/// held a little longer) left the server waiting on stdin forever. `Err`
/// when `output` cannot be watched (a regular file, `/dev/null`), which
/// never loses its reader.
pub(crate) fn watch_reader(output: BorrowedFd<'_>, shared: Arc<Shared>) -> std::io::Result<()> {
    // A copy of the descriptor, watched only: the writer task writes.
    let copy = output.try_clone_to_owned()?;
    // SAFETY: the `AsyncFd` owns `copy`, which stays open, and the same
    // descriptor, until it is dropped.
    let watched = unsafe { AsyncFd::register_with_interest(copy, Interest::ERROR) }?;
    tokio::spawn(async move {
        tokio::select! {
            ready = watched.ready(Interest::ERROR) => {
                if ready.is_ok() && !shared.gone.is_cancelled() {
                    tracing::info!("the client closed stdout");
                    shared.gone.cancel();
                }
            }
            () = shared.gone.cancelled() => {}
        }
    });
    Ok(())
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    mut output: Output<Counted<W>>,
    shared: Arc<Shared>,
) {
    let mut acks = Vec::with_capacity(BATCH);
    while let Some(first) = queue.recv().await {
        let mut count = 0;
        let mut result = Ok(());
        let mut next = Some(first);
        while let Some(outgoing) = next.take() {
            count += 1;
            acks.extend(outgoing.done);
            result = output.feed(outgoing.item).await;
            if result.is_err() || count == BATCH {
                break;
            }
            next = queue.try_recv().ok();
        }
        if result.is_ok() {
            result = output.framed.flush().await.map_err(Into::into);
        }
        shared
            .pending
            .send_modify(|pending| pending.queued -= count);
        let done = result.as_ref().map(|_| ()).map_err(std::io::Error::kind);
        for ack in acks.drain(..) {
            let _ = ack.send(done);
        }
        if let Err(error) = result {
            // EPIPE is the client closing its end; anything else leaves the
            // pipe unusable all the same.
            if error.kind() == ErrorKind::BrokenPipe {
                tracing::info!("the client closed stdout");
            } else {
                tracing::warn!(%error, "cannot write to the client");
            }
            queue.close();
            shared.gone.cancel();
            let mut dropped = 0;
            while let Ok(outgoing) = queue.try_recv() {
                dropped += 1;
                if let Some(ack) = outgoing.done {
                    let _ = ack.send(Err(ErrorKind::BrokenPipe));
                }
            }
            shared
                .pending
                .send_modify(|pending| pending.queued -= dropped);
            return;
        }
    }
}

/// The writer, counting the bytes it accepts into [`Shared::written`].
struct Counted<W> {
    inner: W,
    shared: Arc<Shared>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counted<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.shared.written.fetch_add(n as u64, Ordering::Release);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

type Writer<W> = FramedWrite<W, JsonRpcMessageCodec<TxJsonRpcMessage<RoleServer>>>;

/// The writing half: rmcp's codec over the writer.
struct Output<W> {
    framed: Writer<W>,
}

impl<W: AsyncWrite + Unpin> Output<W> {
    /// Add `item` to what the next flush writes (a line in pieces is written
    /// at once).
    async fn feed(&mut self, item: Item) -> std::io::Result<()> {
        match item {
            Item::Message(message) => self.framed.feed(message).await.map_err(Into::into),
            Item::Line(line) => {
                let buffer = self.framed.write_buffer_mut();
                buffer.extend_from_slice(&line);
                buffer.extend_from_slice(b"\n");
                Ok(())
            }
            Item::Pieces(line) => {
                // What is buffered goes first; the pieces, megabytes for a
                // long list, go straight to the pipe rather than through the
                // buffer.
                self.framed.flush().await?;
                let pipe = self.framed.get_mut();
                for piece in line.pieces() {
                    pipe.write_all(piece).await?;
                }
                pipe.write_all(b"\n").await?;
                pipe.flush().await
            }
        }
    }
}
