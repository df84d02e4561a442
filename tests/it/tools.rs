//! The starting tool sets and what each tool returns (cases 1 and 2).

use crate::common;

use common::{ServerProcess, expected_names};
use serde_json::json;

#[tokio::test]
async fn without_a_toolcount_file_there_is_only_echo() {
    let mut server = ServerProcess::start(&[]).await;
    let client = server.connect().await;

    assert_eq!(client.tool_names().await, ["echo"]);
    assert_eq!(
        client.call_ok("echo", json!({ "message": "hello" })).await,
        json!({ "echo_message": "hello" })
    );
    client.close().await;
}

#[tokio::test]
async fn toolcount_three_gives_echo_calculator_counter() {
    let mut server = ServerProcess::with_toolcount_file("3\n").await;
    let client = server.connect().await;

    assert_eq!(client.tool_names().await, expected_names(3));
    assert_eq!(
        client
            .call_ok("calculator", json!({ "a": 5, "b": 7, "operation": "add" }))
            .await,
        json!({ "result": 12 })
    );
    assert_eq!(
        client.call_ok("counter", json!({})).await,
        json!({ "count": 3 })
    );
    client.close().await;
}

#[tokio::test]
async fn every_tool_is_fully_described() {
    let mut server = ServerProcess::start(&["--tools", "5"]).await;
    let client = server.connect().await;

    let tools = client.service.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 5);
    for tool in &tools {
        assert!(tool.description.as_deref().is_some_and(|d| !d.is_empty()));
        assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
        let output = tool.output_schema.as_ref().expect("an output schema");
        assert_eq!(output["type"], "object", "{}", tool.name);
    }
    assert_eq!(
        tools[1].input_schema["properties"]["operation"]["enum"],
        json!(["add", "subtract", "multiply", "divide"])
    );
    assert_eq!(tools[0].input_schema["required"], json!(["message"]));

    assert_eq!(
        client
            .call_ok(
                "calculator",
                json!({ "a": 10, "b": 4, "operation": "divide" })
            )
            .await,
        json!({ "result": 2.5 })
    );
    assert_eq!(
        client.call_ok("echo5", json!({ "message": "m" })).await,
        json!({ "echo_message": "m", "tool_number": 5 })
    );
    client.close().await;
}

#[tokio::test]
async fn stdout_carries_only_json_rpc_and_the_start_is_logged_on_stderr() {
    let mut server = ServerProcess::start(&["--tools", "2"]).await;
    let mut raw = server.raw();
    let response = raw.initialize().await;
    assert_eq!(
        response["result"]["capabilities"]["tools"]["listChanged"],
        true
    );
    // `recv` panics on any stdout line that is not JSON.
    let (list, _) = raw.request("tools/list", json!({})).await;
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 2);

    let stderr = server.stderr();
    let start = stderr.lines().next().expect("a start line");
    assert!(start.contains(&format!("pid={}", server.pid)), "{start}");
    assert!(start.contains("tools=2"), "{start}");
    assert!(start.contains("server.pid"), "{start}");
}
