//! Every handshake revision the server speaks, on the wire: `initialize`
//! with that `protocolVersion` is answered with the same one, and a SIGHUP
//! then gives `notifications/tools/list_changed` on the session. (2026-07-28,
//! which has no handshake, is in `discover.rs`.)

use crate::common;

use common::ServerProcess;
use serde_json::json;

const HANDSHAKE_REVISIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

#[tokio::test]
async fn each_handshake_revision_negotiates_and_gets_list_changed() {
    for revision in HANDSHAKE_REVISIONS {
        let mut server = ServerProcess::start(&[]).await;
        let mut raw = server.raw();
        let (response, _) = raw
            .request(
                "initialize",
                json!({
                    "protocolVersion": revision,
                    "capabilities": {},
                    "clientInfo": { "name": "revision-test", "version": "0" },
                }),
            )
            .await;
        assert_eq!(
            response["result"]["protocolVersion"], revision,
            "{response}"
        );
        assert_eq!(
            response["result"]["capabilities"]["tools"]["listChanged"], true,
            "{response}"
        );
        raw.initialized().await;

        server.sighup();
        let notification = raw.recv().await;
        assert_eq!(
            notification["method"], "notifications/tools/list_changed",
            "{revision}: {notification}"
        );
        let (list, between) = raw.request("tools/list", json!({})).await;
        assert!(
            between.is_empty(),
            "{revision}: one notification: {between:?}"
        );
        let names: Vec<_> = list["result"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|tool| tool["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["echo", "calculator"], "{revision}");

        raw.close_stdin();
        let status = server.wait_exit().await;
        assert_eq!(status.code(), Some(0), "{revision}: {status}");
    }
}
