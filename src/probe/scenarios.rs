//! The probe's scenarios: each makes one change on one upstream (or none)
//! and grades what the gateway passed on downstream, as checks in the
//! conformance suite's format.
//!
//! The changes go to the last upstream named; the others stay still, so a
//! gateway that empties or reorders the other upstreams' tools shows it. The
//! gateway's tool names are matched to the upstreams' by what changed
//! between two listings (a gateway may prefix, suffix or keep the names), and
//! its routing by the upstreams' own reports: which upstream served the call.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rmcp::model::Tool;
use serde_json::{Value, json};
use tokio::process::Command;
use tokio::time::{Instant, sleep, timeout};

use super::gateway::{Gateway, Target, revision, text};
use super::upstream::{Traffic, Upstream, relisted_after, traffic};
use crate::verdict::{Check, SpecReference, Status};

/// The scenarios, in the order they run, with what each shows.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "gateway-capabilities",
        "the gateway's initialize result advertises tools.listChanged (agentgateway #2077: clients drop notifications a server never advertised)",
    ),
    (
        "gateway-tool-added",
        "a tool added on one upstream: the gateway notifies, its list is current when it does (vmcp PR #1), it lists the new tool, the other upstreams' tools stay (agentgateway #742), and a call routes to that upstream",
    ),
    (
        "gateway-tool-removed",
        "that tool removed: the gateway notifies, drops it from its list, and no longer routes its calls",
    ),
    (
        "gateway-rug-pull",
        "the upstream's echo changed under its name: the gateway passes the new schema on or blocks the tool, never the old schema",
    ),
    (
        "gateway-name-clash",
        "tool names every upstream has stay distinct in the gateway's list, and each routes to its own upstream (ContextForge #4294, docker/mcp-gateway #11, Kuadrant #117)",
    ),
    (
        "gateway-list-per-call",
        "calls through the gateway do not list the upstream each time (litellm #23544)",
    ),
];

/// How long a gateway gets to start and answer `initialize`: its start-up is
/// not what the probe grades (a Python gateway takes seconds on a cold cache).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the probe re-lists while it waits for the gateway's list to change.
const POLL: Duration = Duration::from_millis(100);

/// Calls made to see whether each one costs an upstream `tools/list`.
const CALLS_PER_LIST_PROBE: u64 = 3;

/// The MCP specification sections the checks rest on.
const SPEC_TOOLS: (&str, &str) = (
    "MCP-Tools-List-Changed",
    "https://modelcontextprotocol.io/specification/2025-11-25/server/tools#list-changed-notification",
);
const SPEC_CAPABILITIES: (&str, &str) = (
    "MCP-Tools-Capabilities",
    "https://modelcontextprotocol.io/specification/2025-11-25/server/tools#capabilities",
);
const SPEC_CALLING: (&str, &str) = (
    "MCP-Tools-Calling",
    "https://modelcontextprotocol.io/specification/2025-11-25/server/tools#calling-tools",
);

/// The probe's connection and what it learned so far.
pub struct Probe {
    pub target: Target,
    pub upstreams: Vec<Upstream>,
    /// The longest the probe waits for any one thing the gateway owes.
    pub wait: Duration,
    /// A command that approves the upstream's current tools, for a gateway
    /// that holds changes until a person approves them (run through `sh -c`).
    pub approve: Option<String>,
    /// Where a stdio gateway's stderr and the approval command's output go.
    pub log: PathBuf,
    pub gateway: Gateway,
    /// The tool `gateway-tool-added` saw appear: its name at the gateway.
    added: Option<Tool>,
}

/// The kinds of change the scenarios make.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Add,
    Remove,
    Revise,
}

impl Kind {
    /// The control endpoint's name for it.
    fn change(self) -> &'static str {
        match self {
            Kind::Add => "add_tool",
            Kind::Remove => "remove_tool",
            Kind::Revise => "change_tool",
        }
    }
}

/// What the gateway's list should show after a change to the upstream's
/// tool `item`: the gateway may list it under another name (a prefix or a
/// suffix, see [`stands_for`]), so the probe counts the tools standing for it.
struct Expect {
    kind: Kind,
    item: String,
}

impl Expect {
    fn count(&self, tools: &[Tool]) -> usize {
        tools
            .iter()
            .filter(|tool| stands_for(&tool.name, &self.item))
            .count()
    }

    /// Whether `now` shows the change against `before`: one more tool for
    /// an added one, one fewer for a removed one, and for a changed one a
    /// new schema (or one fewer: withheld).
    fn shows(&self, before: &[Tool], now: &[Tool]) -> bool {
        match self.kind {
            Kind::Add => self.count(now) > self.count(before),
            Kind::Remove => self.count(now) < self.count(before),
            Kind::Revise => {
                !revised(before, now, &self.item).is_empty() || self.count(now) < self.count(before)
            }
        }
    }

    /// Whether the gateway listed the item before the change: a tool it
    /// withheld (not yet approved) shows no removal or new schema.
    fn listed_before(&self, before: &[Tool]) -> bool {
        matches!(self.kind, Kind::Add) || self.count(before) > 0
    }

    /// The tools of `before`, other than those standing for the item, that
    /// `now` no longer lists.
    fn others_lost(&self, before: &[Tool], now: &[Tool]) -> Vec<String> {
        let now = names(now);
        before
            .iter()
            .filter(|tool| !stands_for(&tool.name, &self.item) && !now.contains(tool.name.as_ref()))
            .map(|tool| tool.name.to_string())
            .collect()
    }
}

/// What the gateway did after one upstream change.
struct Observed {
    expect: Expect,
    /// From the change to the gateway's `list_changed`.
    notified: Option<Duration>,
    /// From the change to the upstream's first `tools/list` answer to the
    /// gateway (the upstream's report; a pass-through gateway's first is
    /// the probe's own re-list).
    relisted: Option<Duration>,
    /// Whether the probe's list right after the notification showed it.
    current_on_notice: Option<bool>,
    /// What that list lost besides the item.
    lost_on_notice: Vec<String>,
    /// That list's names.
    on_notice: Vec<String>,
    /// From the change to the gateway's list showing it.
    listed: Option<Duration>,
    /// The list showed it only after the approval command and a reconnect.
    after_approval: bool,
    before: Vec<Tool>,
    after: Vec<Tool>,
}

impl Probe {
    pub async fn connect(
        target: Target,
        upstreams: Vec<Upstream>,
        wait: Duration,
        approve: Option<String>,
        log: PathBuf,
    ) -> Result<Self, String> {
        if let Some(command) = &approve {
            run_approval(command, &log, wait).await?;
        }
        let gateway = Gateway::connect(&target, &log, wait.max(START_TIMEOUT)).await?;
        Ok(Self {
            target,
            upstreams,
            wait,
            approve,
            log,
            gateway,
            added: None,
        })
    }

    /// Run one scenario by name.
    pub async fn run(&mut self, scenario: &str) -> Vec<Check> {
        let result = match scenario {
            "gateway-capabilities" => Ok(self.capabilities()),
            "gateway-tool-added" => self.tool_added().await,
            "gateway-tool-removed" => self.tool_removed().await,
            "gateway-rug-pull" => self.rug_pull().await,
            "gateway-name-clash" => self.name_clash().await,
            "gateway-list-per-call" => self.list_per_call().await,
            other => Err(format!("no scenario {other}")),
        };
        result.unwrap_or_else(|error| {
            vec![check(
                &format!("{scenario}-ran"),
                "The scenario ran",
                "the probe could drive the upstream and reach the gateway",
                Status::Failure,
                json!({}),
                Some(error),
                SPEC_TOOLS,
            )]
        })
    }

    fn changed(&self) -> &Upstream {
        self.upstreams.last().expect("at least one upstream")
    }

    fn capabilities(&self) -> Vec<Check> {
        let advertised = self.gateway.advertises_list_changed();
        vec![check(
            "gateway-advertises-list-changed",
            "The gateway advertises tools.listChanged",
            "a server that sends notifications/tools/list_changed declares tools.listChanged in its capabilities",
            status(advertised),
            json!({ "initialize": self.gateway.info() }),
            (!advertised).then(|| {
                "the gateway's initialize result has no tools.listChanged: clients may ignore its notifications".to_owned()
            }),
            SPEC_CAPABILITIES,
        )]
    }

    async fn tool_added(&mut self) -> Result<Vec<Check>, String> {
        let observed = self.observe(Kind::Add, None).await?;
        let mut checks = self.notice_checks(&observed);
        let lost = observed
            .expect
            .others_lost(&observed.before, &observed.after);
        checks.push(check(
            "gateway-other-tools-stay",
            "The other tools stay listed",
            "a change on one upstream leaves every other tool in the gateway's list",
            status(lost.is_empty()),
            json!({ "lost": lost }),
            (!lost.is_empty()).then(|| {
                format!(
                    "after {} was added on {}, the gateway's list lost {lost:?}",
                    observed.expect.item,
                    self.changed().name
                )
            }),
            SPEC_TOOLS,
        ));
        self.added = observed
            .after
            .iter()
            .find(|tool| {
                stands_for(&tool.name, &observed.expect.item)
                    && !names(&observed.before).contains(tool.name.as_ref())
            })
            .cloned();
        let routing = match self.added.clone() {
            Some(tool) => {
                let (served_by, result) = self.served_by(&tool).await?;
                let right = served_by == [self.changed().name.clone()];
                check(
                    "gateway-routes-added-tool",
                    "The added tool routes to its upstream",
                    "a call of the new tool reaches the upstream that added it, and only it",
                    status(right),
                    json!({ "tool": tool.name, "upstream_tool": observed.expect.item,
                            "served_by": served_by, "result": result }),
                    (!right).then(|| {
                        format!(
                            "tools/call {} was served by {served_by:?}, not by {}",
                            tool.name,
                            self.changed().name
                        )
                    }),
                    SPEC_CALLING,
                )
            }
            None => skipped(
                "gateway-routes-added-tool",
                "The added tool routes to its upstream",
                "the gateway never listed the added tool",
            ),
        };
        checks.push(routing);
        Ok(checks)
    }

    async fn tool_removed(&mut self) -> Result<Vec<Check>, String> {
        let observed = self.observe(Kind::Remove, None).await?;
        let mut checks = self.notice_checks(&observed);
        let Some(removed) = self.added.take() else {
            checks.push(skipped(
                "gateway-removed-tool-not-routed",
                "A removed tool's calls stop at the gateway",
                "the gateway never listed the tool that was removed",
            ));
            return Ok(checks);
        };
        let name = removed.name.to_string();
        let stale_before = self.traffic().await?;
        let answer = self.gateway.call(&removed, self.wait).await;
        let stale_after = self.traffic().await?;
        let routed: Vec<String> = self
            .upstreams
            .iter()
            .zip(stale_before.iter().zip(&stale_after))
            .filter(|(_, (before, after))| after.stale_calls > before.stale_calls)
            .map(|(upstream, _)| upstream.name.clone())
            .collect();
        let answer = match answer {
            Ok(result) => json!({ "is_error": result.is_error, "text": text(&result) }),
            Err(error) => json!({ "error": error }),
        };
        checks.push(check(
            "gateway-removed-tool-not-routed",
            "A removed tool's calls stop at the gateway",
            "once the upstream removed a tool and the gateway was told, the gateway answers its calls itself",
            status(routed.is_empty()),
            json!({ "tool": name, "answer": answer, "routed_to": routed }),
            (!routed.is_empty()).then(|| {
                format!("tools/call {name} after its removal was forwarded to {routed:?}, which no longer has it")
            }),
            SPEC_CALLING,
        ));
        Ok(checks)
    }

    async fn rug_pull(&mut self) -> Result<Vec<Check>, String> {
        let observed = self.observe(Kind::Revise, Some("echo")).await?;
        let item = &observed.expect.item;
        let revised = revised(&observed.before, &observed.after, item);
        let blocked =
            observed.expect.count(&observed.before) > observed.expect.count(&observed.after);
        let mut checks = self.notice_checks(&observed);
        let handled = !revised.is_empty() || blocked;
        checks.push(check(
            "gateway-rug-pull-passed-or-blocked",
            "A rug-pulled tool is passed on with its new schema, or blocked",
            "after a tool changed under its name, the gateway lists its new schema or withholds it, never the old schema",
            status(handled),
            json!({ "upstream_tool": item, "passed_on": revised, "blocked": blocked,
                    "after_approval": observed.after_approval }),
            (!handled).then(|| {
                format!(
                    "{} changed {item} to revision 2; {:?} later the gateway still lists it at its old schema",
                    self.changed().name, self.wait
                )
            }),
            SPEC_TOOLS,
        ));
        Ok(checks)
    }

    async fn name_clash(&mut self) -> Result<Vec<Check>, String> {
        const ID: &str = "gateway-clashing-names-distinct";
        const NAME: &str = "Clashing tool names stay distinct";
        if self.upstreams.len() < 2 {
            return Ok(vec![skipped(ID, NAME, "one upstream: nothing can clash")]);
        }
        let mut shared: Option<BTreeSet<String>> = None;
        for upstream in &self.upstreams {
            let own: BTreeSet<String> = upstream.tool_names().await?.into_iter().collect();
            shared = Some(match shared {
                Some(shared) => shared.intersection(&own).cloned().collect(),
                None => own,
            });
        }
        let shared = shared.unwrap_or_default();
        let tools = self.gateway.tools(self.wait).await?;
        let mut matches: BTreeMap<&str, Vec<&Tool>> = BTreeMap::new();
        for name in &shared {
            let found = tools
                .iter()
                .filter(|tool| stands_for(&tool.name, name))
                .collect();
            matches.insert(name, found);
        }
        // Distinct: one differently named tool per upstream (a list that
        // repeats one name has merged them as surely as one that drops some).
        let distinct =
            |found: &Vec<&Tool>| found.iter().map(|t| &t.name).collect::<BTreeSet<_>>().len();
        let merged: Vec<String> = matches
            .iter()
            .filter(|(_, found)| distinct(found) < self.upstreams.len())
            .map(|(name, found)| {
                format!(
                    "{name} ({} distinct of {})",
                    distinct(found),
                    self.upstreams.len()
                )
            })
            .collect();
        let listed: BTreeMap<&str, Vec<String>> = matches
            .iter()
            .map(|(name, found)| (*name, found.iter().map(|t| t.name.to_string()).collect()))
            .collect();
        // And no name twice in the whole list: a prefix can clash with
        // another upstream's own name (u1's weather as u1_weather, beside
        // u2's u1_weather: Kuadrant PR #1261).
        let mut seen = BTreeSet::new();
        let twice: BTreeSet<&str> = tools
            .iter()
            .map(|tool| tool.name.as_ref())
            .filter(|name| !seen.insert(*name))
            .collect();
        let distinct = merged.is_empty() && twice.is_empty();
        let mut checks = vec![check(
            ID,
            NAME,
            "a tool name that several upstreams have is listed once per upstream, and no name is listed twice",
            status(distinct),
            json!({ "shared": shared, "listed_as": listed, "listed_twice": twice }),
            (!distinct).then(|| {
                format!("names every upstream has, listed fewer times: {merged:?}; names listed twice: {twice:?}")
            }),
            SPEC_TOOLS,
        )];
        // Routing: each of the gateway's tools standing for `echo` (or the
        // first shared name) must reach a different upstream.
        let probe_name = if shared.contains("echo") {
            Some("echo")
        } else {
            shared.iter().next().map(String::as_str)
        };
        let candidates: Vec<Tool> = probe_name
            .and_then(|name| matches.get(name))
            .map(|found| found.iter().map(|tool| (*tool).clone()).collect())
            .unwrap_or_default();
        let mut routes = BTreeMap::new();
        for tool in &candidates {
            let (served_by, result) = self.served_by(tool).await?;
            routes.insert(
                tool.name.to_string(),
                json!({ "served_by": served_by, "result": result }),
            );
        }
        let reached: Vec<&Value> = routes.values().map(|route| &route["served_by"]).collect();
        let each_once = self.upstreams.iter().all(|upstream| {
            reached
                .iter()
                .filter(|served| **served == &json!([upstream.name]))
                .count()
                == 1
        });
        checks.push(check(
            "gateway-routes-to-right-upstream",
            "Each clashing tool routes to its own upstream",
            "calling each of the gateway's tools for one shared name reaches every upstream exactly once",
            status(each_once),
            json!({ "tool": probe_name, "routes": routes }),
            (!each_once).then(|| {
                let reached: Vec<String> = reached.iter().map(|served| served.to_string()).collect();
                format!("calls of the gateway's tools for {} reached: {}", probe_name.unwrap_or("-"), reached.join(", "))
            }),
            SPEC_CALLING,
        ));
        Ok(checks)
    }

    async fn list_per_call(&mut self) -> Result<Vec<Check>, String> {
        const ID: &str = "gateway-no-list-per-call";
        const NAME: &str = "Calls do not re-list the upstream";
        let tools = self.gateway.tools(self.wait).await?;
        // echo if the gateway lists it, else any tool of the changed upstream
        // (a gateway may withhold echo after the rug pull).
        let upstream_tools = self.changed().tool_names().await?;
        // The first by name, so that every run calls the same one whatever
        // order the gateway lists them in (u1's echo before u3's, which the
        // rug pull changed).
        let Some(tool) = ["echo".to_owned()]
            .iter()
            .chain(&upstream_tools)
            .find_map(|name| {
                tools
                    .iter()
                    .filter(|tool| stands_for(&tool.name, name))
                    .min_by(|a, b| a.name.cmp(&b.name))
            })
            .cloned()
        else {
            return Ok(vec![skipped(
                ID,
                NAME,
                "the gateway lists none of the upstream's tools to call",
            )]);
        };
        let before = self.traffic().await?;
        for _ in 0..CALLS_PER_LIST_PROBE {
            self.gateway.call(&tool, self.wait).await?;
        }
        let after = self.traffic().await?;
        // Per upstream: a health check lists every upstream now and then; a
        // gateway that lists before each call lists the one it calls each
        // time.
        let mut per_upstream = BTreeMap::new();
        let mut per_call = false;
        for (upstream, (before, after)) in self.upstreams.iter().zip(before.iter().zip(&after)) {
            let calls = after.calls - before.calls;
            let lists = after.lists - before.lists;
            let sessions = after.sessions - before.sessions;
            per_call |= calls > 0 && lists >= calls;
            per_upstream.insert(
                upstream.name.clone(),
                json!({ "calls": calls, "lists": lists, "sessions_opened": sessions }),
            );
        }
        let lists: u64 = sum(&after, |t| t.lists) - sum(&before, |t| t.lists);
        let sessions: u64 = sum(&after, |t| t.sessions) - sum(&before, |t| t.sessions);
        Ok(vec![check(
            ID,
            NAME,
            "a gateway that was told of every change has no reason to list the upstream before each call",
            if per_call { Status::Warning } else { Status::Success },
            json!({ "tool": tool.name, "calls": CALLS_PER_LIST_PROBE, "upstreams": per_upstream }),
            per_call.then(|| {
                format!("{CALLS_PER_LIST_PROBE} calls of {} through the gateway cost the upstreams {lists} tools/list and {sessions} new sessions", tool.name)
            }),
            SPEC_CALLING,
        )])
    }

    /// Make a change of `kind` on the changed upstream (to the tool `name`,
    /// or its newest) and watch the gateway until its list shows it, or the
    /// wait runs out (then, with an approval command, approve, reconnect and
    /// look once more).
    async fn observe(&mut self, kind: Kind, name: Option<&str>) -> Result<Observed, String> {
        let upstream_before = self.changed().tool_names().await?;
        let before = self.gateway.tools(self.wait).await?;
        let seen = self.gateway.notices();
        let start = Instant::now();
        let (version, upstream_after) = self.changed().change(kind.change(), name).await?;
        let deadline = start + self.wait;
        let item = match (kind, name) {
            (_, Some(name)) => Some(name.to_owned()),
            (Kind::Add, None) => upstream_after
                .iter()
                .find(|n| !upstream_before.contains(n))
                .cloned(),
            (_, None) => upstream_before
                .iter()
                .find(|n| !upstream_after.contains(n))
                .cloned(),
        };
        let item = item
            .ok_or_else(|| format!("{}: {} changed no tool", self.changed().name, kind.change()))?;
        let expect = Expect { kind, item };
        let mut observed = Observed {
            expect,
            notified: None,
            relisted: None,
            current_on_notice: None,
            lost_on_notice: Vec::new(),
            on_notice: Vec::new(),
            listed: None,
            after_approval: false,
            before,
            after: Vec::new(),
        };
        // Until both the notice and the change in the list are seen, or the
        // wait is over: look at the list every POLL, and the moment the
        // notice comes, list at once, as a client re-lists when told.
        let listed_before = observed.expect.listed_before(&observed.before);
        loop {
            let notice_due = observed.notified.is_none();
            // Settled: told, the change listed (if it can be), and every
            // other tool back, so the next scenario starts from a whole list.
            let whole = !observed.after.is_empty()
                && observed
                    .expect
                    .others_lost(&observed.before, &observed.after)
                    .is_empty();
            if !notice_due && (observed.listed.is_some() || !listed_before) && whole {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let notice = match notice_due {
                true => self.gateway.wait_notice(seen, POLL.min(left)).await,
                false => {
                    sleep(POLL.min(left)).await;
                    None
                }
            };
            let now = self.gateway.tools(self.wait).await?;
            let current = listed_before && observed.expect.shows(&observed.before, &now);
            if let Some(at) = notice {
                observed.notified = Some(at - start);
                // Current: the change shown (if it can be), and nothing else lost.
                observed.lost_on_notice = observed.expect.others_lost(&observed.before, &now);
                observed.on_notice = names(&now).into_iter().collect();
                observed.current_on_notice =
                    Some((current || !listed_before) && observed.lost_on_notice.is_empty());
            }
            if current && observed.listed.is_none() {
                observed.listed = Some(start.elapsed());
            }
            observed.after = now;
        }
        if observed.listed.is_none()
            && listed_before
            && let Some(command) = self.approve.clone()
        {
            run_approval(&command, &self.log, self.wait).await?;
            self.reconnect().await?;
            let now = self.gateway.tools(self.wait).await?;
            if observed.expect.shows(&observed.before, &now) {
                observed.after_approval = true;
                observed.listed = Some(start.elapsed());
            }
            observed.after = now;
        }
        let report = self.changed().report().await?;
        observed.relisted = relisted_after(&report, version).map(Duration::from_millis);
        Ok(observed)
    }

    async fn reconnect(&mut self) -> Result<(), String> {
        let fresh = Gateway::connect(&self.target, &self.log, self.wait.max(START_TIMEOUT)).await?;
        std::mem::replace(&mut self.gateway, fresh).close().await;
        Ok(())
    }

    /// The checks every change has: told, current when told, listed.
    fn notice_checks(&self, observed: &Observed) -> Vec<Check> {
        let what = &observed.expect.item;
        let wait = self.wait;
        let upstream = &self.changed().name;
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        let notified = check(
            "gateway-notified",
            "The gateway sends tools/list_changed",
            "after its upstream's tools changed, the gateway tells its own clients",
            status(observed.notified.is_some()),
            json!({ "upstream": upstream, "notified_ms": ms(observed.notified) }),
            observed
                .notified
                .is_none()
                .then(|| format!("no notifications/tools/list_changed within {wait:?} of the change on {upstream}")),
            SPEC_TOOLS,
        );
        let on_notice = match observed.current_on_notice {
            None => skipped(
                "gateway-list-current-on-notice",
                "The gateway's list is current when it notifies",
                "the gateway sent no notification",
            ),
            Some(current) => check(
                "gateway-list-current-on-notice",
                "The gateway's list is current when it notifies",
                "a client that re-lists on the gateway's list_changed gets the changed list (the gateway re-lists its upstream before it notifies)",
                status(current),
                json!({ "notified_ms": ms(observed.notified), "upstream_relisted_ms": ms(observed.relisted),
                        "lost": observed.lost_on_notice, "before": names(&observed.before),
                        "listed": observed.on_notice }),
                (!current).then(|| {
                    let lost = &observed.lost_on_notice;
                    let missed = match lost.is_empty() {
                        true => format!("did not show the change to {what}"),
                        false => format!("had lost {lost:?}"),
                    };
                    format!(
                        "a tools/list sent on the gateway's list_changed ({:.0} ms after the change) {missed}; {}",
                        ms(observed.notified).unwrap_or_default(),
                        order(observed)
                    )
                }),
                SPEC_TOOLS,
            ),
        };
        let listed_before = observed.expect.listed_before(&observed.before);
        let listed = if !listed_before {
            skipped(
                "gateway-list-shows-change",
                "The gateway lists the change",
                "the gateway did not list the tool before the change",
            )
        } else {
            check(
            "gateway-list-shows-change",
            "The gateway lists the change",
            "within the probe's wait, the gateway's tools/list shows the upstream's change",
            status(observed.listed.is_some()),
            json!({ "listed_ms": ms(observed.listed), "after_approval": observed.after_approval,
                    "tools": names(&observed.after) }),
            observed
                .listed
                .is_none()
                .then(|| format!("{wait:?} after the change on {upstream}, the gateway's list did not show the change to {what}")),
            SPEC_TOOLS,
        )
        };
        let order = match observed.notified {
            None => skipped(
                "gateway-notice-order",
                "When the gateway re-lists its upstream",
                "the gateway sent no notification",
            ),
            Some(_) => check(
                "gateway-notice-order",
                "When the gateway re-lists its upstream",
                "whether the gateway's list_changed came before or after its own re-list of the upstream (the upstream's report); a pass-through gateway re-lists only when its client does",
                Status::Info,
                json!({ "notified_ms": ms(observed.notified), "upstream_relisted_ms": ms(observed.relisted),
                        "order": order(observed) }),
                None,
                SPEC_TOOLS,
            ),
        };
        vec![notified, on_notice, listed, order]
    }

    /// Every upstream's traffic as its report stands.
    async fn traffic(&self) -> Result<Vec<Traffic>, String> {
        let mut all = Vec::with_capacity(self.upstreams.len());
        for upstream in &self.upstreams {
            all.push(traffic(&upstream.report().await?));
        }
        Ok(all)
    }

    /// Call `tool` through the gateway; which upstreams served the call (by
    /// their reports' `tools/call` counts) and what it answered.
    async fn served_by(&self, tool: &Tool) -> Result<(Vec<String>, Value), String> {
        let before = self.traffic().await?;
        let answer = match self.gateway.call(tool, self.wait).await {
            Ok(result) => json!({ "is_error": result.is_error, "text": text(&result) }),
            Err(error) => json!({ "error": error }),
        };
        let after = self.traffic().await?;
        let served = self
            .upstreams
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (before, after))| after.calls > before.calls)
            .map(|(upstream, _)| upstream.name.clone())
            .collect();
        Ok((served, answer))
    }
}

/// Run the approval command, its output to the log.
async fn run_approval(command: &str, log: &std::path::Path, wait: Duration) -> Result<(), String> {
    let out = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("approval command {command:?}: {e}"))?;
    // Approval tools connect to the upstream themselves: give them more time.
    let status = timeout(wait * 4, child.wait())
        .await
        .map_err(|_| {
            format!(
                "approval command {command:?}: still running after {:?}",
                wait * 4
            )
        })?
        .map_err(|e| format!("approval command {command:?}: {e}"))?;
    if !status.success() {
        return Err(format!("approval command {command:?} failed: {status}"));
    }
    Ok(())
}

/// The order of the gateway's notice and the upstream's first re-list after
/// the change, in words. Both times run from the change: the probe's clock
/// for the notice, the upstream's for the re-list (the report's
/// millisecond resolution).
fn order(observed: &Observed) -> String {
    // Two clocks and the report's whole milliseconds: closer than this is
    // "at the same time".
    const TIE: Duration = Duration::from_millis(2);
    match (observed.notified, observed.relisted) {
        (Some(notified), Some(relisted)) if relisted + TIE < notified => format!(
            "the gateway's re-list reached the upstream at {} ms, before the notice at {} ms",
            relisted.as_millis(),
            notified.as_millis()
        ),
        (Some(notified), Some(relisted)) if notified + TIE < relisted => format!(
            "the notice came at {} ms, before a re-list reached the upstream at {} ms",
            notified.as_millis(),
            relisted.as_millis()
        ),
        (Some(notified), Some(relisted)) => format!(
            "the notice came at {} ms and a re-list reached the upstream at {} ms: too close to order",
            notified.as_millis(),
            relisted.as_millis()
        ),
        (Some(notified), None) => format!(
            "the notice came at {} ms; no re-list reached the upstream",
            notified.as_millis()
        ),
        (None, _) => "no notice".to_owned(),
    }
}

fn names(tools: &[Tool]) -> BTreeSet<String> {
    tools.iter().map(|tool| tool.name.to_string()).collect()
}

/// The tools standing for `item`, listed before and now, whose schema's
/// revision changed.
fn revised(before: &[Tool], now: &[Tool], item: &str) -> Vec<Value> {
    before
        .iter()
        .filter(|old| stands_for(&old.name, item))
        .filter_map(|old| {
            let new = now.iter().find(|new| new.name == old.name)?;
            (revision(new) != revision(old))
                .then(|| json!({ "tool": old.name, "from": revision(old), "to": revision(new) }))
        })
        .collect()
}

/// Whether a gateway's tool name stands for an upstream's `name`: the same,
/// or with a prefix or suffix joined by a separator (`u1_echo`, `u1.echo`,
/// `echo-u1`, `u1__echo`).
fn stands_for(gateway_name: &str, name: &str) -> bool {
    const SEPARATORS: &[char] = &['_', '-', '.', '/', ':'];
    gateway_name == name
        || gateway_name
            .strip_suffix(name)
            .is_some_and(|prefix| prefix.ends_with(SEPARATORS))
        || gateway_name
            .strip_prefix(name)
            .is_some_and(|suffix| suffix.starts_with(SEPARATORS))
}

fn sum(all: &[Traffic], field: impl Fn(&Traffic) -> u64) -> u64 {
    all.iter().map(field).sum()
}

fn status(ok: bool) -> Status {
    if ok { Status::Success } else { Status::Failure }
}

fn check(
    id: &str,
    name: &str,
    description: &str,
    status: Status,
    details: Value,
    error: Option<String>,
    (spec_id, url): (&str, &str),
) -> Check {
    let check = Check::new(id, name, description, status)
        .spec(SpecReference::new(spec_id, url))
        .details(details);
    match error {
        Some(message) => check.error(message),
        None => check,
    }
}

fn skipped(id: &str, name: &str, why: &str) -> Check {
    check(
        id,
        name,
        why,
        Status::Skipped,
        json!({ "why": why }),
        None,
        SPEC_TOOLS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_name_stands_for_the_upstream_name_with_a_separator() {
        for name in [
            "echo",
            "u1_echo",
            "u1__echo",
            "u1.echo",
            "echo-u1",
            "weather:echo",
        ] {
            assert!(stands_for(name, "echo"), "{name}");
        }
        for name in ["echo4", "uecho", "local_weather_x", "echoes"] {
            assert!(!stands_for(name, "echo"), "{name}");
        }
        // Kuadrant PR #1261's clash: a prefix is not the tool.
        assert!(stands_for("local_weather", "weather"));
        assert!(!stands_for("localweather", "weather"));
    }
}
