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
//! shutdown path.
//!
//! It also keeps the serialized tool list of its last `tools/list` answer (see
//! [`ToolsCache`]): the list only grows, so the next answer serializes only the
//! tools that are new, and the cached bytes go to the pipe without a copy.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::SinkExt;
use rmcp::RoleServer;
use rmcp::model::{JsonObject, JsonRpcMessage, RequestId, ServerResult, Tool};
use rmcp::service::TxJsonRpcMessage;
use rmcp::transport::async_rw::JsonRpcMessageCodec;
use tokio::io::{AsyncWrite, AsyncWriteExt};
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
        tools: ToolsCache::default(),
    };
    tokio::spawn(write_loop(receiver, output, shared));
    queue
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

/// The writing half: rmcp's codec over the writer, and the tool list cache.
struct Output<W> {
    framed: Writer<W>,
    tools: ToolsCache,
}

impl<W: AsyncWrite + Unpin> Output<W> {
    /// Add `item` to what the next flush writes (a `tools/list` answer is
    /// written at once, from the cache).
    async fn feed(&mut self, item: Item) -> std::io::Result<()> {
        match item {
            Item::Message(JsonRpcMessage::Response(response))
                if matches!(response.result, ServerResult::ListToolsResult(_)) =>
            {
                self.send_tool_list(response).await
            }
            Item::Message(message) => self.framed.feed(message).await.map_err(Into::into),
            Item::Line(line) => {
                let buffer = self.framed.write_buffer_mut();
                buffer.extend_from_slice(&line);
                buffer.extend_from_slice(b"\n");
                Ok(())
            }
        }
    }

    /// A `tools/list` response, with the tools from the cache.
    async fn send_tool_list(
        &mut self,
        mut response: rmcp::model::JsonRpcResponse<ServerResult>,
    ) -> std::io::Result<()> {
        let ServerResult::ListToolsResult(list) = &mut response.result else {
            unreachable!("checked by the caller");
        };
        // rmcp serializes the envelope, with an empty tool list; the cached
        // tools go between its brackets. `tools` is the result's last field
        // and the result the response's, so the envelope ends `"tools":[]}}`.
        let tools = std::mem::take(&mut list.tools);
        let mut message = TxJsonRpcMessage::<RoleServer>::Response(response);
        let mut envelope = serde_json::to_vec(&message)?;
        if !envelope.ends_with(br#""tools":[]}}"#) {
            // A layout this splice does not know (a newer rmcp): answer the
            // plain way rather than wrongly.
            tracing::debug!("unexpected tools/list response layout; not using the cache");
            if let JsonRpcMessage::Response(response) = &mut message
                && let ServerResult::ListToolsResult(list) = &mut response.result
            {
                list.tools = tools;
            }
            return self.framed.send(message).await.map_err(Into::into);
        }
        let json = self.tools.serialize(&tools)?;
        let tail = envelope.split_off(envelope.len() - 3);
        self.framed.flush().await?;
        let pipe = self.framed.get_mut();
        pipe.write_all(&envelope).await?;
        pipe.write_all(json).await?;
        pipe.write_all(&tail).await?;
        pipe.write_all(b"\n").await?;
        pipe.flush().await
    }
}

/// The serialized `tools` array of the last `tools/list` answer, and what each
/// entry was serialized from.
///
/// A `tools/list` answer that starts with the same tools (the server's list
/// only grows) reuses the bytes and serializes only the rest; a tool that
/// differs in any field discards the cache from there. Checking costs a
/// comparison per tool, mostly of pointers (the catalog shares names,
/// descriptions and schemas), where serializing costs walking every schema.
///
/// New tools are serialized by serde, except that a tool whose fields other
/// than its name equal the previous tool's reuses that tool's bytes after the
/// name: a derived `Serialize` writes each field on its own, so those bytes
/// cannot depend on the name.
#[derive(Default)]
pub struct ToolsCache {
    /// `{tool},{tool},...`, the inside of the array.
    json: Vec<u8>,
    /// Per cached tool: what it was made from, and where its bytes end.
    seen: Vec<(SeenTool, usize)>,
    /// The last tool serialized by serde, and its bytes after the name.
    template: Option<(SeenTool, Vec<u8>)>,
}

/// The fields of a [`Tool`] the cache compares. A tool with any of the other
/// fields set is never cached.
struct SeenTool {
    name: Cow<'static, str>,
    description: Option<Cow<'static, str>>,
    input_schema: Arc<JsonObject>,
    output_schema: Option<Arc<JsonObject>>,
}

impl SeenTool {
    fn new(tool: &Tool) -> Option<Self> {
        let plain = tool.title.is_none()
            && tool.annotations.is_none()
            && tool.icons.is_none()
            && tool.meta.is_none();
        plain.then(|| Self {
            name: tool.name.clone(),
            description: tool.description.clone(),
            input_schema: Arc::clone(&tool.input_schema),
            output_schema: tool.output_schema.clone(),
        })
    }

    /// Every field but the name is the same (`self` came from a plain tool).
    fn same_but_name(&self, tool: &Tool) -> bool {
        fn same(a: &Arc<JsonObject>, b: &Arc<JsonObject>) -> bool {
            Arc::ptr_eq(a, b) || a == b
        }
        tool.title.is_none()
            && tool.annotations.is_none()
            && tool.icons.is_none()
            && tool.meta.is_none()
            && self.description == tool.description
            && same(&self.input_schema, &tool.input_schema)
            && match (&self.output_schema, &tool.output_schema) {
                (Some(a), Some(b)) => same(a, b),
                (None, None) => true,
                _ => false,
            }
    }

    fn matches(&self, tool: &Tool) -> bool {
        self.name == tool.name && self.same_but_name(tool)
    }
}

impl ToolsCache {
    /// The inside of the JSON array for `tools`, reusing the longest cached
    /// prefix.
    pub fn serialize(&mut self, tools: &[Tool]) -> serde_json::Result<&[u8]> {
        let same = self
            .seen
            .iter()
            .zip(tools)
            .take_while(|((seen, _), tool)| seen.matches(tool))
            .count();
        self.seen.truncate(same);
        self.json
            .truncate(self.seen.last().map_or(0, |(_, end)| *end));
        let mut cacheable = true;
        for tool in &tools[same..] {
            if !self.json.is_empty() {
                self.json.push(b',');
            }
            self.append(tool)?;
            match SeenTool::new(tool) {
                Some(seen) if cacheable => self.seen.push((seen, self.json.len())),
                _ => cacheable = false,
            }
        }
        Ok(&self.json)
    }

    /// Append one serialized tool to `json`.
    fn append(&mut self, tool: &Tool) -> serde_json::Result<()> {
        const NAME: &[u8] = b"{\"name\":";
        if let Some((seen, rest)) = &self.template
            && seen.same_but_name(tool)
        {
            self.json.extend_from_slice(NAME);
            serde_json::to_writer(&mut self.json, &tool.name)?;
            self.json.extend_from_slice(rest);
            return Ok(());
        }
        let start = self.json.len();
        serde_json::to_writer(&mut self.json, tool)?;
        self.template = None;
        if let Some(seen) = SeenTool::new(tool) {
            let mut head = NAME.to_vec();
            serde_json::to_writer(&mut head, &tool.name)?;
            let bytes = &self.json[start..];
            if bytes.starts_with(&head) {
                self.template = Some((seen, bytes[head.len()..].to_vec()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools;
    use tokio::io::AsyncReadExt;

    /// What serde alone makes of the list: the cache must give the same bytes.
    fn plain(list: &[Tool]) -> Vec<u8> {
        let json = serde_json::to_vec(list).unwrap();
        json[1..json.len() - 1].to_vec()
    }

    fn catalog(n: usize) -> Vec<Tool> {
        (1..=n).map(tools::definition).collect()
    }

    #[test]
    fn the_tools_cache_gives_serdes_bytes_as_the_list_grows_and_changes() {
        let mut cache = ToolsCache::default();
        let mut lists = vec![
            catalog(1),
            catalog(10),
            catalog(12),
            catalog(12),
            catalog(5),
        ];
        let mut changed = catalog(12);
        changed[6].description = Some("another description".into());
        changed[8].title = Some("a title".into());
        lists.push(changed);
        let mut renamed = catalog(13);
        renamed[3].name = "renamed".into();
        lists.push(renamed);
        lists.push(catalog(14));
        lists.push(Vec::new());
        lists.push(catalog(3));
        for list in lists {
            assert_eq!(
                String::from_utf8(cache.serialize(&list).unwrap().to_vec()).unwrap(),
                String::from_utf8(plain(&list)).unwrap()
            );
        }
    }

    #[tokio::test]
    async fn a_tools_list_response_is_the_codecs_bytes() {
        use rmcp::model::{ListToolsResult, NumberOrString};
        let response = |tools: Vec<Tool>| {
            TxJsonRpcMessage::<RoleServer>::response(
                ServerResult::ListToolsResult(ListToolsResult::with_all_items(tools)),
                NumberOrString::Number(7),
            )
        };
        let (write, mut read) = tokio::io::duplex(1 << 20);
        let mut output = Output {
            framed: FramedWrite::new(write, JsonRpcMessageCodec::default()),
            tools: ToolsCache::default(),
        };
        for n in [4, 6] {
            output
                .feed(Item::Message(response(catalog(n))))
                .await
                .unwrap();
            output.framed.flush().await.unwrap();
            let mut expected = serde_json::to_vec(&response(catalog(n))).unwrap();
            expected.push(b'\n');
            let mut got = vec![0; expected.len()];
            read.read_exact(&mut got).await.unwrap();
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
