//! SIGHUP adds the next tool and notifies the client (cases 3 to 8).

use crate::common;

use common::{ServerProcess, expected_names};
use serde_json::json;

#[tokio::test]
async fn one_sighup_adds_the_calculator() {
    let mut server = ServerProcess::start(&[]).await;
    let mut client = server.connect().await;

    server.sighup();
    assert_eq!(client.wait_notifications(1).await, 1);
    assert_eq!(client.tool_names().await, ["echo", "calculator"]);
    let calc = |op| json!({ "a": 10, "b": 5, "operation": op });
    assert_eq!(
        client.call_ok("calculator", calc("add")).await,
        json!({ "result": 15 })
    );
    assert_eq!(
        client.call_ok("calculator", calc("multiply")).await,
        json!({ "result": 50 })
    );
    client.close().await;
}

#[tokio::test]
async fn notifications_are_counted_exactly() {
    let mut server = ServerProcess::start(&[]).await;
    let mut client = server.connect().await;

    // A round trip after initialize: anything sent before it has arrived.
    assert_eq!(client.tool_names().await, ["echo"]);
    assert_eq!(client.notifications(), 0);

    server.sighup();
    assert_eq!(client.wait_notifications(1).await, 1);
    assert_eq!(client.tool_names().await, ["echo", "calculator"]);
    assert_eq!(client.notifications(), 1);

    server.sighup();
    assert_eq!(client.wait_notifications(2).await, 2);
    let names = client.tool_names().await;
    assert!(names.contains(&"counter".to_owned()), "{names:?}");
    assert_eq!(client.notifications(), 2);
    client.close().await;
}

#[tokio::test]
async fn from_two_tools_two_sighups_reach_echo4() {
    let mut server = ServerProcess::with_toolcount_file("2").await;
    let mut client = server.connect().await;

    server.sighup();
    client.wait_notifications(1).await;
    assert_eq!(
        client.call_ok("counter", json!({})).await,
        json!({ "count": 3 })
    );

    server.sighup();
    client.wait_notifications(2).await;
    assert_eq!(
        client.call_ok("echo4", json!({ "message": "four" })).await,
        json!({ "echo_message": "four", "tool_number": 4 })
    );
    assert_eq!(
        client.call_ok("counter", json!({})).await,
        json!({ "count": 4 })
    );
    client.close().await;
}

#[tokio::test]
async fn three_sighups_add_tools_in_order() {
    let mut server = ServerProcess::start(&[]).await;
    let mut client = server.connect().await;

    for (n, new_tool) in [(1, "calculator"), (2, "counter"), (3, "echo4")] {
        server.sighup();
        assert_eq!(client.wait_notifications(n).await, n);
        let names = client.tool_names().await;
        assert_eq!(names.last().map(String::as_str), Some(new_tool));
        assert_eq!(names, expected_names(n + 1));
    }
    client.close().await;
}

#[tokio::test]
async fn a_sighup_before_initialize_is_notified_after_initialized() {
    let mut server = ServerProcess::start(&[]).await;
    server.sighup();
    server.wait_stderr("tool added", 1).await;
    assert!(
        server.is_running(),
        "a SIGHUP before initialize is not fatal"
    );

    let mut raw = server.raw();
    raw.initialize().await;
    // Requests before `initialized` are answered, with no notification yet.
    let (list, early) = raw.request("tools/list", json!({})).await;
    assert!(
        early.is_empty(),
        "no notification before initialized: {early:?}"
    );
    let names: Vec<_> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["echo", "calculator"]);

    raw.initialized().await;
    let notification = raw.recv().await;
    assert_eq!(notification["method"], "notifications/tools/list_changed");
    assert!(notification.get("params").is_none_or(|p| p == &json!({})));

    // Exactly one: the next message is the answer to the next request.
    let (_, between) = raw.request("ping", json!({})).await;
    assert!(between.is_empty(), "one notification only: {between:?}");
}

#[tokio::test]
async fn a_hundred_paced_sighups_give_a_hundred_tools() {
    let mut server = ServerProcess::start(&[]).await;
    let mut client = server.connect().await;

    for n in 1..=100 {
        server.sighup();
        assert_eq!(client.wait_notifications(n).await, n);
    }
    assert_eq!(client.tool_names().await, expected_names(101));
    assert_eq!(
        client
            .call_ok("echo101", json!({ "message": "last" }))
            .await,
        json!({ "echo_message": "last", "tool_number": 101 })
    );
    assert_eq!(
        client.call_ok("counter", json!({})).await,
        json!({ "count": 101 })
    );
    assert_eq!(client.notifications(), 100);
    client.close().await;
}
