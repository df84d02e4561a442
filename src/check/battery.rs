//! The battery: each scenario of `check`, a timeline on the scenario
//! machinery (a scenario file's steps, written inline) with the context its
//! client gets and the checks it is graded by, citing the public reports it
//! reproduces and the spec rule it rests on. Pure: a table.
//!
//! Times: a step's `at_ms` counts from the client's `notifications/initialized`
//! (`from = "initialized"`), as the context's `calls` and `durationMs` count
//! from its handshake; every change comes at least [`CONVERGE_MS`] before the
//! end, so a correct client has the bound to show it.
//!
//! [`CONVERGE_MS`]: super::grade::CONVERGE_MS

use serde_json::{Value, json};

use super::grade::{
    CheckKind, Expect, SPEC_CACHING, SPEC_LIFECYCLE, SPEC_LISTENING, SPEC_RESOURCE_SUBSCRIPTIONS,
    SPEC_SESSION_MANAGEMENT, Spec,
};
use crate::catalog::{CatalogSize, ListKind};

use CheckKind::{
    CallsMade, FinalView, FirstViewComplete, NoCursorLoops, NoStaleCalls, RefusedCursorRecovered,
    ReinitializedAfter404, RelistedToEnd, RelistsBounded, ResourceReadAfterUpdate, ViewConverges,
};
use ListKind::{Prompts, Resources, Tools};

/// The protocol revision a scenario asks for unless it names another.
pub const DEFAULT_PROTOCOL: &str = "2025-11-25";

/// One scenario of the battery.
#[derive(Debug, Clone, Copy)]
pub struct BatteryScenario {
    pub name: &'static str,
    /// One line: what happens and what a correct client does.
    pub description: &'static str,
    /// The public reports it reproduces (`owner/repo#N`, `owner/repo PR #N`).
    pub reports: &'static [&'static str],
    /// The spec rules it rests on beyond each check's own.
    pub spec: &'static [&'static Spec],
    /// The catalog it starts with.
    pub tools: usize,
    pub prompts: Option<usize>,
    pub resources: Option<usize>,
    /// Its timeline: a scenario file in TOML (steps and `[hostile]` keys).
    pub timeline: &'static str,
    /// How long the client stays after its handshake.
    pub duration_ms: u64,
    /// The lists the client holds.
    pub lists: &'static [ListKind],
    /// The tools it calls, and when (ms after its handshake).
    pub calls: &'static [(u64, &'static str)],
    /// The resources it subscribes to.
    pub subscribe: &'static [&'static str],
    /// The protocol revision the context names.
    pub protocol: &'static str,
    /// Only over HTTP (its steps act on HTTP sessions or streams).
    pub http_only: bool,
    /// What it is graded by.
    pub checks: &'static [CheckKind],
    /// How many of `calls` a correct client makes (a call of a tool it no
    /// longer holds is not made).
    pub calls_made: usize,
}

impl BatteryScenario {
    pub fn size(&self) -> CatalogSize {
        CatalogSize {
            tools: self.tools,
            prompts: self.prompts,
            resources: self.resources,
        }
    }

    /// The context the client gets (`MCP_CONFORMANCE_CONTEXT`), without the
    /// transport's keys.
    pub fn context(&self) -> Value {
        json!({
            "name": self.name,
            "durationMs": self.duration_ms,
            "lists": self.lists.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
            "calls": self.calls.iter().map(|(at, tool)| json!({ "atMs": at, "tool": tool })).collect::<Vec<_>>(),
            "subscribe": self.subscribe,
        })
    }

    /// What the checks compare with besides the report.
    pub fn expect(&self) -> Expect {
        Expect {
            lists: Some(self.lists.to_vec()),
            calls: self.calls_made,
        }
    }

    /// The reports, as `check --list` shows them.
    pub fn cited(&self) -> String {
        if self.reports.is_empty() {
            "(the spec rule; no public report yet)".to_owned()
        } else {
            self.reports.join(", ")
        }
    }
}

const fn scenario(name: &'static str, description: &'static str) -> BatteryScenario {
    BatteryScenario {
        name,
        description,
        reports: &[],
        spec: &[],
        tools: 3,
        prompts: None,
        resources: None,
        timeline: "steps = []",
        duration_ms: 2500,
        lists: &[Tools],
        calls: &[],
        subscribe: &[],
        protocol: DEFAULT_PROTOCOL,
        http_only: false,
        checks: &[FinalView],
        calls_made: 0,
    }
}

/// Every scenario, in the order `check` runs and lists them.
pub const BATTERY: &[BatteryScenario] = &[
    BatteryScenario {
        reports: &[
            "anthropics/claude-code#24195",
            "anthropics/claude-code#66084",
            "openai/codex#10105",
        ],
        tools: 1,
        timeline: r#"
[[steps]]
change = "add_tool"
count = 2
after = { method = "tools/list", n = 1 }

[[steps]]
change = "add_tool"
at_ms = 600
from = "initialized"
"#,
        checks: &[FinalView, ViewConverges, RelistedToEnd],
        ..scenario(
            "tools-added-after-initialize",
            "two tools come right after the first tools/list, one more 600 ms later: the client re-lists on each list_changed",
        )
    },
    BatteryScenario {
        reports: &["dbcls/togomcp#188", "anthropics/claude-code#77314"],
        tools: 4,
        timeline: r#"
[[steps]]
change = "remove_tool"
name = "echo4"
at_ms = 400
from = "initialized"
"#,
        calls: &[(1200, "echo4")],
        checks: &[FinalView, ViewConverges, RelistedToEnd, NoStaleCalls],
        ..scenario(
            "tool-removed-then-called",
            "echo4 is removed at 400 ms; at 1200 ms the client would call it: it drops the tool and does not call it",
        )
    },
    BatteryScenario {
        reports: &["maximhq/bifrost#6885", "openai/codex#10105"],
        tools: 4,
        timeline: r#"
[[steps]]
change = "change_tool"
name = "echo4"
at_ms = 400
from = "initialized"
"#,
        calls: &[(1200, "echo4")],
        calls_made: 1,
        checks: &[
            FinalView,
            ViewConverges,
            RelistedToEnd,
            NoStaleCalls,
            CallsMade,
        ],
        ..scenario(
            "rug-pull-then-called",
            "echo4 changes schema at 400 ms (it now requires revision 2); the client calls it at 1200 ms with the new schema",
        )
    },
    BatteryScenario {
        reports: &["aaif-goose/goose PR #10925"],
        timeline: r#"
[hostile]
list_delay_ms = 100

[[steps]]
change = "add_tool"
after = { method = "tools/list", n = 1 }
"#,
        checks: &[FinalView, ViewConverges, RelistedToEnd],
        ..scenario(
            "change-during-tools-list",
            "a tool is added while the first tools/list is in flight (answered with the old list): the stale answer does not win",
        )
    },
    BatteryScenario {
        reports: &["openai/codex#37417"],
        tools: 4,
        timeline: r#"
[[steps]]
change = "add_tool"
after = { call = "echo4" }
"#,
        calls: &[(500, "echo4")],
        calls_made: 1,
        checks: &[FinalView, ViewConverges, RelistedToEnd, CallsMade],
        ..scenario(
            "change-during-tools-call",
            "a tool is added while the client's tools/call of echo4 is in flight: it still re-lists",
        )
    },
    BatteryScenario {
        reports: &["vercel/ai#19240", "mcp-use/mcp-use#2489"],
        tools: 5,
        timeline: "steps = []\n[hostile]\npage_size_tools = 2\n",
        duration_ms: 1500,
        checks: &[FirstViewComplete, FinalView],
        ..scenario(
            "next-cursor-to-end",
            "tools/list is paged by 2: the client follows nextCursor to the end and holds all 5 tools",
        )
    },
    BatteryScenario {
        reports: &["PrefectHQ/fastmcp#5025"],
        tools: 5,
        timeline: "steps = []\n[hostile]\npage_size_tools = 2\ncursor_style = \"empty-once\"\n",
        duration_ms: 1500,
        checks: &[FirstViewComplete, FinalView],
        ..scenario(
            "empty-string-cursor",
            "page 1's nextCursor is \"\": only an absent nextCursor ends a list, so the client asks again and holds all 5 tools",
        )
    },
    BatteryScenario {
        reports: &[
            "modelcontextprotocol/typescript-sdk#2735",
            "DeusData/codebase-memory-mcp#1247",
        ],
        tools: 5,
        timeline: "steps = []\n[hostile]\npage_size_tools = 2\ncursor_style = \"repeat-once\"\n",
        duration_ms: 1500,
        checks: &[FirstViewComplete, FinalView, NoCursorLoops],
        ..scenario(
            "repeated-cursor",
            "each cursor is first answered with itself as nextCursor: the client keeps that page once and never loops",
        )
    },
    BatteryScenario {
        tools: 5,
        timeline: r#"
[hostile]
page_size_tools = 2

[[steps]]
change = "add_tool"
after = { list = "tools", page = 1 }
"#,
        checks: &[
            FinalView,
            ViewConverges,
            RelistedToEnd,
            RefusedCursorRecovered,
        ],
        ..scenario(
            "stale-cursor-after-change",
            "a tool is added between page 1 and page 2: page 1's cursor is refused (-32602) and the client lists again from the start",
        )
    },
    BatteryScenario {
        reports: &[
            "modelcontextprotocol/typescript-sdk#2249",
            "mcp-use/mcp-use#2489",
        ],
        tools: 5,
        timeline: r#"
[hostile]
page_size_tools = 2

[[steps]]
change = "add_tool"
at_ms = 500
from = "initialized"
"#,
        checks: &[FirstViewComplete, FinalView, ViewConverges, RelistedToEnd],
        ..scenario(
            "paged-change",
            "a tool is added to a list paged by 2: the refresh reads every page, not page 1 only",
        )
    },
    BatteryScenario {
        reports: &["cline/cline PR #12619"],
        tools: 1,
        timeline: r#"
[[steps]]
change = "add_tool"
at_ms = 400
from = "initialized"
every_ms = 10
times = 50
"#,
        checks: &[FinalView, ViewConverges, RelistedToEnd, RelistsBounded],
        ..scenario(
            "storm",
            "50 tools added 10 ms apart: the client ends with all 51, listing no more often than it is told to",
        )
    },
    BatteryScenario {
        reports: &["Kuadrant/mcp-gateway#555"],
        timeline: r#"
[[steps]]
notify = "tools"
at_ms = 300
from = "initialized"
every_ms = 100
times = 5
"#,
        checks: &[FinalView, RelistsBounded],
        ..scenario(
            "spurious-notifications",
            "five tools/list_changed with nothing changed: the client keeps the same 3 tools, none dropped or doubled",
        )
    },
    BatteryScenario {
        reports: &["Kuadrant/mcp-gateway#555"],
        timeline: r#"
[hostile]
duplicate_notifications = true

[[steps]]
change = "add_tool"
at_ms = 300
from = "initialized"

[[steps]]
change = "add_tool"
at_ms = 900
from = "initialized"
"#,
        checks: &[FinalView, ViewConverges, RelistedToEnd, RelistsBounded],
        ..scenario(
            "duplicate-notifications",
            "every list_changed is written twice, for two additions: the client holds each tool once",
        )
    },
    BatteryScenario {
        reports: &[
            "danny-avila/LibreChat#11868",
            "anthropics/claude-code#77314",
        ],
        timeline: r#"
[[steps]]
end_session = true
at_ms = 400
from = "initialized"

[[steps]]
change = "add_tool"
at_ms = 500
from = "initialized"
"#,
        calls: &[(1000, "echo")],
        calls_made: 1,
        http_only: true,
        spec: &[&SPEC_SESSION_MANAGEMENT],
        checks: &[ReinitializedAfter404, FinalView, ViewConverges],
        ..scenario(
            "session-ended-404",
            "the HTTP session ends at 400 ms and a tool is added at 500 ms: the client's next request gets 404, it initializes again and re-lists",
        )
    },
    BatteryScenario {
        timeline: r#"
[[steps]]
drop_stream = true
at_ms = 300
from = "initialized"

[[steps]]
change = "add_tool"
at_ms = 3600
from = "initialized"
"#,
        duration_ms: 5500,
        http_only: true,
        spec: &[&SPEC_LISTENING],
        checks: &[FinalView, ViewConverges, RelistedToEnd],
        ..scenario(
            "stream-dropped",
            "the client's GET stream is dropped at 300 ms (the server's SSE retry hint is 3 s), a tool is added at 3600 ms: it listened again and re-lists",
        )
    },
    BatteryScenario {
        reports: &["modelcontextprotocol/typescript-sdk#2249"],
        tools: 1,
        prompts: Some(3),
        timeline: r#"
[hostile]
page_size_prompts = 2

[[steps]]
change = "add_prompt"
at_ms = 400
from = "initialized"

[[steps]]
change = "remove_prompt"
name = "prompt1"
at_ms = 900
from = "initialized"
"#,
        lists: &[Prompts],
        checks: &[FirstViewComplete, FinalView, ViewConverges, RelistedToEnd],
        ..scenario(
            "prompts-list-changed",
            "prompts (paged by 2) gain one and lose one: the client re-lists every page on prompts/list_changed",
        )
    },
    BatteryScenario {
        reports: &["modelcontextprotocol/typescript-sdk#2249"],
        tools: 1,
        resources: Some(3),
        timeline: r#"
[hostile]
page_size_resources = 2

[[steps]]
change = "add_resource"
at_ms = 400
from = "initialized"

[[steps]]
change = "remove_resource"
uri = "dynamic://resources/1"
at_ms = 900
from = "initialized"
"#,
        lists: &[Resources],
        checks: &[FirstViewComplete, FinalView, ViewConverges, RelistedToEnd],
        ..scenario(
            "resources-list-changed",
            "resources (paged by 2) gain one and lose one: the client re-lists every page on resources/list_changed",
        )
    },
    BatteryScenario {
        tools: 1,
        resources: Some(2),
        timeline: r#"
[[steps]]
change = "update_resource"
uri = "dynamic://resources/1"
at_ms = 500
from = "initialized"
"#,
        lists: &[Resources],
        subscribe: &["dynamic://resources/1"],
        spec: &[&SPEC_RESOURCE_SUBSCRIPTIONS],
        checks: &[ResourceReadAfterUpdate, FinalView],
        ..scenario(
            "resource-updated",
            "a subscribed resource is updated at 500 ms: the client gets notifications/resources/updated and reads it",
        )
    },
    BatteryScenario {
        reports: &["anthropics/claude-ai-mcp#45"],
        timeline: r#"
[hostile]
list_ttl_ms = 3600000

# From the server's start, not from notifications/initialized, which a
# 2026-07-28 client never sends: the change comes once the client has
# listed (with its hour of ttlMs) and opened its listen stream. fastmcp's
# client first listed at 2.3 s under CI's load, so 2.5 s was a race.
[[steps]]
change = "add_tool"
at_ms = 5000
"#,
        duration_ms: 7000,
        protocol: "2026-07-28",
        spec: &[&SPEC_CACHING],
        checks: &[FinalView, ViewConverges, RelistedToEnd],
        ..scenario(
            "ttl-then-change",
            "the tools list says ttlMs = 1 hour, then a tool is added: list_changed invalidates the fresh cached list",
        )
    },
    BatteryScenario {
        timeline: r#"
[[steps]]
notify = "tools"
before_initialized = true
after = "initialize"

[[steps]]
change = "add_tool"
at_ms = 300
from = "initialized"
"#,
        spec: &[&SPEC_LIFECYCLE],
        checks: &[FinalView, ViewConverges],
        ..scenario(
            "notification-before-initialized",
            "a tools/list_changed comes before notifications/initialized, a tool is added 300 ms after it: the client survives both and holds 4 tools",
        )
    },
];

/// The scenario of this name.
pub fn named(name: &str) -> Option<&'static BatteryScenario> {
    BATTERY.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostile::Hostile;
    use crate::scenario::{Scenario, Setting};

    #[test]
    fn every_timeline_is_a_valid_scenario_over_http_and_its_own_transports() {
        assert!(BATTERY.len() >= 18);
        for s in BATTERY {
            for http in [true, false] {
                if !http && s.http_only {
                    continue;
                }
                let setting = Setting {
                    http,
                    size: s.size(),
                    hostile: Hostile::default(),
                };
                if let Err(e) = Scenario::parse(s.timeline, true, &setting) {
                    panic!("{} (http {http}): {e}", s.name);
                }
            }
        }
    }

    #[test]
    fn names_are_unique_and_every_check_kind_is_used() {
        let mut names: Vec<&str> = BATTERY.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), BATTERY.len());
        for kind in CheckKind::ALL {
            assert!(
                BATTERY.iter().any(|s| s.checks.contains(&kind)),
                "{kind:?} is in no scenario"
            );
        }
        assert_eq!(named("storm").unwrap().name, "storm");
        assert!(named("nope").is_none());
        let context = named("tool-removed-then-called").unwrap().context();
        assert_eq!(
            context["calls"][0],
            json!({ "atMs": 1200, "tool": "echo4" })
        );
        assert_eq!(context["lists"], json!(["tools"]));
    }
}
