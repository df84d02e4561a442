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
//! from a queue. The transport stops reading input while [`MAX_PENDING`]
//! requests and answers are in flight, so memory stays bounded whatever the
//! client does, and ends its input when the client closed stdout (EPIPE).
//!
//! rmcp keys a request by its id and, given a second request with the id of
//! one still in flight, loses one of the two answers. The transport answers
//! the second with a -32600 error instead of passing it on.
//!
//! [`InputWatch`] wraps any server transport, this one included, to tell the
//! server as soon as the client's input ends.

mod output;

use std::io::ErrorKind;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ClientNotification, ClientRequest, ErrorData, JsonRpcMessage};
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

use output::{Item, Outgoing, Shared};
pub use output::{MAX_PENDING, OutputDrain, ToolsCache};

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
            Ok(Some(message)) => Line::Message(message),
            Ok(None) => Line::Skip,
            Err(error) => {
                let reply = bad_line_reply(error);
                Line::Bad(reply, readable_id(&line))
            }
        }
    }

    /// Queue a line of our own; it is written whole even if `receive` is
    /// cancelled next.
    fn reply(&mut self, error: ErrorData, id: Option<Value>) {
        tracing::warn!(code = error.code.0, message = %error.message, "bad input line");
        let line = serde_json::json!({
            "jsonrpc": "2.0",
            "id": id.unwrap_or(Value::Null),
            "error": error,
        });
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
    fn admit(&mut self, message: &RxJsonRpcMessage<RoleServer>) -> bool {
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
                    self.reply(error, serde_json::to_value(&id).ok());
                    return false;
                }
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
            JsonRpcMessage::Response(response) => Some(response.id.clone()),
            JsonRpcMessage::Error(error) => error.id.clone(),
            _ => None,
        };
        let queued =
            self.shared
                .enqueue(self.queue.as_ref(), Item::Message(item), answered.as_ref());
        async move {
            let written = queued?.await.unwrap_or(Err(ErrorKind::BrokenPipe));
            written.map_err(|kind| std::io::Error::new(kind, "cannot write to the client"))
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            if !room(&self.shared).await {
                return None;
            }
            match self.next_line() {
                Some(Line::Message(message)) => {
                    if self.admit(&message) {
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

/// The `id` of a line that is JSON but no valid message, if it has a valid
/// one (a string or an integer, as JSON-RPC allows and rmcp reads).
fn readable_id(line: &[u8]) -> Option<Value> {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(line) else {
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
}
