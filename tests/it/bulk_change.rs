//! A bulk change costs about what its resulting catalog costs (issue 24,
//! finding 6): `count: 999999` over the control endpoint, the documented
//! maximum's worth of tools, against a server started with them.

use crate::common;

use common::{Controlled, status_kib};
use serde_json::json;

/// A million tools made by one control request peak under twice, and stay
/// under 1.2 times, the memory of a server started with a million tools.
/// Before: 8 times at the peak and 5 times after (a JSON tree of the whole
/// catalog for the answer, and a message per step queued for the recorder
/// and for each session).
#[tokio::test]
async fn a_bulk_change_costs_about_its_catalog() {
    let started = Controlled::start(&["--tools", "1000000"]).await;
    // What a million tools cost once they are served: a list answered once.
    let state = started.state().await;
    assert_eq!(state["tools"]["items"].as_array().unwrap().len(), 1_000_000);
    let catalog_kib = status_kib(started.process.pid, "VmRSS");
    started.process.signal(libc::SIGTERM);
    started.process.stops_cleanly().await;

    let bulk = Controlled::start(&[]).await;
    let (status, answer) = bulk
        .change(json!({ "change": "add_tool", "count": 999_999 }))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["applied"], 999_999);
    assert_eq!(
        answer["tools"]["items"].as_array().unwrap().len(),
        1_000_000
    );
    // Every step recorded: the report counts what it does not keep.
    let report = bulk.get("/report").await;
    assert_eq!(report["dropped"]["changes"], 999_999 - 1000);
    let state = bulk.state().await;
    assert_eq!(state["tools"]["version"], 1_000_000);
    let peak_kib = status_kib(bulk.process.pid, "VmHWM");
    let after_kib = status_kib(bulk.process.pid, "VmRSS");
    eprintln!(
        "started with a million tools: {catalog_kib} KiB; a bulk change to a million: \
         peak {peak_kib} KiB, after {after_kib} KiB"
    );
    assert!(
        peak_kib < 2 * catalog_kib,
        "peak {peak_kib} KiB, a million tools cost {catalog_kib} KiB"
    );
    assert!(
        after_kib * 10 < 12 * catalog_kib,
        "after {after_kib} KiB, a million tools cost {catalog_kib} KiB"
    );
    bulk.process.signal(libc::SIGTERM);
    bulk.process.stops_cleanly().await;
}
