//! `dynamic-mcp-server check` against the rmcp reference driver
//! (`examples/check_client.rs`), honest both ways: the correct driver passes
//! every scenario it can (the two it cannot are rmcp's, documented in
//! docs/check.md), each deliberately broken mode fails exactly the checks
//! its bug breaks and no other, and a client that does nothing fails every
//! scenario. Also: the baseline rule, usage errors, `--list`, the results
//! against the conformance suite's own code, and `GET /verdict`.
//!
//! A battery takes some 15 s, mostly waiting on its clients; at most three
//! run at once here, so that the convergence bound (1.5 s) measures the
//! client, not a crowded machine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::common::{BIN, Controlled, bounded, run_to_end};

/// At most this many batteries at once in this process.
static BATTERIES: Semaphore = Semaphore::const_new(3);

/// A whole battery's bound: 20 scenarios of at most 3.5 s, four at a time,
/// on a slow machine.
const BATTERY_TIMEOUT: Duration = Duration::from_secs(240);

/// What rmcp's correct driver fails, and why (docs/check.md, "Known
/// failures"): `list_all_pages` keeps a repeated cursor's page twice.
const RMCP_FAILS: &[(&str, &[&str])] =
    &[("repeated-cursor", &["first-view-complete", "final-view"])];

/// The rmcp driver, built by `cargo test` beside the binary.
fn driver() -> PathBuf {
    let path = Path::new(BIN)
        .parent()
        .expect("target/debug")
        .join("examples/check_client");
    assert!(
        path.exists(),
        "{} is missing: cargo test builds it (cargo build --example check_client)",
        path.display()
    );
    path
}

/// A finished `check` run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    results: tempfile::TempDir,
}

impl Run {
    /// Each scenario's failing check ids.
    fn failures(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut failures = BTreeMap::new();
        for entry in std::fs::read_dir(self.results.path()).unwrap() {
            let dir = entry.unwrap().path();
            let checks: Vec<Value> =
                serde_json::from_slice(&std::fs::read(dir.join("checks.json")).unwrap()).unwrap();
            let failed: BTreeSet<String> = checks
                .iter()
                .filter(|c| c["status"] == "FAILURE" || c["status"] == "WARNING")
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect();
            if !failed.is_empty() {
                let name = dir.file_name().unwrap().to_string_lossy().into_owned();
                failures.insert(name, failed);
            }
        }
        failures
    }

    fn scenarios(&self) -> usize {
        std::fs::read_dir(self.results.path()).unwrap().count()
    }
}

/// Run `check` with `args` and the driver in `mode` (`""`: correct).
async fn check(mode: &str, args: &[&str]) -> Run {
    let _turn = BATTERIES.acquire().await.expect("open");
    let results = tempfile::tempdir().unwrap();
    let client = driver();
    let mut command = tokio::process::Command::new(BIN);
    command
        .arg("check")
        .arg("--client")
        .arg(&client)
        .arg("--results")
        .arg(results.path())
        .args(args)
        .env("DMS_CHECK_BREAK", mode)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(BATTERY_TIMEOUT, command.output())
        .await
        .expect("the battery finishes")
        .expect("check runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        results,
    }
}

fn expected(table: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (scenario, checks) in table {
        map.entry((*scenario).to_owned())
            .or_default()
            .extend(checks.iter().map(|c| (*c).to_owned()));
    }
    map
}

/// The failures of a broken mode: its own, and rmcp's where its bug does
/// not change them.
fn with_rmcp(table: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    let mut all = expected(RMCP_FAILS);
    for (scenario, checks) in expected(table) {
        all.entry(scenario).or_default().extend(checks);
    }
    all
}

async fn assert_fails(mode: &str, want: BTreeMap<String, BTreeSet<String>>) {
    let run = check(mode, &[]).await;
    let got = run.failures();
    assert_eq!(
        got, want,
        "DMS_CHECK_BREAK={mode}: failing checks differ\n{}\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
}

#[tokio::test]
async fn the_rmcp_driver_passes_over_http_but_for_its_known_failures() {
    let run = check("", &[]).await;
    assert_eq!(
        run.failures(),
        expected(RMCP_FAILS),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.scenarios(), 20);
    assert_eq!(run.code, 1);
    // Each report the grading read, views and all, has the schema's shape.
    for entry in std::fs::read_dir(run.results.path()).unwrap() {
        let path = entry.unwrap().path().join("report.json");
        let report: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(
            report["views"].as_array().is_some_and(|v| !v.is_empty()),
            "{}",
            path.display()
        );
        crate::report::assert_valid(&report);
    }
}

#[tokio::test]
async fn the_rmcp_driver_passes_over_stdio_but_for_its_known_failures() {
    let run = check("", &["--transport", "stdio"]).await;
    assert_eq!(
        run.failures(),
        expected(RMCP_FAILS),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    // The two HTTP-only scenarios are not run over stdio.
    assert_eq!(run.scenarios(), 18);
    assert!(!run.stdout.contains("session-ended-404"), "{}", run.stdout);
}

#[tokio::test]
async fn a_client_that_never_relists_fails_every_change() {
    const CHANGED: &[&str] = &["final-view", "view-converges", "relisted-to-end"];
    assert_fails(
        "never-relist",
        with_rmcp(&[
            ("tools-added-after-initialize", CHANGED),
            ("tool-removed-then-called", CHANGED),
            ("tool-removed-then-called", &["no-stale-calls"]),
            ("rug-pull-then-called", CHANGED),
            ("rug-pull-then-called", &["no-stale-calls"]),
            ("change-during-tools-list", CHANGED),
            ("change-during-tools-call", CHANGED),
            ("stale-cursor-after-change", CHANGED),
            ("stale-cursor-after-change", &["refused-cursor-recovered"]),
            ("paged-change", CHANGED),
            ("storm", CHANGED),
            ("duplicate-notifications", CHANGED),
            ("stream-dropped", CHANGED),
            ("prompts-list-changed", CHANGED),
            ("resources-list-changed", CHANGED),
            ("resource-updated", &["resource-read-after-update"]),
            ("ttl-then-change", CHANGED),
            (
                "notification-before-initialized",
                &["final-view", "view-converges"],
            ),
        ]),
    )
    .await;
}

#[tokio::test]
async fn a_client_that_reads_page_one_fails_every_paged_list() {
    const FIRST: &[&str] = &["first-view-complete", "final-view"];
    const PAGED: &[&str] = &[
        "first-view-complete",
        "final-view",
        "view-converges",
        "relisted-to-end",
    ];
    assert_fails(
        "page1",
        with_rmcp(&[
            ("next-cursor-to-end", FIRST),
            ("empty-string-cursor", FIRST),
            ("paged-change", PAGED),
            ("prompts-list-changed", PAGED),
            ("resources-list-changed", PAGED),
            (
                "stale-cursor-after-change",
                &["final-view", "view-converges", "relisted-to-end"],
            ),
        ]),
    )
    .await;
}

#[tokio::test]
async fn a_client_that_ends_at_an_empty_cursor_fails_that_scenario_only() {
    assert_fails(
        "empty-cursor-end",
        with_rmcp(&[(
            "empty-string-cursor",
            &["first-view-complete", "final-view"],
        )]),
    )
    .await;
}

#[tokio::test]
async fn a_client_that_repeats_cursors_loops_and_holds_pages_twice() {
    const FIRST: &[&str] = &["first-view-complete", "final-view"];
    const PAGED: &[&str] = &["first-view-complete", "final-view", "view-converges"];
    assert_fails(
        "repeat-cursor",
        with_rmcp(&[
            ("next-cursor-to-end", FIRST),
            ("empty-string-cursor", FIRST),
            ("repeated-cursor", &["no-cursor-loops"]),
            ("paged-change", PAGED),
            ("prompts-list-changed", PAGED),
            ("resources-list-changed", PAGED),
            (
                "stale-cursor-after-change",
                &["final-view", "view-converges"],
            ),
        ]),
    )
    .await;
}

#[tokio::test]
async fn a_client_that_calls_a_removed_tool_makes_a_stale_call() {
    assert_fails(
        "call-removed",
        with_rmcp(&[("tool-removed-then-called", &["no-stale-calls"])]),
    )
    .await;
}

#[tokio::test]
async fn a_client_that_keeps_the_old_schema_fails_the_rug_pull() {
    assert_fails(
        "old-schema",
        with_rmcp(&[(
            "rug-pull-then-called",
            &["final-view", "view-converges", "no-stale-calls"],
        )]),
    )
    .await;
}

#[tokio::test]
async fn a_client_that_ignores_404_never_comes_back() {
    assert_fails(
        "ignore-404",
        with_rmcp(&[(
            "session-ended-404",
            &["reinitialized-after-404", "final-view", "view-converges"],
        )]),
    )
    .await;
}

#[tokio::test]
async fn a_client_that_polls_lists_more_than_it_is_told() {
    let mut want = with_rmcp(&[
        ("storm", &["relists-bounded"]),
        ("spurious-notifications", &["relists-bounded"]),
        ("duplicate-notifications", &["relists-bounded"]),
        ("repeated-cursor", &["no-cursor-loops"]),
        ("resource-updated", &["resource-read-after-update"]),
    ]);
    // Polling, it lists the repeated cursor's pages right in the end, and
    // sees the change after a dropped stream without the stream.
    want.get_mut("repeated-cursor")
        .unwrap()
        .remove("final-view");
    want.remove("stream-dropped");
    assert_fails("poll", want).await;
}

/// rmcp's client reconnects a dropped stream when the server's SSE `retry`
/// hint says (3 s), whatever retry policy the application sets, so the
/// broken mode (`NeverRetry`) fails what the correct driver fails and no
/// more: docs/check.md says why this scenario is not yet honest for rmcp.
#[tokio::test]
async fn a_client_that_ignores_a_dropped_stream_is_not_yet_told_apart() {
    assert_fails("ignore-dropped-stream", expected(RMCP_FAILS)).await;
}

#[tokio::test]
async fn a_client_that_does_nothing_fails_every_scenario() {
    let run = check("do-nothing", &[]).await;
    assert_eq!(run.code, 1);
    assert_eq!(run.failures().len(), 20, "{}", run.stdout);
    assert!(
        run.stdout.contains("the client never reported its view"),
        "{}",
        run.stdout
    );
    // Over stdio it never even starts the server: no wait for one.
    let run = check("do-nothing", &["--transport", "stdio"]).await;
    assert_eq!(run.code, 1);
    assert_eq!(run.failures().len(), 18, "{}", run.stdout);
}

#[tokio::test]
async fn a_baseline_turns_expected_failures_into_exit_0_and_a_stale_entry_into_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("expected-failures.yml");
    std::fs::write(
        &baseline,
        "client:\n  - repeated-cursor:first-view-complete\n  - repeated-cursor:final-view\n",
    )
    .unwrap();
    let args = [
        "--scenario",
        "repeated-cursor",
        "--scenario",
        "next-cursor-to-end",
        "--expected-failures",
        baseline.to_str().unwrap(),
    ];
    let run = check("", &args).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("EXPECTED FAIL"), "{}", run.stdout);
    // next-cursor-to-end passes: an entry for it is stale.
    std::fs::write(
        &baseline,
        "client:\n  - repeated-cursor\n  - next-cursor-to-end\n",
    )
    .unwrap();
    let run = check("", &args).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("STALE"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("passes now: remove it from the expected failures"),
        "{}",
        run.stdout
    );
}

/// Usage errors exit 2 and name what is wrong, running nothing.
#[tokio::test]
async fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "client: storm\n").unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["check"], "--client"),
        (
            &["check", "--client", "true", "--scenario", "nope"],
            "unknown scenario \"nope\"",
        ),
        (
            &[
                "check",
                "--client",
                "true",
                "--transport",
                "stdio",
                "--scenario",
                "session-ended-404",
            ],
            "needs --transport http",
        ),
        (
            &[
                "check",
                "--client",
                "true",
                "--expected-failures",
                bad.to_str().unwrap(),
            ],
            "'client' must be an array of scenario names",
        ),
        (
            &["check", "--client", "true", "--timeout", "0"],
            "--timeout",
        ),
        (&["--tools", "3", "check", "--list"], "cannot be used with"),
    ];
    for (args, says) in cases {
        let output = bounded(
            "check",
            tokio::process::Command::new(BIN)
                .args(args)
                .current_dir(dir.path())
                .output(),
        )
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Nothing ran: no results folder.
    assert!(!dir.path().join("results").exists());
}

#[tokio::test]
async fn the_list_names_each_scenario_and_its_reports() {
    let output = run_to_end("check --list", &["check", "--list"]).await;
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let names = text.lines().filter(|l| !l.starts_with(' ')).count();
    assert!(names >= 18, "{text}");
    assert_eq!(text.matches("  from: ").count(), names, "{text}");
    for cited in [
        "anthropics/claude-code#24195",
        "PrefectHQ/fastmcp#5025",
        "vercel/ai#19240",
    ] {
        assert!(text.contains(cited), "{text}");
    }
}

/// docs/check.md's battery table has a row for each scenario `--list`
/// shows, and no other.
#[tokio::test]
async fn the_docs_list_the_battery() {
    let output = run_to_end("check --list", &["check", "--list"]).await;
    let listed: BTreeSet<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/check.md"))
        .unwrap();
    let section = docs
        .split("## The battery")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let table: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(table, listed);
}

/// The results are read by the conformance suite's own code: its pinned
/// package's `ul` (results folder) and `ol` (baseline) run on them, through
/// tests/check/suite.mjs, which also checks every check's fields and types.
#[tokio::test]
async fn the_results_are_what_the_conformance_suite_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The suite's own pinned Node (22), which its code needs.
    let node = root.join("tests/conformance/node_modules/.bin/node");
    if !node.exists() {
        eprintln!(
            "skipped: needs `cd tests/conformance && npm ci`; tests/run runs tests/check/suite after the conformance suite installs it"
        );
        return;
    }
    let run = check(
        "",
        &["--scenario", "storm", "--scenario", "repeated-cursor"],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("b.yml");
    std::fs::write(&baseline, "client:\n  - repeated-cursor\n").unwrap();
    let output = bounded(
        "node tests/check/suite.mjs",
        tokio::process::Command::new(&node)
            .arg(root.join("tests/check/suite.mjs"))
            .arg(run.results.path())
            .arg(&baseline)
            .output(),
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdict: Value = serde_json::from_str(stdout.trim()).expect("suite.mjs prints JSON");
    // The suite's own scoring: storm passes, repeated-cursor fails...
    let details = verdict["score"]["details"].as_array().unwrap();
    let passed =
        |name: &str| details.iter().find(|d| d["scenario"] == name).unwrap()["passed"].clone();
    assert_eq!(passed("storm"), true);
    assert_eq!(passed("repeated-cursor"), false);
    // ...and its baseline rule agrees with ours: expected, exit 0.
    assert_eq!(verdict["baseline"]["exitCode"], 0, "{verdict}");
    assert_eq!(
        verdict["baseline"]["expectedFailures"],
        json!(["repeated-cursor"])
    );
    assert_eq!(verdict["invalid"], json!([]), "{verdict}");
}

/// `GET /verdict` grades the live report with the checks that need no
/// scenario: clean until the client calls a tool that is gone.
#[tokio::test]
async fn get_verdict_grades_the_live_report() {
    let mut server = Controlled::start(&["--tools", "4"]).await;
    let mut client = server.process.connect().await;
    let verdict = server.get("/verdict").await;
    assert_eq!(verdict["passed"], true, "{verdict}");
    bounded("tools/list", client.service.list_all_tools())
        .await
        .unwrap();
    let (status, _) = server
        .change(json!({ "change": "remove_tool", "name": "echo4" }))
        .await;
    assert_eq!(status, 200);
    client.wait_notifications(1).await;
    bounded("tools/list", client.service.list_all_tools())
        .await
        .unwrap();
    let relisted = server.get("/verdict").await;
    assert_eq!(relisted["passed"], true, "{relisted}");
    let call = rmcp::model::CallToolRequestParams::new("echo4");
    let _ = bounded("tools/call", client.service.call_tool(call)).await;
    let verdict = server.get("/verdict").await;
    assert_eq!(verdict["passed"], false, "{verdict}");
    let failed: Vec<&Value> = verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "FAILURE")
        .collect();
    assert_eq!(failed.len(), 1, "{verdict}");
    assert_eq!(failed[0]["id"], "no-stale-calls");
    let why = failed[0]["errorMessage"].as_str().unwrap();
    assert!(why.starts_with("tools/call echo4 at "), "{why}");
    assert!(
        why.contains("unknown tool (the tool is gone (remove at "),
        "{why}"
    );
    for check in verdict["checks"].as_array().unwrap() {
        for key in [
            "id",
            "name",
            "description",
            "status",
            "timestamp",
            "specReferences",
            "details",
        ] {
            assert!(check.get(key).is_some(), "{key} in {check}");
        }
    }
}
