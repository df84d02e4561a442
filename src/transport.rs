//! The stdio transport: newline-delimited JSON-RPC over any byte pipe pair,
//! answering bad lines instead of dropping them.
//!
//! rmcp's own `AsyncRwTransport` silently skips a line that is not JSON. Ours
//! frames and parses with rmcp's own [`JsonRpcMessageCodec`], and differs only
//! in what happens to a line it cannot use: a line that is not JSON gets a
//! -32700 parse error, JSON that is no JSON-RPC message gets a -32600 invalid
//! request (without an `id`: the line is gone by then), and both replies go
//! through the same single writer as every other message. Then it reads on.
//!
//! Messages queued behind one another share one write: a message is flushed
//! by the last of the sends under way when it was written, so a burst of
//! responses to pipelined requests costs one `write` instead of one each.
//!
//! It also keeps the serialized tool list of its last `tools/list` answer (see
//! [`ToolsCache`]): the list only grows, so the next answer serializes only the
//! tools that are new, and the cached bytes go to the pipe without a copy.
//!
//! [`InputWatch`] wraps any server transport, this one included, to tell the
//! server as soon as the client's input ends.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::SinkExt;
use rmcp::RoleServer;
use rmcp::model::{ErrorData, JsonObject, JsonRpcMessage, ServerResult, Tool};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::{
    DEFAULT_MAX_LINE_LENGTH, JsonRpcMessageCodec, JsonRpcMessageCodecError,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, FramedWrite};
use tokio_util::sync::CancellationToken;

type Writer<W> = FramedWrite<W, JsonRpcMessageCodec<TxJsonRpcMessage<RoleServer>>>;

/// How much the read buffer asks for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A server-side transport over a reader and a writer of newline-delimited JSON.
pub struct LineTransport<R, W> {
    reader: R,
    buffer: BytesMut,
    decoder: JsonRpcMessageCodec<RxJsonRpcMessage<RoleServer>>,
    /// `None` once closed.
    writer: Arc<Mutex<Option<Output<W>>>>,
    /// Sends started and not yet queued on the writer.
    sending: Arc<AtomicUsize>,
    reached_eof: bool,
    /// rmcp ends a session whose first message is not a request, so until the
    /// first request, notifications and responses are dropped (they mean
    /// nothing before `initialize` anyway).
    seen_request: bool,
}

impl<R, W> LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    pub fn new(reader: R, writer: W) -> Self {
        Self {
            reader,
            buffer: BytesMut::with_capacity(READ_CHUNK),
            decoder: JsonRpcMessageCodec::new_with_max_length(DEFAULT_MAX_LINE_LENGTH),
            writer: Arc::new(Mutex::new(Some(Output {
                framed: FramedWrite::new(writer, JsonRpcMessageCodec::default()),
                tools: ToolsCache::default(),
            }))),
            sending: Arc::new(AtomicUsize::new(0)),
            reached_eof: false,
            seen_request: false,
        }
    }

    /// The next framed line: `Ok(Some)` a message, `Ok(None)` nothing complete
    /// yet, `Err` a line that could not be used (already consumed).
    fn decode(&mut self) -> Result<Option<RxJsonRpcMessage<RoleServer>>, JsonRpcMessageCodecError> {
        loop {
            let before = self.buffer.len();
            let decoded = if self.reached_eof {
                self.decoder.decode_eof(&mut self.buffer)
            } else {
                self.decoder.decode(&mut self.buffer)
            };
            match decoded {
                Ok(Some(message)) => return Ok(Some(message)),
                // The codec skips a non-MCP notification by consuming its line
                // and reporting nothing; a line was consumed, so look again.
                Ok(None) if self.buffer.len() != before && !self.buffer.is_empty() => continue,
                Ok(None) => return Ok(None),
                Err(error) => return Err(error),
            }
        }
    }

    /// Queue an error reply on the writer without waiting for it: `receive`
    /// must stay cancel-safe, and the writer keeps messages whole.
    fn reply_error(&mut self, error: ErrorData) {
        let reply = self.send(TxJsonRpcMessage::<RoleServer>::error(error, None));
        tokio::spawn(async move {
            if let Err(error) = reply.await {
                tracing::debug!(%error, "cannot write an error reply");
            }
        });
    }
}

impl<R, W> Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let writer = Arc::clone(&self.writer);
        let sending = Sending::start(&self.sending);
        async move {
            match writer.lock().await.as_mut() {
                Some(output) => output.send(item, sending).await,
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the transport is closed",
                )),
            }
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            match self.decode() {
                Ok(Some(message @ JsonRpcMessage::Request(_))) => {
                    self.seen_request = true;
                    return Some(message);
                }
                Ok(Some(message)) if self.seen_request => return Some(message),
                Ok(Some(_)) => tracing::warn!("message before the first request ignored"),
                Ok(None) if self.reached_eof => return None,
                Ok(None) => {
                    // `read_buf` is cancel-safe: a cancelled read consumed nothing.
                    self.buffer.reserve(READ_CHUNK);
                    match self.reader.read_buf(&mut self.buffer).await {
                        Ok(0) => self.reached_eof = true,
                        Ok(_) => {}
                        Err(error) => {
                            tracing::error!(%error, "cannot read from the client");
                            return None;
                        }
                    }
                }
                Err(error) => {
                    let reply = bad_line_reply(error);
                    tracing::warn!(code = reply.code.0, message = %reply.message, "bad input line");
                    self.reply_error(reply);
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        if let Some(mut output) = self.writer.lock().await.take() {
            match output.framed.flush().await.map_err(std::io::Error::from) {
                // The client closed its end first: it has gone, which is no
                // server fault (rmcp would log the failed close at ERROR).
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                    tracing::debug!("the client closed its input before the last flush");
                }
                result => result?,
            }
        }
        Ok(())
    }
}

/// The writing half: rmcp's codec over the writer, and the tool list cache.
struct Output<W> {
    framed: Writer<W>,
    tools: ToolsCache,
}

/// One send under way, counted from when rmcp asks for it until its message
/// is queued on the writer (or the send is dropped).
struct Sending(Option<Arc<AtomicUsize>>);

impl Sending {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(Some(Arc::clone(count)))
    }

    /// The message is queued: whether this send is the last one under way,
    /// and so must flush.
    fn queued(mut self) -> bool {
        let count = self.0.take().expect("queued once");
        count.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        if let Some(count) = self.0.take() {
            count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl<W: AsyncWrite + Unpin> Output<W> {
    /// Queue `item`, and write everything queued unless another send under
    /// way will: the writer's lock is fair, so that one gets its turn after
    /// this one, and the last of them flushes.
    async fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
        sending: Sending,
    ) -> std::io::Result<()> {
        let item = match item {
            JsonRpcMessage::Response(response)
                if matches!(response.result, ServerResult::ListToolsResult(_)) =>
            {
                drop(sending);
                return self.send_tool_list(response).await;
            }
            item => item,
        };
        self.framed.feed(item).await?;
        if sending.queued() {
            self.framed.flush().await?;
        }
        Ok(())
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

/// The JSON-RPC error for a line the codec rejected. The line is gone by now,
/// so the reply carries no `id`, as JSON-RPC prescribes when none can be read.
fn bad_line_reply(error: JsonRpcMessageCodecError) -> ErrorData {
    match error {
        JsonRpcMessageCodecError::Serde(error)
            if error.classify() == serde_json::error::Category::Data =>
        {
            ErrorData::invalid_request(format!("Invalid request: {error}"), None)
        }
        JsonRpcMessageCodecError::Serde(error) => {
            ErrorData::parse_error(format!("Parse error: {error}"), None)
        }
        JsonRpcMessageCodecError::MaxLineLengthExceeded => ErrorData::parse_error(
            format!("Parse error: line longer than {DEFAULT_MAX_LINE_LENGTH} bytes"),
            None,
        ),
        other => ErrorData::parse_error(format!("Parse error: {other}"), None),
    }
}

/// Any server transport, reporting the moment the client's input ends.
///
/// rmcp notices the end of input first, then waits up to 5 s for running
/// handlers before it ends the service; a `subscriptions/listen` handler runs
/// until its stream ends. The token lets the server shut down at once, which
/// ends the streams, so that wait is short.
pub struct InputWatch<T> {
    inner: T,
    input_closed: CancellationToken,
}

impl<T> InputWatch<T> {
    pub fn new(inner: T, input_closed: CancellationToken) -> Self {
        Self {
            inner,
            input_closed,
        }
    }
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for InputWatch<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        let message = self.inner.receive().await;
        if message.is_none() {
            self.input_closed.cancel();
        }
        message
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools;

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
            let sending = Sending::start(&Arc::new(AtomicUsize::new(0)));
            output.send(response(catalog(n)), sending).await.unwrap();
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
