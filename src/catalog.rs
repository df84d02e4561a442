//! The catalog: the three lists a client can see (tools, prompts, resources)
//! and the changes that can be made to them. Pure data: no actor, session or
//! transport appears here, so every rule is unit-tested directly.
//!
//! Each list holds numbered items, each at a revision. Item `k` at revision
//! `r` maps to exactly one definition (see `tools.rs`,
//! `prompts.rs` and `resources.rs`). Numbers
//! are never reused: an addition takes the next number never used before, even
//! after a removal or a reset, so a client can never confuse a new item with
//! one it saw earlier. Every change to a list raises its version by one.
//!
//! A [`ChangeRequest`] is what the control endpoint parses and what the
//! in-process API takes; it is checked into a [`Change`], which the Registry
//! applies with [`Catalog::apply`] one step at a time (`count` steps), telling
//! the sessions after each.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::listing::{Listing, ListingCache};

/// An item's number in its list: 1-based, never reused.
pub type Number = usize;

/// An item's revision: 1 as created, raised by each change (a rug pull).
pub type Revision = u32;

/// The most steps one request may ask for: far past any load test, and low
/// enough that a typo cannot occupy the registry for minutes.
pub const MAX_COUNT: usize = 1_000_000;

/// The number written by `digits` in its one canonical spelling: decimal,
/// no sign, no leading zero (`4` names item 4; `04`, `+4` and `4x` name none).
pub fn canonical_number(digits: &str) -> Option<Number> {
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One of the three lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    Tools,
    Prompts,
    Resources,
}

impl ListKind {
    pub const ALL: [ListKind; 3] = [ListKind::Tools, ListKind::Prompts, ListKind::Resources];

    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources => "resources",
        }
    }

    /// The position of this list in per-list arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for ListKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item of a list: its number and current revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub number: Number,
    pub revision: Revision,
}

/// What a list's items are: how item `k` at revision `r` is defined, and how a
/// client names it (a tool's or prompt's name, a resource's URI).
pub trait ItemKind {
    type Definition: Clone;
    const LIST: ListKind;
    fn definition(entry: Entry) -> Self::Definition;
    /// The name or URI of item `k`.
    fn key(k: Number) -> String;
    /// The item number a name or URI refers to, if it could name one at all.
    fn number(key: &str) -> Option<Number>;
    /// The field `GET /state` shows an item's key in: a list whose items
    /// are named otherwise says so itself, so that the catalog knows no
    /// list's naming.
    const KEY_FIELD: &'static str = "name";
    /// A name shown beside the key, for a list whose key is not its name.
    fn display_name(_k: Number) -> Option<String> {
        None
    }
}

/// One list at one version: its entries in order of number, and their
/// definitions in the same order.
#[derive(Debug, Clone)]
pub struct List<I: ItemKind> {
    version: u64,
    entries: Vec<Entry>,
    definitions: Vec<I::Definition>,
    /// The next number never used.
    next: Number,
    /// How many items the list started with, for a reset.
    initial: usize,
    /// The definitions serialized, for `*/list` answers (see [`List::listing`]).
    listing: ListingCache,
}

impl<I: ItemKind> List<I> {
    fn new(initial: usize) -> Self {
        let entries: Vec<Entry> = (1..=initial)
            .map(|number| Entry {
                number,
                revision: 1,
            })
            .collect();
        Self {
            version: 1,
            definitions: entries.iter().copied().map(I::definition).collect(),
            entries,
            next: initial + 1,
            initial,
            listing: ListingCache::default(),
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The definitions, in list order: what `*/list` answers.
    pub fn definitions(&self) -> &[I::Definition] {
        &self.definitions
    }

    /// The definitions serialized at this version: each item's bytes are made
    /// once per (number, revision) and kept while the list holds it, so an
    /// answer to `*/list` copies bytes instead of serializing its items.
    pub fn listing(&self) -> serde_json::Result<Arc<Listing>>
    where
        I::Definition: Serialize,
    {
        let keys = self.entries.iter().map(|e| (e.number, e.revision));
        self.listing.get(self.version, keys, &self.definitions)
    }

    /// The item a name or URI names now, if it is listed.
    pub fn find(&self, key: &str) -> Option<(usize, Entry)> {
        let number = I::number(key)?;
        // Entries stay sorted by number: additions append the next number,
        // removals and revisions keep the order.
        let index = self
            .entries
            .binary_search_by_key(&number, |e| e.number)
            .ok()?;
        Some((index, self.entries[index]))
    }

    fn target(&self, key: Option<&str>) -> Result<usize, ChangeError> {
        match key {
            Some(key) => {
                self.find(key)
                    .map(|(index, _)| index)
                    .ok_or_else(|| ChangeError::NotFound {
                        list: I::LIST,
                        key: key.to_owned(),
                    })
            }
            None => self
                .entries
                .len()
                .checked_sub(1)
                .ok_or(ChangeError::NothingToChange(format!(
                    "the {} list is empty",
                    I::LIST
                ))),
        }
    }

    fn add(&mut self) -> Entry {
        let entry = Entry {
            number: self.next,
            revision: 1,
        };
        self.next += 1;
        self.entries.push(entry);
        self.definitions.push(I::definition(entry));
        entry
    }

    fn remove(&mut self, index: usize) -> Entry {
        self.definitions.remove(index);
        self.entries.remove(index)
    }

    fn revise(&mut self, index: usize) -> Entry {
        let entry = &mut self.entries[index];
        entry.revision += 1;
        self.definitions[index] = I::definition(*entry);
        *entry
    }

    /// Back to the initial items at revision 1; `false` if already there.
    fn reset(&mut self) -> bool {
        let unchanged = self.entries.len() == self.initial
            && self
                .entries
                .iter()
                .enumerate()
                .all(|(i, e)| e.number == i + 1 && e.revision == 1);
        if unchanged {
            return false;
        }
        let fresh = Self::new(self.initial);
        self.entries = fresh.entries;
        self.definitions = fresh.definitions;
        self.version += 1;
        true
    }

    /// The list as `GET /state` shows it: `{ "version", "items" }`.
    fn view(&self) -> ListView<'_, I> {
        ListView(self)
    }
}

/// A list as `GET /state` and a change's answer show it, written straight
/// to the output: a list of a million items is some 35 MB of JSON, while the
/// same list built as a [`Value`] first took over a gigabyte (issue 24).
struct ListView<'a, I: ItemKind>(&'a List<I>);

impl<I: ItemKind> Serialize for ListView<'_, I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Items<'a, I: ItemKind>(&'a [Entry], std::marker::PhantomData<I>);
        impl<I: ItemKind> Serialize for Items<'_, I> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(
                    self.0
                        .iter()
                        .map(|&entry| ItemView::<I>(entry, std::marker::PhantomData)),
                )
            }
        }
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("version", &self.0.version)?;
        map.serialize_entry(
            "items",
            &Items::<I>(&self.0.entries, std::marker::PhantomData),
        )?;
        map.end()
    }
}

/// One item: `{ "name", "revision" }`, or for a resource `{ "uri", "name",
/// "revision" }`.
struct ItemView<I: ItemKind>(Entry, std::marker::PhantomData<I>);

impl<I: ItemKind> Serialize for ItemView<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Entry { number, revision } = self.0;
        let key = I::key(number);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(I::KEY_FIELD, &key)?;
        if let Some(name) = I::display_name(number) {
            map.serialize_entry("name", &name)?;
        }
        map.serialize_entry("revision", &revision)?;
        map.end()
    }
}

/// The tools list.
#[derive(Debug, Clone)]
pub struct Tools;
/// The prompts list.
#[derive(Debug, Clone)]
pub struct Prompts;
/// The resources list.
#[derive(Debug, Clone)]
pub struct Resources;

pub type ToolList = List<Tools>;
pub type PromptList = List<Prompts>;
pub type ResourceList = List<Resources>;

/// The three lists at one moment. Cloning shares them: the Registry copies a
/// list only when it changes one that a reader still holds.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub tools: Arc<ToolList>,
    /// `None` when the server has no prompts capability (no `--prompts`).
    pub prompts: Option<Arc<PromptList>>,
    /// `None` when the server has no resources capability (no `--resources`).
    pub resources: Option<Arc<ResourceList>>,
}

/// The initial size of each list; `None` turns a list's capability off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogSize {
    pub tools: usize,
    pub prompts: Option<usize>,
    pub resources: Option<usize>,
}

/// A change request, as the control endpoint parses it from JSON and the
/// in-process API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    pub change: ChangeKind,
    /// The tool or prompt to remove or change; the newest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The resource to remove or update; the newest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Apply the change this many times, as separate changes [default: 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

impl ChangeRequest {
    pub fn new(change: ChangeKind) -> Self {
        Self {
            change,
            name: None,
            uri: None,
            count: None,
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn uri(mut self, uri: impl Into<String>) -> Self {
        self.uri = Some(uri.into());
        self
    }

    pub fn count(mut self, count: usize) -> Self {
        self.count = Some(count);
        self
    }
}

/// The kinds of change, as `"change"` names them. One table (`ChangeKind::row`)
/// says what each kind is: its name, its list, what it does there, and how
/// the log says it. Every name a change is shown by (the log, a
/// scenario step, the client report) comes from that table, so a new kind is
/// a variant and a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    AddTool,
    RemoveTool,
    ChangeTool,
    Reset,
    AddPrompt,
    RemovePrompt,
    ChangePrompt,
    AddResource,
    RemoveResource,
    UpdateResource,
}

/// One row of the change-kind table.
#[derive(Debug, Clone, Copy)]
struct KindRow {
    /// As `"change"` spells it (serde's name of the variant).
    name: &'static str,
    /// `None` for a reset, which touches every list.
    list: Option<ListKind>,
    action: Action,
    /// What the log names: `tool` in `tool added`.
    noun: &'static str,
    /// What the log says was done: `added` in `tool added`.
    verb: &'static str,
    /// Whether it changes an item's contents only, not the list: the list's
    /// version stays and `notifications/resources/updated` is due instead of
    /// `list_changed`.
    update: bool,
}

const fn row(
    name: &'static str,
    list: Option<ListKind>,
    action: Action,
    noun: &'static str,
    verb: &'static str,
) -> KindRow {
    KindRow {
        name,
        list,
        action,
        noun,
        verb,
        update: false,
    }
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 10] = [
        ChangeKind::AddTool,
        ChangeKind::RemoveTool,
        ChangeKind::ChangeTool,
        ChangeKind::Reset,
        ChangeKind::AddPrompt,
        ChangeKind::RemovePrompt,
        ChangeKind::ChangePrompt,
        ChangeKind::AddResource,
        ChangeKind::RemoveResource,
        ChangeKind::UpdateResource,
    ];

    /// The table.
    const fn row(self) -> KindRow {
        use Action::{Add, Remove, Revise};
        use ListKind::{Prompts, Resources, Tools};
        match self {
            ChangeKind::AddTool => row("add_tool", Some(Tools), Add, "tool", "added"),
            ChangeKind::RemoveTool => row("remove_tool", Some(Tools), Remove, "tool", "removed"),
            ChangeKind::ChangeTool => row("change_tool", Some(Tools), Revise, "tool", "changed"),
            ChangeKind::Reset => row("reset", None, Action::Reset, "catalog", "reset"),
            ChangeKind::AddPrompt => row("add_prompt", Some(Prompts), Add, "prompt", "added"),
            ChangeKind::RemovePrompt => {
                row("remove_prompt", Some(Prompts), Remove, "prompt", "removed")
            }
            ChangeKind::ChangePrompt => {
                row("change_prompt", Some(Prompts), Revise, "prompt", "changed")
            }
            ChangeKind::AddResource => {
                row("add_resource", Some(Resources), Add, "resource", "added")
            }
            ChangeKind::RemoveResource => row(
                "remove_resource",
                Some(Resources),
                Remove,
                "resource",
                "removed",
            ),
            ChangeKind::UpdateResource => KindRow {
                update: true,
                ..row(
                    "update_resource",
                    Some(Resources),
                    Revise,
                    "resource",
                    "updated",
                )
            },
        }
    }

    /// Its name, as `"change"` spells it: `add_tool`.
    pub const fn as_str(self) -> &'static str {
        self.row().name
    }

    /// The list it changes; `None` for a reset, which touches every list.
    pub const fn list(self) -> Option<ListKind> {
        self.row().list
    }

    /// What it does to its list.
    pub const fn action(self) -> Action {
        self.row().action
    }

    /// What the log names (`tool`, or `catalog` for a reset).
    pub const fn noun(self) -> &'static str {
        self.row().noun
    }

    /// What the log says was done (`added`, `updated`, ...).
    pub const fn verb(self) -> &'static str {
        self.row().verb
    }

    /// Whether it changes an item's contents only (a resource update): the
    /// list's version stays, and subscribers hear `resources/updated`.
    pub const fn is_update(self) -> bool {
        self.row().update
    }
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a change does to its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Add,
    Remove,
    /// Raise an item's revision: a changed tool or prompt, an updated resource.
    Revise,
    /// Every list back to its initial items.
    Reset,
}

impl Action {
    /// Its name, as the client report's `kind` gives it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Remove => "remove",
            Action::Revise => "revise",
            Action::Reset => "reset",
        }
    }
}

/// A checked change: what the Registry applies, `count` times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// The item's name or URI; the newest item when `None`.
    pub target: Option<String>,
    pub count: usize,
    /// A removal that would leave fewer items is refused. The signals keep at
    /// least one tool; the control endpoint may empty a list.
    pub keep_at_least: usize,
}

impl Change {
    /// One change of `kind` to the newest item (every kind can be made so).
    pub fn new(kind: ChangeKind) -> Self {
        Self {
            kind,
            target: None,
            count: 1,
            keep_at_least: 0,
        }
    }

    /// What a SIGHUP does.
    pub fn add_tool() -> Self {
        Self::new(ChangeKind::AddTool)
    }

    /// What a SIGUSR1 does: remove the newest tool, never the last one.
    pub fn remove_newest_tool() -> Self {
        Self {
            keep_at_least: 1,
            ..Self::new(ChangeKind::RemoveTool)
        }
    }

    /// What a SIGUSR2 does: change the newest tool (a rug pull).
    pub fn change_newest_tool() -> Self {
        Self::new(ChangeKind::ChangeTool)
    }

    /// The list it changes; `None` for a reset.
    pub fn list(&self) -> Option<ListKind> {
        self.kind.list()
    }

    /// What it does to its list.
    pub fn action(&self) -> Action {
        self.kind.action()
    }
}

impl TryFrom<ChangeRequest> for Change {
    type Error = ChangeError;

    fn try_from(request: ChangeRequest) -> Result<Self, ChangeError> {
        let kind = request.change;
        let (action, list) = (kind.action(), kind.list());
        let bad = |why: String| Err(ChangeError::BadRequest(why));
        let count = request.count.unwrap_or(1);
        if !(1..=MAX_COUNT).contains(&count) {
            return bad(format!("count must be from 1 to {MAX_COUNT}, not {count}"));
        }
        let target = match (list, request.name, request.uri) {
            (_, Some(_), Some(_)) => return bad("give name or uri, not both".into()),
            (Some(ListKind::Tools | ListKind::Prompts), name, None) => name,
            (Some(ListKind::Resources), None, uri) => uri,
            (Some(ListKind::Resources), Some(_), None) => {
                return bad("a resource is named by its uri, not name".into());
            }
            (Some(_), None, Some(_)) => {
                return bad("uri names a resource; tools and prompts take name".into());
            }
            (None, None, None) => None,
            (None, _, _) => return bad("reset takes no name or uri".into()),
        };
        if target.is_some() && action == Action::Add {
            return bad("an addition takes the next number; it takes no name or uri".into());
        }
        if count > 1 && (action == Action::Reset || (action == Action::Remove && target.is_some()))
        {
            return bad(format!(
                "count {count} would repeat a change that can happen only once"
            ));
        }
        Ok(Self {
            target,
            count,
            ..Self::new(kind)
        })
    }
}

/// Why a change was refused. The catalog is unchanged after any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The request itself is wrong (control: 400).
    #[error("{0}")]
    BadRequest(String),
    /// No listed item has that name or URI (control: 404).
    #[error("no item of the {list} list is named {key:?}")]
    NotFound { list: ListKind, key: String },
    /// The change would change nothing (control: 409).
    #[error("nothing to change: {0}")]
    NothingToChange(String),
    /// The list's capability is off (control: 409).
    #[error("the server has no {0} (start it with --{0} N)")]
    ListDisabled(ListKind),
}

/// What one applied change did: which lists changed, and which resource was
/// updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The lists whose `list_changed` notification is due.
    pub lists: Vec<ListKind>,
    /// The URI whose `notifications/resources/updated` is due.
    pub updated: Option<String>,
    /// The item the change made, removed or revised, for the log.
    pub item: Option<String>,
}

impl Catalog {
    pub fn new(size: CatalogSize) -> Self {
        Self {
            tools: Arc::new(List::new(size.tools)),
            prompts: size.prompts.map(|n| Arc::new(List::new(n))),
            resources: size.resources.map(|n| Arc::new(List::new(n))),
        }
    }

    /// The version of one list, or `None` when its capability is off.
    pub fn version(&self, list: ListKind) -> Option<u64> {
        match list {
            ListKind::Tools => Some(self.tools.version),
            ListKind::Prompts => self.prompts.as_ref().map(|l| l.version),
            ListKind::Resources => self.resources.as_ref().map(|l| l.version),
        }
    }

    /// Refuse a change whose every step cannot be applied, before any is: a
    /// request is applied whole or not at all.
    pub fn check(&self, change: &Change) -> Result<(), ChangeError> {
        let Some(list) = change.list() else {
            return if self.clone().reset_all().is_empty() {
                Err(ChangeError::NothingToChange(
                    "every list is as it started".into(),
                ))
            } else {
                Ok(())
            };
        };
        let (len, found) = match list {
            ListKind::Tools => (self.tools.len(), probe(&self.tools, change)),
            ListKind::Prompts => {
                let l = self
                    .prompts
                    .as_ref()
                    .ok_or(ChangeError::ListDisabled(list))?;
                (l.len(), probe(l, change))
            }
            ListKind::Resources => {
                let l = self
                    .resources
                    .as_ref()
                    .ok_or(ChangeError::ListDisabled(list))?;
                (l.len(), probe(l, change))
            }
        };
        match change.action() {
            Action::Add => Ok(()),
            Action::Remove if len < change.count + change.keep_at_least => {
                found?;
                Err(ChangeError::NothingToChange(format!(
                    "the {list} list has {len}, and {} must stay",
                    change.keep_at_least
                )))
            }
            Action::Remove | Action::Revise => found,
            Action::Reset => unreachable!("a reset has no list"),
        }
    }

    /// Apply one step of a checked change.
    pub fn apply(&mut self, change: &Change) -> Result<Applied, ChangeError> {
        let Some(list) = change.list() else {
            let lists = self.reset_all();
            if lists.is_empty() {
                return Err(ChangeError::NothingToChange(
                    "every list is as it started".into(),
                ));
            }
            return Ok(Applied {
                lists,
                updated: None,
                item: None,
            });
        };
        match list {
            ListKind::Tools => step(Arc::make_mut(&mut self.tools), change),
            ListKind::Prompts => match &mut self.prompts {
                Some(l) => step(Arc::make_mut(l), change),
                None => Err(ChangeError::ListDisabled(list)),
            },
            ListKind::Resources => match &mut self.resources {
                Some(l) => step(Arc::make_mut(l), change),
                None => Err(ChangeError::ListDisabled(list)),
            },
        }
    }

    fn reset_all(&mut self) -> Vec<ListKind> {
        let mut changed = Vec::new();
        if Arc::make_mut(&mut self.tools).reset() {
            changed.push(ListKind::Tools);
        }
        if let Some(l) = &mut self.prompts
            && Arc::make_mut(l).reset()
        {
            changed.push(ListKind::Prompts);
        }
        if let Some(l) = &mut self.resources
            && Arc::make_mut(l).reset()
        {
            changed.push(ListKind::Resources);
        }
        changed
    }

    /// The catalog as `GET /state` and a change's answer show it, as a
    /// [`Value`] (for tests; the control endpoint writes [`Catalog::view`]).
    pub fn describe(&self) -> Value {
        serde_json::to_value(self.view()).expect("a catalog view serializes")
    }

    /// The catalog as `GET /state` and a change's answer show it (`{ "tools":
    /// { "version", "items" }, "prompts": ..., "resources": ... }`, without a
    /// list the server does not offer), serialized without building a
    /// [`Value`] first.
    pub fn view(&self) -> CatalogView<'_> {
        CatalogView(self)
    }
}

/// See [`Catalog::view`].
pub struct CatalogView<'a>(&'a Catalog);

impl Serialize for CatalogView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let catalog = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("tools", &catalog.tools.view())?;
        if let Some(l) = &catalog.prompts {
            map.serialize_entry("prompts", &l.view())?;
        }
        if let Some(l) = &catalog.resources {
            map.serialize_entry("resources", &l.view())?;
        }
        map.end()
    }
}

/// Whether the change's target exists in `list` (a removal or revision of the
/// newest item needs a non-empty list).
fn probe<I: ItemKind>(list: &List<I>, change: &Change) -> Result<(), ChangeError> {
    match change.action() {
        Action::Add | Action::Reset => Ok(()),
        Action::Remove | Action::Revise => list.target(change.target.as_deref()).map(|_| ()),
    }
}

fn step<I: ItemKind>(list: &mut List<I>, change: &Change) -> Result<Applied, ChangeError> {
    let (entry, updated) = match change.action() {
        Action::Add => (list.add(), None),
        Action::Remove => {
            let index = list.target(change.target.as_deref())?;
            if list.len() <= change.keep_at_least {
                return Err(ChangeError::NothingToChange(format!(
                    "the {} list keeps at least {}",
                    I::LIST,
                    change.keep_at_least
                )));
            }
            (list.remove(index), None)
        }
        Action::Revise => {
            let index = list.target(change.target.as_deref())?;
            let entry = list.revise(index);
            // An updated resource keeps its place and its listing; only its
            // contents change, which is what `resources/updated` says.
            let updated = change.kind.is_update().then(|| I::key(entry.number));
            (entry, updated)
        }
        Action::Reset => unreachable!("a reset has no list"),
    };
    // The version counts changes to the list; an update changes contents only.
    let lists = if updated.is_some() {
        Vec::new()
    } else {
        list.version += 1;
        vec![I::LIST]
    };
    Ok(Applied {
        lists,
        updated,
        item: Some(I::key(entry.number)),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn catalog(tools: usize) -> Catalog {
        Catalog::new(CatalogSize {
            tools,
            prompts: Some(2),
            resources: Some(2),
        })
    }

    fn names(catalog: &Catalog) -> Vec<String> {
        catalog
            .tools
            .definitions()
            .iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    fn request(change: ChangeKind) -> Change {
        ChangeRequest::new(change).try_into().unwrap()
    }

    fn apply(catalog: &mut Catalog, change: Change) -> Result<Applied, ChangeError> {
        catalog.check(&change)?;
        catalog.apply(&change)
    }

    #[test]
    fn numbers_are_never_reused() {
        let mut c = catalog(3);
        apply(&mut c, request(ChangeKind::AddTool)).unwrap();
        apply(&mut c, request(ChangeKind::AddTool)).unwrap();
        let removed = apply(
            &mut c,
            ChangeRequest::new(ChangeKind::RemoveTool)
                .name("echo4")
                .try_into()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(removed.item.as_deref(), Some("echo4"));
        assert_eq!(names(&c), ["echo", "calculator", "counter", "echo5"]);
        apply(&mut c, request(ChangeKind::AddTool)).unwrap();
        assert_eq!(
            names(&c),
            ["echo", "calculator", "counter", "echo5", "echo6"]
        );
        assert_eq!(c.tools.version(), 5);
        // A reset restores the start, and numbers still move on.
        apply(&mut c, request(ChangeKind::Reset)).unwrap();
        assert_eq!(names(&c), ["echo", "calculator", "counter"]);
        apply(&mut c, request(ChangeKind::AddTool)).unwrap();
        assert_eq!(names(&c), ["echo", "calculator", "counter", "echo7"]);
    }

    #[test]
    fn a_revision_changes_the_definition_under_the_same_name() {
        let mut c = catalog(4);
        let before = c.tools.definitions()[3].clone();
        let applied = apply(&mut c, request(ChangeKind::ChangeTool)).unwrap();
        assert_eq!(applied.lists, [ListKind::Tools]);
        let after = &c.tools.definitions()[3];
        assert_eq!(after.name, before.name);
        assert_ne!(after.input_schema, before.input_schema);
        assert_eq!(c.tools.find("echo4").unwrap().1.revision, 2);
    }

    #[test]
    fn refused_changes_change_nothing() {
        let mut c = catalog(1);
        let version = c.tools.version();
        // Nothing to reset.
        assert!(matches!(
            apply(&mut c, request(ChangeKind::Reset)),
            Err(ChangeError::NothingToChange(_))
        ));
        // Signals keep one tool; the control endpoint may remove the last.
        assert!(matches!(
            apply(&mut c, Change::remove_newest_tool()),
            Err(ChangeError::NothingToChange(_))
        ));
        // Unknown names.
        let unknown = ChangeRequest::new(ChangeKind::ChangeTool)
            .name("echo9")
            .try_into()
            .unwrap();
        assert!(matches!(
            apply(&mut c, unknown),
            Err(ChangeError::NotFound { .. })
        ));
        // More removals than items: refused whole, not partly applied.
        let many = ChangeRequest::new(ChangeKind::RemoveTool)
            .count(2)
            .try_into()
            .unwrap();
        assert!(matches!(
            apply(&mut c, many),
            Err(ChangeError::NothingToChange(_))
        ));
        assert_eq!(c.tools.version(), version);
        assert_eq!(names(&c), ["echo"]);
        apply(&mut c, request(ChangeKind::RemoveTool)).unwrap();
        assert!(c.tools.is_empty());
        assert!(matches!(
            apply(&mut c, request(ChangeKind::RemoveTool)),
            Err(ChangeError::NothingToChange(_))
        ));
    }

    #[test]
    fn disabled_lists_refuse_changes() {
        let mut c = Catalog::new(CatalogSize {
            tools: 1,
            prompts: None,
            resources: None,
        });
        for kind in [ChangeKind::AddPrompt, ChangeKind::UpdateResource] {
            assert!(matches!(
                apply(&mut c, request(kind)),
                Err(ChangeError::ListDisabled(_))
            ));
        }
        assert_eq!(
            c.describe(),
            json!({ "tools": { "version": 1, "items": [{ "name": "echo", "revision": 1 }] } })
        );
    }

    #[test]
    fn resource_updates_notify_subscribers_not_the_list() {
        let mut c = catalog(1);
        let applied = apply(&mut c, request(ChangeKind::UpdateResource)).unwrap();
        assert_eq!(applied.lists, []);
        assert_eq!(applied.updated.as_deref(), Some("dynamic://resources/2"));
        let version = c.resources.as_ref().unwrap().version();
        let removed = apply(
            &mut c,
            ChangeRequest::new(ChangeKind::RemoveResource)
                .uri("dynamic://resources/1")
                .try_into()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(removed.lists, [ListKind::Resources]);
        assert_eq!(c.resources.as_ref().unwrap().version(), version + 1);
        // A reset touches only the lists that differ from the start.
        let reset = apply(&mut c, request(ChangeKind::Reset)).unwrap();
        assert_eq!(reset.lists, [ListKind::Resources]);
    }

    #[test]
    fn requests_are_checked() {
        let parse = |text: &str| serde_json::from_str::<ChangeRequest>(text);
        assert!(parse(r#"{"change":"add_tool","colour":1}"#).is_err());
        assert!(parse(r#"{"change":"grow"}"#).is_err());
        let bad = |text: &str| Change::try_from(parse(text).unwrap()).unwrap_err();
        for text in [
            r#"{"change":"add_tool","name":"echo9"}"#,
            r#"{"change":"remove_tool","uri":"dynamic://resources/1"}"#,
            r#"{"change":"update_resource","name":"resource1"}"#,
            r#"{"change":"reset","name":"echo"}"#,
            r#"{"change":"add_tool","count":0}"#,
            r#"{"change":"reset","count":2}"#,
            r#"{"change":"remove_tool","name":"echo","count":2}"#,
        ] {
            assert!(matches!(bad(text), ChangeError::BadRequest(_)), "{text}");
        }
        let change =
            Change::try_from(parse(r#"{"change":"add_tool","count":1000}"#).unwrap()).unwrap();
        assert_eq!((change.action(), change.count), (Action::Add, 1000));
    }

    #[test]
    fn the_kind_table_names_each_kind_as_requests_spell_it() {
        for kind in ChangeKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            let parsed: ChangeKind = serde_json::from_value(json!(kind.as_str())).unwrap();
            assert_eq!(parsed, kind);
            // A kind's list is named by its noun, a reset by none.
            assert_eq!(kind.list().is_none(), kind.action() == Action::Reset);
        }
        let updates: Vec<_> = ChangeKind::ALL
            .into_iter()
            .filter(|k| k.is_update())
            .collect();
        assert_eq!(updates, [ChangeKind::UpdateResource]);
    }
}
