//! A tight burst of SIGHUPs (case 9): the kernel may merge some, but the
//! server stays alive and consistent, and notifies after its last change.

use crate::common;

use std::time::Duration;

use common::{ServerProcess, expected_names};
use serde_json::json;

/// How long the notification stream must stay quiet before the burst counts
/// as settled. Not a measured duration: only a bound on waiting for nothing.
const QUIET: Duration = Duration::from_secs(1);

#[tokio::test]
async fn ten_thousand_sighups_leave_the_server_consistent() {
    // Three tools, so that `counter` exists however few the burst adds.
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let mut client = server.connect().await;

    const BURST: usize = 10_000;
    for _ in 0..BURST {
        server.sighup();
    }
    server.wait_signals_delivered().await;
    client.wait_notifications(1).await;

    // Settle: list, then see whether another notification follows.
    let tools = loop {
        let seen = client.notifications();
        let names = client.tool_names().await;
        assert_eq!(names, expected_names(names.len()), "names stay contiguous");
        if !client.another_notification_within(seen, QUIET).await {
            break names.len();
        }
    };
    // Quiet now: the list must not have moved without a notification.
    assert_eq!(
        client.tool_names().await.len(),
        tools,
        "a change was not notified"
    );
    assert_eq!(
        client.call_ok("counter", json!({})).await,
        json!({ "count": tools })
    );
    assert!(server.is_running());

    let added = tools - 3;
    let notifications = client.notifications();
    assert!((1..=BURST).contains(&added), "{added} tools added");
    assert!(
        (1..=added).contains(&notifications),
        "{notifications} notifications for {added} changes"
    );
    eprintln!("burst of {BURST} SIGHUPs: {added} tools added, {notifications} notifications");
    client.close().await;
}
