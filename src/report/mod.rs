//! The client report: what each client did about each change, folded from the
//! run's [`Event`]s as they happen, and written out as one JSON document
//! (`--report FILE` at exit, `GET /report` live). The shape is
//! `schema/report.schema.json`; docs/report.md explains it.
//!
//! This module is pure: [`Record::see`] takes an event and its time in
//! milliseconds from the server's start, [`Record::report`] builds the JSON.
//! The [`Recorder`](crate::report::recorder) actor owns one `Record`.
//!
//! # What the verdicts mean
//!
//! A session's changes are the changes of tools, prompts and resources lists
//! recorded while the session was tracked: from its first event (its
//! `initialize`, or its first request) until it closed. A resource update is
//! no list change (the list's version stays), so it is listed at the top but
//! not per session. For each:
//! - **seen**: a `list_changed` notification for its list was written to the
//!   session after the change (whatever its cause);
//! - **refreshed**: after the change, the session fetched that list to its
//!   end (page 0 to the last page) at a version at least the change's;
//! - **missed**: not refreshed, whether seen or not. A client that was told
//!   and did not re-list missed the change as surely as one never told.
//!
//! A 2026-07-28 client's stateless HTTP requests belong to no session, and
//! concurrent requests cannot be told apart by the order of their events;
//! but each names its client in `_meta`. A stateless request's events go to
//! the entry of the one live listen stream whose client has that name and
//! version, so that a client that listens and re-lists is credited with its
//! re-lists (`Record::credit`). The rest (no client named, no such listen
//! stream, or several: instances of one client are not told apart) are
//! folded into one entry with the id `"stateless"`, which counts why.
//!
//! # Bounded
//!
//! Whatever the clients do, the record stays small: at most
//! [`MAX_CHANGES`] changes, [`MAX_STEPS`] steps and [`MAX_SESSIONS`]
//! sessions (the oldest closed session makes room for a new one), and per
//! session at most [`MAX_CALLS`] stale calls, [`MAX_REFUSED`] refused
//! cursors and [`MAX_CURSORS`] distinct cursors; every string a client chose
//! (its name and version, protocol revision, tool names, cursors) is cut to
//! [`MAX_CLIENT_STRING`] bytes. What did not fit is counted under `dropped`,
//! and `truncated` says whether anything was.

#[cfg(test)]
mod fuzz;
pub mod recorder;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::catalog::{ChangeKind, ListKind};
use crate::notice::Notice;
use crate::observe::{Cause, Client, Event, Origin, SessionKey, stale_call};

/// The most changes recorded; later ones are counted, not kept.
pub const MAX_CHANGES: usize = 1000;
/// The most scenario steps recorded.
pub const MAX_STEPS: usize = 1000;
/// The most sessions tracked at once.
pub const MAX_SESSIONS: usize = 128;
/// The most stale calls kept per session.
pub const MAX_CALLS: usize = 100;
/// The most refused cursors kept per session.
pub const MAX_REFUSED: usize = 100;
/// The most distinct cursors counted per session (for cursor loops).
pub const MAX_CURSORS: usize = 256;
/// The most views kept (check mode's `view` tool); past it, the newest
/// replaces the one before it, so the last view is always there.
pub const MAX_VIEWS: usize = 1000;
/// The longest string a client chose that is kept (its name and version,
/// its protocol revision, a tool name it called, a cursor it sent), in
/// bytes; a longer one is cut at a character boundary (a cursor is still
/// counted). Without it, ten clients named with 3 MiB each made a 30 MB
/// report (issue 24).
pub const MAX_CLIENT_STRING: usize = 256;

/// The protocol revision without a handshake: its notifications go only to
/// `subscriptions/listen` streams.
const STATELESS_REVISION: &str = "2026-07-28";

/// Where a session's events go: a Session actor, or the one entry for every
/// request that had none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Session(SessionKey),
    Stateless,
}

/// Why a stateless request stays in the `"stateless"` entry rather than
/// being credited to its client's listen stream, as the report counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unmatched {
    /// Its `_meta` names no client.
    NoClient,
    /// No live listen stream names its client.
    NoListenStream,
    /// More than one does: instances of one client are not told apart.
    SeveralListenStreams,
}

impl Unmatched {
    const ALL: [Unmatched; 3] = [
        Unmatched::NoClient,
        Unmatched::NoListenStream,
        Unmatched::SeveralListenStreams,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Unmatched::NoClient => "no_client",
            Unmatched::NoListenStream => "no_listen_stream",
            Unmatched::SeveralListenStreams => "several_listen_streams",
        }
    }
}

/// One change, as the top-level `changes` lists it.
#[derive(Debug, Clone)]
struct ChangeSeen {
    list: ListKind,
    kind: ChangeKind,
    item: Option<String>,
    version: u64,
    at_ms: u64,
}

/// What one session did about one change.
#[derive(Debug, Clone)]
struct Verdict {
    list: ListKind,
    version: u64,
    at_ms: u64,
    notified_ms: Option<u64>,
    relisted_ms: Option<u64>,
    pages_fetched: u64,
    pages_total: u64,
    refreshed: bool,
}

/// What did not fit, per kind.
#[derive(Debug, Default, Clone, Copy)]
struct SessionDropped {
    stale_calls: u64,
    refused_cursors: u64,
    cursors: u64,
}

#[derive(Debug, Default)]
struct SessionRecord {
    /// In order of arrival: the order of `sessions` in the report.
    order: u64,
    client: Option<(String, String)>,
    protocol: Option<String>,
    opened_ms: u64,
    initialized_ms: Option<u64>,
    closed_ms: Option<u64>,
    requests: BTreeMap<&'static str, u64>,
    /// By [`Cause`]: change, duplicate, spurious.
    notifications: [u64; 3],
    verdicts: Vec<Verdict>,
    /// The version of the last whole fetch of each list.
    fetched: [Option<u64>; 3],
    stale_calls: Vec<Value>,
    stale_count: u64,
    refused_cursors: Vec<Value>,
    cursors: HashMap<(ListKind, String), u64>,
    dropped: SessionDropped,
    /// By [`Unmatched`]: the stateless requests kept here, not credited to
    /// a listen stream (only the `"stateless"` entry has any).
    unmatched: [u64; 3],
}

/// Everything recorded so far.
#[derive(Debug, Default)]
pub struct Record {
    changes: Vec<ChangeSeen>,
    steps: Vec<Value>,
    sessions: HashMap<Key, SessionRecord>,
    next_order: u64,
    /// Each list's newest version seen, in a change or a page.
    current: [Option<u64>; 3],
    dropped_changes: u64,
    /// Changes counted outside the record, past [`MAX_CHANGES`]: how many,
    /// and each list's newest version among them.
    unkept: (u64, [Option<u64>; 3]),
    dropped_steps: u64,
    dropped_sessions: u64,
    dropped_events: u64,
    /// Check mode's views (the `view` tool), each beside the truth.
    views: Vec<Value>,
    dropped_views: u64,
}

impl Record {
    /// Fold one event, which happened `at_ms` after the server started.
    pub fn see(&mut self, at_ms: u64, event: &Event) {
        match event {
            Event::Changed {
                list,
                kind,
                item,
                version,
            } => self.changed(at_ms, *list, *kind, item, *version),
            Event::StepRan { step, what } => {
                if self.steps.len() < MAX_STEPS {
                    self.steps
                        .push(json!({ "step": step, "what": what, "at_ms": at_ms }));
                } else {
                    self.dropped_steps += 1;
                }
            }
            Event::Hello {
                session,
                name,
                version,
                protocol,
            } => {
                if let Some(record) = self.session(at_ms, self.credit(session)) {
                    record.client = Some((cut(name).to_owned(), cut(version).to_owned()));
                    record.protocol = Some(cut(protocol).to_owned());
                }
            }
            Event::Request { session, method } => {
                let matched = self.matched(session);
                if let Some(record) = self.session(at_ms, matched.unwrap_or(Key::Stateless)) {
                    *record.requests.entry(method).or_default() += 1;
                    if let Err(why) = matched {
                        record.unmatched[why as usize] += 1;
                    }
                }
            }
            Event::InitializeAnswered { session } => {
                self.session(at_ms, self.credit(session));
            }
            // Its request was counted when it came.
            Event::Answered { .. } => {}
            Event::Initialized { session } => {
                if let Some(record) = self.session(at_ms, self.credit(session)) {
                    record.initialized_ms.get_or_insert(at_ms);
                }
            }
            Event::Page {
                session,
                list,
                version,
                page,
                pages,
                cursor,
            } => {
                let current = &mut self.current[list.index()];
                *current = (*current).max(Some(*version));
                if let Some(record) = self.session(at_ms, self.credit(session)) {
                    if let Some(cursor) = cursor {
                        record.count_cursor(*list, cursor);
                    }
                    record.page(at_ms, *list, *version, *page as u64, *pages as u64);
                }
            }
            Event::RefusedCursor {
                session,
                list,
                cursor,
                reason,
            } => {
                if let Some(record) = self.session(at_ms, self.credit(session)) {
                    record.count_cursor(*list, cursor);
                    if record.refused_cursors.len() < MAX_REFUSED {
                        record.refused_cursors.push(json!({
                            "at_ms": at_ms,
                            "list": list,
                            "cursor": cut(cursor),
                            "reason": reason,
                        }));
                    } else {
                        record.dropped.refused_cursors += 1;
                    }
                }
            }
            Event::ToolCall {
                session,
                name,
                revision,
                current,
            } => {
                let Some(reason) = stale_call(*revision, *current) else {
                    return;
                };
                if let Some(record) = self.session(at_ms, self.credit(session)) {
                    record.stale_count += 1;
                    if record.stale_calls.len() < MAX_CALLS {
                        record.stale_calls.push(json!({
                            "at_ms": at_ms,
                            "tool": cut(name),
                            "revision": revision,
                            "current": current,
                            "reason": reason,
                        }));
                    } else {
                        record.dropped.stale_calls += 1;
                    }
                }
            }
            Event::Notified {
                session,
                notice,
                cause,
            } => {
                if let Some(record) = self.session(at_ms, Key::Session(*session)) {
                    let cause = match cause {
                        Cause::Change => 0,
                        Cause::Duplicate => 1,
                        Cause::Spurious => 2,
                    };
                    record.notifications[cause] += 1;
                    if let Notice::ListChanged(list) = notice {
                        record.notified(at_ms, *list);
                    }
                }
            }
            Event::View {
                session,
                comparison,
            } => {
                let id = match self.credit(session) {
                    Key::Session(session) => session.to_string(),
                    Key::Stateless => "stateless".to_owned(),
                };
                let view = json!({
                    "at_ms": at_ms,
                    "session": id,
                    "lists": comparison.to_json(),
                });
                // The newest view always stands last: a client's final view
                // is what a verdict reads first.
                if self.views.len() >= MAX_VIEWS {
                    self.views.pop();
                    self.dropped_views += 1;
                }
                self.views.push(view);
            }
            Event::Closed { session } => {
                if let Some(record) = self.sessions.get_mut(&Key::Session(*session)) {
                    record.closed_ms.get_or_insert(at_ms);
                }
            }
        }
    }

    fn changed(
        &mut self,
        at_ms: u64,
        list: ListKind,
        kind: ChangeKind,
        item: &Option<String>,
        version: u64,
    ) {
        let current = &mut self.current[list.index()];
        *current = (*current).max(Some(version));
        if self.changes.len() >= MAX_CHANGES {
            self.dropped_changes += 1;
            return;
        }
        self.changes.push(ChangeSeen {
            list,
            kind,
            item: item.clone(),
            version,
            at_ms,
        });
        // A resource update leaves its list as it was: nothing to re-list.
        if kind.is_update() {
            return;
        }
        for record in self.sessions.values_mut() {
            if record.closed_ms.is_some() {
                continue;
            }
            // Never more than MAX_CHANGES, since the top level holds no more.
            record.verdicts.push(Verdict {
                list,
                version,
                at_ms,
                notified_ms: None,
                relisted_ms: None,
                pages_fetched: 0,
                pages_total: 0,
                refreshed: false,
            });
        }
    }

    /// The entry that `origin`'s events go to: its session's; for a
    /// stateless request, the listen stream's whose client it names, if
    /// exactly one live listen stream names it, or else `"stateless"`.
    fn credit(&self, origin: &Origin) -> Key {
        self.matched(origin).unwrap_or(Key::Stateless)
    }

    /// [`Record::credit`]'s entry, or why a stateless request has none but
    /// `"stateless"`. The client is matched on its name and version as the
    /// report keeps them (cut to [`MAX_CLIENT_STRING`]): a request carries
    /// no instance id, so two instances of one client that both listen
    /// cannot be told apart, and neither is credited.
    fn matched(&self, origin: &Origin) -> Result<Key, Unmatched> {
        let client = match origin {
            Origin::Session(session) => return Ok(Key::Session(*session)),
            Origin::Stateless(None) => return Err(Unmatched::NoClient),
            Origin::Stateless(Some(client)) => client,
        };
        let mut listening = self
            .sessions
            .iter()
            .filter(|(key, record)| {
                matches!(key, Key::Session(_)) && record.is_listen_stream_of(client)
            })
            .map(|(key, _)| *key);
        match (listening.next(), listening.next()) {
            (Some(key), None) => Ok(key),
            (None, _) => Err(Unmatched::NoListenStream),
            (Some(_), Some(_)) => Err(Unmatched::SeveralListenStreams),
        }
    }

    /// The session `key`'s record, made on its first event; `None` if it
    /// does not fit.
    fn session(&mut self, at_ms: u64, key: Key) -> Option<&mut SessionRecord> {
        if !self.sessions.contains_key(&key) {
            if self.sessions.len() >= MAX_SESSIONS {
                // Room is made only by a session that has ended.
                let oldest_closed = self
                    .sessions
                    .iter()
                    .filter(|(_, record)| record.closed_ms.is_some())
                    .min_by_key(|(_, record)| record.order)
                    .map(|(key, _)| *key);
                match oldest_closed {
                    Some(oldest) => {
                        self.sessions.remove(&oldest);
                        self.dropped_sessions += 1;
                    }
                    None => {
                        self.dropped_events += 1;
                        return None;
                    }
                }
            }
            self.next_order += 1;
            let record = SessionRecord {
                order: self.next_order,
                opened_ms: at_ms,
                ..SessionRecord::default()
            };
            self.sessions.insert(key, record);
        }
        self.sessions.get_mut(&key)
    }

    /// `count` changes past [`MAX_CHANGES`] were counted outside the record
    /// (the recorder's watcher does, rather than queue them): as many as
    /// [`Record::see`] would have dropped. `versions` is each list's newest
    /// version among them. The numbers are totals so far, not increments.
    pub fn unkept_changes(&mut self, count: u64, versions: [Option<u64>; 3]) {
        self.unkept = (count, versions);
    }

    /// Each list's newest version seen.
    fn current(&self) -> [Option<u64>; 3] {
        std::array::from_fn(|i| self.current[i].max(self.unkept.1[i]))
    }

    /// Whether anything was left out.
    fn truncated(&self) -> bool {
        self.dropped_changes
            + self.unkept.0
            + self.dropped_steps
            + self.dropped_sessions
            + self.dropped_events
            + self.dropped_views
            > 0
            || self.sessions.values().any(SessionRecord::truncated)
    }

    /// The report at `at_ms`, as the schema describes it.
    pub fn report(&self, at_ms: u64) -> Value {
        let changes: Vec<Value> = self
            .changes
            .iter()
            .map(|change| {
                json!({
                    "list": change.list,
                    "kind": change.kind.action().as_str(),
                    "item": change.item,
                    "version": change.version,
                    "at_ms": change.at_ms,
                })
            })
            .collect();
        let mut sessions: Vec<(&Key, &SessionRecord)> = self.sessions.iter().collect();
        sessions.sort_by_key(|(_, record)| record.order);
        let current = self.current();
        let sessions: Vec<Value> = sessions
            .into_iter()
            .map(|(key, record)| record.report(*key, &current))
            .collect();
        let mut report = json!({
            "at_ms": at_ms,
            "truncated": self.truncated(),
            "dropped": {
                "changes": self.dropped_changes + self.unkept.0,
                "steps": self.dropped_steps,
                "sessions": self.dropped_sessions,
                "events": self.dropped_events,
            },
            "changes": changes,
            "steps": self.steps,
            "sessions": sessions,
        });
        // Only check mode has views: every other report is as it was.
        if !self.views.is_empty() {
            report["views"] = Value::from(self.views.clone());
            report["dropped"]["views"] = Value::from(self.dropped_views);
        }
        report
    }
}

impl SessionRecord {
    /// Whether this is a live 2026-07-28 listen stream whose client is
    /// `client`, as far as the report keeps its name and version.
    fn is_listen_stream_of(&self, client: &Client) -> bool {
        self.closed_ms.is_none()
            && self.protocol.as_deref() == Some(STATELESS_REVISION)
            && self.client.as_ref().is_some_and(|(name, version)| {
                name == cut(&client.name) && version == cut(&client.version)
            })
    }

    /// A notification for `list` was written: every change of that list not
    /// yet notified is now (they are the newest of that list).
    fn notified(&mut self, at_ms: u64, list: ListKind) {
        for verdict in self.verdicts.iter_mut().rev() {
            if verdict.list != list {
                continue;
            }
            if verdict.notified_ms.is_some() {
                break;
            }
            verdict.notified_ms = Some(at_ms);
        }
    }

    /// A page of `list` was served: it re-lists (page 0) or goes on with
    /// (later pages) every change of that list not yet refreshed that it
    /// includes. A page of an older version was read before the change (a
    /// scenario step can land between a request and its answer): no re-list.
    fn page(&mut self, at_ms: u64, list: ListKind, version: u64, page: u64, pages: u64) {
        let last = page + 1 >= pages;
        if last {
            self.fetched[list.index()] = Some(version);
        }
        for verdict in self.verdicts.iter_mut().rev() {
            if verdict.list != list {
                continue;
            }
            if verdict.refreshed {
                break;
            }
            if version < verdict.version {
                continue;
            }
            if page == 0 {
                verdict.relisted_ms.get_or_insert(at_ms);
                verdict.pages_fetched = 1;
            } else if verdict.relisted_ms.is_some() {
                verdict.pages_fetched += 1;
            } else {
                // A walk begun before the change: not a re-list.
                continue;
            }
            verdict.pages_total = pages;
            verdict.refreshed = last;
        }
    }

    fn count_cursor(&mut self, list: ListKind, cursor: &str) {
        let key = (list, cut(cursor).to_owned());
        if let Some(times) = self.cursors.get_mut(&key) {
            *times += 1;
        } else if self.cursors.len() < MAX_CURSORS {
            self.cursors.insert(key, 1);
        } else {
            self.dropped.cursors += 1;
        }
    }

    fn truncated(&self) -> bool {
        let d = self.dropped;
        d.stale_calls + d.refused_cursors + d.cursors > 0
    }

    /// Why the change was not notified, when it was not.
    fn not_notified(&self, verdict: &Verdict, key: Key) -> Option<&'static str> {
        if verdict.notified_ms.is_some() {
            return None;
        }
        let stateless =
            key == Key::Stateless || self.protocol.as_deref() == Some(STATELESS_REVISION);
        Some(if stateless {
            // Its notifications go only to listen streams: none wrote one.
            "not subscribed"
        } else if self.initialized_ms.is_none() {
            "not initialized"
        } else if self.closed_ms.is_some() {
            "session closed"
        } else {
            "pending"
        })
    }

    fn report(&self, key: Key, current: &[Option<u64>; 3]) -> Value {
        let id = match key {
            Key::Session(session) => session.to_string(),
            Key::Stateless => "stateless".to_owned(),
        };
        let (name, version) = match &self.client {
            Some((name, version)) => (Value::from(name.as_str()), Value::from(version.as_str())),
            None => (Value::Null, Value::Null),
        };
        let changes: Vec<Value> = self
            .verdicts
            .iter()
            .map(|verdict| {
                let fetched = self.fetched[verdict.list.index()];
                json!({
                    "list": verdict.list,
                    "version": verdict.version,
                    "at_ms": verdict.at_ms,
                    "notified_ms": verdict.notified_ms,
                    "not_notified": self.not_notified(verdict, key),
                    "relisted_ms": verdict.relisted_ms,
                    "pages_fetched": verdict.pages_fetched,
                    "pages_total": verdict.pages_total,
                    "refreshed": verdict.refreshed,
                    "reached_current": fetched.is_some() && fetched == current[verdict.list.index()],
                })
            })
            .collect();
        let mut loops: Vec<Value> = self
            .cursors
            .iter()
            .filter(|(_, times)| **times > 2)
            .map(
                |((list, cursor), times)| json!({ "list": list, "cursor": cursor, "times": times }),
            )
            .collect();
        loops.sort_by(|a, b| a["cursor"].as_str().cmp(&b["cursor"].as_str()));
        let seen = self
            .verdicts
            .iter()
            .filter(|v| v.notified_ms.is_some())
            .count();
        let refreshed = self.verdicts.iter().filter(|v| v.refreshed).count();
        let [change, duplicate, spurious] = self.notifications;
        let unmatched = match key {
            Key::Session(_) => Value::Null,
            Key::Stateless => Unmatched::ALL
                .into_iter()
                .map(|why| (why.as_str().to_owned(), json!(self.unmatched[why as usize])))
                .collect(),
        };
        json!({
            "id": id,
            "client": { "name": name, "version": version },
            "protocol": self.protocol,
            "opened_ms": self.opened_ms,
            "initialized_ms": self.initialized_ms,
            "closed_ms": self.closed_ms,
            "requests": self.requests,
            "unmatched": unmatched,
            "notifications": { "change": change, "duplicate": duplicate, "spurious": spurious },
            "changes": changes,
            "stale_calls": self.stale_calls,
            "refused_cursors": self.refused_cursors,
            "cursor_loops": loops,
            "truncated": self.truncated(),
            "dropped": {
                "stale_calls": self.dropped.stale_calls,
                "refused_cursors": self.dropped.refused_cursors,
                "cursors": self.dropped.cursors,
            },
            "summary": {
                "seen": seen,
                "refreshed": refreshed,
                "missed": self.verdicts.len() - refreshed,
                "stale_calls": self.stale_count,
            },
        })
    }
}

/// `text`, cut to at most [`MAX_CLIENT_STRING`] bytes at a character
/// boundary.
fn cut(text: &str) -> &str {
    if text.len() <= MAX_CLIENT_STRING {
        return text;
    }
    let mut end = MAX_CLIENT_STRING;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Origin = Origin::Session(7);

    fn hello(record: &mut Record, at: u64, protocol: &str) {
        record.see(
            at,
            &Event::Hello {
                session: S,
                name: "client".into(),
                version: "1.0".into(),
                protocol: protocol.into(),
            },
        );
    }

    /// A handshake client, initialized at 2 ms.
    fn initialized() -> Record {
        let mut record = Record::default();
        hello(&mut record, 1, "2025-11-25");
        record.see(2, &Event::Initialized { session: S });
        record
    }

    fn change(list: ListKind, kind: ChangeKind, version: u64) -> Event {
        Event::Changed {
            list,
            kind,
            item: Some("echo4".into()),
            version,
        }
    }

    fn notified(list: ListKind) -> Event {
        Event::Notified {
            session: 7,
            notice: Notice::ListChanged(list),
            cause: Cause::Change,
        }
    }

    fn page(version: u64, page: usize, pages: usize, cursor: Option<&str>) -> Event {
        Event::Page {
            session: S,
            list: ListKind::Tools,
            version,
            page,
            pages,
            cursor: cursor.map(str::to_owned),
        }
    }

    fn session(report: &Value) -> &Value {
        &report["sessions"][0]
    }

    #[test]
    fn a_client_that_relists_after_its_notification_refreshed_the_change() {
        let mut record = initialized();
        record.see(10, &change(ListKind::Tools, ChangeKind::AddTool, 2));
        record.see(11, &notified(ListKind::Tools));
        record.see(15, &page(2, 0, 1, None));
        let report = record.report(20);
        let s = session(&report);
        assert_eq!(s["client"], json!({ "name": "client", "version": "1.0" }));
        assert_eq!(s["protocol"], "2025-11-25");
        assert_eq!(
            s["changes"][0],
            json!({
                "list": "tools", "version": 2, "at_ms": 10, "notified_ms": 11,
                "not_notified": null, "relisted_ms": 15, "pages_fetched": 1,
                "pages_total": 1, "refreshed": true, "reached_current": true,
            })
        );
        assert_eq!(
            s["summary"],
            json!({ "seen": 1, "refreshed": 1, "missed": 0, "stale_calls": 0 })
        );
        assert_eq!(
            report["changes"],
            json!([{ "list": "tools", "kind": "add", "item": "echo4", "version": 2, "at_ms": 10 }])
        );
        assert_eq!(report["truncated"], false);
    }

    #[test]
    fn a_client_told_that_never_relists_missed_the_change() {
        let mut record = initialized();
        record.see(5, &page(1, 0, 1, None));
        record.see(10, &change(ListKind::Tools, ChangeKind::AddTool, 2));
        record.see(11, &notified(ListKind::Tools));
        let s = &record.report(20)["sessions"][0];
        assert_eq!(s["changes"][0]["relisted_ms"], Value::Null);
        assert_eq!(s["changes"][0]["reached_current"], false);
        assert_eq!(
            s["summary"],
            json!({ "seen": 1, "refreshed": 0, "missed": 1, "stale_calls": 0 })
        );
    }

    #[test]
    fn a_paged_list_is_refreshed_only_at_its_last_page_at_the_changes_version() {
        let mut record = initialized();
        record.see(10, &change(ListKind::Tools, ChangeKind::AddTool, 2));
        // A list read before the change and answered after it is no re-list.
        record.see(11, &page(1, 0, 1, None));
        let s = &record.report(12)["sessions"][0]["changes"][0];
        assert_eq!(
            (s["relisted_ms"].clone(), s["refreshed"].clone()),
            (json!(null), json!(false))
        );
        record.see(13, &page(2, 0, 3, None));
        record.see(14, &page(2, 1, 3, Some("c1")));
        let s = &record.report(15)["sessions"][0]["changes"][0];
        assert_eq!(s["refreshed"], false);
        assert_eq!(
            (s["pages_fetched"].clone(), s["pages_total"].clone()),
            (json!(2), json!(3))
        );
        record.see(16, &page(2, 2, 3, Some("c2")));
        let s = &record.report(17)["sessions"][0]["changes"][0];
        assert_eq!(s["refreshed"], true);
        assert_eq!(s["relisted_ms"], 13, "the first list after the change");
        assert_eq!(
            (s["pages_fetched"].clone(), s["pages_total"].clone()),
            (json!(3), json!(3))
        );
    }

    #[test]
    fn one_notification_and_one_list_after_several_changes_cover_them_all() {
        let mut record = initialized();
        record.see(10, &change(ListKind::Tools, ChangeKind::AddTool, 2));
        record.see(11, &change(ListKind::Tools, ChangeKind::AddTool, 3));
        record.see(12, &notified(ListKind::Tools));
        record.see(13, &change(ListKind::Prompts, ChangeKind::AddPrompt, 2));
        record.see(14, &page(3, 0, 1, None));
        let s = &record.report(20)["sessions"][0];
        assert_eq!(
            s["summary"],
            json!({ "seen": 2, "refreshed": 2, "missed": 1, "stale_calls": 0 })
        );
        assert_eq!(s["changes"][2]["list"], "prompts");
        assert_eq!(s["changes"][2]["not_notified"], "pending");
    }

    #[test]
    fn why_a_change_was_not_notified() {
        // Before notifications/initialized.
        let mut record = Record::default();
        hello(&mut record, 1, "2025-11-25");
        record.see(10, &change(ListKind::Tools, ChangeKind::AddTool, 2));
        assert_eq!(
            record.report(11)["sessions"][0]["changes"][0]["not_notified"],
            "not initialized"
        );
        // A 2026-07-28 client with no listen stream.
        let mut record = Record::default();
        hello(&mut record, 1, "2026-07-28");
        record.see(10, &change(ListKind::Tools, ChangeKind::AddTool, 2));
        assert_eq!(
            record.report(11)["sessions"][0]["changes"][0]["not_notified"],
            "not subscribed"
        );
        // Closed before its notification: and no change after its close.
        let mut record = initialized();
        record.see(10, &change(ListKind::Tools, ChangeKind::AddTool, 2));
        record.see(11, &Event::Closed { session: 7 });
        record.see(12, &change(ListKind::Tools, ChangeKind::AddTool, 3));
        let s = &record.report(13)["sessions"][0];
        assert_eq!(s["changes"][0]["not_notified"], "session closed");
        assert_eq!(s["changes"].as_array().unwrap().len(), 1);
        assert_eq!(s["closed_ms"], 11);
    }

    #[test]
    fn stateless_requests_share_one_entry() {
        let mut record = Record::default();
        record.see(
            1,
            &Event::Request {
                session: Origin::Stateless(None),
                method: "tools/list",
            },
        );
        record.see(2, &change(ListKind::Tools, ChangeKind::AddTool, 2));
        let s = &record.report(3)["sessions"][0];
        assert_eq!(s["id"], "stateless");
        assert_eq!(s["client"], json!({ "name": null, "version": null }));
        assert_eq!(s["requests"], json!({ "tools/list": 1 }));
        assert_eq!(s["changes"][0]["not_notified"], "not subscribed");
    }

    /// A 2026-07-28 client's listen stream: session `session`, the client
    /// `name` 1.0, opened at `at`.
    fn listening(record: &mut Record, at: u64, session: SessionKey, name: &str) {
        record.see(
            at,
            &Event::Hello {
                session: Origin::Session(session),
                name: name.into(),
                version: "1.0".into(),
                protocol: STATELESS_REVISION.into(),
            },
        );
    }

    /// A stateless request's events from the client `name` 1.0 (`None`:
    /// its `_meta` names none): a whole `tools/list` at `version`.
    fn stateless_list(record: &mut Record, at: u64, name: Option<&str>, version: u64) {
        let origin = Origin::Stateless(name.map(|name| {
            std::sync::Arc::new(Client {
                name: name.into(),
                version: "1.0".into(),
            })
        }));
        record.see(
            at,
            &Event::Request {
                session: origin.clone(),
                method: "tools/list",
            },
        );
        record.see(
            at,
            &Event::Page {
                session: origin,
                list: ListKind::Tools,
                version,
                page: 0,
                pages: 1,
                cursor: None,
            },
        );
    }

    fn entry<'a>(report: &'a Value, id: &str) -> &'a Value {
        report["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no entry {id} in {report:#}"))
    }

    #[test]
    fn a_stateless_relist_is_credited_to_the_one_listen_stream_of_its_client() {
        let mut record = Record::default();
        listening(&mut record, 1, 7, "client");
        // Another client's listen stream takes nothing of it.
        listening(&mut record, 1, 8, "other");
        for version in [2, 3] {
            record.see(
                10 * version,
                &change(ListKind::Tools, ChangeKind::AddTool, version),
            );
            stateless_list(&mut record, 10 * version + 1, Some("client"), version);
        }
        record.see(
            35,
            &Event::ToolCall {
                session: Origin::Stateless(Some(std::sync::Arc::new(Client {
                    name: "client".into(),
                    version: "1.0".into(),
                }))),
                name: "gone".into(),
                revision: None,
                current: None,
            },
        );
        let report = record.report(40);
        let listen = entry(&report, "7");
        assert_eq!(
            listen["summary"],
            json!({ "seen": 0, "refreshed": 2, "missed": 0, "stale_calls": 1 })
        );
        assert_eq!(listen["requests"], json!({ "tools/list": 2 }));
        assert_eq!(listen["unmatched"], Value::Null);
        assert_eq!(entry(&report, "8")["summary"]["missed"], 2);
        assert!(
            report["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["id"] != "stateless"),
            "nothing left unmatched: {report:#}"
        );
    }

    #[test]
    fn two_instances_of_one_client_are_not_told_apart() {
        let mut record = Record::default();
        listening(&mut record, 1, 7, "client");
        listening(&mut record, 1, 8, "client");
        record.see(10, &change(ListKind::Tools, ChangeKind::AddTool, 2));
        stateless_list(&mut record, 11, Some("client"), 2);
        let report = record.report(20);
        for id in ["7", "8"] {
            assert_eq!(entry(&report, id)["summary"]["refreshed"], 0);
        }
        let stateless = entry(&report, "stateless");
        assert_eq!(stateless["requests"], json!({ "tools/list": 1 }));
        assert_eq!(
            stateless["unmatched"],
            json!({ "no_client": 0, "no_listen_stream": 0, "several_listen_streams": 1 })
        );
        // Once one instance has closed its stream, the other is credited.
        record.see(30, &Event::Closed { session: 8 });
        stateless_list(&mut record, 31, Some("client"), 2);
        let report = record.report(40);
        assert_eq!(entry(&report, "7")["summary"]["refreshed"], 1);
    }

    #[test]
    fn a_stateless_request_with_no_listen_stream_or_no_client_stays_stateless() {
        let mut record = Record::default();
        // A listen stream of the client, but closed; a live one of another
        // revision's session of the same name.
        listening(&mut record, 1, 7, "client");
        record.see(2, &Event::Closed { session: 7 });
        record.see(
            3,
            &Event::Hello {
                session: Origin::Session(9),
                name: "client".into(),
                version: "1.0".into(),
                protocol: "2025-11-25".into(),
            },
        );
        record.see(10, &change(ListKind::Tools, ChangeKind::AddTool, 2));
        stateless_list(&mut record, 11, Some("client"), 2);
        stateless_list(&mut record, 12, None, 2);
        let report = record.report(20);
        let stateless = entry(&report, "stateless");
        assert_eq!(stateless["requests"], json!({ "tools/list": 2 }));
        assert_eq!(
            stateless["unmatched"],
            json!({ "no_client": 1, "no_listen_stream": 1, "several_listen_streams": 0 })
        );
        assert_eq!(
            stateless["client"],
            json!({ "name": null, "version": null })
        );
        assert_eq!(entry(&report, "7")["requests"], json!({}));
        assert_eq!(entry(&report, "9")["requests"], json!({}));
    }

    #[test]
    fn a_resource_update_is_listed_but_is_no_list_change_for_sessions() {
        let mut record = initialized();
        record.see(
            10,
            &change(ListKind::Resources, ChangeKind::UpdateResource, 1),
        );
        let report = record.report(11);
        assert_eq!(report["changes"][0]["kind"], "revise");
        assert_eq!(report["sessions"][0]["changes"], json!([]));
    }

    #[test]
    fn stale_calls_are_calls_to_missing_tools_and_old_revisions() {
        let mut record = initialized();
        let call = |name: &str, revision, current| Event::ToolCall {
            session: S,
            name: name.into(),
            revision,
            current,
        };
        record.see(10, &call("echo4", None, None));
        record.see(11, &call("echo3", None, Some(2)));
        record.see(12, &call("echo3", Some(1), Some(2)));
        // Not stale: the current revision, or a tool never changed.
        record.see(13, &call("echo3", Some(2), Some(2)));
        record.see(14, &call("echo", None, Some(1)));
        let s = &record.report(15)["sessions"][0];
        let reasons: Vec<&str> = s["stale_calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["reason"].as_str().unwrap())
            .collect();
        assert_eq!(
            reasons,
            ["unknown tool", "stale revision", "stale revision"]
        );
        assert_eq!(
            s["stale_calls"][0],
            json!({ "at_ms": 10, "tool": "echo4", "revision": null, "current": null, "reason": "unknown tool" })
        );
        assert_eq!(s["summary"]["stale_calls"], 3);
    }

    #[test]
    fn a_cursor_asked_more_than_twice_is_a_loop_and_refusals_are_kept() {
        let mut record = initialized();
        for _ in 0..2 {
            record.see(10, &page(1, 1, 2, Some("twice")));
        }
        for _ in 0..3 {
            record.see(11, &page(1, 1, 2, Some("thrice")));
        }
        record.see(
            12,
            &Event::RefusedCursor {
                session: S,
                list: ListKind::Tools,
                cursor: "bogus".into(),
                reason: "never issued".into(),
            },
        );
        let s = &record.report(13)["sessions"][0];
        assert_eq!(
            s["cursor_loops"],
            json!([{ "list": "tools", "cursor": "thrice", "times": 3 }])
        );
        assert_eq!(s["refused_cursors"][0]["reason"], "never issued");
        assert_eq!(s["refused_cursors"][0]["cursor"], "bogus");
    }

    #[test]
    fn notifications_are_counted_by_cause() {
        let mut record = initialized();
        for cause in [
            Cause::Change,
            Cause::Duplicate,
            Cause::Duplicate,
            Cause::Spurious,
        ] {
            record.see(
                10,
                &Event::Notified {
                    session: 7,
                    notice: Notice::ListChanged(ListKind::Tools),
                    cause,
                },
            );
        }
        assert_eq!(
            record.report(11)["sessions"][0]["notifications"],
            json!({ "change": 1, "duplicate": 2, "spurious": 1 })
        );
    }

    #[test]
    fn steps_are_listed_with_their_time() {
        let mut record = Record::default();
        record.see(
            42,
            &Event::StepRan {
                step: 0,
                what: "add_tool".into(),
            },
        );
        assert_eq!(
            record.report(43)["steps"],
            json!([{ "step": 0, "what": "add_tool", "at_ms": 42 }])
        );
    }

    #[test]
    fn the_record_stays_bounded_whatever_the_clients_do() {
        let mut record = Record::default();
        for session in 0..MAX_SESSIONS as u64 + 10 {
            record.see(
                1,
                &Event::Initialized {
                    session: Origin::Session(session),
                },
            );
        }
        for version in 0..MAX_CHANGES as u64 + 5 {
            record.see(2, &change(ListKind::Tools, ChangeKind::AddTool, version));
        }
        for n in 0..MAX_CURSORS + 3 {
            record.see(
                3,
                &Event::Page {
                    session: Origin::Session(0),
                    list: ListKind::Tools,
                    version: 1,
                    page: 1,
                    pages: 2,
                    cursor: Some(format!("{n}{}", "x".repeat(1000))),
                },
            );
        }
        for _ in 0..MAX_CALLS + 4 {
            record.see(
                4,
                &Event::ToolCall {
                    session: Origin::Session(0),
                    name: "gone".into(),
                    revision: None,
                    current: None,
                },
            );
        }
        let report = record.report(5);
        assert_eq!(report["truncated"], true);
        assert_eq!(report["dropped"]["events"], 10);
        assert_eq!(report["dropped"]["changes"], 5);
        let sessions = report["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), MAX_SESSIONS);
        let first = &sessions[0];
        assert_eq!(first["changes"].as_array().unwrap().len(), MAX_CHANGES);
        assert_eq!(first["dropped"]["cursors"], 3);
        assert_eq!(first["dropped"]["stale_calls"], 4);
        assert_eq!(first["summary"]["stale_calls"], MAX_CALLS + 4);
        assert_eq!(first["truncated"], true);
        assert!(
            record.sessions[&Key::Session(0)]
                .cursors
                .keys()
                .all(|(_, c)| c.len() <= MAX_CLIENT_STRING)
        );

        // A closed session makes room for a new one.
        record.see(6, &Event::Closed { session: 3 });
        record.see(
            7,
            &Event::Initialized {
                session: Origin::Session(1000),
            },
        );
        let report = record.report(8);
        assert_eq!(report["dropped"]["sessions"], 1);
        let ids: Vec<&str> = report["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert!(!ids.contains(&"3") && ids.contains(&"1000"));
    }

    /// Changes the recorder's watcher counted instead of sending count as
    /// dropped, and their versions as the lists' newest.
    #[test]
    fn changes_counted_outside_the_record_are_dropped_changes() {
        let mut record = initialized();
        record.see(5, &page(1, 0, 1, None));
        record.unkept_changes(5, [Some(9), None, None]);
        let report = record.report(6);
        assert_eq!(report["dropped"]["changes"], 5);
        assert_eq!(report["truncated"], true);
        // A client that listed version 1 has not reached version 9.
        record.see(7, &change(ListKind::Tools, ChangeKind::AddTool, 2));
        record.see(8, &page(2, 0, 1, None));
        let report = record.report(9);
        assert_eq!(report["sessions"][0]["changes"][0]["refreshed"], true);
        assert_eq!(
            report["sessions"][0]["changes"][0]["reached_current"],
            false
        );
    }

    #[test]
    fn views_are_kept_bounded_with_the_newest_last() {
        use crate::check::view::{Comparison, ListComparison};
        let mut record = initialized();
        let view = |version| Event::View {
            session: S,
            comparison: Comparison {
                lists: vec![ListComparison {
                    list: ListKind::Tools,
                    version,
                    matches: true,
                    held: 3,
                    missing: vec![],
                    extra: vec![],
                }],
            },
        };
        // No view, no key: every report but check mode's is as it was.
        assert!(record.report(5).get("views").is_none());
        for i in 0..(MAX_VIEWS as u64 + 5) {
            record.see(10 + i, &view(i));
        }
        let report = record.report(5000);
        let views = report["views"].as_array().unwrap();
        assert_eq!(views.len(), MAX_VIEWS);
        assert_eq!(views[0]["lists"]["tools"]["version"], 0);
        assert_eq!(
            views.last().unwrap()["lists"]["tools"]["version"],
            MAX_VIEWS as u64 + 4
        );
        assert_eq!(views[0]["session"], "7");
        assert_eq!(report["dropped"]["views"], 5);
        assert_eq!(report["truncated"], true);
    }
}
