//! Response bodies that write a `tools/list` answer's items from the
//! catalog's bytes (see [`crate::listing`]).
//!
//! rmcp serializes every message of an HTTP response itself, and its answers
//! hold their items as values: left to it, a list of 10,000 tools would be
//! serialized again for every answer. So over HTTP the handler answers with a
//! placeholder (the answer without its items) and leaves the page in the
//! response's [`Prepared`]; this body finds the placeholder among the bytes
//! rmcp writes and sends the page's bytes between its brackets, as slices of
//! the catalog's listings, not copies.
//!
//! It knows only how the bytes are framed: a JSON body is one message, and an
//! SSE event holds its message on its `data:` line (rmcp writes one event per
//! frame, and serialized JSON has no newline). Whether a message is a
//! placeholder, and where its items go, [`Prepared::items_at`] says.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use rmcp::transport::common::http_header::{EVENT_STREAM_MIME_TYPE, JSON_MIME_TYPE};

use crate::listing::Prepared;

type HttpBody = BoxBody<Bytes, Infallible>;

/// `response` with its placeholder answers filled in from `prepared`, and
/// `guard` kept for as long as its body lives. A response with no
/// `prepared` (it can hold no list answer), or whose body is neither JSON
/// nor SSE, is left as it is but for the guard.
pub fn fill<G>(
    response: Response<HttpBody>,
    prepared: Option<Prepared>,
    guard: G,
) -> Response<HttpBody>
where
    G: Send + Sync + Unpin + 'static,
{
    let Some(prepared) = prepared else {
        return response.map(|body| {
            body.map_frame(move |frame| {
                let _alive = &guard;
                frame
            })
            .boxed()
        });
    };
    let is = |mime: &str| {
        response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(mime.as_bytes()))
    };
    let framing = if is(EVENT_STREAM_MIME_TYPE) {
        Framing::Sse
    } else if is(JSON_MIME_TYPE) {
        Framing::Json
    } else {
        Framing::Other
    };
    response.map(|inner| {
        AnswerBody {
            inner,
            prepared,
            framing,
            rest: VecDeque::new(),
            _guard: guard,
        }
        .boxed()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// The body is one JSON-RPC message.
    Json,
    /// Each frame is one SSE event, its message on the `data:` line.
    Sse,
    /// No message.
    Other,
}

struct AnswerBody<G> {
    inner: HttpBody,
    prepared: Prepared,
    framing: Framing,
    /// What is left to send of a frame whose answer is being filled in.
    rest: VecDeque<Bytes>,
    _guard: G,
}

impl<G> AnswerBody<G> {
    /// `frame`, or its first piece when it holds a placeholder answer, the
    /// others queued in `rest`.
    fn fill(&mut self, frame: Bytes) -> Bytes {
        let Some(message) = self.message(&frame) else {
            return frame;
        };
        let Some((at, page)) = self.prepared.items_at(&frame[message.clone()]) else {
            return frame;
        };
        let at = message.start + at;
        self.rest.extend(page.chunks());
        self.rest.push_back(frame.slice(at..));
        frame.slice(..at)
    }

    /// Where `frame`'s message is, if it holds one.
    fn message(&self, frame: &[u8]) -> Option<Range<usize>> {
        match self.framing {
            Framing::Json => Some(0..frame.len()),
            Framing::Sse => {
                const DATA: &[u8] = b"data: ";
                let line = frame.strip_prefix(DATA)?;
                let end = line.iter().position(|&b| b == b'\n')?;
                Some(DATA.len()..DATA.len() + end)
            }
            Framing::Other => None,
        }
    }
}

impl<G: Unpin> Body for AnswerBody<G> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if let Some(next) = this.rest.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(next))));
        }
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            ended => return Poll::Ready(ended),
        };
        let data = match frame.into_data() {
            Ok(data) if this.framing != Framing::Other => data,
            Ok(data) => return Poll::Ready(Some(Ok(Frame::data(data)))),
            Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
        };
        Poll::Ready(Some(Ok(Frame::data(this.fill(data)))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        // A JSON body's length goes in its head: a placeholder in it makes
        // the length unknown.
        match self.rest.is_empty() && self.prepared.is_empty() {
            true => self.inner.size_hint(),
            false => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::{Listing, Page};
    use http_body_util::{Full, StreamBody};
    use rmcp::model::{ListToolsResult, NumberOrString, ServerJsonRpcMessage, ServerResult, Tool};
    use serde_json::json;
    use std::sync::Arc;

    fn tools(n: usize) -> Vec<Tool> {
        (1..=n)
            .map(|k| {
                let schema = json!({ "type": "object", "properties": { "k": { "const": k } } });
                Tool::new(
                    format!("tool{k}"),
                    format!("Tool \"{k}\"\n"),
                    Arc::new(schema.as_object().unwrap().clone()),
                )
            })
            .collect()
    }

    fn answer(tools: Vec<Tool>, id: i64) -> Vec<u8> {
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = Some("next".into());
        let message = ServerJsonRpcMessage::response(
            ServerResult::ListToolsResult(result),
            NumberOrString::Number(id),
        );
        serde_json::to_vec(&message).unwrap()
    }

    fn body(frames: Vec<Vec<u8>>) -> HttpBody {
        let frames = frames
            .into_iter()
            .map(|frame| Ok::<_, Infallible>(Frame::data(Bytes::from(frame))));
        StreamBody::new(futures::stream::iter(frames)).boxed()
    }

    async fn read(response: Response<HttpBody>) -> Vec<u8> {
        let body = response.into_body().collect().await.unwrap();
        body.to_bytes().to_vec()
    }

    fn sse(message: &[u8], id: &str) -> Vec<u8> {
        [b"data: ", message, b"\nid: ", id.as_bytes(), b"\n\n"].concat()
    }

    /// A response that can hold no list answer is left as rmcp made it, even
    /// a placeholder-shaped answer whose page is not its to fill.
    #[tokio::test]
    async fn a_response_with_nothing_prepared_is_left_alone() {
        let json = answer(Vec::new(), 4);
        let response = Response::builder()
            .header(http::header::CONTENT_TYPE, JSON_MIME_TYPE)
            .body(Full::new(Bytes::from(json.clone())).boxed())
            .unwrap();
        assert_eq!(read(fill(response, None, ())).await, json);
    }

    #[tokio::test]
    async fn a_placeholder_answer_is_sent_with_its_pages_items() {
        let all = tools(8);
        let listing = Arc::new(Listing::new(1, (1..=8).map(|k| (k, 1)), &all, None).unwrap());
        let mut page = Page::default();
        page.push(&listing, 2..6);
        let prepared = Prepared::default();
        prepared.put(NumberOrString::Number(3), page.clone());
        // Events before and after the answer, and a keep-alive comment.
        let notification = br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;
        let frames = vec![
            b"id: 0/1\nretry: 3000\n\n".to_vec(),
            sse(notification, "1/1"),
            b":\n\n".to_vec(),
            sse(&answer(Vec::new(), 3), "2/1"),
            sse(notification, "3/1"),
        ];
        let response = Response::builder()
            .header(http::header::CONTENT_TYPE, EVENT_STREAM_MIME_TYPE)
            .body(body(frames.clone()))
            .unwrap();
        let sent = read(fill(response, Some(prepared.clone()), ())).await;
        let mut expected = frames.clone();
        expected[3] = sse(&answer(all[2..6].to_vec(), 3), "2/1");
        assert_eq!(
            String::from_utf8(sent).unwrap(),
            String::from_utf8(expected.concat()).unwrap()
        );
        assert!(prepared.is_empty(), "the page is taken");

        // An answer to another request, or with no page, is left alone.
        prepared.put(NumberOrString::Number(4), page.clone());
        let response = Response::builder()
            .header(http::header::CONTENT_TYPE, EVENT_STREAM_MIME_TYPE)
            .body(body(frames.clone()))
            .unwrap();
        assert_eq!(
            read(fill(response, Some(prepared.clone()), ())).await,
            frames.concat()
        );

        // A JSON body is one message; its length is no longer known.
        let response = Response::builder()
            .header(http::header::CONTENT_TYPE, JSON_MIME_TYPE)
            .body(Full::new(Bytes::from(answer(Vec::new(), 4))).boxed())
            .unwrap();
        let filled = fill(response, Some(prepared.clone()), ());
        assert_eq!(filled.body().size_hint().exact(), None);
        assert_eq!(read(filled).await, answer(all[2..6].to_vec(), 4));
    }
}
