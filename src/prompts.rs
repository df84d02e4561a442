//! The prompt catalog: prompt number `k` at revision `r` maps to one
//! definition and one pure `prompts/get` answer.
//!
//! Prompt `k` is `prompt{k}`, with one optional string argument, `topic`. Its
//! answer is one user message naming `k` (and the topic, when given), so a
//! test can tell which prompt a client fetched. A changed prompt (revision
//! `r >= 2`) says so at the end of its description.

use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::Value;

use crate::catalog::{Entry, ItemKind, ListKind, Number, Prompts, Revision, canonical_number};

/// Why a `prompts/get` failed (a JSON-RPC invalid-params error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    #[error("Invalid argument 'topic': expected a string, got {0}")]
    TopicNotAString(String),
}

impl ItemKind for Prompts {
    type Definition = Prompt;
    const LIST: ListKind = ListKind::Prompts;

    fn definition(entry: Entry) -> Prompt {
        definition(entry.number, entry.revision)
    }

    fn key(k: Number) -> String {
        format!("prompt{k}")
    }

    fn number(key: &str) -> Option<Number> {
        canonical_number(key.strip_prefix("prompt")?)
    }
}

/// Prompt `k` at revision `r`.
pub fn definition(k: Number, r: Revision) -> Prompt {
    let mut description = format!("Prompt number {k}, optionally about a topic.");
    if r >= 2 {
        description.push_str(&format!(" (revision {r})"));
    }
    let topic = PromptArgument::new("topic")
        .with_description("What the prompt is about")
        .with_required(false);
    Prompt::new(Prompts::key(k), Some(description), Some(vec![topic]))
}

/// The answer to `prompts/get` for prompt `k` at revision `r`.
pub fn get(k: Number, r: Revision, topic: Option<&Value>) -> Result<GetPromptResult, PromptError> {
    let topic = match topic {
        None | Some(Value::Null) => None,
        Some(Value::String(topic)) => Some(topic.as_str()),
        Some(other) => return Err(PromptError::TopicNotAString(other.to_string())),
    };
    let text = match topic {
        Some(topic) => format!("This is prompt {k} (revision {r}), about {topic}."),
        None => format!("This is prompt {k} (revision {r})."),
    };
    let mut result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]);
    result.description = definition(k, r).description;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_round_trip() {
        for k in 1..=100 {
            assert_eq!(Prompts::number(&Prompts::key(k)), Some(k));
        }
        for bad in [
            "prompt", "prompt0", "prompt01", "Prompt1", "prompt1x", "echo",
        ] {
            assert_eq!(Prompts::number(bad), None, "{bad}");
        }
    }

    #[test]
    fn definitions_and_answers() {
        let prompt = definition(2, 1);
        assert_eq!(prompt.name, "prompt2");
        let argument = &prompt.arguments.as_ref().unwrap()[0];
        assert_eq!(
            (argument.name.as_str(), argument.required),
            ("topic", Some(false))
        );
        assert!(
            definition(2, 3)
                .description
                .unwrap()
                .ends_with(" (revision 3)")
        );

        let answer = serde_json::to_value(get(2, 1, Some(&json!("tests"))).unwrap()).unwrap();
        assert_eq!(answer["messages"][0]["role"], "user");
        assert_eq!(
            answer["messages"][0]["content"]["text"],
            "This is prompt 2 (revision 1), about tests."
        );
        assert!(get(2, 1, Some(&json!(5))).is_err());
        let plain = serde_json::to_value(get(7, 2, None).unwrap()).unwrap();
        assert_eq!(
            plain["messages"][0]["content"]["text"],
            "This is prompt 7 (revision 2)."
        );
    }
}
