//! The tool catalog: tool number `k` maps to one definition and one pure call.
//!
//! Tool 1 is `echo`, 2 is `calculator`, 3 is `counter`, and every `k >= 4` is
//! `echo{k}`. Nothing here knows about sessions, actors or transports: a call is
//! a function of its arguments (a `serde_json::Value`), the tool's revision and
//! the current tool count, so unit tests drive it directly.
//!
//! A tool changed under its name (a rug pull, revision `r >= 2`) says so at the
//! end of its description and requires one more argument, `revision`, equal to
//! `r`: a client that calls it with the schema it cached before the change gets
//! a tool error naming `revision`, which is how a test sees a stale client.
//!
//! Definitions share their names, descriptions and schemas (`'static` strings
//! and `Arc`s), so cloning a [`Tool`] for `tools/list` allocates nothing.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock, RwLock};

use rmcp::model::{JsonObject, Tool};
use serde_json::{Map, Value, json};

use crate::catalog::{Entry, ItemKind, ListKind, Number, Revision, Tools, canonical_number};

/// A tool's 1-based position in the catalog.
pub type ToolNumber = usize;

/// Why a tool call failed. The message becomes `{"error": "..."}` in a result
/// with `isError: true`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("Cannot divide by zero")]
    DivideByZero,
    #[error("Unknown operation: {0}")]
    UnknownOperation(String),
    #[error("Integer overflow: {a} {operation} {b} does not fit in a 64-bit signed integer")]
    Overflow {
        a: i64,
        operation: &'static str,
        b: i64,
    },
    #[error("Missing required argument: {0}")]
    MissingArgument(&'static str),
    #[error("Invalid argument '{name}': expected {expected}, got {got}")]
    InvalidArgument {
        name: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("Invalid arguments: expected an object, got {0}")]
    ArgumentsNotAnObject(&'static str),
    #[error(
        "Stale revision: this tool is at revision {current}, the call passed revision {passed}; list the tools again"
    )]
    StaleRevision { current: Revision, passed: i64 },
}

impl ItemKind for Tools {
    type Definition = Tool;
    const LIST: ListKind = ListKind::Tools;

    fn definition(entry: Entry) -> Tool {
        revised(entry.number, entry.revision)
    }

    fn key(k: Number) -> String {
        name(k).into_owned()
    }

    fn number(key: &str) -> Option<Number> {
        number(key)
    }
}

/// The name of tool `k`.
///
/// Always borrowed: the names of numbered tools are interned, made once per
/// process and shared by every copy of the tool, so that cloning a tool list
/// for `tools/list` allocates nothing per tool.
pub fn name(k: ToolNumber) -> Cow<'static, str> {
    Cow::Borrowed(match k {
        1 => "echo",
        2 => "calculator",
        3 => "counter",
        k => interned_echo_name(k),
    })
}

/// `echo{k}` for `k >= 4`, from a process-wide table that only grows. A name
/// lives as long as the process: numbers are never reused, so a removed tool's
/// name is a few bytes kept, and a process that starts many servers shares one
/// table.
fn interned_echo_name(k: ToolNumber) -> &'static str {
    static NAMES: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());
    let i = k - 4;
    if let Some(&name) = NAMES.read().unwrap_or_else(|e| e.into_inner()).get(i) {
        return name;
    }
    let mut names = NAMES.write().unwrap_or_else(|e| e.into_inner());
    while names.len() <= i {
        let name = format!("echo{}", names.len() + 4);
        names.push(Box::leak(name.into_boxed_str()));
    }
    names[i]
}

/// The tool number a name refers to, if the name belongs to the catalog at all.
///
/// Only the canonical spelling counts: `echo4` is tool 4, `echo04` and `echo3`
/// are not tools. Whether the tool exists yet depends on the current count.
pub fn number(name: &str) -> Option<ToolNumber> {
    match name {
        "echo" => Some(1),
        "calculator" => Some(2),
        "counter" => Some(3),
        _ => canonical_number(name.strip_prefix("echo")?).filter(|&k| k >= 4),
    }
}

/// The full definition of tool `k`: name, description, input and output schema.
pub fn definition(k: ToolNumber) -> Tool {
    let schemas = &*SCHEMAS;
    let (description, input, output): (&'static str, _, _) = match k {
        1 => (
            "Echo a message back.",
            &schemas.message_input,
            &schemas.echo_output,
        ),
        2 => (
            "Add, subtract, multiply or divide two integers.",
            &schemas.calculator_input,
            &schemas.calculator_output,
        ),
        3 => (
            "Return the current number of tools.",
            &schemas.empty_input,
            &schemas.counter_output,
        ),
        _ => (
            "Echo a message back, with this tool's number (added by SIGHUP).",
            &schemas.message_input,
            &schemas.numbered_echo_output,
        ),
    };
    Tool::new(name(k), description, Arc::clone(input)).with_raw_output_schema(Arc::clone(output))
}

/// Tool `k` at revision `r`: at revision 1 exactly [`definition`]; from
/// revision 2 on, its description names the revision and its input schema
/// requires the `revision` argument.
pub fn revised(k: ToolNumber, r: Revision) -> Tool {
    let mut tool = definition(k);
    if r < 2 {
        return tool;
    }
    let description = tool.description.as_deref().unwrap_or_default();
    tool.description = Some(format!("{description} (revision {r})").into());
    let mut schema = (*tool.input_schema).clone();
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.insert(
            "revision".into(),
            json!({
                "type": "integer",
                "const": r,
                "description": "This tool's revision: pass it to show you listed the tools since it changed",
            }),
        );
    }
    let required = schema
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(required) = required {
        required.push("revision".into());
    }
    tool.input_schema = Arc::new(schema);
    tool
}

/// Run tool `k` at revision `r` with `arguments` while the server lists
/// `tool_count` tools.
///
/// `arguments` is the JSON object the client sent (`Value::Null` when it sent
/// none). The caller has already checked that the tool is listed.
pub fn call(
    k: ToolNumber,
    r: Revision,
    arguments: &Value,
    tool_count: usize,
) -> Result<Value, ToolError> {
    let args = Arguments::new(arguments)?;
    if r >= 2 {
        let passed = args.integer("revision")?;
        if passed != i64::from(r) {
            return Err(ToolError::StaleRevision { current: r, passed });
        }
    }
    match k {
        1 => Ok(json!({ "echo_message": args.string("message")? })),
        2 => calculate(
            args.integer("a")?,
            args.integer("b")?,
            args.string("operation")?,
        ),
        3 => Ok(json!({ "count": tool_count })),
        k => Ok(json!({ "echo_message": args.string("message")?, "tool_number": k })),
    }
}

/// The calculator's arithmetic: checked, so overflow is an error and never a
/// wrapped number; an exact division stays an integer, an inexact one is a float.
fn calculate(a: i64, b: i64, operation: &str) -> Result<Value, ToolError> {
    let (checked, operation) = match operation {
        "add" => (a.checked_add(b), "add"),
        "subtract" => (a.checked_sub(b), "subtract"),
        "multiply" => (a.checked_mul(b), "multiply"),
        "divide" => {
            if b == 0 {
                return Err(ToolError::DivideByZero);
            }
            match a.checked_rem(b) {
                Some(0) => (a.checked_div(b), "divide"),
                Some(_) => return Ok(json!({ "result": a as f64 / b as f64 })),
                None => (None, "divide"),
            }
        }
        other => return Err(ToolError::UnknownOperation(other.to_owned())),
    };
    checked
        .map(|result| json!({ "result": result }))
        .ok_or(ToolError::Overflow { a, operation, b })
}

/// Typed access to a call's arguments, with errors that name the argument.
struct Arguments<'a>(Option<&'a Map<String, Value>>);

impl<'a> Arguments<'a> {
    fn new(arguments: &'a Value) -> Result<Self, ToolError> {
        match arguments {
            Value::Null => Ok(Self(None)),
            Value::Object(map) => Ok(Self(Some(map))),
            other => Err(ToolError::ArgumentsNotAnObject(json_type(other))),
        }
    }

    fn get(&self, name: &'static str) -> Result<&'a Value, ToolError> {
        self.0
            .and_then(|map| map.get(name))
            .ok_or(ToolError::MissingArgument(name))
    }

    fn string(&self, name: &'static str) -> Result<&'a str, ToolError> {
        let value = self.get(name)?;
        value.as_str().ok_or_else(|| ToolError::InvalidArgument {
            name,
            expected: "a string",
            got: json_type(value).to_owned(),
        })
    }

    /// An integer in `i64` range. A float with no fractional part counts, as
    /// JSON Schema's `integer` allows (`5.0` is 5).
    fn integer(&self, name: &'static str) -> Result<i64, ToolError> {
        let value = self.get(name)?;
        let invalid = |expected| ToolError::InvalidArgument {
            name,
            expected,
            got: value.to_string(),
        };
        match value {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(i)
                } else if n.is_u64() {
                    Err(invalid("an integer that fits in 64 bits"))
                } else {
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    // The range check is exclusive at both ends: 2^63 as f64 is
                    // just past i64::MAX, and -2^63 is also what any literal
                    // below i64::MIN parses to (i64::MIN itself parses as i64).
                    if f.fract() == 0.0 && f > i64::MIN as f64 && f < i64::MAX as f64 {
                        Ok(f as i64)
                    } else if f.fract() == 0.0 {
                        Err(invalid("an integer that fits in 64 bits"))
                    } else {
                        Err(invalid("an integer"))
                    }
                }
            }
            other => Err(ToolError::InvalidArgument {
                name,
                expected: "an integer",
                got: json_type(other).to_owned(),
            }),
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every schema the catalog uses, built once and shared by all definitions.
struct Schemas {
    message_input: Arc<JsonObject>,
    calculator_input: Arc<JsonObject>,
    empty_input: Arc<JsonObject>,
    echo_output: Arc<JsonObject>,
    numbered_echo_output: Arc<JsonObject>,
    calculator_output: Arc<JsonObject>,
    counter_output: Arc<JsonObject>,
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| Schemas {
    message_input: object(json!({
        "type": "object",
        "properties": { "message": { "type": "string", "description": "The message to echo" } },
        "required": ["message"],
    })),
    calculator_input: object(json!({
        "type": "object",
        "properties": {
            "a": { "type": "integer", "description": "The first operand" },
            "b": { "type": "integer", "description": "The second operand" },
            "operation": {
                "type": "string",
                "enum": ["add", "subtract", "multiply", "divide"],
                "description": "The operation to apply to a and b",
            },
        },
        "required": ["a", "b", "operation"],
    })),
    empty_input: object(json!({ "type": "object", "properties": {} })),
    echo_output: object(json!({
        "type": "object",
        "properties": { "echo_message": { "type": "string" } },
        "required": ["echo_message"],
    })),
    numbered_echo_output: object(json!({
        "type": "object",
        "properties": {
            "echo_message": { "type": "string" },
            "tool_number": { "type": "integer" },
        },
        "required": ["echo_message", "tool_number"],
    })),
    calculator_output: object(json!({
        "type": "object",
        "properties": { "result": { "type": "number" } },
        "required": ["result"],
    })),
    counter_output: object(json!({
        "type": "object",
        "properties": { "count": { "type": "integer" } },
        "required": ["count"],
    })),
});

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => unreachable!("schemas are written as JSON objects"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calc(a: Value, b: Value, operation: &str) -> Result<Value, ToolError> {
        call(2, 1, &json!({ "a": a, "b": b, "operation": operation }), 2)
    }

    #[test]
    fn names_and_numbers_round_trip() {
        for k in 1..=1000 {
            assert_eq!(number(&name(k)), Some(k));
        }
        for bad in [
            "echo0",
            "echo1",
            "echo3",
            "echo04",
            "echo+5",
            "Echo4",
            "echo4x",
            "",
            "echo99999999999999999999999",
        ] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }

    #[test]
    fn definitions_have_schemas_and_descriptions() {
        for k in 1..=5 {
            let tool = definition(k);
            assert_eq!(tool.name, name(k));
            assert!(tool.description.is_some());
            assert_eq!(tool.input_schema["type"], "object");
            assert_eq!(tool.output_schema.as_ref().unwrap()["type"], "object");
        }
        let calculator = definition(2);
        assert_eq!(
            calculator.input_schema["properties"]["operation"]["enum"],
            json!(["add", "subtract", "multiply", "divide"])
        );
        assert_eq!(
            calculator.input_schema["required"],
            json!(["a", "b", "operation"])
        );
        // Numbered echoes share one schema allocation.
        assert!(Arc::ptr_eq(
            &definition(4).input_schema,
            &definition(9).input_schema
        ));
    }

    #[test]
    fn echo_tools() {
        assert_eq!(
            call(1, 1, &json!({ "message": "hi" }), 1),
            Ok(json!({ "echo_message": "hi" }))
        );
        assert_eq!(
            call(7, 1, &json!({ "message": "hi" }), 9),
            Ok(json!({ "echo_message": "hi", "tool_number": 7 }))
        );
        assert_eq!(
            call(1, 1, &Value::Null, 1),
            Err(ToolError::MissingArgument("message"))
        );
        assert_eq!(
            call(4, 1, &json!({}), 4),
            Err(ToolError::MissingArgument("message"))
        );
        let err = call(1, 1, &json!({ "message": 5 }), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid argument 'message': expected a string, got a number"
        );
        assert_eq!(
            call(1, 1, &json!([1]), 1),
            Err(ToolError::ArgumentsNotAnObject("an array"))
        );
    }

    #[test]
    fn a_revised_tool_requires_its_revision() {
        let tool = revised(4, 3);
        assert_eq!(tool.name, "echo4");
        assert!(
            tool.description
                .as_deref()
                .unwrap()
                .ends_with(" (revision 3)")
        );
        assert_eq!(
            tool.input_schema["required"],
            json!(["message", "revision"])
        );
        assert_eq!(
            tool.input_schema["properties"]["revision"]["type"],
            "integer"
        );
        // The counter's empty schema gains a `required` list of its own.
        assert_eq!(revised(3, 2).input_schema["required"], json!(["revision"]));
        assert_eq!(revised(4, 1), definition(4));

        // The stale schema's call: no revision, or the old one.
        assert_eq!(
            call(4, 3, &json!({ "message": "hi" }), 4),
            Err(ToolError::MissingArgument("revision"))
        );
        let stale = call(4, 3, &json!({ "message": "hi", "revision": 2 }), 4).unwrap_err();
        assert_eq!(
            stale.to_string(),
            "Stale revision: this tool is at revision 3, the call passed revision 2; list the tools again"
        );
        assert_eq!(
            call(4, 3, &json!({ "message": "hi", "revision": 3 }), 4),
            Ok(json!({ "echo_message": "hi", "tool_number": 4 }))
        );
    }

    #[test]
    fn counter_reports_the_current_count() {
        assert_eq!(call(3, 1, &Value::Null, 3), Ok(json!({ "count": 3 })));
        assert_eq!(call(3, 1, &json!({}), 101), Ok(json!({ "count": 101 })));
    }

    #[test]
    fn calculator_arithmetic() {
        assert_eq!(calc(json!(5), json!(7), "add"), Ok(json!({ "result": 12 })));
        assert_eq!(
            calc(json!(10), json!(5), "multiply"),
            Ok(json!({ "result": 50 }))
        );
        assert_eq!(
            calc(json!(10), json!(15), "subtract"),
            Ok(json!({ "result": -5 }))
        );
        assert_eq!(
            calc(json!(10), json!(5), "divide"),
            Ok(json!({ "result": 2 }))
        );
        assert_eq!(
            calc(json!(10), json!(4), "divide"),
            Ok(json!({ "result": 2.5 }))
        );
        assert_eq!(
            calc(json!(-9), json!(2), "divide"),
            Ok(json!({ "result": -4.5 }))
        );
        assert_eq!(
            calc(json!(6.0), json!(2), "add"),
            Ok(json!({ "result": 8 }))
        );
    }

    #[test]
    fn calculator_errors() {
        assert_eq!(
            calc(json!(1), json!(0), "divide"),
            Err(ToolError::DivideByZero)
        );
        assert_eq!(
            calc(json!(1), json!(2), "modulo").unwrap_err().to_string(),
            "Unknown operation: modulo"
        );
        for (a, b, op) in [
            (i64::MAX, 1, "add"),
            (i64::MIN, 1, "subtract"),
            (i64::MAX, 2, "multiply"),
            (i64::MIN, -1, "divide"),
        ] {
            assert!(
                matches!(
                    calc(json!(a), json!(b), op),
                    Err(ToolError::Overflow { .. })
                ),
                "{a} {op} {b}"
            );
        }
        assert_eq!(
            calc(json!(1.5), json!(2), "add").unwrap_err().to_string(),
            "Invalid argument 'a': expected an integer, got 1.5"
        );
        assert_eq!(
            calc(json!(1), json!("2"), "add").unwrap_err().to_string(),
            "Invalid argument 'b': expected an integer, got a string"
        );
        assert!(matches!(
            calc(json!(u64::MAX), json!(1), "add"),
            Err(ToolError::InvalidArgument { name: "a", .. })
        ));
        assert!(matches!(
            calc(json!(1e300), json!(1), "add"),
            Err(ToolError::InvalidArgument { name: "a", .. })
        ));
        assert_eq!(
            call(2, 1, &json!({ "a": 1, "b": 2 }), 2),
            Err(ToolError::MissingArgument("operation"))
        );
        assert_eq!(
            call(2, 1, &json!({ "a": 1, "b": 2, "operation": 3 }), 2)
                .unwrap_err()
                .to_string(),
            "Invalid argument 'operation': expected a string, got a number"
        );
    }
}
