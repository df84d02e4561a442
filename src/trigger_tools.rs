//! The conformance suite's fixture tools, offered with `--trigger-tools`.
//!
//! The official MCP conformance suite provokes list changes and checks a few
//! 2026-07-28 rules by calling tools of fixed names (its `server-stateless`
//! scenario). They are off by default, so the default tool list stays exactly
//! `echo, calculator, counter, echo4, ...`; when on, they are listed after the
//! catalog's tools, take no arguments, and are not counted by `counter`.
//!
//! - `test_trigger_tool_change` adds the next tool, as a SIGHUP does.
//! - `test_trigger_prompt_change` adds the next prompt (with `--prompts`).
//! - `test_missing_capability` needs the client's `sampling` capability and
//!   answers -32021 (missing required client capability) without it.
//! - `test_streaming_elicitation` needs `elicitation`; it asks for one with an
//!   `input_required` result (SEP-2322) rather than a request on the response
//!   stream, and completes when the client retries with the answer.
//! - `test_logging_tool` sends log messages only when the request asked for a
//!   log level in its `_meta`, on that request's own stream.
//!
//! What each must do is read off the suite's scenario: see docs/protocol.md,
//! "The conformance suite's fixture tools".

#![allow(deprecated)] // rmcp marks sampling deprecated (SEP-2577); the suite's fixture still asks for it

use std::sync::{Arc, LazyLock};

use rmcp::ErrorData as McpError;
use rmcp::model::{
    ClientCapabilities, ErrorCode, InputRequests, InputRequiredResult, InputResponses, JsonObject,
    Tool,
};

use crate::listing::Listing;
use serde_json::json;

/// One of the fixture tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerTool {
    ToolChange,
    PromptChange,
    MissingCapability,
    StreamingElicitation,
    Logging,
}

impl TriggerTool {
    const ALL: [(TriggerTool, &'static str, &'static str); 5] = [
        (
            TriggerTool::ToolChange,
            "test_trigger_tool_change",
            "Add the next tool, as a SIGHUP does (conformance fixture).",
        ),
        (
            TriggerTool::PromptChange,
            "test_trigger_prompt_change",
            "Add the next prompt (conformance fixture; needs --prompts).",
        ),
        (
            TriggerTool::MissingCapability,
            "test_missing_capability",
            "Needs the client's sampling capability (conformance fixture).",
        ),
        (
            TriggerTool::StreamingElicitation,
            "test_streaming_elicitation",
            "Asks the client to confirm through elicitation (conformance fixture).",
        ),
        (
            TriggerTool::Logging,
            "test_logging_tool",
            "Sends log messages when the request asks for a log level (conformance fixture).",
        ),
    ];

    /// The fixture tool of this name.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(tool, _, _)| *tool)
    }
}

/// Their definitions, in the order they are listed.
pub fn definitions() -> &'static [Tool] {
    static TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(|| {
        let schema: Arc<JsonObject> = Arc::new(
            json!({ "type": "object", "properties": {} })
                .as_object()
                .expect("an object")
                .clone(),
        );
        TriggerTool::ALL
            .iter()
            .map(|(_, name, description)| Tool::new(*name, *description, Arc::clone(&schema)))
            .collect()
    });
    &TOOLS
}

/// The fixture tools serialized, once (see [`crate::listing`]): keyed by
/// their place in the list, as they never change.
pub fn listing() -> &'static Arc<Listing> {
    static LISTING: LazyLock<Arc<Listing>> = LazyLock::new(|| {
        let tools = definitions();
        let keys = (1..=tools.len()).map(|k| (k, 1));
        Arc::new(Listing::new(1, keys, tools, None).expect("a tool serializes"))
    });
    &LISTING
}

/// -32021 naming the capability a fixture tool needs, when the client did not
/// declare it.
pub fn require(
    declared: Option<&ClientCapabilities>,
    needed: ClientCapabilities,
    has: impl Fn(&ClientCapabilities) -> bool,
) -> Result<(), McpError> {
    if declared.is_some_and(has) {
        Ok(())
    } else {
        Err(McpError::missing_required_client_capability(needed))
    }
}

/// The elicitation the streaming-elicitation tool asks for, or `None` once
/// the client has answered it (a retry carrying `inputResponses.confirm`).
pub fn elicitation(responses: Option<&InputResponses>) -> Option<InputRequiredResult> {
    if responses.is_some_and(|r| r.contains_key("confirm")) {
        return None;
    }
    let requests: InputRequests = serde_json::from_value(json!({
        "confirm": {
            "method": "elicitation/create",
            "params": {
                "mode": "form",
                "message": "Please confirm",
                "requestedSchema": {
                    "type": "object",
                    "properties": { "confirmed": { "type": "boolean" } },
                },
            },
        },
    }))
    .expect("a valid elicitation request");
    Some(InputRequiredResult::from_input_requests(requests))
}

/// The error a trigger tool gives when its list is off.
pub fn list_disabled(what: &str) -> McpError {
    McpError::new(
        ErrorCode::INVALID_PARAMS,
        format!("the server has no {what} (start it with --{what} N)"),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_is_listed_and_found_by_name() {
        let names: Vec<_> = definitions().iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names.len(), 5);
        for name in &names {
            assert!(TriggerTool::named(name).is_some(), "{name}");
        }
        assert_eq!(TriggerTool::named("echo"), None);
        assert_eq!(definitions()[0].input_schema["properties"], json!({}));
        // rmcp would drop an output schema that is not an object for an old
        // client after the handler, and the listing's bytes would be wrong.
        assert!(definitions().iter().all(|t| t.output_schema.is_none()));
        let listed = serde_json::to_string(definitions()).unwrap();
        assert_eq!(
            listing().slice(0..5),
            &listed.as_bytes()[1..listed.len() - 1]
        );
    }

    #[test]
    fn the_elicitation_is_asked_once() {
        let asked = serde_json::to_value(elicitation(None).unwrap()).unwrap();
        assert_eq!(asked["resultType"], "input_required");
        assert_eq!(
            asked["inputRequests"]["confirm"]["method"],
            "elicitation/create"
        );
        let mut answered = InputResponses::new();
        answered.insert("confirm".into(), json!({ "action": "accept" }));
        assert!(elicitation(Some(&answered)).is_none());
    }

    #[test]
    fn a_missing_capability_is_named() {
        let needed = ClientCapabilities::builder().enable_sampling().build();
        let error = require(None, needed.clone(), |c| c.sampling.is_some()).unwrap_err();
        assert_eq!(error.code.0, -32021);
        assert_eq!(
            error.data.unwrap()["requiredCapabilities"],
            json!({ "sampling": {} })
        );
        assert!(require(Some(&needed), needed.clone(), |c| c.sampling.is_some()).is_ok());
    }
}
