//! Which protocol revision a request speaks, and the methods 2026-07-28
//! removed.
//!
//! 2026-07-28 (SEP-2575) dropped `initialize`, `ping`, `logging/setLevel`,
//! `resources/subscribe` and `resources/unsubscribe`: a request that declares
//! that revision in its `_meta` and names one of them gets -32601 Method not
//! found (and HTTP 404). rmcp refuses `ping` and well-formed
//! `resources/(un)subscribe` itself but lets the rest through: a
//! `logging/setLevel` is served, a request whose params do not parse reaches
//! the handler as a custom request, and an `initialize` opens a handshake
//! session whatever its `_meta` says. [`crate::mcp`] answers the first two;
//! `initialize` is answered before rmcp sees it ([`Gate`] for one client's
//! transport, [`crate::http`] for HTTP), since rmcp ends a stdio service
//! whose first `initialize` fails and opens an HTTP session before the
//! handler runs.

use rmcp::RoleServer;
use rmcp::model::{ClientRequest, ErrorData, GetMeta, JsonRpcMessage, ProtocolVersion};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;

/// The methods a client may no longer send from 2026-07-28 on.
const REMOVED_IN_2026_07_28: [&str; 5] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// Whether `version` is a revision without the `initialize` handshake,
/// 2026-07-28 or later.
pub fn is_stateless(version: &ProtocolVersion) -> bool {
    !version.has_initialize()
}

/// The -32601 for `method` if a request in `version` may not name it.
pub fn removed_method(method: &str, version: Option<&ProtocolVersion>) -> Option<ErrorData> {
    let version = version.filter(|version| is_stateless(version))?;
    REMOVED_IN_2026_07_28.contains(&method).then(|| {
        ErrorData::new(
            rmcp::model::ErrorCode::METHOD_NOT_FOUND,
            format!(
                "Method not found: {method} does not exist in protocol revision {}",
                version.as_str()
            ),
            None,
        )
    })
}

/// The -32601 for an `initialize` whose `_meta` declares a revision without
/// the handshake; `None` for every other request.
pub fn refuse_initialize(request: &ClientRequest) -> Option<ErrorData> {
    let ClientRequest::InitializeRequest(initialize) = request else {
        return None;
    };
    let declared = request.get_meta().protocol_version().or_else(|| {
        let meta = initialize.params.meta.as_ref()?;
        meta.protocol_version()
    });
    removed_method("initialize", declared.as_ref())
}

/// Any server transport, answering an `initialize` that declares a revision
/// without the handshake with -32601 instead of handing it to rmcp.
pub struct Gate<T> {
    inner: T,
}

impl<T> Gate<T> {
    pub fn new(inner: T) -> Self {
        Self { inner }
    }
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for Gate<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            let message = self.inner.receive().await?;
            let JsonRpcMessage::Request(request) = &message else {
                return Some(message);
            };
            let Some(error) = refuse_initialize(&request.request) else {
                return Some(message);
            };
            // Not awaited: `receive` must stay cancel-safe; the transport
            // writes each message whole.
            let reply = self.inner.send(TxJsonRpcMessage::<RoleServer>::error(
                error,
                Some(request.id.clone()),
            ));
            tokio::spawn(async move {
                if let Err(error) = reply.await {
                    tracing::debug!(%error, "cannot write a method-not-found reply");
                }
            });
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_methods_only_from_2026_07_28() {
        let new = ProtocolVersion::V_2026_07_28;
        let old = ProtocolVersion::V_2025_11_25;
        for method in REMOVED_IN_2026_07_28 {
            let error = removed_method(method, Some(&new)).expect("refused");
            assert_eq!(error.code.0, -32601);
            assert!(removed_method(method, Some(&old)).is_none());
            assert!(removed_method(method, None).is_none());
        }
        assert!(removed_method("tools/list", Some(&new)).is_none());
    }
}
