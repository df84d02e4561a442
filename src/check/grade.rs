//! The checks: a client report (`GET /report`, with check mode's `views`)
//! graded into [`Check`]s in the conformance suite's format. Pure: the
//! report is JSON, the result is checks.
//!
//! Two kinds of evidence: what the server saw the client do (the report's
//! sessions: re-lists to the last page, stale calls, refused cursors, cursor
//! loops, sessions), and what the client says it holds (the `views`, each
//! compared with the catalog when it came). A check names the moment and the
//! versions that showed it in its `errorMessage`, which the verdict table
//! prints.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::catalog::ListKind;
use crate::verdict::{Check, SpecReference, Status};

/// How long a client has, after a change (or the last change of a burst of
/// changes less than this apart), to report a view that holds the list as it
/// now is. Generous: a client re-lists in milliseconds, but CI machines are
/// shared and the battery runs scenarios side by side.
pub const CONVERGE_MS: u64 = 1500;

/// A spec page a check rests on.
#[derive(Debug)]
pub struct Spec(pub &'static str, pub &'static str);

pub const SPEC_TOOLS_LIST_CHANGED: Spec = Spec(
    "MCP-Tools-List-Changed",
    "https://modelcontextprotocol.io/specification/2025-11-25/server/tools#list-changed-notification",
);
pub const SPEC_PROMPTS_LIST_CHANGED: Spec = Spec(
    "MCP-Prompts-List-Changed",
    "https://modelcontextprotocol.io/specification/2025-11-25/server/prompts#list-changed-notification",
);
pub const SPEC_RESOURCES_LIST_CHANGED: Spec = Spec(
    "MCP-Resources-List-Changed",
    "https://modelcontextprotocol.io/specification/2025-11-25/server/resources#list-changed-notification",
);
pub const SPEC_RESOURCE_SUBSCRIPTIONS: Spec = Spec(
    "MCP-Resource-Subscriptions",
    "https://modelcontextprotocol.io/specification/2025-11-25/server/resources#subscriptions",
);
pub const SPEC_PAGINATION: Spec = Spec(
    "MCP-Pagination",
    "https://modelcontextprotocol.io/specification/2025-11-25/server/utilities/pagination",
);
pub const SPEC_CALLING_TOOLS: Spec = Spec(
    "MCP-Tools-Calling",
    "https://modelcontextprotocol.io/specification/2025-11-25/server/tools#calling-tools",
);
pub const SPEC_SESSION_MANAGEMENT: Spec = Spec(
    "MCP-Session-Management",
    "https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#session-management",
);
pub const SPEC_LISTENING: Spec = Spec(
    "MCP-Listening-For-Messages",
    "https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#listening-for-messages-from-the-server",
);
pub const SPEC_LIFECYCLE: Spec = Spec(
    "MCP-Lifecycle",
    "https://modelcontextprotocol.io/specification/2025-11-25/basic/lifecycle",
);
pub const SPEC_CACHING: Spec = Spec(
    "MCP-Caching",
    "https://modelcontextprotocol.io/specification/draft/server/utilities/caching",
);

/// One kind of check: its id, what it asks, and how the report answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckKind {
    /// The first view holds each list whole: every page read, each item once.
    FirstViewComplete,
    /// The last view holds each list as it is at the end.
    FinalView,
    /// After each change, a view holds the list as it now is, within
    /// [`CONVERGE_MS`].
    ViewConverges,
    /// After each change the server saw a re-list from page 0 to the last
    /// page, at the change's version or later.
    RelistedToEnd,
    /// No `tools/call` of a tool that was gone, or with an old schema.
    NoStaleCalls,
    /// The calls the scenario asks for were made.
    CallsMade,
    /// A cursor refused (-32602) was followed by a re-list from the start.
    RefusedCursorRecovered,
    /// No cursor was asked for more than twice.
    NoCursorLoops,
    /// After its session ended (404) the client initialized a new one.
    ReinitializedAfter404,
    /// Re-lists are bounded by the notifications: a storm is no poll loop.
    RelistsBounded,
    /// A subscriber told of an update read the resource.
    ResourceReadAfterUpdate,
}

impl CheckKind {
    #[cfg(test)]
    pub const ALL: [CheckKind; 11] = [
        CheckKind::FirstViewComplete,
        CheckKind::FinalView,
        CheckKind::ViewConverges,
        CheckKind::RelistedToEnd,
        CheckKind::NoStaleCalls,
        CheckKind::CallsMade,
        CheckKind::RefusedCursorRecovered,
        CheckKind::NoCursorLoops,
        CheckKind::ReinitializedAfter404,
        CheckKind::RelistsBounded,
        CheckKind::ResourceReadAfterUpdate,
    ];

    /// The checks that need no scenario: what `GET /verdict` grades.
    pub const SCENARIO_FREE: [CheckKind; 4] = [
        CheckKind::RelistedToEnd,
        CheckKind::NoStaleCalls,
        CheckKind::RefusedCursorRecovered,
        CheckKind::NoCursorLoops,
    ];

    /// Its id, name and description, as checks.json carries them.
    pub fn describe(self) -> (&'static str, &'static str, &'static str) {
        match self {
            CheckKind::FirstViewComplete => (
                "first-view-complete",
                "FirstViewComplete",
                "The first list the client holds is whole: it followed nextCursor to the end (\"\" included), each item once",
            ),
            CheckKind::FinalView => (
                "final-view",
                "FinalView",
                "The last view the client reports holds every list as the server has it at the end (names, and each tool's revision)",
            ),
            CheckKind::ViewConverges => (
                "view-converges",
                "ViewConverges",
                "After each change the client reports a view that holds the list as it now is, within 1500 ms",
            ),
            CheckKind::RelistedToEnd => (
                "relisted-to-end",
                "RelistedToEnd",
                "After each change of a list it holds, the client lists it again from the first page to the last, at the change's version or later",
            ),
            CheckKind::NoStaleCalls => (
                "no-stale-calls",
                "NoStaleCalls",
                "The client never calls a tool that is gone, or a changed tool with its old schema",
            ),
            CheckKind::CallsMade => (
                "calls-made",
                "CallsMade",
                "The client makes the tool calls the scenario asks for, with the schema it holds",
            ),
            CheckKind::RefusedCursorRecovered => (
                "refused-cursor-recovered",
                "RefusedCursorRecovered",
                "A cursor the server refused (-32602, stale after a change) is followed by a new listing from the first page",
            ),
            CheckKind::NoCursorLoops => (
                "no-cursor-loops",
                "NoCursorLoops",
                "The client asks for no cursor more than twice",
            ),
            CheckKind::ReinitializedAfter404 => (
                "reinitialized-after-404",
                "ReinitializedAfter404",
                "When its session ends (HTTP 404), the client initializes a new session and lists again",
            ),
            CheckKind::RelistsBounded => (
                "relists-bounded",
                "RelistsBounded",
                "The client lists no more often than the notifications ask (at most one listing per notification, and two more)",
            ),
            CheckKind::ResourceReadAfterUpdate => (
                "resource-read-after-update",
                "ResourceReadAfterUpdate",
                "A client subscribed to a resource reads it after notifications/resources/updated",
            ),
        }
    }

    #[cfg(test)]
    pub fn id(self) -> &'static str {
        self.describe().0
    }

    /// The kind with this id.
    #[cfg(test)]
    pub fn named(id: &str) -> Option<CheckKind> {
        Self::ALL.into_iter().find(|kind| kind.id() == id)
    }

    /// The spec rules it rests on, for the lists `lists`.
    fn specs(self, lists: &[ListKind]) -> Vec<&'static Spec> {
        let list_changed = lists.iter().map(|list| match list {
            ListKind::Tools => &SPEC_TOOLS_LIST_CHANGED,
            ListKind::Prompts => &SPEC_PROMPTS_LIST_CHANGED,
            ListKind::Resources => &SPEC_RESOURCES_LIST_CHANGED,
        });
        match self {
            CheckKind::FirstViewComplete | CheckKind::NoCursorLoops => vec![&SPEC_PAGINATION],
            CheckKind::RefusedCursorRecovered => vec![&SPEC_PAGINATION],
            CheckKind::FinalView | CheckKind::ViewConverges | CheckKind::RelistedToEnd => {
                let mut specs: Vec<_> = list_changed.collect();
                specs.push(&SPEC_PAGINATION);
                specs
            }
            CheckKind::RelistsBounded => list_changed.collect(),
            CheckKind::NoStaleCalls | CheckKind::CallsMade => {
                vec![&SPEC_TOOLS_LIST_CHANGED, &SPEC_CALLING_TOOLS]
            }
            CheckKind::ReinitializedAfter404 => vec![&SPEC_SESSION_MANAGEMENT, &SPEC_LIFECYCLE],
            CheckKind::ResourceReadAfterUpdate => vec![&SPEC_RESOURCE_SUBSCRIPTIONS],
        }
    }
}

/// What a check is graded against besides the report.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The lists the client holds; `None`: each session's own, as far as it
    /// listed them (what `GET /verdict` knows).
    pub lists: Option<Vec<ListKind>>,
    /// How many `tools/call`s the client should make ([`CheckKind::CallsMade`]).
    pub calls: usize,
}

/// `GET /verdict`: the live report graded with the checks that need no
/// scenario ([`CheckKind::SCENARIO_FREE`]; with check mode's views, the final
/// view too), each session on the lists it listed:
/// `{"passed": bool, "checks": [...]}`.
pub fn verdict(report: &Value) -> Value {
    let expect = Expect::default();
    let mut kinds = CheckKind::SCENARIO_FREE.to_vec();
    if !array(&report["views"]).is_empty() {
        kinds.push(CheckKind::FinalView);
    }
    let checks: Vec<Check> = kinds
        .into_iter()
        .map(|kind| grade(kind, report, &expect))
        .collect();
    json!({
        "passed": !checks.iter().any(|c| c.status.fails()),
        "checks": checks,
    })
}

/// Grade `report` for one check.
pub fn grade(kind: CheckKind, report: &Value, expect: &Expect) -> Check {
    let run = Run::new(report);
    let lists = expect.lists.clone().unwrap_or_else(|| run.listed());
    let result = match kind {
        CheckKind::FirstViewComplete => run.first_view(&lists),
        CheckKind::FinalView => run.final_view(&lists),
        CheckKind::ViewConverges => run.converges(&lists),
        CheckKind::RelistedToEnd => run.relisted(&lists, expect.lists.is_some()),
        CheckKind::NoStaleCalls => run.stale_calls(),
        CheckKind::CallsMade => run.calls_made(expect.calls),
        CheckKind::RefusedCursorRecovered => run.refused_cursors(),
        CheckKind::NoCursorLoops => run.cursor_loops(),
        CheckKind::ReinitializedAfter404 => run.reinitialized(),
        CheckKind::RelistsBounded => run.relists_bounded(&lists),
        CheckKind::ResourceReadAfterUpdate => run.resource_read(),
    };
    let (id, name, description) = kind.describe();
    let (status, message, details) = match result {
        Ok(details) => (Status::Success, None, details),
        Err(Failed { message, details }) => (Status::Failure, Some(message), details),
    };
    let mut check = Check::new(id, name, description, status).details(details);
    for spec in kind.specs(&lists) {
        check = check.spec(SpecReference::new(spec.0, spec.1));
    }
    if let Some(message) = message {
        check = check.error(message);
    }
    check
}

/// Why a check failed: one line of evidence, and the details behind it.
struct Failed {
    message: String,
    details: Value,
}

fn fail(message: impl Into<String>, details: Value) -> Result<Value, Failed> {
    Err(Failed {
        message: message.into(),
        details,
    })
}

/// One list change, from the report's top-level `changes`.
#[derive(Debug, Clone)]
struct ListChange {
    list: ListKind,
    version: u64,
    at_ms: u64,
    what: String,
}

/// One view, from the report's `views`.
#[derive(Debug, Clone)]
struct ViewSeen<'a> {
    at_ms: u64,
    lists: &'a serde_json::Map<String, Value>,
}

impl ViewSeen<'_> {
    fn list(&self, list: ListKind) -> Option<&Value> {
        self.lists.get(list.as_str())
    }
}

/// The report, read for grading.
struct Run<'a> {
    report: &'a Value,
    changes: Vec<ListChange>,
    views: Vec<ViewSeen<'a>>,
    sessions: Vec<&'a Value>,
}

fn list_named(name: &str) -> Option<ListKind> {
    ListKind::ALL.into_iter().find(|l| l.as_str() == name)
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

fn count(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

impl<'a> Run<'a> {
    fn new(report: &'a Value) -> Self {
        // A change that leaves its list's version where it was (a resource
        // update) is no list change.
        let mut newest: BTreeMap<&str, u64> = BTreeMap::new();
        let mut changes = Vec::new();
        for change in array(&report["changes"]) {
            let Some(list) = change["list"].as_str().and_then(list_named) else {
                continue;
            };
            let version = count(&change["version"]);
            let seen = newest.entry(list.as_str()).or_insert(1);
            if version <= *seen {
                continue;
            }
            *seen = version;
            changes.push(ListChange {
                list,
                version,
                at_ms: count(&change["at_ms"]),
                what: format!(
                    "{} {}",
                    change["kind"].as_str().unwrap_or("change"),
                    change["item"].as_str().unwrap_or("(all)")
                ),
            });
        }
        let views = array(&report["views"])
            .iter()
            .filter_map(|view| {
                Some(ViewSeen {
                    at_ms: count(&view["at_ms"]),
                    lists: view["lists"].as_object()?,
                })
            })
            .collect();
        Self {
            report,
            changes,
            views,
            sessions: array(&report["sessions"]).iter().collect(),
        }
    }

    /// The lists any session listed at least once.
    fn listed(&self) -> Vec<ListKind> {
        ListKind::ALL
            .into_iter()
            .filter(|list| {
                self.sessions
                    .iter()
                    .any(|s| count(&s["requests"][format!("{list}/list")]) > 0)
            })
            .collect()
    }

    /// A list's version at the end: its last change's, or 1.
    fn final_version(&self, list: ListKind) -> u64 {
        self.changes
            .iter()
            .filter(|c| c.list == list)
            .map(|c| c.version)
            .max()
            .unwrap_or(1)
    }

    fn no_views(&self) -> Option<Failed> {
        self.views.is_empty().then(|| Failed {
            message: "the client never reported its view (no call of the view tool)".into(),
            details: json!({ "views": 0 }),
        })
    }

    fn first_view(&self, lists: &[ListKind]) -> Result<Value, Failed> {
        if let Some(failed) = self.no_views() {
            return Err(failed);
        }
        let mut details = serde_json::Map::new();
        for &list in lists {
            let holding: Vec<(&ViewSeen, &Value)> = self
                .views
                .iter()
                .filter_map(|v| v.list(list).map(|held| (v, held)))
                .collect();
            let Some(&(view, held)) = holding.first() else {
                return fail(
                    format!("no view holds {list}"),
                    json!({ "list": list, "views": self.views.len() }),
                );
            };
            details.insert(
                list.as_str().into(),
                json!({ "at_ms": view.at_ms, "view": held }),
            );
            // A change between the client's first listing and its first view
            // leaves that view behind through no fault of the listing: then
            // any whole view will do.
            let changed_before = self
                .changes
                .iter()
                .any(|c| c.list == list && c.at_ms <= view.at_ms);
            let whole = held["matches"] == true
                || (changed_before && holding.iter().any(|(_, held)| held["matches"] == true));
            if !whole {
                return fail(
                    format!(
                        "first view at {} ms: {list} {} (version {})",
                        view.at_ms,
                        difference(held),
                        count(&held["version"])
                    ),
                    Value::Object(details),
                );
            }
        }
        Ok(Value::Object(details))
    }

    fn final_view(&self, lists: &[ListKind]) -> Result<Value, Failed> {
        if let Some(failed) = self.no_views() {
            return Err(failed);
        }
        let mut details = serde_json::Map::new();
        for &list in lists {
            let last = self
                .views
                .iter()
                .rev()
                .find_map(|v| v.list(list).map(|held| (v, held)));
            let Some((view, held)) = last else {
                return fail(
                    format!("no view holds {list}"),
                    json!({ "list": list, "views": self.views.len() }),
                );
            };
            let version = count(&held["version"]);
            let current = self.final_version(list);
            details.insert(
                list.as_str().into(),
                json!({ "at_ms": view.at_ms, "view": held, "final_version": current }),
            );
            if version < current {
                let change = self
                    .changes
                    .iter()
                    .rfind(|c| c.list == list)
                    .map(|c| format!(" ({} at {} ms)", c.what, c.at_ms))
                    .unwrap_or_default();
                return fail(
                    format!(
                        "last view at {} ms holds {list} version {version}; the list ended at version {current}{change}",
                        view.at_ms
                    ),
                    Value::Object(details),
                );
            }
            if held["matches"] != true {
                return fail(
                    format!(
                        "last view at {} ms: {list} {} (version {version})",
                        view.at_ms,
                        difference(held)
                    ),
                    Value::Object(details),
                );
            }
        }
        Ok(Value::Object(details))
    }

    fn converges(&self, lists: &[ListKind]) -> Result<Value, Failed> {
        if let Some(failed) = self.no_views() {
            return Err(failed);
        }
        let mut covered = Vec::new();
        for &list in lists {
            let changes: Vec<&ListChange> =
                self.changes.iter().filter(|c| c.list == list).collect();
            for (i, change) in changes.iter().enumerate() {
                // The burst this change belongs to ends at the first change
                // followed by a quiet CONVERGE_MS.
                let mut end = change.at_ms;
                for next in &changes[i + 1..] {
                    if next.at_ms > end + CONVERGE_MS {
                        break;
                    }
                    end = next.at_ms;
                }
                let deadline = end + CONVERGE_MS;
                let converged = self.views.iter().find(|v| {
                    v.at_ms >= change.at_ms
                        && v.at_ms <= deadline
                        && v.list(list).is_some_and(|held| {
                            held["matches"] == true && count(&held["version"]) >= change.version
                        })
                });
                match converged {
                    Some(view) => covered.push(json!({
                        "list": list, "version": change.version, "at_ms": change.at_ms,
                        "converged_ms": view.at_ms,
                    })),
                    None => {
                        let after: Vec<Value> = self
                            .views
                            .iter()
                            .filter(|v| v.at_ms >= change.at_ms)
                            .filter_map(|v| {
                                v.list(list)
                                    .map(|held| json!({ "at_ms": v.at_ms, "view": held }))
                            })
                            .take(5)
                            .collect();
                        let seen = match after.first() {
                            Some(first) => format!(
                                "; next view at {} ms: {}",
                                first["at_ms"],
                                difference(&first["view"])
                            ),
                            None => "; no view after it".to_owned(),
                        };
                        return fail(
                            format!(
                                "{list} version {} ({} at {} ms): no view holding it by {deadline} ms{seen}",
                                change.version, change.what, change.at_ms
                            ),
                            json!({ "change": { "list": list, "version": change.version, "at_ms": change.at_ms, "what": change.what }, "deadline_ms": deadline, "views_after": after }),
                        );
                    }
                }
            }
        }
        Ok(json!({ "changes": covered }))
    }

    /// `strict`: the lists are the scenario's (each session holds them);
    /// otherwise a session is graded only on the lists it listed.
    fn relisted(&self, lists: &[ListKind], strict: bool) -> Result<Value, Failed> {
        let mut graded = 0;
        for session in &self.sessions {
            for verdict in array(&session["changes"]) {
                let Some(list) = verdict["list"].as_str().and_then(list_named) else {
                    continue;
                };
                let held = if strict {
                    lists.contains(&list)
                } else {
                    count(&session["requests"][format!("{list}/list")]) > 0
                };
                if !held {
                    continue;
                }
                graded += 1;
                if verdict["refreshed"] == true {
                    continue;
                }
                let told = match verdict["notified_ms"].as_u64() {
                    Some(ms) => format!("notified at {ms} ms"),
                    None => format!(
                        "not notified ({})",
                        verdict["not_notified"].as_str().unwrap_or("?")
                    ),
                };
                let relisted = match verdict["relisted_ms"].as_u64() {
                    Some(ms) => format!(
                        "re-listed at {ms} ms but read {} of {} pages",
                        count(&verdict["pages_fetched"]),
                        count(&verdict["pages_total"])
                    ),
                    None => "never listed it again".into(),
                };
                return fail(
                    format!(
                        "session {}: {list} version {} (changed at {} ms): {told}, {relisted}",
                        session["id"].as_str().unwrap_or("?"),
                        count(&verdict["version"]),
                        count(&verdict["at_ms"])
                    ),
                    json!({ "session": session["id"], "change": verdict }),
                );
            }
        }
        Ok(json!({ "changes_graded": graded }))
    }

    fn stale_calls(&self) -> Result<Value, Failed> {
        for session in &self.sessions {
            if let Some(call) = array(&session["stale_calls"]).first() {
                let revision = match call["revision"].as_u64() {
                    Some(r) => format!("revision {r}"),
                    None => "no revision".into(),
                };
                let current = match call["current"].as_u64() {
                    Some(r) => format!("the tool is at revision {r}"),
                    None => "the tool is gone".into(),
                };
                let gone = call["tool"].as_str().and_then(|tool| {
                    self.report["changes"].as_array()?.iter().rev().find(|c| {
                        c["item"].as_str() == Some(tool)
                            && count(&c["at_ms"]) <= count(&call["at_ms"])
                    })
                });
                let when = gone
                    .map(|c| {
                        format!(
                            " ({} at {} ms)",
                            c["kind"].as_str().unwrap_or("changed"),
                            count(&c["at_ms"])
                        )
                    })
                    .unwrap_or_default();
                return fail(
                    format!(
                        "tools/call {} at {} ms with {revision}: {} ({current}{when})",
                        call["tool"].as_str().unwrap_or("?"),
                        count(&call["at_ms"]),
                        call["reason"].as_str().unwrap_or("stale"),
                    ),
                    json!({ "session": session["id"], "stale_calls": session["stale_calls"] }),
                );
            }
        }
        Ok(json!({ "stale_calls": 0 }))
    }

    fn requests(&self, method: &str) -> u64 {
        self.sessions
            .iter()
            .map(|s| count(&s["requests"][method]))
            .sum()
    }

    fn calls_made(&self, expected: usize) -> Result<Value, Failed> {
        let made = self.requests("tools/call");
        let details = json!({ "expected": expected, "made": made });
        if made < expected as u64 {
            return fail(
                format!("expected {expected} tools/call, the server saw {made}"),
                details,
            );
        }
        Ok(details)
    }

    fn refused_cursors(&self) -> Result<Value, Failed> {
        let mut refused = 0;
        for session in &self.sessions {
            for cursor in array(&session["refused_cursors"]) {
                refused += 1;
                let (list, at) = (
                    cursor["list"].as_str().unwrap_or("?"),
                    count(&cursor["at_ms"]),
                );
                let before: Vec<&Value> = array(&session["changes"])
                    .iter()
                    .filter(|v| v["list"].as_str() == Some(list) && count(&v["at_ms"]) <= at)
                    .collect();
                let recovered = !before.is_empty() && before.iter().all(|v| v["refreshed"] == true);
                if !recovered {
                    let why = if before.is_empty() {
                        "no change made it stale".to_owned()
                    } else {
                        "the list was never read again from the first page to the last".to_owned()
                    };
                    return fail(
                        format!(
                            "session {}: {list}/list cursor {:?} refused at {at} ms ({}); {why}",
                            session["id"].as_str().unwrap_or("?"),
                            cursor["cursor"].as_str().unwrap_or(""),
                            cursor["reason"].as_str().unwrap_or("")
                        ),
                        json!({ "session": session["id"], "refused": cursor, "changes": before }),
                    );
                }
            }
        }
        Ok(json!({ "refused_cursors": refused }))
    }

    fn cursor_loops(&self) -> Result<Value, Failed> {
        for session in &self.sessions {
            if let Some(looped) = array(&session["cursor_loops"]).first() {
                return fail(
                    format!(
                        "session {}: {}/list cursor {:?} asked for {} times",
                        session["id"].as_str().unwrap_or("?"),
                        looped["list"].as_str().unwrap_or("?"),
                        looped["cursor"].as_str().unwrap_or(""),
                        count(&looped["times"])
                    ),
                    json!({ "session": session["id"], "cursor_loops": session["cursor_loops"] }),
                );
            }
        }
        Ok(json!({ "cursor_loops": 0 }))
    }

    fn reinitialized(&self) -> Result<Value, Failed> {
        let initialized: Vec<&Value> = self
            .sessions
            .iter()
            .copied()
            .filter(|s| count(&s["requests"]["initialize"]) > 0)
            .collect();
        let details = json!({
            "sessions": initialized.iter().map(|s| json!({
                "id": s["id"], "opened_ms": s["opened_ms"], "closed_ms": s["closed_ms"],
                "requests": s["requests"],
            })).collect::<Vec<_>>(),
        });
        match initialized.get(1) {
            None => {
                let ended = initialized
                    .first()
                    .and_then(|s| s["closed_ms"].as_u64())
                    .map(|ms| format!(" (its session ended at {ms} ms)"))
                    .unwrap_or_default();
                fail(
                    format!(
                        "{} session(s) initialized; none after the first{ended}",
                        initialized.len()
                    ),
                    details,
                )
            }
            Some(second) if count(&second["requests"]["tools/list"]) == 0 => fail(
                format!(
                    "session {} initialized at {} ms but never listed the tools",
                    second["id"].as_str().unwrap_or("?"),
                    count(&second["opened_ms"])
                ),
                details,
            ),
            Some(_) => Ok(details),
        }
    }

    fn relists_bounded(&self, lists: &[ListKind]) -> Result<Value, Failed> {
        let notified: u64 = self
            .sessions
            .iter()
            .map(|s| {
                ["change", "duplicate", "spurious"]
                    .iter()
                    .map(|cause| count(&s["notifications"][cause]))
                    .sum::<u64>()
            })
            .sum();
        let sessions = self
            .sessions
            .iter()
            .filter(|s| count(&s["requests"]["initialize"]) > 0)
            .count()
            .max(1) as u64;
        let bound = notified + 2 * sessions;
        let mut details = serde_json::Map::new();
        details.insert("notifications".into(), json!(notified));
        details.insert("bound".into(), json!(bound));
        for list in lists {
            let listed = self.requests(&format!("{list}/list"));
            details.insert(format!("{list}/list"), json!(listed));
            if listed > bound {
                return fail(
                    format!(
                        "{listed} {list}/list requests for {notified} notifications (at most {bound})"
                    ),
                    Value::Object(details),
                );
            }
        }
        Ok(Value::Object(details))
    }

    fn resource_read(&self) -> Result<Value, Failed> {
        let updates: Vec<&Value> = array(&self.report["changes"])
            .iter()
            .filter(|c| c["list"] == "resources" && c["kind"] == "revise")
            .collect();
        let reads = self.requests("resources/read");
        let details = json!({ "updates": updates, "reads": reads });
        match (updates.first(), reads) {
            (None, _) => fail("no resource was updated", details),
            (Some(update), 0) => fail(
                format!(
                    "{} was updated at {} ms; the client never read it",
                    update["item"].as_str().unwrap_or("?"),
                    count(&update["at_ms"])
                ),
                details,
            ),
            (Some(_), _) => Ok(details),
        }
    }
}

/// What a view's comparison says is wrong: `lacks echo5; holds echo4 (gone or
/// twice)`.
fn difference(held: &Value) -> String {
    let names = |key: &str| -> Vec<String> {
        array(&held[key])
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let (missing, extra) = (names("missing"), names("extra"));
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("lacks {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("holds {} (not listed, or twice)", extra.join(", ")));
    }
    if parts.is_empty() {
        format!("holds all {} items", count(&held["held"]))
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, extra: Value) -> Value {
        let mut session = json!({
            "id": id,
            "opened_ms": 0,
            "closed_ms": null,
            "requests": { "initialize": 1, "tools/list": 2 },
            "notifications": { "change": 1, "duplicate": 0, "spurious": 0 },
            "changes": [],
            "stale_calls": [],
            "refused_cursors": [],
            "cursor_loops": [],
        });
        for (k, v) in extra.as_object().unwrap() {
            session[k] = v.clone();
        }
        session
    }

    fn view(at: u64, version: u64, matches: bool) -> Value {
        json!({ "at_ms": at, "session": "1", "lists": { "tools": {
            "version": version, "matches": matches, "held": 3,
            "missing": if matches { json!([]) } else { json!(["echo4"]) }, "extra": [],
        }}})
    }

    fn report(changes: Value, views: Value, sessions: Vec<Value>) -> Value {
        json!({ "changes": changes, "views": views, "sessions": sessions })
    }

    fn tools() -> Expect {
        Expect {
            lists: Some(vec![ListKind::Tools]),
            calls: 0,
        }
    }

    fn status(kind: CheckKind, report: &Value) -> (Status, String) {
        let check = grade(kind, report, &tools());
        (check.status, check.error_message.unwrap_or_default())
    }

    #[test]
    fn views_are_graded_against_the_changes() {
        let changes = json!([{ "list": "tools", "kind": "add", "item": "echo4", "version": 2, "at_ms": 1000 }]);
        let good = report(
            changes.clone(),
            json!([view(100, 1, true), view(1100, 2, true)]),
            vec![],
        );
        for kind in [
            CheckKind::FirstViewComplete,
            CheckKind::FinalView,
            CheckKind::ViewConverges,
        ] {
            assert_eq!(status(kind, &good).0, Status::Success, "{kind:?}");
        }
        // Never re-listed: the last view is of version 1.
        let stale = report(
            changes.clone(),
            json!([view(100, 1, true), view(2900, 1, false)]),
            vec![],
        );
        let (s, why) = status(CheckKind::FinalView, &stale);
        assert_eq!(s, Status::Failure);
        assert_eq!(
            why,
            "last view at 2900 ms holds tools version 1; the list ended at version 2 (add echo4 at 1000 ms)"
        );
        let (s, why) = status(CheckKind::ViewConverges, &stale);
        assert_eq!(s, Status::Failure);
        assert!(
            why.starts_with(
                "tools version 2 (add echo4 at 1000 ms): no view holding it by 2500 ms"
            ),
            "{why}"
        );
        // Right only at the end, too late for the bound.
        let late = report(
            changes,
            json!([view(100, 1, true), view(2600, 2, true)]),
            vec![],
        );
        assert_eq!(status(CheckKind::FinalView, &late).0, Status::Success);
        assert_eq!(status(CheckKind::ViewConverges, &late).0, Status::Failure);
        // No view at all fails every view check, saying so.
        let none = report(json!([]), json!([]), vec![]);
        let (s, why) = status(CheckKind::FirstViewComplete, &none);
        assert_eq!(
            (s, why.as_str()),
            (
                Status::Failure,
                "the client never reported its view (no call of the view tool)"
            )
        );
        // A first view with a page missing.
        let partial = report(json!([]), json!([view(100, 1, false)]), vec![]);
        let (s, why) = status(CheckKind::FirstViewComplete, &partial);
        assert_eq!(s, Status::Failure);
        assert_eq!(why, "first view at 100 ms: tools lacks echo4 (version 1)");
    }

    #[test]
    fn a_burst_is_given_the_bound_after_its_last_change() {
        let changes: Vec<Value> = (0..10)
            .map(|i| json!({ "list": "tools", "kind": "add", "item": format!("echo{}", i + 4), "version": i + 2, "at_ms": 1000 + i * 100 }))
            .collect();
        let settled = report(
            json!(changes),
            json!([view(100, 1, true), view(3000, 11, true)]),
            vec![],
        );
        assert_eq!(
            status(CheckKind::ViewConverges, &settled).0,
            Status::Success
        );
        let never = report(
            json!(changes),
            json!([view(100, 1, true), view(3500, 11, true)]),
            vec![],
        );
        assert_eq!(status(CheckKind::ViewConverges, &never).0, Status::Failure);
    }

    #[test]
    fn a_resource_update_is_no_list_change() {
        let changes = json!([
            { "list": "resources", "kind": "add", "item": "r2", "version": 2, "at_ms": 10 },
            { "list": "resources", "kind": "revise", "item": "r2", "version": 2, "at_ms": 20 },
        ]);
        let report = changes_only(changes);
        let run = Run::new(&report);
        assert_eq!(run.changes.len(), 1);
        assert_eq!(run.final_version(ListKind::Resources), 2);
        assert_eq!(run.final_version(ListKind::Tools), 1);
    }

    fn changes_only(changes: Value) -> Value {
        json!({ "changes": changes, "sessions": [] })
    }

    #[test]
    fn the_server_side_checks_read_the_sessions() {
        let missed = json!({ "list": "tools", "version": 2, "at_ms": 500, "notified_ms": 501, "not_notified": null,
            "relisted_ms": 510, "pages_fetched": 1, "pages_total": 3, "refreshed": false });
        let r = report(
            json!([]),
            json!([]),
            vec![session("7", json!({ "changes": [missed] }))],
        );
        let (s, why) = status(CheckKind::RelistedToEnd, &r);
        assert_eq!(s, Status::Failure);
        assert_eq!(
            why,
            "session 7: tools version 2 (changed at 500 ms): notified at 501 ms, re-listed at 510 ms but read 1 of 3 pages"
        );
        // GET /verdict grades a session only on the lists it listed.
        let prompts_missed = json!({ "list": "prompts", "version": 2, "at_ms": 500, "notified_ms": null,
            "not_notified": "pending", "relisted_ms": null, "pages_fetched": 0, "pages_total": 0, "refreshed": false });
        let r = report(
            json!([]),
            json!([]),
            vec![session("7", json!({ "changes": [prompts_missed] }))],
        );
        let free = grade(CheckKind::RelistedToEnd, &r, &Expect::default());
        assert_eq!(free.status, Status::Success);

        let stale = json!([{ "at_ms": 1500, "tool": "echo4", "revision": null, "current": null, "reason": "unknown tool" }]);
        let changes = json!([{ "list": "tools", "kind": "remove", "item": "echo4", "version": 2, "at_ms": 300 }]);
        let r = report(
            changes,
            json!([]),
            vec![session("7", json!({ "stale_calls": stale }))],
        );
        let (s, why) = status(CheckKind::NoStaleCalls, &r);
        assert_eq!(s, Status::Failure);
        assert_eq!(
            why,
            "tools/call echo4 at 1500 ms with no revision: unknown tool (the tool is gone (remove at 300 ms))"
        );

        let loops = json!([{ "list": "tools", "cursor": "abc", "times": 4 }]);
        let r = report(
            json!([]),
            json!([]),
            vec![session("7", json!({ "cursor_loops": loops }))],
        );
        assert_eq!(
            status(CheckKind::NoCursorLoops, &r).1,
            "session 7: tools/list cursor \"abc\" asked for 4 times"
        );

        let refused = json!([{ "list": "tools", "cursor": "c1", "reason": "stale", "at_ms": 700 }]);
        let relisted = json!({ "list": "tools", "version": 2, "at_ms": 650, "refreshed": true });
        let r = report(
            json!([]),
            json!([]),
            vec![session(
                "7",
                json!({ "refused_cursors": refused.clone(), "changes": [relisted] }),
            )],
        );
        assert_eq!(
            status(CheckKind::RefusedCursorRecovered, &r).0,
            Status::Success
        );
        let r = report(
            json!([]),
            json!([]),
            vec![session("7", json!({ "refused_cursors": refused }))],
        );
        assert_eq!(
            status(CheckKind::RefusedCursorRecovered, &r).0,
            Status::Failure
        );
    }

    #[test]
    fn sessions_calls_and_relists_are_counted() {
        let one = report(
            json!([]),
            json!([]),
            vec![session("1", json!({ "closed_ms": 500 }))],
        );
        let (s, why) = status(CheckKind::ReinitializedAfter404, &one);
        assert_eq!(
            (s, why.as_str()),
            (
                Status::Failure,
                "1 session(s) initialized; none after the first (its session ended at 500 ms)"
            )
        );
        let two = report(
            json!([]),
            json!([]),
            vec![session("1", json!({})), session("2", json!({}))],
        );
        assert_eq!(
            status(CheckKind::ReinitializedAfter404, &two).0,
            Status::Success
        );

        let polled = report(
            json!([]),
            json!([]),
            vec![session(
                "1",
                json!({ "requests": { "initialize": 1, "tools/list": 40 } }),
            )],
        );
        let (s, why) = status(CheckKind::RelistsBounded, &polled);
        assert_eq!(
            (s, why.as_str()),
            (
                Status::Failure,
                "40 tools/list requests for 1 notifications (at most 3)"
            )
        );

        let calls = Expect {
            lists: Some(vec![ListKind::Tools]),
            calls: 1,
        };
        let none = report(json!([]), json!([]), vec![session("1", json!({}))]);
        assert_eq!(
            grade(CheckKind::CallsMade, &none, &calls).status,
            Status::Failure
        );

        let updated = json!([{ "list": "resources", "kind": "revise", "item": "dynamic://resources/1", "version": 1, "at_ms": 500 }]);
        let unread = report(updated.clone(), json!([]), vec![session("1", json!({}))]);
        assert_eq!(
            status(CheckKind::ResourceReadAfterUpdate, &unread).1,
            "dynamic://resources/1 was updated at 500 ms; the client never read it"
        );
        let read = report(
            updated,
            json!([]),
            vec![session("1", json!({ "requests": { "resources/read": 1 } }))],
        );
        assert_eq!(
            status(CheckKind::ResourceReadAfterUpdate, &read).0,
            Status::Success
        );
    }

    #[test]
    fn the_verdict_grades_what_needs_no_scenario() {
        let clean = report(json!([]), json!([]), vec![session("1", json!({}))]);
        let verdict = verdict(&clean);
        assert_eq!(verdict["passed"], true);
        let ids: Vec<&str> = array(&verdict["checks"])
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "relisted-to-end",
                "no-stale-calls",
                "refused-cursor-recovered",
                "no-cursor-loops"
            ]
        );
        let stale = json!([{ "at_ms": 9, "tool": "echo9", "revision": null, "current": null, "reason": "unknown tool" }]);
        let dirty = report(
            json!([]),
            json!([view(5, 1, false)]),
            vec![session("1", json!({ "stale_calls": stale }))],
        );
        let verdict = super::verdict(&dirty);
        assert_eq!(verdict["passed"], false);
        let failed: Vec<&str> = array(&verdict["checks"])
            .iter()
            .filter(|c| c["status"] == "FAILURE")
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(failed, ["no-stale-calls", "final-view"]);
    }

    #[test]
    fn every_check_has_a_unique_id_and_a_spec() {
        let ids: std::collections::BTreeSet<&str> = CheckKind::ALL.iter().map(|k| k.id()).collect();
        assert_eq!(ids.len(), CheckKind::ALL.len());
        for kind in CheckKind::ALL {
            assert_eq!(CheckKind::named(kind.id()), Some(kind));
            assert!(!kind.specs(&[ListKind::Tools]).is_empty(), "{kind:?}");
        }
    }
}
