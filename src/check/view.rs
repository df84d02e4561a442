//! The `view` tool of check mode: how a client tells the server what it
//! holds (docs/check.md, "The client contract"), and how that is compared
//! with the truth. Pure.
//!
//! A client calls `view` with `{"tools": [{"name": "echo4", "revision": 1},
//! ...], "prompts": ["prompt1", ...], "resources": ["dynamic://resources/1",
//! ...]}`, each key only for a list it holds. The handler compares it with
//! the catalog at that moment ([`compare`]) and shows the watchers the
//! [`Comparison`]: small and bounded, whatever the client sent, so the
//! report can keep many. The tool is never part of the catalog: no change
//! touches it, it is listed after the catalog's tools (and the fixture
//! tools), and a call of it is neither a request the report counts nor a
//! stale call.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use rmcp::model::{JsonObject, Tool};
use serde_json::{Value, json};

use crate::catalog::{Catalog, ItemKind, List, ListKind, Tools};
use crate::listing::Listing;

/// The tool's name.
pub const VIEW_TOOL: &str = "view";

/// The most items of one list a view may hold: far past any scenario (the
/// battery's largest list has some 110), and a bound on what one call costs.
pub const MAX_VIEW_ITEMS: usize = 10_000;

/// The most names a comparison keeps of what is missing, and of what is
/// extra: enough evidence for a person, bounded for the report.
pub const MAX_NAMED: usize = 10;

/// The longest name kept, in bytes, as the report cuts a client's strings.
const MAX_NAME: usize = 256;

/// Its definition: every key optional, since a client holds only some lists.
pub fn definition() -> &'static Tool {
    static TOOL: LazyLock<Tool> = LazyLock::new(|| {
        let schema = json!({
            "type": "object",
            "properties": {
                "tools": {
                    "type": "array",
                    "description": "The tools you hold: name, and the revision its input schema's properties.revision.const says (1 without one).",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": { "type": "string" },
                            "revision": { "type": "integer", "minimum": 1 },
                        },
                        "required": ["name"],
                    },
                },
                "prompts": { "type": "array", "items": { "type": "string" }, "description": "The prompts you hold, by name." },
                "resources": { "type": "array", "items": { "type": "string" }, "description": "The resources you hold, by URI." },
            },
        });
        let Value::Object(schema) = schema else {
            unreachable!("an object")
        };
        Tool::new(
            VIEW_TOOL,
            "Check mode: report the lists you hold now (see docs/check.md). Not part of the catalog.",
            Arc::new(schema),
        )
    });
    &TOOL
}

/// The tool serialized, once (see [`crate::listing`]).
pub fn listing() -> &'static Arc<Listing> {
    static LISTING: LazyLock<Arc<Listing>> = LazyLock::new(|| {
        let tools = std::slice::from_ref(definition());
        Arc::new(Listing::new(1, [(1, 1)], tools, None).expect("a tool serializes"))
    });
    &LISTING
}

/// What a client says it holds: `None` for a list it does not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Each tool's name and revision.
    pub tools: Option<Vec<(String, u64)>>,
    pub prompts: Option<Vec<String>>,
    pub resources: Option<Vec<String>>,
}

impl View {
    /// The view a `view` call's arguments state, or why they state none.
    pub fn parse(arguments: Option<&JsonObject>) -> Result<View, String> {
        let empty = JsonObject::new();
        let arguments = arguments.unwrap_or(&empty);
        if let Some(key) = arguments
            .keys()
            .find(|k| !["tools", "prompts", "resources"].contains(&k.as_str()))
        {
            return Err(format!(
                "unknown key {key:?}: a view has tools, prompts and resources"
            ));
        }
        let tools = match arguments.get("tools") {
            None => None,
            Some(Value::Array(items)) => {
                bounded("tools", items)?;
                Some(
                    items
                        .iter()
                        .map(|item| {
                            let name =
                                item.get("name").and_then(Value::as_str).ok_or_else(|| {
                                    format!(
                                        "tools: each item needs a name, found {}",
                                        cut(&item.to_string())
                                    )
                                })?;
                            let revision = match item.get("revision") {
                                None | Some(Value::Null) => 1,
                                Some(revision) => {
                                    revision.as_u64().filter(|&r| r >= 1).ok_or_else(|| {
                                        format!(
                                            "tools: {name}: revision must be a whole number from 1"
                                        )
                                    })?
                                }
                            };
                            Ok((cut(name).to_owned(), revision))
                        })
                        .collect::<Result<Vec<_>, String>>()?,
                )
            }
            Some(_) => return Err("tools must be an array".into()),
        };
        let names = |list: &str| -> Result<Option<Vec<String>>, String> {
            match arguments.get(list) {
                None => Ok(None),
                Some(Value::Array(items)) => {
                    bounded(list, items)?;
                    items
                        .iter()
                        .map(|item| {
                            item.as_str().map(|s| cut(s).to_owned()).ok_or_else(|| {
                                format!(
                                    "{list}: each item is a string, found {}",
                                    cut(&item.to_string())
                                )
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(Some)
                }
                Some(_) => Err(format!("{list} must be an array")),
            }
        };
        Ok(View {
            tools,
            prompts: names("prompts")?,
            resources: names("resources")?,
        })
    }
}

fn bounded(list: &str, items: &[Value]) -> Result<(), String> {
    if items.len() > MAX_VIEW_ITEMS {
        return Err(format!(
            "{list}: {} items; a view holds at most {MAX_VIEW_ITEMS}",
            items.len()
        ));
    }
    Ok(())
}

/// `text` cut to [`MAX_NAME`] bytes at a character boundary.
fn cut(text: &str) -> &str {
    let mut end = text.len().min(MAX_NAME);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One held list beside the truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListComparison {
    pub list: ListKind,
    /// The list's version when the view came.
    pub version: u64,
    /// Whether the view holds exactly the list's items (each once, tools at
    /// their revisions).
    pub matches: bool,
    /// How many items the view holds.
    pub held: usize,
    /// Items the list has that the view lacks (at most [`MAX_NAMED`]).
    pub missing: Vec<String>,
    /// Items the view holds that the list has not, or holds twice (at most
    /// [`MAX_NAMED`]).
    pub extra: Vec<String>,
}

/// A view beside the truth: one entry per list the view holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    pub lists: Vec<ListComparison>,
}

impl Comparison {
    /// As the report shows it: `{"tools": {"version", "matches", "held",
    /// "missing", "extra"}, ...}`.
    pub fn to_json(&self) -> Value {
        self.lists
            .iter()
            .map(|c| {
                (
                    c.list.as_str().to_owned(),
                    json!({
                        "version": c.version,
                        "matches": c.matches,
                        "held": c.held,
                        "missing": c.missing,
                        "extra": c.extra,
                    }),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// A tool as a comparison names it: `echo4`, or `echo4@2` at revision 2.
fn tool_key(name: &str, revision: u64) -> String {
    if revision <= 1 {
        name.to_owned()
    } else {
        format!("{name}@{revision}")
    }
}

/// Compare `view` with `catalog` (the truth at that moment), list by list.
pub fn compare(view: &View, catalog: &Catalog) -> Comparison {
    let mut lists = Vec::new();
    if let Some(held) = &view.tools {
        let truth = catalog
            .tools
            .entries()
            .iter()
            .map(|e| tool_key(&Tools::key(e.number), u64::from(e.revision)));
        let held_keys = held
            .iter()
            .map(|(name, revision)| tool_key(name, *revision));
        lists.push(list_comparison(
            ListKind::Tools,
            catalog.tools.version(),
            held_keys,
            truth,
        ));
    }
    if let Some(held) = &view.prompts {
        let (version, truth) = keys(catalog.prompts.as_deref());
        lists.push(list_comparison(
            ListKind::Prompts,
            version,
            held.iter().cloned(),
            truth,
        ));
    }
    if let Some(held) = &view.resources {
        let (version, truth) = keys(catalog.resources.as_deref());
        lists.push(list_comparison(
            ListKind::Resources,
            version,
            held.iter().cloned(),
            truth,
        ));
    }
    Comparison { lists }
}

/// A list's version and its items' keys; version 0 and none for a list the
/// server does not offer.
fn keys<I: ItemKind>(list: Option<&List<I>>) -> (u64, impl Iterator<Item = String> + '_) {
    let entries = list.map_or(&[][..], |list| list.entries());
    (
        list.map_or(0, |list| list.version()),
        entries.iter().map(|e| I::key(e.number)),
    )
}

/// The multiset difference of what is held and what is true.
fn list_comparison(
    list: ListKind,
    version: u64,
    held: impl Iterator<Item = String>,
    truth: impl Iterator<Item = String>,
) -> ListComparison {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut held_count = 0;
    for key in held {
        held_count += 1;
        *counts.entry(key).or_default() += 1;
    }
    for key in truth {
        *counts.entry(key).or_default() -= 1;
    }
    let extra: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, _)| k.clone())
        .collect();
    let missing: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n < 0)
        .map(|(k, _)| k.clone())
        .collect();
    ListComparison {
        list,
        version,
        matches: extra.is_empty() && missing.is_empty(),
        held: held_count,
        missing: missing.into_iter().take(MAX_NAMED).collect(),
        extra: extra.into_iter().take(MAX_NAMED).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CatalogSize, Change, ChangeKind, ChangeRequest, Prompts};

    fn args(value: Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    fn catalog() -> Catalog {
        let mut catalog = Catalog::new(CatalogSize {
            tools: 4,
            prompts: Some(1),
            resources: None,
        });
        let change =
            Change::try_from(ChangeRequest::new(ChangeKind::ChangeTool).name("echo4")).unwrap();
        catalog.apply(&change).unwrap();
        catalog
    }

    #[test]
    fn a_view_is_parsed_from_its_arguments() {
        let view = View::parse(Some(&args(json!({
            "tools": [{ "name": "echo" }, { "name": "echo4", "revision": 2 }],
            "prompts": ["prompt1"],
        }))))
        .unwrap();
        assert_eq!(
            view.tools,
            Some(vec![("echo".into(), 1), ("echo4".into(), 2)])
        );
        assert_eq!(view.prompts, Some(vec!["prompt1".into()]));
        assert_eq!(view.resources, None);
        assert_eq!(View::parse(None).unwrap(), View::default());
        for bad in [
            json!({ "tools": "echo" }),
            json!({ "tools": [{ "revision": 1 }] }),
            json!({ "tools": [{ "name": "echo", "revision": 0 }] }),
            json!({ "prompts": [1] }),
            json!({ "models": [] }),
        ] {
            assert!(View::parse(Some(&args(bad.clone()))).is_err(), "{bad}");
        }
        let many: Vec<Value> = (0..=MAX_VIEW_ITEMS).map(|_| json!("x")).collect();
        assert!(View::parse(Some(&args(json!({ "prompts": many })))).is_err());
    }

    #[test]
    fn a_view_is_compared_with_the_truth_item_by_item() {
        let catalog = catalog();
        let right = View {
            tools: Some(vec![
                ("echo".into(), 1),
                ("calculator".into(), 1),
                ("counter".into(), 1),
                ("echo4".into(), 2),
            ]),
            prompts: Some(vec![Prompts::key(1)]),
            resources: None,
        };
        let compared = compare(&right, &catalog);
        assert!(compared.lists.iter().all(|c| c.matches), "{compared:?}");
        assert_eq!(compared.lists[0].version, 2);
        // The old schema, a missing tool and a duplicate are each named.
        let wrong = View {
            tools: Some(vec![
                ("echo".into(), 1),
                ("echo".into(), 1),
                ("counter".into(), 1),
                ("echo4".into(), 1),
            ]),
            prompts: None,
            resources: Some(vec![]),
        };
        let compared = compare(&wrong, &catalog);
        let tools = &compared.lists[0];
        assert!(!tools.matches);
        assert_eq!(tools.missing, ["calculator", "echo4@2"]);
        assert_eq!(tools.extra, ["echo", "echo4"]);
        assert_eq!(tools.held, 4);
        // Resources the server does not offer: an empty view matches none.
        assert_eq!(compared.lists[1].list, ListKind::Resources);
        assert!(compared.lists[1].matches);
        assert_eq!(
            compared.to_json()["tools"]["missing"],
            json!(["calculator", "echo4@2"])
        );
    }

    #[test]
    fn the_tool_is_listed_by_its_own_bytes() {
        let listed = serde_json::to_string(&[definition()]).unwrap();
        assert_eq!(
            listing().slice(0..1),
            &listed.as_bytes()[1..listed.len() - 1]
        );
    }
}
