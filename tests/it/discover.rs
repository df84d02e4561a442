//! The 2026-07-28 revision: no handshake; the client probes with
//! `server/discover`, and `notifications/tools/list_changed` reaches it only
//! on a `subscriptions/listen` stream that asked for tool-list changes.

use crate::common;

use common::{ServerProcess, TestClient, bounded, expected_names};
use rmcp::model::{ServerNotification, SubscriptionFilter};
use rmcp::service::{Subscription, SubscriptionEnd};
use serde_json::json;

fn tools_filter() -> SubscriptionFilter {
    SubscriptionFilter::builder().tools_list_changed().build()
}

async fn listen(client: &TestClient, filter: SubscriptionFilter) -> Subscription {
    bounded("subscriptions/listen", client.service.listen(filter))
        .await
        .expect("the server accepts the stream")
}

/// The next notification on `stream`, which must be a tool-list change.
async fn tool_list_changed(stream: &mut Subscription) {
    let next = bounded("a notification on the stream", stream.next())
        .await
        .expect("the stream is well formed");
    assert!(
        matches!(
            next,
            Some(ServerNotification::ToolListChangedNotification(_))
        ),
        "{next:?}"
    );
}

/// The stream carries nothing more and ends with the server's final result.
async fn ends_gracefully(stream: &mut Subscription) {
    let next = bounded("the end of the stream", stream.next())
        .await
        .expect("the stream is well formed");
    assert!(next.is_none(), "nothing more on the stream: {next:?}");
    assert!(
        matches!(stream.end(), Some(SubscriptionEnd::Graceful(_))),
        "{:?}",
        stream.end()
    );
}

#[tokio::test]
async fn discover_then_listen_sees_each_sighup_and_calls_the_new_tool() {
    let mut server = ServerProcess::start(&[]).await;
    let client = server.connect_discover().await;
    let mut stream = listen(&client, tools_filter()).await;
    assert_eq!(stream.acknowledged(), &tools_filter());

    server.sighup();
    tool_list_changed(&mut stream).await;
    assert_eq!(client.tool_names().await, ["echo", "calculator"]);
    assert_eq!(
        client
            .call_ok("calculator", json!({ "a": 10, "b": 5, "operation": "add" }))
            .await,
        json!({ "result": 15 })
    );

    for n in 3..=4 {
        server.sighup();
        tool_list_changed(&mut stream).await;
        assert_eq!(client.tool_names().await, expected_names(n));
    }
    assert_eq!(
        client.call_ok("echo4", json!({ "message": "new" })).await,
        json!({ "echo_message": "new", "tool_number": 4 })
    );
    assert_eq!(
        client.call_ok("counter", json!({})).await,
        json!({ "count": 4 })
    );
    // On this revision nothing reaches the client outside its streams.
    assert_eq!(client.notifications(), 0);

    server.signal(libc::SIGTERM);
    ends_gracefully(&mut stream).await;
    assert_eq!(client.notifications(), 0);
    server.stops_cleanly().await;
}

#[tokio::test]
async fn every_stream_that_asked_gets_exactly_one_notification_per_sighup() {
    let mut server = ServerProcess::start(&["--tools", "3"]).await;
    let client = server.connect_discover().await;
    let mut first = listen(&client, tools_filter()).await;
    let mut second = listen(&client, tools_filter()).await;
    let prompts = SubscriptionFilter::builder().prompts_list_changed().build();
    let mut other = listen(&client, prompts).await;
    // Prompts are not ours to offer: the stream is accepted with nothing in it.
    assert_eq!(other.acknowledged(), &SubscriptionFilter::default());

    for n in 4..=6 {
        server.sighup();
        tool_list_changed(&mut first).await;
        tool_list_changed(&mut second).await;
        assert_eq!(client.tool_names().await, expected_names(n));
    }

    // Shutdown ends every stream with a final result; by then any extra
    // notification would have been read before it.
    server.signal(libc::SIGINT);
    for stream in [&mut first, &mut second, &mut other] {
        ends_gracefully(stream).await;
    }
    assert_eq!(client.notifications(), 0);
    server.stops_cleanly().await;
}

#[tokio::test]
async fn a_cancelled_stream_gets_nothing_more() {
    let mut server = ServerProcess::start(&[]).await;
    let client = server.connect_discover().await;
    let mut kept = listen(&client, tools_filter()).await;
    let mut cancelled = listen(&client, tools_filter()).await;

    server.sighup();
    tool_list_changed(&mut kept).await;
    tool_list_changed(&mut cancelled).await;
    bounded("cancel", cancelled.cancel())
        .await
        .expect("cancel the stream");
    // A round trip, so that the server has read the cancellation before the
    // next SIGHUP: the signal reaches it by another path (its signals thread)
    // and could otherwise overtake the line still in the pipe, and a change
    // made before a cancellation arrives is rightly still sent.
    assert_eq!(client.tool_names().await, expected_names(2));

    server.sighup();
    tool_list_changed(&mut kept).await;
    assert_eq!(client.tool_names().await, expected_names(3));
    // A notification for the cancelled stream would have fallen through to
    // the client's handler.
    assert_eq!(client.notifications(), 0);
    assert!(matches!(cancelled.end(), Some(SubscriptionEnd::Cancelled)));

    bounded("the client to close", client.service.cancel())
        .await
        .expect("close");
    server.stops_cleanly().await;
}

#[tokio::test]
async fn a_sighup_before_discover_is_not_replayed_on_a_later_stream() {
    let mut server = ServerProcess::start(&[]).await;
    server.sighup();
    server.wait_stderr("tool added", 1).await;

    let client = server.connect_discover().await;
    let mut stream = listen(&client, tools_filter()).await;
    assert_eq!(client.tool_names().await, ["echo", "calculator"]);
    server.sighup();
    tool_list_changed(&mut stream).await;
    assert_eq!(client.tool_names().await, expected_names(3));

    server.signal(libc::SIGTERM);
    // Exactly one: the SIGHUP before the stream existed was not replayed.
    ends_gracefully(&mut stream).await;
    server.stops_cleanly().await;
}

#[tokio::test]
async fn server_discover_offers_2026_07_28_and_tool_list_changes() {
    let mut server = ServerProcess::start(&[]).await;
    let mut raw = server.raw();
    let (response, _) = raw
        .request(
            "server/discover",
            json!({ "_meta": common::RawClient::meta_2026() }),
        )
        .await;
    let result = &response["result"];
    let versions = result["supportedVersions"].as_array().expect("versions");
    assert!(versions.contains(&json!("2026-07-28")), "{response}");
    assert!(versions.contains(&json!("2025-11-25")), "{response}");
    assert_eq!(result["capabilities"]["tools"]["listChanged"], true);

    // A handshake session has no listen streams: that method is the new
    // revision's.
    raw.initialize().await;
    raw.initialized().await;
    let (listen, _) = raw
        .request(
            "subscriptions/listen",
            json!({ "notifications": { "toolsListChanged": true } }),
        )
        .await;
    assert_eq!(listen["error"]["code"], -32601, "{listen}");
}
