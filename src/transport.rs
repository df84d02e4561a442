//! The stdio transport: newline-delimited JSON-RPC over any byte pipe pair,
//! answering bad lines instead of dropping them.
//!
//! rmcp's own `AsyncRwTransport` silently skips a line that is not JSON. Ours
//! frames and parses with rmcp's own [`JsonRpcMessageCodec`], and differs only
//! in what happens to a line it cannot use: a line that is not JSON gets a
//! -32700 parse error, JSON that is no JSON-RPC message gets a -32600 invalid
//! request (with the request's `id` when one can be read), and both replies go
//! through the same single writer as every other message. Then it reads on.
//!
//! [`InputWatch`] wraps any server transport, this one included, to tell the
//! server as soon as the client's input ends.

use std::sync::Arc;

use futures::SinkExt;
use rmcp::RoleServer;
use rmcp::model::{ErrorData, JsonRpcMessage};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::{
    DEFAULT_MAX_LINE_LENGTH, JsonRpcMessageCodec, JsonRpcMessageCodecError,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
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
    writer: Arc<Mutex<Option<Writer<W>>>>,
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
            writer: Arc::new(Mutex::new(Some(FramedWrite::new(
                writer,
                JsonRpcMessageCodec::default(),
            )))),
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
        async move {
            match writer.lock().await.as_mut() {
                Some(writer) => writer.send(item).await.map_err(Into::into),
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
        if let Some(mut writer) = self.writer.lock().await.take() {
            writer.flush().await?;
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
