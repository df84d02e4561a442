//! Streamable HTTP: many sessions at once, every one told on each SIGHUP, and
//! sessions that leave (by DELETE or by dropping their connection) leave the
//! registry without holding up the others.

use crate::common;
use crate::http_support;

use std::time::Duration;

use common::expected_names;
use futures::future::join_all;
use http_support::{HttpClient, HttpServer, Raw};

/// How long a stream must stay quiet to count as "got nothing". Not a measured
/// duration: only a bound on waiting for a message that must not come.
const QUIET: Duration = Duration::from_secs(1);

/// Send one SIGHUP and wait until every client has been told, each exactly
/// once: a second notification for an earlier SIGHUP would have arrived on
/// the same stream before this one and shows up as a count above `n`.
async fn sighup_reaches_all(server: &HttpServer, clients: &mut [HttpClient], n: usize) {
    server.process.sighup();
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(
            client.wait_changes(n).await,
            n,
            "client {i} after SIGHUP {n}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_each_told_once_per_sighup_then_twenty_five_leave() {
    let mut server = HttpServer::start(&[]).await;
    let mut clients: Vec<HttpClient> = join_all((0..50).map(|_| server.connect())).await;
    server.wait_sessions("opened", 50).await;

    for n in 1..=3 {
        sighup_reaches_all(&server, &mut clients, n).await;
    }

    // Half of them close their sessions, all at once.
    let leaving = clients.split_off(25);
    join_all(leaving.into_iter().map(HttpClient::close)).await;
    server.wait_sessions("closed", 25).await;
    assert_eq!(
        server.session_events("closed"),
        25,
        "{}",
        server.process.stderr()
    );

    for n in 4..=6 {
        sighup_reaches_all(&server, &mut clients, n).await;
    }
    assert_eq!(clients[0].tool_names().await, expected_names(7));
    assert_eq!(clients[24].tool_names().await, expected_names(7));
    // Nobody else left, and nobody came back.
    assert_eq!(server.session_events("closed"), 25);
    assert_eq!(server.session_events("opened"), 50);
    assert!(server.process.is_running());

    join_all(clients.into_iter().map(HttpClient::close)).await;
    server.wait_sessions("closed", 0).await;
}

#[tokio::test]
async fn a_session_that_never_sends_initialized_gets_no_notification() {
    let server = HttpServer::start(&[]).await;
    let mut witness = server.connect().await;
    let raw = Raw::new(&server);
    let session = raw.initialize().await;
    let mut stream = raw.listen(&session).await;

    for n in 1..=2 {
        server.process.sighup();
        witness.wait_changes(n).await;
    }
    assert!(
        stream.next_message_within(QUIET).await.is_none(),
        "a notification before initialized"
    );

    // Once initialized, the changes it missed make exactly one notification.
    raw.initialized(&session).await;
    let notification = stream.next_notification().await;
    assert_eq!(notification["method"], "notifications/tools/list_changed");
    assert!(
        stream.next_message_within(QUIET).await.is_none(),
        "more than one"
    );

    // And from then on one per SIGHUP.
    server.process.sighup();
    witness.wait_changes(3).await;
    let notification = stream.next_notification().await;
    assert_eq!(notification["method"], "notifications/tools/list_changed");
}

#[tokio::test]
async fn sessions_closing_mid_notification_do_not_stall_the_others() {
    // Not short: a client's next request may come late on a loaded machine
    // (tests run in parallel), and a session idle this long is closed.
    let server = HttpServer::start(&["--session-timeout", "1"]).await;
    let mut clients: Vec<HttpClient> = join_all((0..10).map(|_| server.connect())).await;
    // One that will drop its connection without a DELETE, as a killed client does.
    let raw = Raw::new(&server);
    let vanishing = raw.initialize().await;
    raw.initialized(&vanishing).await;
    let mut stream = Some(raw.listen(&vanishing).await);
    server.wait_sessions("opened", 11).await;

    let mut closing = Vec::new();
    for n in 1..=20 {
        server.process.sighup();
        // Gone while this SIGHUP's notifications are on their way.
        if n == 5 {
            drop(stream.take());
        }
        if n == 10 {
            let client = clients.pop().unwrap();
            closing.push(tokio::spawn(client.close()));
        }
        for (i, client) in clients.iter_mut().enumerate() {
            assert_eq!(
                client.wait_changes(n).await,
                n,
                "client {i} after SIGHUP {n}"
            );
        }
    }
    for close in closing {
        close.await.unwrap();
    }
    // The dropped connection is noticed; after the session timeout it closes.
    server.wait_sessions("closed", 9).await;
    assert_eq!(server.session_events("closed"), 2);
    assert!(
        server
            .process
            .stderr()
            .contains(&format!("closing an idle HTTP session session={vanishing}")),
        "{}",
        server.process.stderr()
    );
    join_all(clients.into_iter().map(HttpClient::close)).await;
}
