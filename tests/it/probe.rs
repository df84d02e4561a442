//! `dynamic-mcp-server probe`: its usage, its results in the conformance
//! suite's format, and its checks against the one gateway the Rust suite has
//! without Python: the server itself, a perfect pass-through of its own
//! catalog. The real gateways (and the in-repo broken one) run in
//! tests/gateways/run.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::common::{Controlled, run_to_end};

/// Run `probe args` to its end: its exit status, stdout and stderr.
async fn probe(args: &[&str]) -> Output {
    run_to_end("the probe", &[&["probe"], args].concat()).await
}

/// The checks a run wrote for `scenario`.
fn checks(results: &Path, scenario: &str) -> Vec<Value> {
    let path = results.join(scenario).join("checks.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let Value::Array(checks) = serde_json::from_str(&text).expect("checks.json is JSON") else {
        panic!("checks.json is an array: {text}");
    };
    checks
}

const SCENARIOS: [&str; 6] = [
    "gateway-capabilities",
    "gateway-tool-added",
    "gateway-tool-removed",
    "gateway-rug-pull",
    "gateway-name-clash",
    "gateway-list-per-call",
];

#[tokio::test]
async fn probe_lists_its_scenarios_and_refuses_bad_usage_with_exit_2() {
    let listed = probe(&["--list"]).await;
    assert_eq!(listed.status.code(), Some(0), "{listed:?}");
    let text = String::from_utf8(listed.stdout).unwrap();
    let names: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
    assert_eq!(names, SCENARIOS);

    for (args, says) in [
        (&["--upstream", "u1=http://127.0.0.1:1"][..], "URL"),
        (
            &["http://127.0.0.1:1/mcp", "--upstream", "u1"][..],
            "--upstream u1",
        ),
        (
            &[
                "http://127.0.0.1:1/mcp",
                "--upstream",
                "u1=http://127.0.0.1:1",
                "--scenario",
                "nope",
            ][..],
            "--scenario nope",
        ),
        (
            &[
                "http://127.0.0.1:1/mcp",
                "--upstream",
                "u1=http://a",
                "--upstream",
                "u1=http://b",
            ][..],
            "--upstream u1",
        ),
        (
            &[
                "http://127.0.0.1:1/mcp",
                "--upstream",
                "u1=http://a",
                "--expected-failures",
                "/nonexistent/x.yaml",
            ][..],
            "--expected-failures",
        ),
        (
            &[
                "http://127.0.0.1:1/mcp",
                "--command",
                "true",
                "--upstream",
                "u1=http://a",
            ][..],
            "--command",
        ),
    ] {
        let refused = probe(args).await;
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(refused.stdout.is_empty(), "{args:?}: {refused:?}");
    }
}

#[tokio::test]
async fn a_gateway_that_never_answers_fails_every_scenario_in_the_suites_format() {
    let upstream = Controlled::start(&["--http", "127.0.0.1:0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let spec = format!("u1={}", upstream.control);
    let run = probe(&[
        "--command",
        "exit 0",
        "--upstream",
        &spec,
        "--results",
        results.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    for scenario in SCENARIOS {
        let checks = checks(&results, scenario);
        assert_eq!(checks.len(), 1, "{scenario}: {checks:?}");
        let check = &checks[0];
        assert_eq!(check["id"], "gateway-reachable");
        assert_eq!(check["status"], "FAILURE");
        for key in [
            "name",
            "description",
            "timestamp",
            "specReferences",
            "details",
            "errorMessage",
        ] {
            assert!(check.get(key).is_some(), "{scenario}: no {key} in {check}");
        }
        for file in ["stdout.txt", "stderr.txt"] {
            assert!(
                results.join(scenario).join(file).is_file(),
                "{scenario}/{file}"
            );
        }
    }
    let table = String::from_utf8(run.stdout).unwrap();
    assert!(table.contains("gateway-reachable"), "{table}");
    // Nothing was changed upstream: the probe never got that far.
    assert_eq!(upstream.state().await["tools"]["version"], 1);
}

/// The server in front of nothing is a perfect pass-through gateway of its
/// own catalog: every check passes but one, which no pass-through can pass.
/// A call of a removed tool reaches the server (the gateway), and the probe
/// sees it in the upstream's report as a stale call: that detection is what
/// this pins.
#[tokio::test]
async fn the_server_as_its_own_gateway_fails_only_on_routing_a_removed_tool() {
    let upstream = Controlled::start(&["--http", "127.0.0.1:0", "--tools", "3"]).await;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let spec = format!("u1={}", upstream.control);
    let run = probe(&[
        upstream.mcp_url(),
        "--upstream",
        &spec,
        "--results",
        results.to_str().unwrap(),
        "--timeout",
        "5",
    ])
    .await;
    let table = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{table}\n{run:?}");
    let mut failing = Vec::new();
    for scenario in SCENARIOS {
        for check in checks(&results, scenario) {
            let status = check["status"].as_str().unwrap();
            if status == "FAILURE" || status == "WARNING" {
                failing.push(format!("{scenario}:{}", check["id"].as_str().unwrap()));
            }
        }
    }
    assert_eq!(
        failing,
        ["gateway-tool-removed:gateway-removed-tool-not-routed"],
        "{table}"
    );
    let added = checks(&results, "gateway-tool-added");
    let notified = added
        .iter()
        .find(|c| c["id"] == "gateway-notified")
        .unwrap();
    assert!(notified["details"]["notified_ms"].as_f64().unwrap() >= 0.0);
    let rug = checks(&results, "gateway-rug-pull");
    let passed = rug
        .iter()
        .find(|c| c["id"] == "gateway-rug-pull-passed-or-blocked")
        .unwrap();
    assert_eq!(passed["details"]["passed_on"][0]["to"], 2, "{passed}");
    // One upstream: nothing can clash, and the check says so.
    let clash = checks(&results, "gateway-name-clash");
    assert_eq!(clash[0]["status"], "SKIPPED");
}
