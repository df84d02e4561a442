//! Property-based fuzzing of the report's inputs: runs of events whose
//! client-chosen parts (names, versions, protocol revisions, tool names,
//! cursors) are long, odd or multi-byte, over many sessions. The report
//! stays under a fixed bound and keeps no client string longer than
//! [`MAX_CLIENT_STRING`]. Run longer with, for example,
//! `PROPTEST_CASES=20000 cargo test --lib report::fuzz`.

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::observe::Client;

/// Cases per property in a plain `cargo test`, unless `PROPTEST_CASES` says.
const CASES: u32 = 64;

/// The most bytes one session's entry can take at the record's limits: a
/// verdict per kept change, the kept stale calls, refused cursors and
/// cursor loops with their strings at [`MAX_CLIENT_STRING`], and the rest.
const SESSION_BOUND: usize = MAX_CHANGES * 300
    + (MAX_CALLS + MAX_REFUSED + MAX_CURSORS) * (MAX_CLIENT_STRING + 150)
    + 3 * MAX_CLIENT_STRING
    + 2048;

/// The most bytes a report can take: every session at its bound, and the
/// kept changes and steps. About 63 MB: far below what unbounded client
/// strings made of it (0.5 GB at the documented limits), and reached only by
/// 128 sessions each with a thousand changes and every kind of stale input.
const REPORT_BOUND: usize = MAX_SESSIONS * SESSION_BOUND + (MAX_CHANGES + MAX_STEPS) * 200 + 1024;

/// A string a client might choose: short or long, ASCII or not.
fn client_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.-]{0,12}",
        "\\PC{0,40}",
        ("[a-zé€😀]{1,4}", 100usize..2000).prop_map(|(unit, n)| unit.repeat(n)),
    ]
}

fn session() -> impl Strategy<Value = Origin> {
    prop_oneof![
        9 => (0u64..140).prop_map(Origin::Session),
        1 => Just(Origin::Stateless(None)),
        1 => (client_string(), client_string()).prop_map(|(name, version)| {
            Origin::Stateless(Some(std::sync::Arc::new(Client { name, version })))
        }),
    ]
}

fn list() -> impl Strategy<Value = ListKind> {
    prop::sample::select(ListKind::ALL.to_vec())
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (session(), client_string(), client_string(), client_string()).prop_map(
            |(session, name, version, protocol)| Event::Hello {
                session,
                name,
                version,
                protocol,
            }
        ),
        (
            session(),
            prop::sample::select(vec!["tools/list", "tools/call", "initialize"])
        )
            .prop_map(|(session, method)| Event::Request { session, method }),
        session().prop_map(|session| Event::Initialized { session }),
        (
            // A change of one list (a reset names each list it touched).
            prop::sample::select(
                ChangeKind::ALL
                    .into_iter()
                    .filter(|kind| kind.list().is_some())
                    .collect::<Vec<_>>()
            ),
            1u64..50
        )
            .prop_map(|(kind, version)| Event::Changed {
                list: kind.list().expect("a change of one list"),
                kind,
                item: Some(format!("echo{version}")),
                version,
            }),
        (
            session(),
            list(),
            1u64..50,
            0usize..4,
            1usize..4,
            prop::option::of(client_string())
        )
            .prop_map(
                |(session, list, version, page, pages, cursor)| Event::Page {
                    session,
                    list,
                    version,
                    page,
                    pages,
                    cursor,
                }
            ),
        (session(), list(), client_string()).prop_map(|(session, list, cursor)| {
            Event::RefusedCursor {
                session,
                list,
                cursor,
                reason: "not-issued".into(),
            }
        }),
        (
            session(),
            client_string(),
            prop::option::of(0u64..4),
            prop::option::of(1u64..4)
        )
            .prop_map(|(session, name, revision, current)| Event::ToolCall {
                session,
                name,
                revision,
                current,
            }),
        (0u64..140, list()).prop_map(|(session, list)| Event::Notified {
            session,
            notice: Notice::ListChanged(list),
            cause: Cause::Change,
        }),
        (0u64..140).prop_map(|session| Event::Closed { session }),
    ]
}

/// Every string in `value`, keys aside.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(fields) => fields.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(crate::fuzzing::config(CASES))]

    /// Whatever the clients send, the report keeps no string of theirs
    /// longer than [`MAX_CLIENT_STRING`] bytes, tracks at most
    /// [`MAX_SESSIONS`] sessions, and stays under [`REPORT_BOUND`] bytes
    /// (each session under [`SESSION_BOUND`]).
    #[test]
    fn the_report_stays_under_its_bound(events in prop::collection::vec(event(), 0..400)) {
        let mut record = Record::default();
        for (at_ms, event) in events.iter().enumerate() {
            record.see(at_ms as u64, event);
        }
        let report = record.report(events.len() as u64);
        let mut texts = Vec::new();
        strings(&report, &mut texts);
        for text in &texts {
            prop_assert!(text.len() <= MAX_CLIENT_STRING, "{} bytes kept", text.len());
        }
        let sessions = report["sessions"].as_array().unwrap();
        prop_assert!(sessions.len() <= MAX_SESSIONS);
        for session in sessions {
            let bytes = serde_json::to_vec(session).unwrap().len();
            prop_assert!(bytes <= SESSION_BOUND, "a session of {bytes} bytes");
        }
        let bytes = serde_json::to_vec(&report).unwrap().len();
        prop_assert!(bytes <= REPORT_BOUND, "a report of {bytes} bytes");
    }
}
