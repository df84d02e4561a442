//! The errors the handler answers with, and which requests it tells apart
//! when rmcp could not parse them.

use rmcp::ErrorData as McpError;
use rmcp::model::{ErrorCode, ProtocolVersion};
use serde_json::json;

use crate::actors::registry::ApplyError;
use crate::revision;

pub(super) fn shutting_down() -> McpError {
    McpError::internal_error("the server is shutting down", None)
}

/// A trigger tool's change refused is a bad call; a registry gone, the end.
impl From<ApplyError> for McpError {
    fn from(error: ApplyError) -> Self {
        match error {
            ApplyError::Refused(refused) => McpError::invalid_params(refused.to_string(), None),
            ApplyError::Stopped(_) => shutting_down(),
        }
    }
}

/// A request for a list this server does not offer (what rmcp's default
/// handler answers without the capability), or for no method MCP defines.
pub(super) fn method_not_found(method: &str) -> McpError {
    McpError::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!("Method not found: {method}"),
        None,
    )
}

pub(super) fn resource_not_found(uri: &str) -> McpError {
    McpError::resource_not_found(
        format!("Resource not found: {uri}"),
        Some(json!({ "uri": uri })),
    )
}

/// Whether `method` is one the MCP specification defines for a client's requests.
pub(super) fn is_mcp_method(method: &str) -> bool {
    matches!(
        method,
        "initialize"
            | "ping"
            | "server/discover"
            | "tools/list"
            | "tools/call"
            | "prompts/list"
            | "prompts/get"
            | "resources/list"
            | "resources/read"
            | "resources/templates/list"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "subscriptions/listen"
            | "completion/complete"
            | "logging/setLevel"
    )
}

/// The error for a request rmcp could not parse, such as `tools/call`
/// without params: a method that `protocol` removed, a method of MCP's with
/// bad params, or a method MCP does not have.
pub(super) fn unparsed_request(method: &str, protocol: Option<&ProtocolVersion>) -> McpError {
    if let Some(error) = revision::removed_method(method, protocol) {
        error
    } else if is_mcp_method(method) {
        McpError::invalid_params(format!("Invalid params for {method}"), None)
    } else {
        method_not_found(method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_method_without_its_params_is_invalid_params() {
        let error = unparsed_request("tools/call", None);
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
        assert_eq!(error.message, "Invalid params for tools/call");
    }

    #[test]
    fn an_unknown_method_is_not_found_by_name() {
        let error = unparsed_request("tools/frobnicate", None);
        assert_eq!(error.code, ErrorCode::METHOD_NOT_FOUND);
        assert_eq!(error.message, "Method not found: tools/frobnicate");
        assert_eq!(error, method_not_found("tools/frobnicate"));
    }

    #[test]
    fn a_method_the_revision_removed_is_refused_as_that_revision_says() {
        let protocol: ProtocolVersion =
            serde_json::from_value(json!("2026-07-28")).expect("a revision rmcp knows");
        let removed = revision::removed_method("logging/setLevel", Some(&protocol))
            .expect("2026-07-28 removed logging/setLevel");
        assert_eq!(
            unparsed_request("logging/setLevel", Some(&protocol)),
            removed
        );
        // Earlier, it is MCP's and only its params were wrong.
        let error = unparsed_request("logging/setLevel", None);
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
    }

    #[test]
    fn every_client_request_of_mcp_is_known() {
        for method in [
            "initialize",
            "ping",
            "tools/list",
            "tools/call",
            "resources/subscribe",
            "subscriptions/listen",
            "logging/setLevel",
        ] {
            assert!(is_mcp_method(method), "{method}");
        }
        for method in [
            "notifications/initialized",
            "tools",
            "",
            "sampling/createMessage",
        ] {
            assert!(!is_mcp_method(method), "{method}");
        }
    }

    #[test]
    fn a_missing_resource_names_its_uri() {
        let error = resource_not_found("test://nope");
        assert_eq!(error.code, ErrorCode::RESOURCE_NOT_FOUND);
        assert_eq!(error.data, Some(json!({ "uri": "test://nope" })));
    }
}
