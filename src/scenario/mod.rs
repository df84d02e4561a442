//! Scenario files (`--scenario FILE`): a timeline of steps, each a change or
//! a hostile notification at a moment the file names, checked whole before
//! anything is served. Pure: reading and checking only; the
//! [`Timeline`](crate::scenario::timeline) actor runs the steps.
//!
//! A file is TOML (`.toml`) or JSON (any other name) holding an array
//! `steps`, run in order, one after the other:
//!
//! ```toml
//! [[steps]]
//! change = "add_tool"                      # the control endpoint's keys
//! after = { method = "tools/list", n = 1 } # held until the change ran
//!
//! [[steps]]
//! notify = "tools"                         # a list_changed with no change
//! every_ms = 10
//! times = 50
//! ```
//!
//! A table `[hostile]` may set the hostile keys of the flags (`page_size`,
//! `page_size_tools`, ..., `cursor_style`, `list_delay_ms`, `call_delay_ms`;
//! see [`Hostile`]); each key given there overrides its flag. Its table
//! `[hostile.delay_ms]` delays single methods (`"tools/list" = 200`).
//!
//! Each step has one action (`change` with `name`/`uri`/`count`; `notify`
//! with `before_initialized`; `end_session = true`; `drop_stream = true`),
//! at most one moment (`at_ms` with `from`, or `after`; none means right
//! after the step before it), optionally `every_ms` with `times`, and
//! optionally `client` (only sessions whose client has that name are
//! notified; the change itself is global). docs/scenarios.md has the whole
//! format.
//!
//! A step's `after` point counts from the moment the step before it ran: the
//! first matching point after that runs it. Its `at_ms` counts from the start
//! (or from the first client's `notifications/initialized`); a moment already
//! past runs the step at once.
//!
//! Checking covers what can be known before the server starts: unknown keys,
//! bad values, and impossible steps (a page of a list that is not paged, an
//! HTTP-only step over stdio, a list the server does not offer, a removal of
//! an item that will not be there when the step runs, as far as the file's
//! own steps tell). A change refused at run time (a signal or the control
//! endpoint changed the catalog meanwhile) is logged and the timeline goes on.

#[cfg(test)]
mod fuzz;
pub mod timeline;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::catalog::{Catalog, CatalogSize, Change, ChangeKind, ChangeRequest, ListKind};
use crate::fleet::Fleet;
use crate::hostile::Hostile;
use crate::input_file::{InputFileError, parse_toml, read_regular_file};

/// The largest scenario file read, in bytes (1 MiB): some ten thousand
/// steps, far past any hand-written or generated test, and a bound on what
/// a file that never ends (a device) can make the server hold.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The most times a step may repeat, and the most changes one step may make
/// in all (`times` × `count`): far past any storm a client test needs.
pub const MAX_TIMES: u64 = 100_000;
/// The most changes one step makes in all, checked by replaying them.
pub const MAX_STEP_CHANGES: u64 = 100_000;
/// The most runs a whole scenario makes: each step's `times` × `count`
/// (1 for a step that is no change), summed over the steps. It bounds the
/// start-up check, which replays every change, and the run: a 1 MiB file
/// could otherwise ask for billions of changes.
pub const MAX_TOTAL_RUNS: u64 = 1_000_000;

/// A checked scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The file it was read from, for the log.
    pub path: PathBuf,
    /// The hostile knobs: the flags', with the file's `[hostile]` keys over
    /// them.
    pub hostile: Hostile,
    /// Per-method delays (`[hostile.delay_ms]`): each such request is
    /// answered this much later.
    pub delays: Vec<(&'static str, Duration)>,
    pub steps: Vec<Step>,
}

/// One step of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its index in the file's `steps`, from 0.
    pub index: usize,
    pub action: StepAction,
    pub moment: Moment,
    /// Run `times` times in all, `every` apart (a storm); `None`: once.
    pub repeat: Option<Repeat>,
    /// Only sessions whose client has this name are notified.
    pub client: Option<String>,
    /// The fleet upstream it acts on (a fleet's steps each name one).
    pub upstream: Option<String>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// A change, exactly as a control request makes it.
    Change(Change),
    /// A `list_changed` with no change behind it; with `before_initialized`,
    /// to handshake sessions that answered `initialize` but have not had
    /// `notifications/initialized` yet (only to those).
    Notify {
        list: ListKind,
        before_initialized: bool,
    },
    /// End every HTTP session: its next request gets 404.
    EndSession,
    /// Drop every open SSE response (a request's stream, the standalone GET
    /// stream, a `subscriptions/listen` stream) without its final result.
    DropStream,
    /// Stop the step's fleet upstream: its sessions and its path get 404.
    StopUpstream,
    /// Serve the step's fleet upstream again, with its catalog as it is.
    StartUpstream,
}

/// When a step runs, once the step before it has run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moment {
    /// Right away.
    Next,
    /// `ms` milliseconds after the start, or after the first client's
    /// `notifications/initialized`.
    At { ms: u64, from: Since },
    /// At a protocol point; a request there is answered only once the step
    /// ran.
    After(Point),
}

/// What an `at_ms` counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Start,
    Initialized,
}

/// A protocol point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Point {
    /// `initialize` answered (the step runs before the answer is written).
    Initialize,
    /// `notifications/initialized` received.
    Initialized,
    /// The `n`-th request of `method` on one session (from 1).
    Request { method: &'static str, n: u64 },
    /// Page `page` (from 1) of `list` served, before page `page + 1` is
    /// asked for.
    Page { list: ListKind, page: usize },
    /// A `tools/call` of this tool in flight.
    Call { tool: String },
}

/// A repeated step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub every: Duration,
    pub times: u64,
}

/// What a scenario is checked against: the server it will run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Served over HTTP (end_session and drop_stream need it).
    pub http: bool,
    pub size: CatalogSize,
    /// The hostile knobs the flags set.
    pub hostile: Hostile,
}

/// Why a scenario file was refused: one line, naming the step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScenarioError(String);

/// The requests whose count an `after = { method, n }` may name: those the
/// handler shows the watchers.
const COUNTED_METHODS: [&str; 7] = [
    "initialize",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
];

/// One step as the file spells it. A change's keys are the control
/// endpoint's, read straight into a [`ChangeRequest`]'s parts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default, deserialize_with = "change_kind")]
    change: Option<ChangeKind>,
    name: Option<String>,
    uri: Option<String>,
    count: Option<usize>,
    notify: Option<String>,
    before_initialized: Option<bool>,
    end_session: Option<bool>,
    drop_stream: Option<bool>,
    at_ms: Option<u64>,
    from: Option<String>,
    after: Option<Value>,
    every_ms: Option<u64>,
    times: Option<u64>,
    client: Option<String>,
    upstream: Option<String>,
    stop_upstream: Option<bool>,
    start_upstream: Option<bool>,
}

impl Scenario {
    /// Read and check the file at `path`: a regular file of at most
    /// `MAX_FILE_BYTES`.
    pub fn load(path: &Path, setting: &Setting) -> Result<Self, ScenarioError> {
        Self::load_in(path, setting, None)
    }

    /// [`Scenario::load`] for a fleet's server (`fleet`), whose steps each
    /// name their upstream.
    pub(crate) fn load_in(
        path: &Path,
        setting: &Setting,
        fleet: Option<&Fleet>,
    ) -> Result<Self, ScenarioError> {
        let bytes = read_regular_file(path, MAX_FILE_BYTES).map_err(|e| {
            ScenarioError(match e {
                InputFileError::Unreadable(e) => format!("cannot read it: {e}"),
                InputFileError::TooLong(max) => format!(
                    "longer than {max} bytes (1 MiB); a scenario is a list of steps, not data"
                ),
            })
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| ScenarioError(format!("cannot read it: not UTF-8 text ({e})")))?;
        let toml = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"));
        let mut scenario = Self::parse_in(&text, toml, setting, fleet)?;
        scenario.path = path.to_owned();
        Ok(scenario)
    }

    /// Parse and check a scenario written in TOML (`toml`) or JSON.
    pub fn parse(text: &str, toml: bool, setting: &Setting) -> Result<Self, ScenarioError> {
        Self::parse_in(text, toml, setting, None)
    }

    /// Parse and check a scenario for a server that is `fleet`'s, if any.
    fn parse_in(
        text: &str,
        toml: bool,
        setting: &Setting,
        fleet: Option<&Fleet>,
    ) -> Result<Self, ScenarioError> {
        let document: Value = if toml {
            parse_toml(text).map_err(ScenarioError)?
        } else {
            serde_json::from_str(text).map_err(|e| ScenarioError(format!("not valid JSON: {e}")))?
        };
        let Value::Object(mut top) = document else {
            return Err(ScenarioError(
                "expected a table (an object) with `steps`".into(),
            ));
        };
        let steps = match top.remove("steps") {
            Some(Value::Array(steps)) => steps,
            Some(_) => return Err(ScenarioError("`steps` must be an array of steps".into())),
            None => return Err(ScenarioError("no `steps`: nothing to run".into())),
        };
        let mut hostile_keys = top.remove("hostile");
        if fleet.is_some() && hostile_keys.is_some() {
            return Err(ScenarioError(
                "[hostile]: a fleet's upstreams take their knobs from the fleet file".into(),
            ));
        }
        let delays = match hostile_keys.as_mut().and_then(Value::as_object_mut) {
            Some(keys) => match keys.remove("delay_ms") {
                Some(delays) => per_method_delays(delays)
                    .map_err(|why| ScenarioError(format!("[hostile.delay_ms]: {why}")))?,
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        let hostile = match hostile_keys {
            Some(keys) => setting
                .hostile
                .over(keys)
                .map_err(|why| ScenarioError(format!("[hostile]: {why}")))?,
            None => setting.hostile,
        };
        if let Some(key) = top.keys().next() {
            return Err(ScenarioError(format!(
                "unknown key `{key}` at the top level, expected `steps` or `hostile`"
            )));
        }
        let setting = &Setting {
            hostile,
            ..*setting
        };
        let mut catalog = Catalog::new(setting.size);
        // A fleet's upstreams' catalogs, each replayed on its own.
        let mut catalogs: HashMap<String, Catalog> = HashMap::new();
        let mut runs = 0;
        let steps = steps
            .into_iter()
            .enumerate()
            .map(|(index, raw)| {
                let label = label(index, &raw);
                let checked = match fleet {
                    None if raw.get("upstream").is_some() => {
                        Err("upstream needs --fleet: this server is no fleet".into())
                    }
                    None => check_step(index, raw, setting, &mut catalog, &mut runs),
                    Some(fleet) => {
                        check_fleet_step(index, raw, setting, fleet, &mut catalogs, &mut runs)
                    }
                };
                checked.map_err(|why| ScenarioError(format!("{label}: {why}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            path: PathBuf::new(),
            hostile,
            delays,
            steps,
        })
    }

    /// What the first log line says of this scenario:
    /// `scenario=s.toml delay-ms=tools/list:200`.
    pub fn describe(&self) -> String {
        let mut text = format!("scenario={}", self.path.display());
        if !self.delays.is_empty() {
            let delays: Vec<String> = self
                .delays
                .iter()
                .map(|(method, delay)| format!("{method}:{}", delay.as_millis()))
                .collect();
            text.push_str(&format!(" delay-ms={}", delays.join(",")));
        }
        text
    }

    /// How long to hold a request of `method` before answering it.
    pub fn delay(&self, method: &str) -> Option<Duration> {
        self.delays
            .iter()
            .find(|(m, _)| *m == method)
            .map(|&(_, delay)| delay)
    }
}

/// `[hostile.delay_ms]`: `"tools/list" = 200`, for the methods the handler
/// shows the watchers.
fn per_method_delays(delays: Value) -> Result<Vec<(&'static str, Duration)>, String> {
    let Value::Object(delays) = delays else {
        return Err("expected a table of methods and milliseconds".into());
    };
    delays
        .into_iter()
        .map(|(method, ms)| {
            let known = COUNTED_METHODS
                .into_iter()
                .find(|&m| m == method)
                .ok_or_else(|| {
                    format!(
                        "expected one of {}, found {method:?}",
                        COUNTED_METHODS.join(", ")
                    )
                })?;
            match ms.as_u64() {
                Some(ms) if ms >= 1 => Ok((known, Duration::from_millis(ms))),
                _ => Err(format!(
                    "{method}: expected a whole number of milliseconds from 1, found {ms}"
                )),
            }
        })
        .collect()
}

/// `steps[3] (remove_tool echo9)`: how an error names a step, from what the
/// file says even if it does not parse.
fn label(index: usize, raw: &Value) -> String {
    let text = |key: &str| raw.get(key).and_then(Value::as_str);
    let action = if let Some(change) = text("change") {
        match text("name").or_else(|| text("uri")) {
            Some(target) => format!("{change} {target}"),
            None => change.to_owned(),
        }
    } else if let Some(list) = text("notify") {
        format!("notify {list}")
    } else if raw.get("end_session").is_some() {
        "end_session".to_owned()
    } else if raw.get("drop_stream").is_some() {
        "drop_stream".to_owned()
    } else if raw.get("stop_upstream").is_some() {
        "stop_upstream".to_owned()
    } else if raw.get("start_upstream").is_some() {
        "start_upstream".to_owned()
    } else {
        "no action".to_owned()
    };
    match text("upstream") {
        Some(upstream) => format!("steps[{index}] ({action} on {upstream})"),
        None => format!("steps[{index}] ({action})"),
    }
}

/// A step's `change`, its error named as the control endpoint's would be:
/// `change: unknown variant ...`.
fn change_kind<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ChangeKind>, D::Error> {
    ChangeKind::deserialize(deserializer)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("change: {e}")))
}

fn list_kind(text: &str) -> Result<ListKind, String> {
    ListKind::ALL
        .into_iter()
        .find(|list| list.as_str() == text)
        .ok_or_else(|| format!("expected \"tools\", \"prompts\" or \"resources\", found {text:?}"))
}

fn offered(list: ListKind, setting: &Setting) -> Result<(), String> {
    let on = match list {
        ListKind::Tools => true,
        ListKind::Prompts => setting.size.prompts.is_some(),
        ListKind::Resources => setting.size.resources.is_some(),
    };
    if on {
        Ok(())
    } else {
        Err(format!(
            "the server has no {list} (start it with --{list} N)"
        ))
    }
}

/// Check one step of a fleet's scenario, against the upstream it names:
/// its catalog (replayed in `catalogs`), its lists. It runs at a time, not
/// at a protocol point, which would be one upstream's sessions'.
fn check_fleet_step(
    index: usize,
    raw: Value,
    setting: &Setting,
    fleet: &Fleet,
    catalogs: &mut HashMap<String, Catalog>,
    runs: &mut u64,
) -> Result<Step, String> {
    let Some(name) = raw.get("upstream").and_then(Value::as_str) else {
        return Err(format!(
            "a fleet's step names its upstream (upstream = one of {})",
            fleet.names()
        ));
    };
    let Some(upstream) = fleet.get(name) else {
        return Err(format!(
            "upstream: no {name:?} in the fleet (one of {})",
            fleet.names()
        ));
    };
    let setting = Setting {
        size: upstream.size,
        hostile: upstream.hostile,
        ..*setting
    };
    let catalog = catalogs
        .entry(upstream.name.clone())
        .or_insert_with(|| Catalog::new(upstream.size));
    let step = check_step(index, raw, &setting, catalog, runs)?;
    match step.moment {
        Moment::After(_)
        | Moment::At {
            from: Since::Initialized,
            ..
        } => Err(
            "in a fleet a step runs at_ms from the start, or right after the step before it".into(),
        ),
        _ => Ok(step),
    }
}

/// Check one step, replaying its changes on `catalog` and adding its runs
/// to `runs`, the steps' so far.
fn check_step(
    index: usize,
    raw: Value,
    setting: &Setting,
    catalog: &mut Catalog,
    runs: &mut u64,
) -> Result<Step, String> {
    if !raw.is_object() {
        return Err("a step is a table (an object)".into());
    }
    let raw: RawStep = serde_json::from_value(raw).map_err(|e| e.to_string())?;
    let repeat = match (raw.every_ms, raw.times) {
        (None, None) => None,
        (Some(every), Some(times)) => {
            if every == 0 {
                return Err("every_ms must be at least 1".into());
            }
            if !(1..=MAX_TIMES).contains(&times) {
                return Err(format!("times must be from 1 to {MAX_TIMES}, not {times}"));
            }
            Some(Repeat {
                every: Duration::from_millis(every),
                times,
            })
        }
        (Some(_), None) => return Err("every_ms needs times (how many runs in all)".into()),
        (None, Some(_)) => return Err("times needs every_ms (how far apart)".into()),
    };
    let times = repeat.map_or(1, |r| r.times);
    // Before anything is replayed: the step that crosses the cap is the one
    // named.
    *runs = runs.saturating_add(times.saturating_mul(raw.count.map_or(1, |count| count as u64)));
    if *runs > MAX_TOTAL_RUNS {
        return Err(format!(
            "the steps so far make {runs} runs (times × count, summed); a scenario makes at most {MAX_TOTAL_RUNS}"
        ));
    }
    let action = check_action(&raw, setting, catalog, times)?;
    let moment = check_moment(&raw, setting)?;
    if let Some(client) = &raw.client {
        if client.is_empty() {
            return Err("client must name a client (its clientInfo.name)".into());
        }
        if matches!(
            action,
            StepAction::EndSession
                | StepAction::DropStream
                | StepAction::StopUpstream
                | StepAction::StartUpstream
        ) {
            return Err("client applies to notifications; this step acts on every session".into());
        }
    }
    Ok(Step {
        index,
        action,
        moment,
        repeat,
        client: raw.client.clone(),
        upstream: raw.upstream.clone(),
    })
}

fn check_action(
    raw: &RawStep,
    setting: &Setting,
    catalog: &mut Catalog,
    times: u64,
) -> Result<StepAction, String> {
    let actions = [
        raw.change.is_some(),
        raw.notify.is_some(),
        raw.end_session.is_some(),
        raw.drop_stream.is_some(),
        raw.stop_upstream.is_some(),
        raw.start_upstream.is_some(),
    ];
    match actions.iter().filter(|&&a| a).count() {
        0 => {
            return Err(
                "no action: give change, notify, end_session = true or drop_stream = true".into(),
            );
        }
        1 => {}
        _ => return Err("one action per step: change, notify, end_session or drop_stream".into()),
    }
    for (what, flag, action) in [
        ("stop_upstream", raw.stop_upstream, StepAction::StopUpstream),
        (
            "start_upstream",
            raw.start_upstream,
            StepAction::StartUpstream,
        ),
    ] {
        match (flag, &raw.upstream) {
            (None, _) => {}
            (Some(true), Some(_)) => return Ok(action),
            (Some(true), None) => return Err(format!("{what} needs upstream: the one to act on")),
            (Some(false), _) => return Err(format!("{what} takes true")),
        }
    }
    if raw.change.is_none() && (raw.name.is_some() || raw.uri.is_some() || raw.count.is_some()) {
        return Err("name, uri and count go with change".into());
    }
    if raw.notify.is_none() && raw.before_initialized.is_some() {
        return Err("before_initialized goes with notify".into());
    }
    let http_only = |what: &str, flag: Option<bool>| match flag {
        Some(true) if setting.http => Ok(()),
        Some(true) => Err(format!(
            "{what} needs --http: a stdio session has no HTTP session or stream"
        )),
        _ => Err(format!("{what} takes true")),
    };
    if raw.end_session.is_some() {
        http_only("end_session", raw.end_session)?;
        return Ok(StepAction::EndSession);
    }
    if raw.drop_stream.is_some() {
        http_only("drop_stream", raw.drop_stream)?;
        return Ok(StepAction::DropStream);
    }
    if let Some(list) = &raw.notify {
        let list = list_kind(list).map_err(|e| format!("notify: {e}"))?;
        offered(list, setting)?;
        return Ok(StepAction::Notify {
            list,
            before_initialized: raw.before_initialized.unwrap_or(false),
        });
    }
    let Some(kind) = raw.change else {
        unreachable!("exactly one action, and none of the others");
    };
    let request = ChangeRequest {
        change: kind,
        name: raw.name.clone(),
        uri: raw.uri.clone(),
        count: raw.count,
    };
    let change = Change::try_from(request).map_err(|e| e.to_string())?;
    let total = times.saturating_mul(change.count as u64);
    if total > MAX_STEP_CHANGES {
        return Err(format!(
            "{total} changes in one step (times × count); at most {MAX_STEP_CHANGES}"
        ));
    }
    // Replay the file's own changes: a step that cannot apply when its turn
    // comes is a mistake in the file.
    for _ in 0..times {
        catalog
            .check(&change)
            .map_err(|e| format!("{e} when this step runs"))?;
        for _ in 0..change.count {
            catalog
                .apply(&change)
                .map_err(|e| format!("{e} when this step runs"))?;
        }
    }
    Ok(StepAction::Change(change))
}

fn check_moment(raw: &RawStep, setting: &Setting) -> Result<Moment, String> {
    match (raw.at_ms, &raw.after) {
        (Some(_), Some(_)) => Err("at_ms or after, not both".into()),
        (None, None) => match raw.from {
            Some(_) => Err("from goes with at_ms".into()),
            None => Ok(Moment::Next),
        },
        (Some(ms), None) => {
            let from = match raw.from.as_deref() {
                None | Some("start") => Since::Start,
                Some("initialized") => Since::Initialized,
                Some(other) => {
                    return Err(format!(
                        "from: expected \"start\" or \"initialized\", found {other:?}"
                    ));
                }
            };
            Ok(Moment::At { ms, from })
        }
        (None, Some(after)) => {
            if raw.from.is_some() {
                return Err("from goes with at_ms".into());
            }
            check_point(after, setting).map(Moment::After)
        }
    }
}

fn check_point(after: &Value, setting: &Setting) -> Result<Point, String> {
    const EXPECTED: &str =
        "expected \"initialize\", \"initialized\", { method, n }, { list, page } or { call }";
    let table = match after {
        Value::String(point) => {
            return match point.as_str() {
                "initialize" => Ok(Point::Initialize),
                "initialized" => Ok(Point::Initialized),
                other => Err(format!("after: {EXPECTED}, found {other:?}")),
            };
        }
        Value::Object(table) => table,
        other => return Err(format!("after: {EXPECTED}, found {other}")),
    };
    let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let text = |key: &str| match table.get(key) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.as_str()),
        other => Err(format!(
            "after.{key}: expected a non-empty string, found {}",
            other.map_or("nothing".into(), Value::to_string)
        )),
    };
    let positive = |key: &str| match table.get(key).and_then(Value::as_u64) {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "after.{key}: expected a whole number from 1, found {}",
            table.get(key).map_or("nothing".into(), Value::to_string)
        )),
    };
    match keys.as_slice() {
        ["method", "n"] => {
            let method = text("method")?;
            let method = COUNTED_METHODS
                .into_iter()
                .find(|&m| m == method)
                .ok_or_else(|| {
                    format!(
                        "after.method: expected one of {}, found {method:?}",
                        COUNTED_METHODS.join(", ")
                    )
                })?;
            if let Some(list) = method.split('/').next().and_then(|l| list_kind(l).ok()) {
                offered(list, setting)?;
            }
            Ok(Point::Request {
                method,
                n: positive("n")?,
            })
        }
        ["list", "page"] => {
            let list = list_kind(text("list")?).map_err(|e| format!("after.list: {e}"))?;
            offered(list, setting)?;
            let page = positive("page")?;
            if setting.hostile.paging().page_size(list).is_none() {
                return Err(format!(
                    "after a page of {list}/list, but {list}/list is not paged (give --page-size)"
                ));
            }
            Ok(Point::Page {
                list,
                page: usize::try_from(page).map_err(|_| "after.page is too large".to_owned())?,
            })
        }
        ["call"] => Ok(Point::Call {
            tool: text("call")?.to_owned(),
        }),
        _ => Err(format!(
            "after: {EXPECTED}, found keys {}",
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            }
        )),
    }
}

impl Scenario {
    /// Whether a step drops SSE streams, which the HTTP edge must then be
    /// able to do.
    pub fn drops_streams(&self) -> bool {
        self.steps
            .iter()
            .any(|step| step.action == StepAction::DropStream)
    }
}

impl Step {
    /// What the step does, as the log and the report name it:
    /// `add_tool`, `remove_tool echo9`, `notify tools`.
    pub fn what(&self) -> String {
        match &self.action {
            StepAction::Change(change) => {
                let kind = change.kind.as_str();
                match (&change.target, change.count) {
                    (Some(target), _) => format!("{kind} {target}"),
                    (None, 1) => kind.to_owned(),
                    (None, count) => format!("{kind} ×{count}"),
                }
            }
            StepAction::Notify {
                list,
                before_initialized: false,
            } => format!("notify {list}"),
            StepAction::Notify {
                list,
                before_initialized: true,
            } => format!("notify {list} before initialized"),
            StepAction::EndSession => "end_session".to_owned(),
            StepAction::DropStream => "drop_stream".to_owned(),
            StepAction::StopUpstream => "stop_upstream".to_owned(),
            StepAction::StartUpstream => "start_upstream".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Action;

    /// `text` (TOML) checked for an HTTP fleet of three upstreams of one
    /// tool: the error's one line, or the steps' upstreams and actions.
    fn in_fleet(text: &str) -> Result<Vec<(Option<String>, String)>, String> {
        let size = CatalogSize {
            tools: 1,
            prompts: None,
            resources: None,
        };
        let fleet = Fleet::numbered(3, size, Hostile::default()).unwrap();
        let setting = Setting {
            http: true,
            size,
            hostile: Hostile::default(),
        };
        let scenario =
            Scenario::parse_in(text, true, &setting, Some(&fleet)).map_err(|e| e.to_string())?;
        Ok(scenario
            .steps
            .iter()
            .map(|step| (step.upstream.clone(), step.what()))
            .collect())
    }

    #[test]
    fn a_fleets_steps_each_act_on_the_upstream_they_name() {
        let steps = in_fleet(
            r#"
            [[steps]]
            upstream = "u2"
            change = "add_tool"
            at_ms = 100
            [[steps]]
            upstream = "u2"
            stop_upstream = true
            [[steps]]
            upstream = "u3"
            change = "remove_tool"
            name = "echo"
            [[steps]]
            upstream = "u2"
            change = "remove_tool"
            name = "calculator"
            [[steps]]
            upstream = "u2"
            start_upstream = true
            "#,
        )
        .unwrap();
        let u = |name: &str| Some(name.to_owned());
        assert_eq!(
            steps,
            [
                (u("u2"), "add_tool".to_owned()),
                (u("u2"), "stop_upstream".to_owned()),
                (u("u3"), "remove_tool echo".to_owned()),
                (u("u2"), "remove_tool calculator".to_owned()),
                (u("u2"), "start_upstream".to_owned()),
            ]
        );
        // Each upstream's catalog is replayed on its own: u1 never had
        // u2's calculator.
        let refused = in_fleet(
            "[[steps]]\nupstream = \"u2\"\nchange = \"add_tool\"\n[[steps]]\nupstream = \"u1\"\nchange = \"remove_tool\"\nname = \"calculator\"\n",
        );
        assert_eq!(
            refused.unwrap_err(),
            "steps[1] (remove_tool calculator on u1): no item of the tools list is named \"calculator\" when this step runs"
        );
        for (text, expected) in [
            (
                "[[steps]]\nchange = \"add_tool\"\n",
                "steps[0] (add_tool): a fleet's step names its upstream (upstream = one of u1, u2, u3)",
            ),
            (
                "[[steps]]\nupstream = \"u4\"\nchange = \"add_tool\"\n",
                "steps[0] (add_tool on u4): upstream: no \"u4\" in the fleet (one of u1, u2, u3)",
            ),
            (
                "[[steps]]\nupstream = \"u1\"\nchange = \"add_tool\"\nafter = \"initialized\"\n",
                "steps[0] (add_tool on u1): in a fleet a step runs at_ms from the start, or right after the step before it",
            ),
            (
                "[[steps]]\nupstream = \"u1\"\nstop_upstream = false\n",
                "steps[0] (stop_upstream on u1): stop_upstream takes true",
            ),
            (
                "[hostile]\npage_size = 2\n[[steps]]\nupstream = \"u1\"\nchange = \"add_tool\"\n",
                "[hostile]: a fleet's upstreams take their knobs from the fleet file",
            ),
        ] {
            assert_eq!(in_fleet(text).unwrap_err(), expected, "{text}");
        }
        // Without a fleet, no step names an upstream.
        let refused = Scenario::parse(
            "[[steps]]\nupstream = \"u1\"\nstop_upstream = true\n",
            true,
            &Setting {
                http: true,
                ..setting()
            },
        )
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "steps[0] (stop_upstream on u1): upstream needs --fleet: this server is no fleet"
        );
    }

    fn setting() -> Setting {
        Setting {
            http: false,
            size: CatalogSize {
                tools: 3,
                prompts: None,
                resources: None,
            },
            hostile: Hostile::default(),
        }
    }

    fn toml(text: &str) -> Result<Scenario, String> {
        Scenario::parse(text, true, &setting()).map_err(|e| e.to_string())
    }

    #[test]
    fn every_moment_and_action() {
        let scenario = toml(
            r#"
            [[steps]]
            change = "add_tool"
            after = "initialize"

            [[steps]]
            notify = "tools"
            after = "initialized"

            [[steps]]
            change = "remove_tool"
            name = "echo4"
            after = { method = "tools/list", n = 2 }

            [[steps]]
            change = "change_tool"
            name = "echo"
            after = { call = "echo" }
            client = "inspector"

            [[steps]]
            notify = "tools"
            before_initialized = true
            at_ms = 50
            from = "initialized"

            [[steps]]
            change = "add_tool"
            every_ms = 10
            times = 50
            "#,
        )
        .unwrap();
        let steps = &scenario.steps;
        assert_eq!(steps.len(), 6);
        assert_eq!(steps[0].moment, Moment::After(Point::Initialize));
        assert_eq!(steps[0].what(), "add_tool");
        assert_eq!(steps[1].what(), "notify tools");
        assert_eq!(
            steps[2].moment,
            Moment::After(Point::Request {
                method: "tools/list",
                n: 2
            })
        );
        assert_eq!(steps[2].what(), "remove_tool echo4");
        assert_eq!(steps[3].client.as_deref(), Some("inspector"));
        assert_eq!(
            steps[3].moment,
            Moment::After(Point::Call {
                tool: "echo".into()
            })
        );
        assert_eq!(
            steps[4].moment,
            Moment::At {
                ms: 50,
                from: Since::Initialized
            }
        );
        assert_eq!(steps[4].what(), "notify tools before initialized");
        assert_eq!(
            steps[5].repeat,
            Some(Repeat {
                every: Duration::from_millis(10),
                times: 50
            })
        );
        assert_eq!(steps[5].moment, Moment::Next);
        assert!(matches!(&steps[5].action, StepAction::Change(c) if c.action() == Action::Add));
    }

    #[test]
    fn json_reads_the_same() {
        let json = r#"{"steps": [{"change": "add_tool", "count": 2, "at_ms": 0}]}"#;
        let scenario = Scenario::parse(json, false, &setting()).unwrap();
        assert_eq!(scenario.steps[0].what(), "add_tool ×2");
        assert_eq!(
            scenario.steps[0].moment,
            Moment::At {
                ms: 0,
                from: Since::Start
            }
        );
    }

    /// Each bad file gets one line naming the step (index and action) and
    /// the problem.
    #[test]
    fn bad_steps_are_named() {
        for (text, expected) in [
            (
                "[[steps]]\nchange = \"add_tool\"\nwhen = 3",
                "steps[0] (add_tool): unknown field `when`",
            ),
            (
                "[[steps]]\nchange = \"add_tool\"\n[[steps]]\nchange = \"grow_tool\"",
                "steps[1] (grow_tool): change: unknown variant `grow_tool`",
            ),
            (
                "[[steps]]\nchange = \"remove_tool\"\nname = \"echo9\"",
                "steps[0] (remove_tool echo9): no item of the tools list is named \"echo9\" when this step runs",
            ),
            (
                "[[steps]]\nchange = \"remove_tool\"\ncount = 3\n[[steps]]\nchange = \"remove_tool\"",
                "steps[1] (remove_tool): nothing to change",
            ),
            (
                "[[steps]]\nend_session = true",
                "steps[0] (end_session): end_session needs --http",
            ),
            (
                "[[steps]]\ndrop_stream = true",
                "steps[0] (drop_stream): drop_stream needs --http",
            ),
            (
                "[[steps]]\nnotify = \"tools\"\nafter = { list = \"tools\", page = 1 }",
                "steps[0] (notify tools): after a page of tools/list, but tools/list is not paged",
            ),
            (
                "[[steps]]\nnotify = \"prompts\"",
                "steps[0] (notify prompts): the server has no prompts",
            ),
            (
                "[[steps]]\nnotify = \"tools\"\nevery_ms = 10",
                "steps[0] (notify tools): every_ms needs times",
            ),
            (
                "[[steps]]\nnotify = \"tools\"\nat_ms = 1\nafter = \"initialize\"",
                "at_ms or after, not both",
            ),
            (
                "[[steps]]\nnotify = \"tools\"\nafter = { method = \"tools/lists\", n = 1 }",
                "after.method: expected one of",
            ),
            (
                "[[steps]]\nnotify = \"tools\"\nafter = { method = \"tools/list\", n = 0 }",
                "after.n: expected a whole number from 1",
            ),
            (
                "[[steps]]\nnotify = \"tools\"\nafter = \"lunch\"",
                "after: expected \"initialize\"",
            ),
            ("[[steps]]\nat_ms = 5", "steps[0] (no action): no action"),
            (
                "[[steps]]\nnotify = \"tools\"\nchange = \"add_tool\"",
                "one action per step",
            ),
            (
                "[[steps]]\nnotify = \"tools\"\nat_ms = -1",
                "steps[0] (notify tools): invalid value",
            ),
            (
                "[[steps]]\nchange = \"add_tool\"\ntimes = 200000\nevery_ms = 1",
                "times must be from 1 to 100000",
            ),
            ("steps = 3", "`steps` must be an array"),
            ("stepz = []", "no `steps`"),
            ("steps = []\nextra = 1", "unknown key `extra`"),
            ("[[steps]\n", "not valid TOML (line 1)"),
        ] {
            let error = toml(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
            assert!(!error.contains('\n'), "one line: {error:?}");
        }
    }

    #[test]
    fn http_steps_over_http() {
        let http = Setting {
            http: true,
            ..setting()
        };
        let text = "[[steps]]\nend_session = true\n[[steps]]\ndrop_stream = true";
        let scenario = Scenario::parse(text, true, &http).unwrap();
        assert_eq!(scenario.steps[0].action, StepAction::EndSession);
        assert_eq!(scenario.steps[1].action, StepAction::DropStream);
        let error = Scenario::parse("[[steps]]\nend_session = false", true, &http).unwrap_err();
        assert!(
            error.to_string().contains("end_session takes true"),
            "{error}"
        );
    }

    #[test]
    fn a_page_point_needs_that_list_paged() {
        let text = "[[steps]]\nchange = \"add_tool\"\nafter = { list = \"tools\", page = 1 }";
        // Paged by the flags, or by the file itself.
        let flags = Setting {
            hostile: Hostile {
                page_size_tools: std::num::NonZeroUsize::new(2),
                ..Hostile::default()
            },
            ..setting()
        };
        Scenario::parse(text, true, &flags).unwrap();
        let text = format!("[hostile]\npage_size = 2\n{text}");
        let scenario = toml(&text).unwrap();
        assert_eq!(scenario.hostile.page_size, std::num::NonZeroUsize::new(2));
        assert_eq!(
            scenario.steps[0].moment,
            Moment::After(Point::Page {
                list: ListKind::Tools,
                page: 1
            })
        );
    }

    #[test]
    fn the_files_hostile_keys_override_the_flags_key_by_key() {
        let flags = Setting {
            hostile: Hostile {
                page_size: std::num::NonZeroUsize::new(5),
                list_delay_ms: 7,
                ..Hostile::default()
            },
            ..setting()
        };
        let text = "[hostile]\npage_size = 2\ncursor_style = \"repeat-once\"\n[[steps]]\nnotify = \"tools\"";
        let hostile = Scenario::parse(text, true, &flags).unwrap().hostile;
        assert_eq!(hostile.page_size, std::num::NonZeroUsize::new(2));
        assert_eq!(hostile.list_delay_ms, 7);
        assert_eq!(hostile.cursor_style.as_str(), "repeat-once");
        for (text, expected) in [
            (
                "[hostile]\npage_sise = 2\n",
                "[hostile]: unknown field `page_sise`",
            ),
            (
                "[hostile]\ncursor_style = \"empty-once\"\n",
                "[hostile]: cursor_style empty-once needs a page size",
            ),
            ("hostile = 3\n", "[hostile]: expected a table"),
        ] {
            let error = toml(&format!("{text}[[steps]]\nnotify = \"tools\"")).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn delays_per_method() {
        let text = "[hostile]\nlist_delay_ms = 5\n[hostile.delay_ms]\n\"tools/call\" = 200\n[[steps]]\nnotify = \"tools\"";
        let scenario = toml(text).unwrap();
        assert_eq!(scenario.hostile.list_delay_ms, 5);
        assert_eq!(
            scenario.delay("tools/call"),
            Some(Duration::from_millis(200))
        );
        assert_eq!(scenario.delay("tools/list"), None);
        assert!(scenario.describe().ends_with(" delay-ms=tools/call:200"));
        for (delays, expected) in [
            ("\"tools/lists\" = 5", "[hostile.delay_ms]: expected one of"),
            (
                "\"tools/list\" = 0",
                "[hostile.delay_ms]: tools/list: expected a whole number",
            ),
        ] {
            let text = format!("[hostile.delay_ms]\n{delays}\n[[steps]]\nnotify = \"tools\"");
            let error = toml(&text).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn the_files_own_changes_are_replayed() {
        // echo4 exists once the first step added it.
        let text = "[[steps]]\nchange = \"add_tool\"\n[[steps]]\nchange = \"remove_tool\"\nname = \"echo4\"\n[[steps]]\nchange = \"remove_tool\"\nname = \"echo4\"";
        let error = toml(text).unwrap_err();
        assert!(
            error.starts_with("steps[2] (remove_tool echo4): "),
            "{error}"
        );
    }
}
