//! A fleet: many virtual upstreams in one process, for testing what sits in
//! front of many MCP servers (gateways, proxies, aggregators). Pure: what
//! each upstream is (its name, catalog size, tool names and hostile knobs)
//! and reading a fleet file; the server gives each upstream its own
//! Registry, sessions and report (see `server.rs` and docs/fleet.md).
//!
//! The default fleet (`--fleet N`) collides the way real fleets do: every
//! upstream has `echo` (whose answers name the upstream that gave them),
//! `prompt1` and `dynamic://resources/1`; `u1` also has `weather` and `u2`
//! has `u1_weather`, which is what a gateway that prefixes tools with their
//! upstream's name makes of `u1`'s `weather`.

pub mod upstreams;

use std::path::Path;
use std::sync::Arc;

use rmcp::model::Tool;
use serde::Deserialize;
use serde_json::Value;

use crate::catalog::{CatalogSize, MAX_COUNT};
use crate::hostile::Hostile;
use crate::input_file::{InputFileError, parse_toml, read_regular_file};
use crate::tools::{self, ToolError};

/// The most upstreams one process serves: a hundred is the scale this is
/// measured at; a thousand idle ones cost tens of megabytes.
pub const MAX_UPSTREAMS: usize = 1_000;

/// The most bytes of a fleet file that are read: a thousand upstreams of a
/// few lines each.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The longest upstream name: it is a URL path segment and a log field.
const MAX_NAME: usize = 64;

/// The most fixed tools one upstream may name.
const MAX_NAMED_TOOLS: usize = 100;

/// The upstreams of one process, in the order they were named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    pub upstreams: Vec<Arc<UpstreamSpec>>,
}

/// One upstream: what it is called and what it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// Its name: its path (`/mcp/{name}`), its `serverInfo.name`, and what
    /// its tool results say answered them.
    pub name: String,
    /// The initial size of each of its lists.
    pub size: CatalogSize,
    /// Put before each of its catalog's tool names on the wire (`tools/list`
    /// and `tools/call`); the control endpoint and `GET /state` keep the
    /// catalog's own names.
    pub prefix: String,
    /// Fixed tools listed after the catalog's, named exactly (a collision
    /// with another upstream, such as `weather` and `local_weather`). Each
    /// echoes `message`, naming itself and the upstream; no change touches
    /// them.
    pub named_tools: Vec<String>,
    /// Its hostile knobs (page sizes, delays, ...).
    pub hostile: Hostile,
    /// Answer every `tools/list` with a JSON-RPC internal error.
    pub fail_tools_list: bool,
    /// Answer nothing at all: every request waits until the server stops.
    pub answer_nothing: bool,
}

impl UpstreamSpec {
    /// An upstream called `name` with the default shape: no prefix, no
    /// named tools, no hostile knobs.
    pub fn new(name: impl Into<String>, size: CatalogSize, hostile: Hostile) -> Self {
        Self {
            name: name.into(),
            size,
            prefix: String::new(),
            named_tools: Vec::new(),
            hostile,
            fail_tools_list: false,
            answer_nothing: false,
        }
    }

    /// Whether tools/list shows any name the catalog does not: then the
    /// catalog's serialized tools cannot be written as they are.
    pub fn renames_tools(&self) -> bool {
        !self.prefix.is_empty() || !self.named_tools.is_empty()
    }

    /// The catalog's name for a tool this upstream lists as `wire`, if it
    /// carries the prefix.
    pub fn catalog_name<'a>(&self, wire: &'a str) -> Option<&'a str> {
        wire.strip_prefix(self.prefix.as_str())
    }

    /// The tools this upstream lists, from its catalog's `listed`: each
    /// with the prefix, then its named tools.
    pub fn tools(&self, listed: &[Tool]) -> Vec<Tool> {
        let renamed = listed.iter().map(|tool| {
            let mut tool = tool.clone();
            if !self.prefix.is_empty() {
                tool.name = format!("{}{}", self.prefix, tool.name).into();
            }
            tool
        });
        let named = self.named_tools.iter().map(|name| {
            let mut tool = tools::definition(1);
            tool.name = name.clone().into();
            tool.description =
                Some(format!("Echo a message back, naming this tool and {}.", self.name).into());
            tool
        });
        renamed.chain(named).collect()
    }

    /// Call the named tool `name` with `arguments`, if this upstream has
    /// it: `echo`'s answer, naming the tool.
    pub fn call_named(&self, name: &str, arguments: &Value) -> Option<Result<Value, ToolError>> {
        self.named_tools.iter().any(|named| named == name).then(|| {
            let mut answer = tools::call(1, 1, arguments, 1)?;
            answer["tool"] = Value::from(name);
            Ok(answer)
        })
    }

    /// A tool's answer as this upstream gives it: naming the upstream, so
    /// that whoever routed the call can be checked.
    pub fn sign(&self, answer: &mut Value) {
        if let Value::Object(fields) = answer {
            fields.insert("upstream".into(), Value::from(self.name.as_str()));
        }
    }

    /// What this upstream says of itself in its first log line, if it is
    /// anything but plain.
    pub fn describe(&self) -> Option<String> {
        let mut knobs: Vec<String> = Vec::new();
        if !self.prefix.is_empty() {
            knobs.push(format!("prefix={}", self.prefix));
        }
        if !self.named_tools.is_empty() {
            knobs.push(format!("named-tools={}", self.named_tools.join(",")));
        }
        if self.fail_tools_list {
            knobs.push("fail-tools-list".into());
        }
        if self.answer_nothing {
            knobs.push("answer-nothing".into());
        }
        knobs.extend(self.hostile.describe());
        (!knobs.is_empty()).then(|| format!("{}: {}", self.name, knobs.join(" ")))
    }
}

/// Why a fleet was refused: one line, naming the upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FleetError(String);

impl FleetError {
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// An upstream as a fleet file spells it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    name: Option<String>,
    tools: Option<usize>,
    prompts: Option<usize>,
    resources: Option<usize>,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    named_tools: Vec<String>,
    #[serde(default)]
    fail_tools_list: bool,
    #[serde(default)]
    answer_nothing: bool,
    hostile: Option<Value>,
}

impl Fleet {
    /// The default fleet of `n` upstreams, `u1` to `u{n}`, each of `size`
    /// with `hostile`; `u1` also lists `weather`, `u2` `u1_weather`.
    pub fn numbered(n: usize, size: CatalogSize, hostile: Hostile) -> Result<Self, FleetError> {
        if !(1..=MAX_UPSTREAMS).contains(&n) {
            return Err(FleetError(format!(
                "a fleet has from 1 to {MAX_UPSTREAMS} upstreams, not {n}"
            )));
        }
        let upstreams = (1..=n)
            .map(|i| {
                let mut upstream = UpstreamSpec::new(format!("u{i}"), size, hostile);
                upstream.named_tools = match i {
                    1 => vec!["weather".into()],
                    2 => vec!["u1_weather".into()],
                    _ => Vec::new(),
                };
                Arc::new(upstream)
            })
            .collect();
        Ok(Self { upstreams })
    }

    /// Read and check the fleet file at `path` (TOML): a regular file of at
    /// most 1 MiB. `hostile` is the flags' knobs, which the file's
    /// `[upstream.hostile]` tables override key by key.
    pub fn load(path: &Path, hostile: Hostile) -> Result<Self, FleetError> {
        let bytes = read_regular_file(path, MAX_FILE_BYTES).map_err(|e| {
            FleetError(match e {
                InputFileError::Unreadable(e) => format!("cannot read it: {e}"),
                InputFileError::TooLong(max) => format!("longer than {max} bytes (1 MiB)"),
            })
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| FleetError(format!("cannot read it: not UTF-8 text ({e})")))?;
        Self::parse(&text, hostile)
    }

    /// Parse and check a fleet file's text (TOML): every upstream is
    /// checked before any is served.
    pub fn parse(text: &str, hostile: Hostile) -> Result<Self, FleetError> {
        let document = parse_toml(text).map_err(FleetError)?;
        let Value::Object(mut top) = document else {
            unreachable!("a TOML document is a table");
        };
        let raws = match top.remove("upstream") {
            Some(Value::Array(raws)) => raws,
            Some(_) => {
                return Err(FleetError(
                    "`upstream` must be an array of tables: [[upstream]]".into(),
                ));
            }
            None => return Err(FleetError("no [[upstream]]: nothing to serve".into())),
        };
        if let Some(key) = top.keys().next() {
            return Err(FleetError(format!(
                "unknown key `{key}` at the top level, expected [[upstream]]"
            )));
        }
        if raws.len() > MAX_UPSTREAMS {
            return Err(FleetError(format!(
                "{} upstreams; a fleet has at most {MAX_UPSTREAMS}",
                raws.len()
            )));
        }
        let mut upstreams: Vec<Arc<UpstreamSpec>> = Vec::with_capacity(raws.len());
        for (index, raw) in raws.into_iter().enumerate() {
            let label = label(index, &raw);
            let upstream = check_upstream(raw, hostile)
                .map_err(|why| FleetError(format!("{label}: {why}")))?;
            if upstreams.iter().any(|u| u.name == upstream.name) {
                return Err(FleetError(format!(
                    "{label}: the name {:?} is taken by an upstream before it",
                    upstream.name
                )));
            }
            upstreams.push(Arc::new(upstream));
        }
        Ok(Self { upstreams })
    }

    /// The upstream called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<UpstreamSpec>> {
        self.upstreams.iter().find(|u| u.name == name)
    }

    /// The names, for an error that lists the choices.
    pub fn names(&self) -> String {
        names(self.upstreams.iter().map(|u| u.name.as_str()))
    }
}

/// Up to five names, then how many more: `u1, u2, u3, u4, u5 (and 95 more)`.
pub fn names<'a>(all: impl ExactSizeIterator<Item = &'a str>) -> String {
    let total = all.len();
    let shown: Vec<&str> = all.take(5).collect();
    match total - shown.len() {
        0 => shown.join(", "),
        more => format!("{} (and {more} more)", shown.join(", ")),
    }
}

/// `upstream[2] ("local")`: how an error names an upstream, from what the
/// file says even if it does not parse.
fn label(index: usize, raw: &Value) -> String {
    match raw.get("name").and_then(Value::as_str) {
        Some(name) => format!("upstream[{index}] ({name:?})"),
        None => format!("upstream[{index}]"),
    }
}

fn check_upstream(raw: Value, flags: Hostile) -> Result<UpstreamSpec, String> {
    if !raw.is_object() {
        return Err("expected a table".into());
    }
    let raw: RawUpstream = serde_json::from_value(raw).map_err(|e| e.to_string())?;
    let name = raw.name.ok_or("no `name`")?;
    check_name("name", &name)?;
    let count = |key: &str, n: usize, min: usize| {
        if (min..=MAX_COUNT).contains(&n) {
            Ok(n)
        } else {
            Err(format!(
                "`{key}` must be from {min} to {MAX_COUNT}, not {n}"
            ))
        }
    };
    let size = CatalogSize {
        tools: count("tools", raw.tools.unwrap_or(1), 1)?,
        prompts: raw.prompts.map(|n| count("prompts", n, 0)).transpose()?,
        resources: raw
            .resources
            .map(|n| count("resources", n, 0))
            .transpose()?,
    };
    if !raw.prefix.is_empty() {
        check_name("prefix", &raw.prefix)?;
    }
    if raw.named_tools.len() > MAX_NAMED_TOOLS {
        return Err(format!(
            "`named_tools` names {} tools; at most {MAX_NAMED_TOOLS}",
            raw.named_tools.len()
        ));
    }
    for (i, tool) in raw.named_tools.iter().enumerate() {
        check_name("named_tools", tool)?;
        if raw.named_tools[..i].contains(tool) {
            return Err(format!("`named_tools` names {tool:?} twice"));
        }
        // A named tool may not hide one of the catalog's, now or later.
        if let Some(own) = tool.strip_prefix(raw.prefix.as_str())
            && tools::number(own).is_some()
        {
            return Err(format!(
                "`named_tools`: {tool:?} is a name of this upstream's own catalog"
            ));
        }
    }
    let hostile = match raw.hostile {
        Some(keys) => flags.over(keys).map_err(|why| format!("hostile: {why}"))?,
        None => flags,
    };
    Ok(UpstreamSpec {
        name,
        size,
        prefix: raw.prefix,
        named_tools: raw.named_tools,
        hostile,
        fail_tools_list: raw.fail_tools_list,
        answer_nothing: raw.answer_nothing,
    })
}

/// A name that is safe as a URL path segment, a tool name and a log field:
/// 1 to 64 of `A-Z a-z 0-9 _ - .`.
fn check_name(key: &str, name: &str) -> Result<(), String> {
    let fine = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    if name.is_empty() || name.len() > MAX_NAME || !name.bytes().all(fine) {
        return Err(format!(
            "`{key}` {name:?}: expected 1 to {MAX_NAME} of A-Z, a-z, 0-9, _, - and ."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: CatalogSize = CatalogSize {
        tools: 1,
        prompts: Some(1),
        resources: Some(1),
    };

    fn parse(text: &str) -> Result<Fleet, String> {
        Fleet::parse(text, Hostile::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn the_default_fleet_collides() {
        let fleet = Fleet::numbered(3, SIZE, Hostile::default()).unwrap();
        let names: Vec<&str> = fleet.upstreams.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["u1", "u2", "u3"]);
        assert_eq!(fleet.upstreams[0].named_tools, ["weather"]);
        assert_eq!(fleet.upstreams[1].named_tools, ["u1_weather"]);
        assert!(fleet.upstreams[2].named_tools.is_empty());
        assert!(fleet.upstreams.iter().all(|u| u.size == SIZE));
        assert!(Fleet::numbered(0, SIZE, Hostile::default()).is_err());
        assert!(Fleet::numbered(MAX_UPSTREAMS + 1, SIZE, Hostile::default()).is_err());
        assert_eq!(fleet.names(), "u1, u2, u3");
        let big = Fleet::numbered(100, SIZE, Hostile::default()).unwrap();
        assert_eq!(big.names(), "u1, u2, u3, u4, u5 (and 95 more)");
    }

    #[test]
    fn a_fleet_file_names_its_upstreams() {
        let fleet = parse(
            r#"
            [[upstream]]
            name = "local"
            tools = 3
            named_tools = ["weather"]

            [[upstream]]
            name = "remote"
            prompts = 2
            resources = 0
            prefix = "r_"
            named_tools = ["local_weather"]
            fail_tools_list = true
            hostile = { page_size = 2, list_delay_ms = 50 }

            [[upstream]]
            name = "dead"
            answer_nothing = true
            "#,
        )
        .unwrap();
        let [local, remote, dead] = &fleet.upstreams[..] else {
            panic!("three upstreams");
        };
        assert_eq!(local.size.tools, 3);
        assert_eq!((local.size.prompts, local.size.resources), (None, None));
        assert_eq!(remote.size.prompts, Some(2));
        assert_eq!(remote.size.resources, Some(0));
        assert_eq!(remote.catalog_name("r_echo"), Some("echo"));
        assert_eq!(remote.catalog_name("echo"), None);
        assert!(remote.fail_tools_list && remote.renames_tools());
        assert_eq!(remote.hostile.list_delay_ms, 50);
        assert!(dead.answer_nothing && !dead.renames_tools());
        assert_eq!(
            remote.describe().unwrap(),
            "remote: prefix=r_ named-tools=local_weather fail-tools-list page-size=2 list-delay-ms=50"
        );
        assert_eq!(dead.describe().unwrap(), "dead: answer-nothing");
        assert_eq!(fleet.get("local").unwrap().named_tools, ["weather"]);
    }

    #[test]
    fn an_upstream_lists_and_answers_its_own_names() {
        let fleet =
            parse("[[upstream]]\nname = \"b\"\nprefix = \"b_\"\nnamed_tools = [\"weather\"]\n")
                .unwrap();
        let b = &fleet.upstreams[0];
        let listed = b.tools(&[tools::definition(1), tools::definition(4)]);
        let names: Vec<&str> = listed.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["b_echo", "b_echo4", "weather"]);
        let message = serde_json::json!({ "message": "hi" });
        let mut answer = b.call_named("weather", &message).unwrap().unwrap();
        b.sign(&mut answer);
        assert_eq!(
            answer,
            serde_json::json!({ "echo_message": "hi", "tool": "weather", "upstream": "b" })
        );
        assert!(b.call_named("echo", &message).is_none());
        assert!(b.call_named("weather", &Value::Null).unwrap().is_err());
    }

    #[test]
    fn a_bad_fleet_file_is_refused_in_one_line_naming_the_upstream() {
        let one = |name: &str, rest: &str| format!("[[upstream]]\nname = {name:?}\n{rest}\n");
        let cases = [
            ("", "no [[upstream]]: nothing to serve"),
            (
                "upstream = 3",
                "`upstream` must be an array of tables: [[upstream]]",
            ),
            (
                "[[upstream]]\nname = \"a\"\n[extra]\n",
                "unknown key `extra` at the top level, expected [[upstream]]",
            ),
            ("[[upstream]]\ntools = 2\n", "upstream[0]: no `name`"),
            (
                &one("a b", ""),
                "upstream[0] (\"a b\"): `name` \"a b\": expected 1 to 64 of A-Z, a-z, 0-9, _, - and .",
            ),
            (
                &format!("{}{}", one("a", ""), one("a", "")),
                "upstream[1] (\"a\"): the name \"a\" is taken by an upstream before it",
            ),
            (
                &one("a", "tools = 0"),
                "upstream[0] (\"a\"): `tools` must be from 1 to 1000000, not 0",
            ),
            (
                &one("a", "colour = \"red\""),
                "upstream[0] (\"a\"): unknown field `colour`, expected one of `name`, `tools`, `prompts`, `resources`, `prefix`, `named_tools`, `fail_tools_list`, `answer_nothing`, `hostile`",
            ),
            (
                &one("a", "named_tools = [\"echo\"]"),
                "upstream[0] (\"a\"): `named_tools`: \"echo\" is a name of this upstream's own catalog",
            ),
            (
                &one("a", "named_tools = [\"w\", \"w\"]"),
                "upstream[0] (\"a\"): `named_tools` names \"w\" twice",
            ),
            (
                &one("a", "hostile = { page_sise = 2 }"),
                "upstream[0] (\"a\"): hostile: unknown field `page_sise`, expected one of `page_size`, `page_size_tools`, `page_size_prompts`, `page_size_resources`, `cursor_style`, `list_delay_ms`, `call_delay_ms`, `coalesce`, `duplicate_notifications`, `list_ttl_ms`",
            ),
            (
                "[[upstream]]\nname = \n",
                "not valid TOML (line 2): string values must be quoted, expected literal string",
            ),
        ];
        for (text, expected) in cases {
            let refused = parse(text).unwrap_err();
            assert!(!refused.contains('\n'), "{refused}");
            assert_eq!(refused, expected, "{text}");
        }
    }
}
