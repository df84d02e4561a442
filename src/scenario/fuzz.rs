//! Property-based fuzzing of scenario files, structure-aware: documents of
//! steps built from the format's own keys and values (and some that are
//! not), written both as TOML and as JSON, then checked. `cargo test` runs a
//! bounded number of cases; run longer with, for example,
//! `PROPTEST_CASES=20000 cargo test --lib scenario::fuzz`.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{MAX_TOTAL_RUNS, Scenario, Setting, StepAction};
use crate::catalog::CatalogSize;
use crate::fuzzing::change_names_and;
use crate::hostile::Hostile;

/// Cases per property in a plain `cargo test`, unless `PROPTEST_CASES` says.
const CASES: u32 = 256;

/// Text as a file might hold it: the format's words, names of items, and
/// anything printable or not.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(change_names_and(&[
            "tools",
            "prompts",
            "resources",
            "initialize",
            "initialized",
            "start",
            "tools/list",
            "tools/call",
            "echo",
            "echo4",
            "prompt1",
            "dynamic://resources/1",
            "",
        ]))
        .prop_map(str::to_owned),
        "[ -~]{0,12}",
        "\\PC{0,8}",
    ]
}

/// Whole numbers: the small ones a file uses, the edges, and huge ones (in
/// the range both formats can write).
fn number() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 0i64..4,
        1 => prop::sample::select(vec![-1, 99_999, 100_000, 100_001, 1_000_000, 1_000_001, i64::MAX]),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => text().prop_map(Value::String),
        4 => number().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
    ]
}

/// An `after` point: the valid shapes and broken ones.
fn after() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        (text(), number()).prop_map(|(method, n)| json!({ "method": method, "n": n })),
        (text(), number()).prop_map(|(list, page)| json!({ "list": list, "page": page })),
        text().prop_map(|tool| json!({ "call": tool })),
        (text(), value()).prop_map(|(key, value)| json!({ key: value })),
    ]
}

/// One step: each key of the format present or not, with a value of its
/// kind most of the time, and now and then a key of no step.
fn step() -> impl Strategy<Value = Value> {
    let key = |name: &'static str, values: BoxedStrategy<Value>| {
        prop::option::weighted(0.3, values).prop_map(move |v| v.map(|v| (name.to_owned(), v)))
    };
    let texts = || text().prop_map(Value::String).boxed();
    let numbers = || number().prop_map(Value::from).boxed();
    let bools = || any::<bool>().prop_map(Value::Bool).boxed();
    (
        (
            key("change", texts()),
            key("name", texts()),
            key("uri", texts()),
            key("count", numbers()),
            key("notify", texts()),
            key("before_initialized", bools()),
            key("end_session", bools()),
        ),
        (
            key("drop_stream", bools()),
            key("at_ms", numbers()),
            key("from", texts()),
            key("after", after().boxed()),
            key("every_ms", numbers()),
            key("times", numbers()),
            key("client", texts()),
            prop::option::weighted(0.05, ("[a-z_]{1,8}", value())),
        ),
    )
        .prop_map(|((a, b, c, d, e, f, g), (h, i, j, k, l, m, n, o))| {
            let fields = [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o];
            Value::Object(fields.into_iter().flatten().collect::<Map<_, _>>())
        })
}

/// A document: steps, and sometimes a `[hostile]` table.
fn document() -> impl Strategy<Value = Value> {
    let hostile = prop::option::weighted(
        0.2,
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "page_size",
                    "page_size_tools",
                    "cursor_style",
                    "list_delay_ms",
                    "coalesce",
                ]),
                value(),
            ),
            0..3,
        ),
    );
    (prop::collection::vec(step(), 0..8), hostile).prop_map(|(steps, hostile)| {
        let mut top = json!({ "steps": steps });
        if let Some(keys) = hostile {
            let keys: Map<String, Value> =
                keys.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            top["hostile"] = Value::Object(keys);
        }
        top
    })
}

/// A scalar or inline table as TOML writes it. JSON's string escapes are
/// all TOML basic-string escapes too.
fn toml_value(value: &Value) -> String {
    match value {
        Value::Object(table) => {
            let pairs: Vec<String> = table
                .iter()
                .map(|(key, value)| {
                    format!("{} = {}", Value::from(key.as_str()), toml_value(value))
                })
                .collect();
            format!("{{ {} }}", pairs.join(", "))
        }
        other => other.to_string(),
    }
}

/// The document in TOML: `[hostile]` first, then one `[[steps]]` per step.
fn to_toml(document: &Value) -> String {
    let mut text = String::new();
    // Top-level keys before any table.
    if document["steps"].as_array().is_some_and(Vec::is_empty) {
        text.push_str("steps = []\n");
    }
    if let Some(Value::Object(keys)) = document.get("hostile") {
        text.push_str("[hostile]\n");
        for (key, value) in keys {
            text.push_str(&format!("{key} = {}\n", toml_value(value)));
        }
    }
    for step in document["steps"].as_array().into_iter().flatten() {
        text.push_str("[[steps]]\n");
        for (key, value) in step.as_object().into_iter().flatten() {
            text.push_str(&format!(
                "{} = {}\n",
                Value::from(key.as_str()),
                toml_value(value)
            ));
        }
    }
    text
}

fn setting(http: bool, prompts: bool) -> Setting {
    Setting {
        http,
        size: CatalogSize {
            tools: 3,
            prompts: prompts.then_some(2),
            resources: Some(2),
        },
        hostile: Hostile::default(),
    }
}

/// What a scenario makes in all: each step's times × count.
fn runs(scenario: &Scenario) -> u64 {
    scenario
        .steps
        .iter()
        .map(|step| {
            let times = step.repeat.map_or(1, |r| r.times);
            match &step.action {
                StepAction::Change(change) => times * change.count as u64,
                _ => times,
            }
        })
        .sum()
}

proptest! {
    #![proptest_config(crate::fuzzing::config(CASES))]

    /// Whatever the document, checking it never panics; a refusal is one
    /// line naming the step when a step is at fault; a scenario accepted
    /// makes at most [`MAX_TOTAL_RUNS`]; and the TOML and the JSON spelling
    /// of one document get the same verdict.
    #[test]
    fn any_scenario_gets_one_verdict_in_both_formats(
        document in document(),
        http in any::<bool>(),
        prompts in any::<bool>(),
    ) {
        let setting = setting(http, prompts);
        let json = Scenario::parse(&document.to_string(), false, &setting);
        let toml_text = to_toml(&document);
        let toml = Scenario::parse(&toml_text, true, &setting);
        for verdict in [&json, &toml] {
            match verdict {
                Ok(scenario) => {
                    prop_assert!(runs(scenario) <= MAX_TOTAL_RUNS);
                    prop_assert_eq!(scenario.steps.len(), document["steps"].as_array().unwrap().len());
                }
                Err(error) => prop_assert!(!error.to_string().contains('\n'), "one line: {error}"),
            }
        }
        match (&json, &toml) {
            (Ok(json), Ok(toml)) => prop_assert_eq!(json, toml),
            (Err(json), Err(toml)) => {
                // A step's own fault reads the same; only the parsers' words differ.
                if json.to_string().starts_with("steps[") {
                    prop_assert_eq!(json.to_string(), toml.to_string(), "{}", toml_text);
                }
            }
            _ => prop_assert!(false, "JSON: {json:?}\nTOML: {toml:?}\n{toml_text}"),
        }
    }

    /// Any bytes at all: a verdict, never a panic.
    #[test]
    fn any_text_gets_a_verdict(text in "\\PC{0,200}", toml in any::<bool>()) {
        let _ = Scenario::parse(&text, toml, &setting(false, false));
    }
}
