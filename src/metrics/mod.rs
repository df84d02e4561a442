//! The metrics that load tools scrape: the run's [`Event`]s folded into
//! Prometheus counters, gauges and histograms, served as `GET /metrics` on the
//! control endpoint in the OpenMetrics text format, which Prometheus scrapes
//! as it does its own text format.
//!
//! This module is pure: [`Metrics::see`] takes an event and its time,
//! [`Metrics::encode`] writes the text. The
//! [`MetricsWatcher`](crate::metrics::watcher::MetricsWatcher) shares one
//! `Metrics` between the emitters and the scrapes. A server without a
//! control endpoint has no `Metrics` at all.
//!
//! # The families
//!
//! Every name starts with `dynamic_mcp_`.
//! - `sessions_open{protocol, transport}`: sessions whose client said who it
//!   is (`initialize`, or a 2026-07-28 `subscriptions/listen`) and that have
//!   not closed.
//! - `requests_total{method, outcome}`: requests answered; `outcome` is `ok`,
//!   `tool_error` (a `tools/call` result with `isError`) or the JSON-RPC
//!   error's name (`invalid_params`, `method_not_found`, `resource_not_found`,
//!   `internal_error`, or `error` for any other code).
//! - `notifications_total{notification, cause}`: notifications written;
//!   `cause` is `change`, `duplicate` or `spurious` (see [`Cause`]).
//! - `changes_total{list, kind}`: change steps applied.
//! - `change_sessions_total{list, protocol}`: for each list change, the
//!   sessions open at that moment (one per session per change), by their
//!   protocol revision: what the two histograms below are shares of.
//! - `change_notified_seconds{list, protocol}`: per change and session, the time from
//!   the change to the session's first `list_changed` for that list after it;
//!   its `_count` over `change_sessions_total` is the share notified.
//! - `change_refreshed_seconds{list, protocol}`: per change and session, the time from
//!   the change to the session's last page of that list, of a walk that began
//!   after the change at its version or later; its `_count` over
//!   `change_sessions_total` is the share that re-listed to the end. Only a
//!   handshake session's list requests carry its session: a 2026-07-28
//!   client's stateless `tools/list` belongs to none, so its refresh is not
//!   counted here (its load tool times it).
//! - `change_missed_total{list, protocol}`: per change and session, sessions that
//!   closed before refreshing (a 2026-07-28 listen session: before it was
//!   notified), or whose backlog outgrew [`MAX_PENDING`].
//! - `stale_calls_total{reason}`: `tools/call`s of a tool gone (`unknown
//!   tool`) or of an older revision (`stale revision`).
//! - `refused_cursors_total{list}`: list requests refused for their cursor.
//!
//! A resource update is no list change: it is counted in `changes_total`
//! (kind `revise`, list `resources`) and owes no session a re-list. There are
//! no per-upstream labels: this server is one upstream.

pub mod watcher;

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::catalog::{ChangeKind, ListKind};
use crate::notice::Notice;
use crate::observe::{Cause, Event, Origin, Outcome, SessionKey, stale_call};

/// The most changes one session may owe before the oldest is counted as
/// missed: a session that never re-lists must not grow without bound.
pub const MAX_PENDING: usize = 1000;

/// The protocol revision without a handshake: its list requests carry no
/// session.
const STATELESS_REVISION: &str = "2026-07-28";

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    protocol: String,
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    notification: &'static str,
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChangeLabels {
    list: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListLabels {
    list: &'static str,
}

/// A list and the protocol revision of the sessions that owe its changes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OwedLabels {
    list: &'static str,
    protocol: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

type Latency = Family<OwedLabels, Histogram, fn() -> Histogram>;

/// From 0.5 ms to about 33 s, doubling: a notification takes well under a
/// millisecond on one machine, a client's re-list through a gateway under
/// load may take seconds.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

/// One change a session still owes something for.
#[derive(Debug, Clone, Copy)]
struct Owed {
    version: u64,
    at: Instant,
    notified: bool,
    /// A walk of the list began (page 0) after the change.
    relisting: bool,
}

/// An open session, from its client's hello.
#[derive(Debug)]
struct Open {
    labels: SessionLabels,
    /// A 2026-07-28 listen session: notified, but never seen re-listing.
    stateless: bool,
    owed: [VecDeque<Owed>; 3],
}

impl Open {
    fn owed_labels(&self, list: ListKind) -> OwedLabels {
        OwedLabels {
            list: list.as_str(),
            protocol: self.labels.protocol.clone(),
        }
    }
}

/// The families and what folding into them needs.
pub struct Metrics {
    registry: Registry,
    transport: &'static str,
    sessions_open: Family<SessionLabels, Gauge>,
    requests: Family<RequestLabels, Counter>,
    notifications: Family<NotificationLabels, Counter>,
    changes: Family<ChangeLabels, Counter>,
    change_sessions: Family<OwedLabels, Counter>,
    notified: Latency,
    refreshed: Latency,
    missed: Family<OwedLabels, Counter>,
    stale_calls: Family<ReasonLabels, Counter>,
    refused_cursors: Family<ListLabels, Counter>,
    open: HashMap<SessionKey, Open>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Metrics({} sessions open)", self.open.len())
    }
}

impl Metrics {
    /// The metrics of a server whose sessions all come over `transport`
    /// (`stdio` or `http`): a server serves one transport.
    pub fn new(transport: &'static str) -> Self {
        let metrics = Self {
            registry: Registry::with_prefix("dynamic_mcp"),
            transport,
            sessions_open: Family::default(),
            requests: Family::default(),
            notifications: Family::default(),
            changes: Family::default(),
            change_sessions: Family::default(),
            notified: Latency::new_with_constructor(latency),
            refreshed: Latency::new_with_constructor(latency),
            missed: Family::default(),
            stale_calls: Family::default(),
            refused_cursors: Family::default(),
            open: HashMap::new(),
        };
        // Every list's series from the start, so that a scrape shows a
        // zero rather than nothing.
        for list in ListKind::ALL {
            let _ = metrics.refused_cursors.get_or_create(&list_labels(list));
        }
        metrics.registered()
    }

    /// The same, with every family in its registry: a family holds its
    /// metrics behind an `Arc`, so the registry's copy and ours are one.
    fn registered(mut self) -> Self {
        let registry = &mut self.registry;
        registry.register(
            "sessions_open",
            "Sessions whose client said who it is and that have not closed",
            self.sessions_open.clone(),
        );
        registry.register(
            "requests",
            "Requests answered, by method and outcome",
            self.requests.clone(),
        );
        registry.register(
            "notifications",
            "Notifications written, by notification and cause",
            self.notifications.clone(),
        );
        registry.register(
            "changes",
            "Change steps applied, by list and kind",
            self.changes.clone(),
        );
        registry.register(
            "change_sessions",
            "Sessions open at a list change, one per session per change",
            self.change_sessions.clone(),
        );
        registry.register_with_unit(
            "change_notified",
            "Time from a list change to the session's list_changed, per session",
            Unit::Seconds,
            self.notified.clone(),
        );
        registry.register_with_unit(
            "change_refreshed",
            "Time from a list change to the session's re-list to its last page, per session",
            Unit::Seconds,
            self.refreshed.clone(),
        );
        registry.register(
            "change_missed",
            "Changes a session closed (or fell too far behind) without refreshing",
            self.missed.clone(),
        );
        registry.register(
            "stale_calls",
            "tools/call of a tool gone or of an older revision",
            self.stale_calls.clone(),
        );
        registry.register(
            "refused_cursors",
            "List requests refused for their cursor",
            self.refused_cursors.clone(),
        );
        self
    }

    /// Fold one event, which happened `at`.
    pub fn see(&mut self, at: Instant, event: &Event) {
        match event {
            Event::Changed {
                list,
                kind,
                version,
                ..
            } => self.changed(at, *list, *kind, *version),
            Event::Hello {
                session: Origin::Session(session),
                protocol,
                ..
            } => self.hello(*session, protocol),
            Event::Answered {
                method, outcome, ..
            } => {
                let outcome = outcome_name(*outcome);
                self.requests
                    .get_or_create(&RequestLabels { method, outcome })
                    .inc();
            }
            Event::Page {
                session: Origin::Session(session),
                list,
                version,
                page,
                pages,
                ..
            } => {
                if let Some(open) = self.open.get_mut(session) {
                    let last = page + 1 >= *pages;
                    let refreshed = self.refreshed.get_or_create(&open.owed_labels(*list));
                    open.owed[list.index()].retain_mut(|owed| {
                        // A page of an older version was read before the
                        // change; a later page of a walk begun before it is
                        // no re-list.
                        if *version < owed.version || (*page > 0 && !owed.relisting) {
                            return true;
                        }
                        owed.relisting = true;
                        if last {
                            refreshed.observe(since(owed.at, at));
                        }
                        !last
                    });
                }
            }
            Event::RefusedCursor { list, .. } => {
                self.refused_cursors
                    .get_or_create(&list_labels(*list))
                    .inc();
            }
            Event::ToolCall {
                revision, current, ..
            } => {
                if let Some(reason) = stale_call(*revision, *current) {
                    self.stale_calls
                        .get_or_create(&ReasonLabels { reason })
                        .inc();
                }
            }
            Event::Notified {
                session,
                notice,
                cause,
            } => {
                let labels = NotificationLabels {
                    notification: notification_name(notice),
                    cause: cause_name(*cause),
                };
                self.notifications.get_or_create(&labels).inc();
                if let (Notice::ListChanged(list), Some(open)) =
                    (notice, self.open.get_mut(session))
                {
                    let stateless = open.stateless;
                    let notified = self.notified.get_or_create(&open.owed_labels(*list));
                    open.owed[list.index()].retain_mut(|owed| {
                        if !owed.notified {
                            owed.notified = true;
                            notified.observe(since(owed.at, at));
                        }
                        // A stateless client's re-list is not seen here.
                        !stateless
                    });
                }
            }
            Event::Closed { session } => {
                if let Some(open) = self.open.remove(session) {
                    self.sessions_open.get_or_create(&open.labels).dec();
                    for list in ListKind::ALL {
                        let left = open.owed[list.index()].len() as u64;
                        if left > 0 {
                            self.missed
                                .get_or_create(&open.owed_labels(list))
                                .inc_by(left);
                        }
                    }
                }
            }
            Event::Hello {
                session: Origin::Stateless(_),
                ..
            }
            | Event::Page {
                session: Origin::Stateless(_),
                ..
            }
            | Event::Request { .. }
            | Event::InitializeAnswered { .. }
            | Event::Initialized { .. }
            | Event::StepRan { .. }
            | Event::View { .. } => {}
        }
    }

    /// A session's client said who it is: it is open from now on, once.
    fn hello(&mut self, session: SessionKey, protocol: &str) {
        if self.open.contains_key(&session) {
            return;
        }
        let labels = SessionLabels {
            protocol: protocol.to_owned(),
            transport: self.transport,
        };
        self.sessions_open.get_or_create(&labels).inc();
        let open = Open {
            labels,
            stateless: protocol == STATELESS_REVISION,
            owed: Default::default(),
        };
        // Its revision's series from now on, so that a scrape shows a zero
        // rather than nothing.
        for list in ListKind::ALL {
            let labels = open.owed_labels(list);
            let _ = self.change_sessions.get_or_create(&labels);
            let _ = self.notified.get_or_create(&labels);
            let _ = self.refreshed.get_or_create(&labels);
            let _ = self.missed.get_or_create(&labels);
        }
        self.open.insert(session, open);
    }

    fn changed(&mut self, at: Instant, list: ListKind, kind: ChangeKind, version: u64) {
        let labels = ChangeLabels {
            list: list.as_str(),
            kind: kind.as_str(),
        };
        self.changes.get_or_create(&labels).inc();
        // A resource update leaves its list as it was: nothing to re-list.
        if kind.is_update() {
            return;
        }
        for open in self.open.values_mut() {
            let labels = open.owed_labels(list);
            self.change_sessions.get_or_create(&labels).inc();
            let owed = &mut open.owed[list.index()];
            if owed.len() >= MAX_PENDING {
                owed.pop_front();
                self.missed.get_or_create(&labels).inc();
            }
            owed.push_back(Owed {
                version,
                at,
                notified: false,
                relisting: false,
            });
        }
    }

    /// Every family, in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

fn list_labels(list: ListKind) -> ListLabels {
    ListLabels {
        list: list.as_str(),
    }
}

fn since(change: Instant, at: Instant) -> f64 {
    at.saturating_duration_since(change).as_secs_f64()
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::ToolError => "tool_error",
        Outcome::Error(-32602) => "invalid_params",
        Outcome::Error(-32601) => "method_not_found",
        Outcome::Error(-32002) => "resource_not_found",
        Outcome::Error(-32603) => "internal_error",
        Outcome::Error(_) => "error",
    }
}

fn notification_name(notice: &Notice) -> &'static str {
    match notice {
        Notice::ListChanged(ListKind::Tools) => "notifications/tools/list_changed",
        Notice::ListChanged(ListKind::Prompts) => "notifications/prompts/list_changed",
        Notice::ListChanged(ListKind::Resources) => "notifications/resources/list_changed",
        Notice::ResourceUpdated(_) => "notifications/resources/updated",
    }
}

fn cause_name(cause: Cause) -> &'static str {
    match cause {
        Cause::Change => "change",
        Cause::Duplicate => "duplicate",
        Cause::Spurious => "spurious",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The fold and a clock: `at(ms)` is `ms` after the start.
    struct Run {
        metrics: Metrics,
        start: Instant,
    }

    impl Run {
        fn new() -> Self {
            Self {
                metrics: Metrics::new("http"),
                start: Instant::now(),
            }
        }

        fn see(&mut self, ms: u64, event: Event) {
            let at = self.start + Duration::from_millis(ms);
            self.metrics.see(at, &event);
        }

        /// The sample `series` (name and labels, as written), or `None`.
        fn value(&self, series: &str) -> Option<f64> {
            self.metrics.encode().lines().find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == series).then(|| value.parse().unwrap())
            })
        }

        fn hello(&mut self, ms: u64, session: SessionKey, protocol: &str) {
            self.see(
                ms,
                Event::Hello {
                    session: Origin::Session(session),
                    name: "client".into(),
                    version: "1".into(),
                    protocol: protocol.into(),
                },
            );
        }

        fn change(&mut self, ms: u64, version: u64) {
            self.see(
                ms,
                Event::Changed {
                    list: ListKind::Tools,
                    kind: ChangeKind::AddTool,
                    item: Some("echo4".into()),
                    version,
                },
            );
        }

        fn notified(&mut self, ms: u64, session: SessionKey) {
            self.see(
                ms,
                Event::Notified {
                    session,
                    notice: Notice::ListChanged(ListKind::Tools),
                    cause: Cause::Change,
                },
            );
        }

        fn page(&mut self, ms: u64, session: SessionKey, version: u64, page: usize, pages: usize) {
            self.see(
                ms,
                Event::Page {
                    session: Origin::Session(session),
                    list: ListKind::Tools,
                    version,
                    page,
                    pages,
                    cursor: (page > 0).then(|| format!("c{page}")),
                },
            );
        }
    }

    const NOTIFIED: &str =
        r#"dynamic_mcp_change_notified_seconds_count{list="tools",protocol="2025-11-25"}"#;
    const REFRESHED: &str =
        r#"dynamic_mcp_change_refreshed_seconds_count{list="tools",protocol="2025-11-25"}"#;
    const OWED: &str = r#"dynamic_mcp_change_sessions_total{list="tools",protocol="2025-11-25"}"#;
    const MISSED: &str = r#"dynamic_mcp_change_missed_total{list="tools",protocol="2025-11-25"}"#;

    /// The same series for 2026-07-28 listen sessions.
    fn stateless(series: &str) -> String {
        series.replace("2025-11-25", "2026-07-28")
    }

    #[test]
    fn sessions_open_by_protocol_and_transport_until_they_close() {
        let mut run = Run::new();
        run.hello(1, 1, "2025-11-25");
        run.hello(2, 2, "2025-11-25");
        run.hello(3, 3, "2026-07-28");
        // A second listen stream of one session is still one session.
        run.hello(4, 3, "2026-07-28");
        let open = |protocol: &str| {
            format!(r#"dynamic_mcp_sessions_open{{protocol="{protocol}",transport="http"}}"#)
        };
        assert_eq!(run.value(&open("2025-11-25")), Some(2.0));
        assert_eq!(run.value(&open("2026-07-28")), Some(1.0));
        run.see(5, Event::Closed { session: 2 });
        run.see(6, Event::Closed { session: 2 });
        // Never opened: not counted down.
        run.see(7, Event::Closed { session: 9 });
        assert_eq!(run.value(&open("2025-11-25")), Some(1.0));
    }

    #[test]
    fn a_change_owed_by_every_open_session_is_notified_then_refreshed_at_the_last_page() {
        let mut run = Run::new();
        run.hello(0, 1, "2025-11-25");
        run.hello(0, 2, "2025-11-25");
        run.change(10, 2);
        assert_eq!(run.value(OWED), Some(2.0));
        assert_eq!(
            run.value(r#"dynamic_mcp_changes_total{list="tools",kind="add_tool"}"#),
            Some(1.0)
        );
        run.notified(11, 1);
        run.notified(13, 2);
        // A second notification for the same change is no second share.
        run.notified(14, 2);
        assert_eq!(run.value(NOTIFIED), Some(2.0));
        assert_eq!(
            run.value(r#"dynamic_mcp_notifications_total{notification="notifications/tools/list_changed",cause="change"}"#),
            Some(3.0)
        );
        // 1 ms and 3 ms: one under the 1 ms bucket's bound.
        assert_eq!(
            run.value(r#"dynamic_mcp_change_notified_seconds_bucket{le="0.001",list="tools",protocol="2025-11-25"}"#),
            Some(1.0)
        );
        // Session 1 walks two pages; session 2 only begins.
        run.page(20, 1, 2, 0, 2);
        assert_eq!(run.value(REFRESHED), Some(0.0));
        run.page(30, 1, 2, 1, 2);
        run.page(31, 2, 2, 0, 2);
        assert_eq!(run.value(REFRESHED), Some(1.0));
        assert_eq!(
            run.value(
                r#"dynamic_mcp_change_refreshed_seconds_sum{list="tools",protocol="2025-11-25"}"#
            ),
            Some(0.02)
        );
        // Session 2 leaves before its last page: missed.
        run.see(40, Event::Closed { session: 2 });
        assert_eq!(run.value(MISSED), Some(1.0));
        assert_eq!(run.value(REFRESHED), Some(1.0));
    }

    #[test]
    fn a_walk_begun_before_the_change_or_a_page_of_an_older_version_is_no_refresh() {
        let mut run = Run::new();
        run.hello(0, 1, "2025-11-25");
        run.page(5, 1, 1, 0, 2);
        run.change(10, 2);
        // The rest of the old walk, and a list answered at the old version.
        run.page(11, 1, 2, 1, 2);
        run.page(12, 1, 1, 0, 1);
        assert_eq!(run.value(REFRESHED), Some(0.0));
        run.page(13, 1, 2, 0, 1);
        assert_eq!(run.value(REFRESHED), Some(1.0));
        // Refreshed once: a later walk counts nothing more.
        run.page(14, 1, 2, 0, 1);
        assert_eq!(run.value(REFRESHED), Some(1.0));
    }

    #[test]
    fn one_walk_refreshes_every_change_it_includes() {
        let mut run = Run::new();
        run.hello(0, 1, "2025-11-25");
        run.change(10, 2);
        run.change(20, 3);
        run.notified(21, 1);
        assert_eq!(run.value(OWED), Some(2.0));
        assert_eq!(run.value(NOTIFIED), Some(2.0));
        // At version 2 only the first; at 3 the second.
        run.page(30, 1, 2, 0, 1);
        assert_eq!(run.value(REFRESHED), Some(1.0));
        run.page(40, 1, 3, 0, 1);
        assert_eq!(run.value(REFRESHED), Some(2.0));
        run.see(50, Event::Closed { session: 1 });
        assert_eq!(run.value(MISSED), Some(0.0));
    }

    #[test]
    fn a_stateless_listen_session_owes_only_its_notification() {
        let mut run = Run::new();
        run.hello(0, 1, "2026-07-28");
        run.change(10, 2);
        run.notified(12, 1);
        run.see(20, Event::Closed { session: 1 });
        assert_eq!(run.value(&stateless(OWED)), Some(1.0));
        assert_eq!(run.value(&stateless(NOTIFIED)), Some(1.0));
        assert_eq!(run.value(&stateless(REFRESHED)), Some(0.0));
        assert_eq!(run.value(&stateless(MISSED)), Some(0.0));
        // No handshake session, no handshake series.
        assert_eq!(run.value(OWED), None);
        // Not notified before it closed: missed.
        run.hello(30, 2, "2026-07-28");
        run.change(40, 3);
        run.see(50, Event::Closed { session: 2 });
        assert_eq!(run.value(&stateless(MISSED)), Some(1.0));
    }

    #[test]
    fn a_resource_update_is_counted_but_owes_no_relist() {
        let mut run = Run::new();
        run.hello(0, 1, "2025-11-25");
        run.see(
            10,
            Event::Changed {
                list: ListKind::Resources,
                kind: ChangeKind::UpdateResource,
                item: Some("file:///1".into()),
                version: 1,
            },
        );
        assert_eq!(
            run.value(r#"dynamic_mcp_changes_total{list="resources",kind="update_resource"}"#),
            Some(1.0)
        );
        assert_eq!(
            run.value(
                r#"dynamic_mcp_change_sessions_total{list="resources",protocol="2025-11-25"}"#
            ),
            Some(0.0)
        );
    }

    #[test]
    fn a_session_that_never_relists_stays_bounded() {
        let mut run = Run::new();
        run.hello(0, 1, "2025-11-25");
        for version in 0..(MAX_PENDING as u64 + 5) {
            run.change(version, version + 2);
        }
        assert_eq!(run.metrics.open[&1].owed[0].len(), MAX_PENDING);
        assert_eq!(run.value(MISSED), Some(5.0));
    }

    #[test]
    fn requests_stale_calls_and_refused_cursors_are_counted() {
        let mut run = Run::new();
        for outcome in [Outcome::Ok, Outcome::Ok, Outcome::Error(-32602)] {
            run.see(
                1,
                Event::Answered {
                    session: Origin::Stateless(None),
                    method: "tools/list",
                    outcome,
                },
            );
        }
        run.see(
            1,
            Event::Answered {
                session: Origin::Session(1),
                method: "tools/call",
                outcome: Outcome::ToolError,
            },
        );
        let requests = |method: &str, outcome: &str| {
            run.value(&format!(
                r#"dynamic_mcp_requests_total{{method="{method}",outcome="{outcome}"}}"#
            ))
        };
        assert_eq!(requests("tools/list", "ok"), Some(2.0));
        assert_eq!(requests("tools/list", "invalid_params"), Some(1.0));
        assert_eq!(requests("tools/call", "tool_error"), Some(1.0));
        for (revision, current) in [(None, None), (Some(1), Some(2)), (Some(2), Some(2))] {
            run.see(
                2,
                Event::ToolCall {
                    session: Origin::Stateless(None),
                    name: "echo1".into(),
                    revision,
                    current,
                },
            );
        }
        assert_eq!(
            run.value(r#"dynamic_mcp_stale_calls_total{reason="unknown tool"}"#),
            Some(1.0)
        );
        assert_eq!(
            run.value(r#"dynamic_mcp_stale_calls_total{reason="stale revision"}"#),
            Some(1.0)
        );
        run.see(
            3,
            Event::RefusedCursor {
                session: Origin::Stateless(None),
                list: ListKind::Prompts,
                cursor: "bogus".into(),
                reason: "not a cursor".into(),
            },
        );
        assert_eq!(
            run.value(r#"dynamic_mcp_refused_cursors_total{list="prompts"}"#),
            Some(1.0)
        );
    }
}
