//! The stdio transport: newline-delimited JSON-RPC over any byte pipe pair,
//! answering bad lines instead of dropping them, and never cutting an answer.
//!
//! rmcp's own `AsyncRwTransport` silently skips a line that is not JSON. Ours
//! parses each line with rmcp's own [`JsonRpcMessageCodec`], and differs only
//! in what happens to a line it cannot use: a line that is not JSON gets a
//! -32700 parse error, JSON that is no JSON-RPC message gets a -32600 invalid
//! request with the line's `id` when one can be read, and `"id": null` when
//! none can (JSON-RPC 2.0, section 5: "If there was an error in detecting the
//! id in the Request object, it MUST be Null"). rmcp's error message type
//! omits a missing id, so the transport writes those lines itself. Then it
//! reads on, to the last line before EOF.
//!
//! Writing is the `output` submodule's: one task owns the pipe and writes whole messages
//! from a queue. The transport stops reading input while [`MAX_PENDING`](output::MAX_PENDING)
//! requests and answers are in flight, so memory stays bounded whatever the
//! client does, and ends its input when the client closed stdout (EPIPE).
//!
//! rmcp keys a request by its id and, given a second request with the id of
//! one still in flight, loses one of the two answers. The transport answers
//! the second with a -32600 error instead of passing it on.
//!
//! Revision 2025-03-26 requires servers to accept JSON-RPC batches, which
//! rmcp does not read. On a session that negotiated it, the transport hands a
//! batch's messages to rmcp one by one and writes their answers as one array
//! once the last is in (JSON-RPC 2.0, section 6); on every other revision a
//! batch gets one -32600 saying so.
//!
//! [`InputWatch`] wraps any server transport, this one included, to tell the
//! server as soon as the client's input ends.

mod output;

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{
    ClientNotification, ClientRequest, ErrorData, GetExtensions, JsonRpcMessage, ProtocolVersion,
    RequestId, ServerResult,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::{
    DEFAULT_MAX_LINE_LENGTH, JsonRpcMessageCodec, JsonRpcMessageCodecError,
};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::{AnyDelimiterCodec, AnyDelimiterCodecError, Decoder};
use tokio_util::sync::CancellationToken;

use crate::pagination::misread_list_params;
pub use output::OutputDrain;
use output::{Item, Outgoing, Shared};

use crate::listing::Prepared;

/// How much the read buffer asks for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A server-side transport over a reader and a writer of newline-delimited JSON.
pub struct LineTransport<R> {
    reader: R,
    buffer: BytesMut,
    /// Splits lines (rmcp's codec would drop a line it cannot parse, and the
    /// line is needed to read its id).
    framer: AnyDelimiterCodec,
    parser: JsonRpcMessageCodec<RxJsonRpcMessage<RoleServer>>,
    /// `None` once closed.
    queue: Option<mpsc::UnboundedSender<Outgoing>>,
    shared: Arc<Shared>,
    reached_eof: bool,
    /// rmcp ends a session whose first message is not a request, so until the
    /// first request, notifications and responses are dropped (they mean
    /// nothing before `initialize` anyway).
    seen_request: bool,
    /// Whether the session negotiated 2025-03-26, the one revision with batches.
    batches_allowed: bool,
    /// Messages of batches read and not yet handed to rmcp: their batch, and
    /// whether each is its batch's last.
    batched: VecDeque<(u64, RxJsonRpcMessage<RoleServer>, bool)>,
    batches: HashMap<u64, Batch>,
    /// Which batch each request in flight from a batch belongs to.
    batch_of: HashMap<RequestId, u64>,
    next_batch: u64,
    /// Answers whose items the handler serialized already (a `tools/list`
    /// page, from the catalog's bytes): every request carries a copy in its
    /// extensions, and an answer found here is written as its pieces.
    prepared: Prepared,
}

/// A batch whose answer array is being collected.
#[derive(Default)]
struct Batch {
    /// Whether some of its messages are still to be handed to rmcp.
    reading: bool,
    /// Requests handed to rmcp and not answered yet.
    waiting: usize,
    answers: Vec<Value>,
}

/// What one input line is.
// Messages are the common case: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Line {
    Message(RxJsonRpcMessage<RoleServer>),
    /// Nothing to do: an empty line, or a notification rmcp ignores.
    Skip,
    /// An error to answer with, and the id it answers (`None`: `null`).
    Bad(ErrorData, Option<Value>),
}

impl<R> LineTransport<R>
where
    R: AsyncRead + Send + Unpin + 'static,
{
    /// A transport reading `reader` and writing `writer`. It starts the task
    /// that owns `writer`, so it must be created inside a Tokio runtime.
    pub fn new<W>(reader: R, writer: W) -> Self
    where
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let shared = Shared::new();
        Self {
            reader,
            buffer: BytesMut::with_capacity(READ_CHUNK),
            framer: AnyDelimiterCodec::new_with_max_length(
                b"\n".to_vec(),
                Vec::new(),
                DEFAULT_MAX_LINE_LENGTH,
            ),
            parser: JsonRpcMessageCodec::default(),
            queue: Some(output::spawn_writer(writer, Arc::clone(&shared))),
            shared,
            reached_eof: false,
            seen_request: false,
            batches_allowed: false,
            batched: VecDeque::new(),
            batches: HashMap::new(),
            batch_of: HashMap::new(),
            prepared: Prepared::default(),
            next_batch: 0,
        }
    }

    /// Also end when the pipe behind `output` (the `writer`'s descriptor)
    /// loses its last reader, though no write fails (see
    /// [`output::watch_reader`]); an output that cannot lose its reader (a
    /// file) is not watched.
    pub fn watch_output(&self, output: std::os::fd::BorrowedFd<'_>) {
        if let Err(error) = output::watch_reader(output, Arc::clone(&self.shared)) {
            tracing::debug!(%error, "stdout is not watched for its reader closing");
        }
    }

    /// What waits, at exit, for the answers still being written.
    pub fn output(&self) -> OutputDrain {
        OutputDrain(Arc::clone(&self.shared))
    }

    /// The next line from the buffer: `Ok(None)` when no whole line is there.
    fn next_line(&mut self) -> Option<Line> {
        let framed = if self.reached_eof {
            self.framer.decode_eof(&mut self.buffer)
        } else {
            self.framer.decode(&mut self.buffer)
        };
        match framed {
            Ok(Some(line)) => Some(self.parse(line)),
            Ok(None) => None,
            Err(AnyDelimiterCodecError::MaxChunkLengthExceeded) => Some(Line::Bad(
                ErrorData::parse_error(
                    format!("Parse error: line longer than {DEFAULT_MAX_LINE_LENGTH} bytes"),
                    None,
                ),
                None,
            )),
            Err(AnyDelimiterCodecError::Io(error)) => Some(Line::Bad(
                ErrorData::parse_error(format!("Parse error: {error}"), None),
                None,
            )),
        }
    }

    fn parse(&mut self, line: Bytes) -> Line {
        let mut copy = BytesMut::from(&line[..]);
        match self.parser.decode_eof(&mut copy) {
            Ok(Some(message)) => match misread(&message, &line) {
                Some((error, id)) => Line::Bad(error, id),
                None => Line::Message(message),
            },
            Ok(None) => Line::Skip,
            Err(error) => match serde_json::from_slice::<Value>(trimmed(&line)) {
                Ok(Value::Array(items)) => self.batch(items),
                _ => Line::Bad(bad_line_reply(error), readable_id(&line)),
            },
        }
    }

    /// Queue a batch's messages for rmcp, answering the invalid ones in its
    /// array (JSON-RPC 2.0, section 6).
    fn batch(&mut self, items: Vec<Value>) -> Line {
        if !self.batches_allowed {
            let error = ErrorData::invalid_request(
                "Invalid request: JSON-RPC batches are accepted only on protocol revision \
                 2025-03-26, and this session uses another",
                None,
            );
            return Line::Bad(error, None);
        }
        if items.is_empty() {
            let error = ErrorData::invalid_request("Invalid request: an empty batch", None);
            return Line::Bad(error, None);
        }
        let id = self.next_batch;
        self.next_batch += 1;
        let mut batch = Batch::default();
        let mut messages = Vec::new();
        for item in items {
            let bytes = serde_json::to_vec(&item).expect("a JSON value serializes");
            match self.parser.decode_eof(&mut BytesMut::from(&bytes[..])) {
                Ok(Some(message)) => match misread(&message, &bytes) {
                    Some((error, id)) => batch.answers.push(error_object(error, id)),
                    None => messages.push(message),
                },
                Ok(None) => {}
                Err(error) => batch
                    .answers
                    .push(error_object(bad_line_reply(error), readable_id(&bytes))),
            }
        }
        let count = messages.len();
        for (i, message) in messages.into_iter().enumerate() {
            self.batched.push_back((id, message, i + 1 == count));
        }
        batch.reading = count > 0;
        self.batches.insert(id, batch);
        self.emit_if_complete(id);
        Line::Skip
    }

    /// Write a batch's answer array once nothing more is to come.
    fn emit_if_complete(&mut self, id: u64) {
        let Some(batch) = self.batches.get(&id) else {
            return;
        };
        if batch.reading || batch.waiting > 0 {
            return;
        }
        let batch = self.batches.remove(&id).expect("checked above");
        // A batch of notifications alone gets nothing, not an empty array.
        if batch.answers.is_empty() {
            return;
        }
        let line = serde_json::to_vec(&batch.answers).expect("JSON values serialize");
        if self
            .shared
            .enqueue(self.queue.as_ref(), Item::Line(line), None)
            .is_err()
        {
            tracing::debug!("cannot queue a batch answer: the output is closed");
        }
    }

    /// Queue a line of our own; it is written whole even if `receive` is
    /// cancelled next.
    fn reply(&mut self, error: ErrorData, id: Option<Value>) {
        tracing::warn!(code = error.code.0, message = %error.message, "bad input line");
        let line = error_object(error, id);
        let line = serde_json::to_vec(&line).expect("a JSON value serializes");
        if self
            .shared
            .enqueue(self.queue.as_ref(), Item::Line(line), None)
            .is_err()
        {
            tracing::debug!("cannot queue an error reply: the output is closed");
        }
    }

    /// Track a message on its way to rmcp; `false` if it must not go there.
    /// A request from a batch is answered in the batch's array.
    fn admit(&mut self, message: &mut RxJsonRpcMessage<RoleServer>, batch: Option<u64>) -> bool {
        match message {
            JsonRpcMessage::Request(request) => {
                let stream = matches!(
                    request.request,
                    ClientRequest::SubscriptionsListenRequest(_)
                );
                let id = request.id.clone();
                let mut fresh = true;
                self.shared.pending.send_if_modified(|pending| {
                    fresh = pending.start(id.clone(), stream);
                    fresh
                });
                if !fresh {
                    let error = ErrorData::invalid_request(
                        format!("Invalid request: id {id} is already used by a request in flight"),
                        None,
                    );
                    let id = serde_json::to_value(&id).ok();
                    match batch.and_then(|batch| self.batches.get_mut(&batch)) {
                        Some(batch) => batch.answers.push(error_object(error, id)),
                        None => self.reply(error, id),
                    }
                    return false;
                }
                if let Some(batch) = batch
                    && let Some(open) = self.batches.get_mut(&batch)
                {
                    open.waiting += 1;
                    self.batch_of.insert(id, batch);
                }
                request
                    .request
                    .extensions_mut()
                    .insert(self.prepared.clone());
                self.seen_request = true;
                true
            }
            JsonRpcMessage::Notification(notification) => {
                // rmcp drops the answer to a cancelled request, so it is no
                // longer in flight.
                if let ClientNotification::CancelledNotification(cancelled) =
                    &notification.notification
                    && let Some(id) = &cancelled.params.request_id
                {
                    self.shared
                        .pending
                        .send_modify(|pending| pending.finish(id));
                    self.prepared.forget(id);
                }
                self.seen_request
            }
            _ => self.seen_request,
        }
    }
}

impl<R> Transport<RoleServer> for LineTransport<R>
where
    R: AsyncRead + Send + Unpin + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let answered = match &item {
            JsonRpcMessage::Response(response) => {
                if let ServerResult::InitializeResult(result) = &response.result {
                    self.batches_allowed = result.protocol_version == ProtocolVersion::V_2025_03_26;
                }
                Some(response.id.clone())
            }
            JsonRpcMessage::Error(error) => error.id.clone(),
            _ => None,
        };
        let queued = match answered.as_ref().and_then(|id| self.batch_of.remove(id)) {
            Some(batch) => {
                // Collected into the batch's array, written with its last answer.
                let id = answered.expect("a batch answer has an id");
                self.shared
                    .pending
                    .send_modify(|pending| pending.finish(&id));
                // A batch's array is serialized whole: a page prepared for
                // this answer is not used.
                self.prepared.forget(&id);
                if let Some(open) = self.batches.get_mut(&batch) {
                    open.waiting -= 1;
                    open.answers
                        .push(serde_json::to_value(&item).expect("a message serializes"));
                }
                self.emit_if_complete(batch);
                Ok(None)
            }
            None => {
                let item = match self.prepared.encode(item) {
                    Ok(line) => Item::Pieces(line),
                    Err(message) => Item::Message(message),
                };
                self.shared
                    .enqueue(self.queue.as_ref(), item, answered.as_ref())
                    .map(Some)
            }
        };
        let gone = self.shared.gone.clone();
        async move {
            let written = match queued {
                Ok(None) => return Ok(()),
                Ok(Some(queued)) => queued.await.unwrap_or(Err(ErrorKind::BrokenPipe)),
                Err(kind) => Err(kind),
            };
            match written {
                // The client closed stdout: routine, and nobody is left to
                // tell (rmcp would log a failed send as an ERROR).
                Err(kind) if gone.is_cancelled() => {
                    tracing::debug!(?kind, "not written: the client is gone");
                    Ok(())
                }
                written => {
                    written.map_err(|kind| std::io::Error::new(kind, "cannot write to the client"))
                }
            }
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            if !room(&self.shared).await {
                return None;
            }
            if let Some((batch, mut message, last)) = self.batched.pop_front() {
                let admitted = self.admit(&mut message, Some(batch));
                if last {
                    if let Some(open) = self.batches.get_mut(&batch) {
                        open.reading = false;
                    }
                    self.emit_if_complete(batch);
                }
                if admitted {
                    return Some(message);
                }
                continue;
            }
            match self.next_line() {
                Some(Line::Message(mut message)) => {
                    if self.admit(&mut message, None) {
                        return Some(message);
                    }
                    if !matches!(message, JsonRpcMessage::Request(_)) {
                        tracing::warn!("message before the first request ignored");
                    }
                }
                Some(Line::Skip) => {}
                Some(Line::Bad(error, id)) => self.reply(error, id),
                None if self.reached_eof => return None,
                None => {
                    // `read_buf` is cancel-safe: a cancelled read consumed nothing.
                    self.buffer.reserve(READ_CHUNK);
                    tokio::select! {
                        read = self.reader.read_buf(&mut self.buffer) => match read {
                            Ok(0) => self.reached_eof = true,
                            Ok(_) => {}
                            Err(error) => {
                                tracing::error!(%error, "cannot read from the client");
                                return None;
                            }
                        },
                        // stdout broke: the client is gone (the one shutdown path).
                        () = self.shared.gone.cancelled() => return None,
                    }
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // The writer task writes what is queued, then ends.
        self.queue.take();
        Ok(())
    }
}

/// Wait while too much is in flight; `false` if the client is gone.
async fn room(shared: &Shared) -> bool {
    if shared.pending.borrow().has_room() {
        return true;
    }
    let mut pending = shared.pending.subscribe();
    tokio::select! {
        _ = pending.wait_for(|p| p.has_room()) => true,
        () = shared.gone.cancelled() => false,
    }
}

/// The JSON-RPC error for a line rmcp's codec rejected.
/// A request whose params rmcp misread, with the error to answer it and its
/// id (see [`misread_list_params`]).
fn misread(
    message: &RxJsonRpcMessage<RoleServer>,
    raw: &[u8],
) -> Option<(ErrorData, Option<Value>)> {
    let JsonRpcMessage::Request(request) = message else {
        return None;
    };
    let error = misread_list_params(&request.request, raw)?;
    Some((error, serde_json::to_value(&request.id).ok()))
}

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

/// A JSON-RPC error response, written by the transport itself: rmcp's error
/// message type omits a missing id, where JSON-RPC 2.0 requires `"id": null`.
fn error_object(error: ErrorData, id: Option<Value>) -> Value {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(Value::Null),
        "error": error,
    })
}

/// A line without the byte-order mark and carriage return rmcp ignores.
fn trimmed(line: &[u8]) -> &[u8] {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The `id` of a line that is JSON but no valid message, if it has a valid
/// one (a string or an integer, as JSON-RPC allows and rmcp reads).
fn readable_id(line: &[u8]) -> Option<Value> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(trimmed(line)) else {
        return None;
    };
    match object.remove("id")? {
        id @ Value::String(_) => Some(id),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(Value::Number(n)),
        _ => None,
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

    #[test]
    fn an_id_is_read_when_it_is_a_string_or_an_integer() {
        let id = |line: &str| readable_id(line.as_bytes());
        assert_eq!(id(r#"{"id":31,"params":[1]}"#), Some(Value::from(31)));
        assert_eq!(id("\u{feff}{\"id\":\"a\"}\r"), Some(Value::from("a")));
        assert_eq!(id(r#"{"id":1.5}"#), None);
        assert_eq!(id(r#"{"id":null}"#), None);
        assert_eq!(id(r#"{"id":[1]}"#), None);
        assert_eq!(id(r#"[{"id":1}]"#), None);
        assert_eq!(id("{not json"), None);
    }

    /// The handler leaves a page of tools for a request; the transport writes
    /// that page's bytes in the answer, not the answer's own tools (here they
    /// differ, to show which were written).
    #[tokio::test]
    async fn an_answer_with_a_prepared_page_is_written_from_the_page() {
        use crate::listing::{Listing, Page};
        use rmcp::model::{GetExtensions, ListToolsResult, ServerJsonRpcMessage};
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

        let (client, server) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(server);
        let mut transport = LineTransport::new(server_read, server_write);
        let (from_server, mut to_server) = tokio::io::split(client);
        to_server
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}\n")
            .await
            .unwrap();
        let Some(JsonRpcMessage::Request(request)) = transport.receive().await else {
            panic!("the request");
        };
        let prepared = request.request.extensions().get::<Prepared>().unwrap();
        let tools: Vec<_> = (1..=6).map(crate::tools::definition).collect();
        let listing = Arc::new(Listing::new(1, (1..=6).map(|k| (k, 1)), &tools, None).unwrap());
        let mut page = Page::default();
        page.push(&listing, 3..6);
        prepared.put(request.id.clone(), page);
        let answer = |tools: &[rmcp::model::Tool]| {
            let result = ListToolsResult::with_all_items(tools.to_vec());
            ServerJsonRpcMessage::response(
                ServerResult::ListToolsResult(result),
                request.id.clone(),
            )
        };
        transport.send(answer(&tools[..3])).await.unwrap();
        let mut expected = serde_json::to_vec(&answer(&tools[3..])).unwrap();
        expected.push(b'\n');
        let mut written = Vec::new();
        let mut from_server = tokio::io::BufReader::new(from_server);
        let read = from_server.read_until(b'\n', &mut written);
        tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .expect("the answer within 10 s")
            .unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }
}
