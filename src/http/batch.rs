//! JSON-RPC batches over HTTP, for the one revision that has them.
//!
//! MCP 2025-03-26 says a server MUST accept a POST body that is a JSON-RPC
//! batch (an array of requests, notifications and responses); 2025-06-18
//! removed batches, and no other revision has them. rmcp parses a body as one
//! message only, so a batch on a 2025-03-26 session is split here: each
//! element goes to rmcp as its own POST with the same head, exactly as if the
//! client had sent it alone, and the answers are gathered into one JSON array
//! (JSON-RPC 2.0 §6), or `202 Accepted` when no element is a request. A batch
//! on any other session, or with none, gets a -32600 that says why.
//!
//! A session takes batches when its `initialize` asked for 2025-03-26: the
//! server supports that revision, and a supported revision is answered with
//! itself, so what was asked is what was negotiated.

use bytes::Bytes;
use futures::StreamExt;
use futures::future::join_all;
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use ractor::call;
use rmcp::model::ProtocolVersion;
use rmcp::transport::common::http_header::{EVENT_STREAM_MIME_TYPE, JSON_MIME_TYPE};
use rmcp::transport::streamable_http_server::session::SessionManager;
use serde_json::{Value, json};

use super::{Edge, HttpResponse, session_id, text};
use crate::http::server::HttpServerMsg;

/// Whether `body` is a JSON array, by its first significant byte: the one
/// shape this module handles.
pub fn is_batch(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
}

/// Whether `body` is an `initialize` that asks for 2025-03-26, whose session
/// will take batches.
pub fn opens_batch_session(body: &[u8]) -> bool {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    message["method"] == "initialize"
        && message["params"]["protocolVersion"] == ProtocolVersion::V_2025_03_26.as_str()
}

/// Answer the batch `body`, posted with `parts`.
pub async fn serve(edge: &Edge, parts: Parts, body: Bytes) -> HttpResponse {
    let elements = match serde_json::from_slice::<Vec<Value>>(&body) {
        Ok(elements) => elements,
        Err(error) => {
            return error_response(-32700, format!("Parse error: {error}"));
        }
    };
    let session = session_id(&parts.headers);
    let takes_batches = match &session {
        Some(session) => {
            if !edge.sessions.has_session(session).await.unwrap_or(false) {
                return text(StatusCode::NOT_FOUND, "Not Found: Session not found");
            }
            call!(edge.tracker, HttpServerMsg::IfTakesBatches, session.clone()).unwrap_or(false)
        }
        None => false,
    };
    if !takes_batches {
        return error_response(
            -32600,
            "Invalid request: a JSON-RPC batch is accepted only on a session that \
             negotiated protocol version 2025-03-26; later revisions removed batches, \
             so send each message in its own POST"
                .into(),
        );
    }
    if elements.is_empty() {
        // JSON-RPC 2.0 §6: an empty array is one invalid request.
        return error_response(-32600, "Invalid request: an empty batch".into());
    }
    let answers = join_all(
        elements
            .into_iter()
            .map(|element| answer(edge, &parts, element)),
    )
    .await;
    let answers: Vec<Value> = answers.into_iter().flatten().collect();
    if answers.is_empty() {
        return Response::builder()
            .status(StatusCode::ACCEPTED)
            .body(Full::new(Bytes::new()).boxed())
            .expect("a valid response");
    }
    let body = serde_json::to_vec(&answers).expect("JSON values serialize");
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, JSON_MIME_TYPE)
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("a valid response")
}

/// The answer to one element of a batch, if it is a request.
async fn answer(edge: &Edge, parts: &Parts, element: Value) -> Option<Value> {
    let id = element.get("id").cloned();
    if element["method"] == "initialize" {
        // MCP 2025-03-26, lifecycle: "The initialization request MUST NOT be
        // part of a JSON-RPC batch".
        return Some(error(
            id,
            -32600,
            "Invalid request: initialize must not be part of a batch",
        ));
    }
    let body = Bytes::from(serde_json::to_vec(&element).expect("JSON values serialize"));
    let response = super::serve(edge, alone(parts), body).await;
    let status = response.status();
    if status == StatusCode::ACCEPTED {
        return None;
    }
    let is = |mime: &str| {
        response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with(mime))
    };
    if is(EVENT_STREAM_MIME_TYPE) {
        let found = first_response_in_events(response).await;
        return found.or_else(|| Some(error(id, -32603, "Internal error: no answer")));
    }
    if is(JSON_MIME_TYPE)
        && let Ok(collected) = response.into_body().collect().await
        && let Ok(message) = serde_json::from_slice::<Value>(&collected.to_bytes())
    {
        return Some(message);
    }
    // An HTTP refusal of the element alone, such as a wrong header for it.
    Some(error(
        id,
        -32600,
        &format!("Invalid request: refused with HTTP {status}"),
    ))
}

/// The head of `parts` for a request of its own: rmcp reads the body it is
/// given, so only the length of the whole batch must go.
fn alone(parts: &Parts) -> Parts {
    let mut request = Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request.headers_mut().remove(http::header::CONTENT_LENGTH);
    request.into_parts().0
}

/// Read an SSE response until its JSON-RPC response (or error) arrives;
/// anything before it (priming events, notifications) is skipped.
async fn first_response_in_events(response: HttpResponse) -> Option<Value> {
    let mut frames = response.into_body().into_data_stream();
    let mut buffer = String::new();
    while let Some(Ok(chunk)) = frames.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data: String = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if let Ok(message) = serde_json::from_str::<Value>(&data)
                && message.get("id").is_some()
                && (message.get("result").is_some() || message.get("error").is_some())
            {
                return Some(message);
            }
        }
    }
    None
}

fn error(id: Option<Value>, code: i64, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(Value::Null),
        "error": { "code": code, "message": message },
    })
}

/// A JSON-RPC error for the batch as a whole, with HTTP 400: no element of
/// it is answered.
fn error_response(code: i64, message: String) -> HttpResponse {
    let body = serde_json::to_vec(&error(None, code, &message)).expect("JSON values serialize");
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(http::header::CONTENT_TYPE, JSON_MIME_TYPE)
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("a valid response")
}
