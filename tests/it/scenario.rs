//! Scenario files (`--scenario`, issue 10) against the real binary: each kind
//! of step lands between the protocol points it names and nowhere else, a
//! storm runs every time, and a bad file is refused in one line naming its
//! step. Raw JSON-RPC where the order of messages is under test, rmcp's
//! client elsewhere.

use crate::common;
use crate::http_support;

use std::time::Duration;

use common::{RawClient, ServerProcess, bounded, expected_names, refuses_to_start};
use http_support::{HttpServer, Raw, SseReader};
use serde_json::{Value, json};

/// How long a test listens for a notification that must not come.
const QUIET: Duration = Duration::from_millis(300);

fn file(name: &str) -> String {
    format!("{}/tests/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

use crate::common::listed_tool_names as names;

fn is_tools_list_changed(message: &Value) -> bool {
    message["method"] == "notifications/tools/list_changed"
}

/// A stdio server running `scenario`, and a raw client that has initialized.
async fn initialized(tools: &str, scenario: &str) -> (ServerProcess, RawClient) {
    let mut server = ServerProcess::start(&["--tools", tools, "--scenario", &file(scenario)]).await;
    let mut raw = server.raw();
    raw.initialize().await;
    raw.initialized().await;
    (server, raw)
}

/// Read until exactly `n` notifications in all (counting `seen`) have come,
/// then check with a ping that no other follows at once.
async fn exactly(raw: &mut RawClient, mut seen: Vec<Value>, n: usize) -> Vec<Value> {
    while seen.len() < n {
        seen.push(raw.recv().await);
    }
    let (_, more) = raw.request("ping", json!({})).await;
    seen.extend(more);
    assert_eq!(seen.len(), n, "{seen:?}");
    seen
}

/// MCP tools/list and notifications/tools/list_changed: the change lands
/// after the first list was read and before it was answered. Without waiting
/// for the notification, a list asked once the first answer came already has
/// the new tool.
#[tokio::test]
async fn a_change_after_the_first_tools_list_lands_between_the_two_lists() {
    let (server, mut raw) = initialized("3", "after-first-tools-list.toml").await;
    let (_, before) = raw.request("ping", json!({})).await;
    assert!(before.is_empty(), "nothing changed before: {before:?}");

    let (first, mut seen) = raw.request("tools/list", json!({})).await;
    assert_eq!(names(&first), expected_names(3));
    let (second, more) = raw.request("tools/list", json!({})).await;
    assert_eq!(names(&second), expected_names(4));
    seen.extend(more);
    let seen = exactly(&mut raw, seen, 1).await;
    assert!(is_tools_list_changed(&seen[0]), "{seen:?}");
    assert!(
        server
            .stderr()
            .contains("scenario step ran step=0 what=\"add_tool\""),
        "{}",
        server.stderr()
    );
}

/// A `tools/call` in flight is answered after the step ran: the tool list
/// asked right after the answer no longer has the removed tool.
#[tokio::test]
async fn a_call_in_flight_is_answered_after_the_change() {
    let (_server, mut raw) = initialized("3", "call-in-flight.toml").await;
    let (call, seen) = raw
        .request(
            "tools/call",
            json!({ "name": "echo", "arguments": { "message": "hi" } }),
        )
        .await;
    assert_eq!(call["result"]["structuredContent"]["echo_message"], "hi");
    let (list, more) = raw.request("tools/list", json!({})).await;
    assert_eq!(names(&list), ["echo", "counter"]);
    let seen = exactly(&mut raw, [seen, more].concat(), 1).await;
    assert!(is_tools_list_changed(&seen[0]));
}

/// A tool registered while `initialize` is answered: a list asked before
/// `notifications/initialized` has it, and the list_changed comes only after
/// `notifications/initialized` (MCP lifecycle: the server SHOULD NOT send
/// notifications before it).
#[tokio::test]
async fn a_change_at_initialize_is_notified_after_initialized() {
    let mut server =
        ServerProcess::start(&["--tools", "1", "--scenario", &file("after-initialize.toml")]).await;
    let mut raw = server.raw();
    raw.initialize().await;
    let (list, seen) = raw.request("tools/list", json!({})).await;
    assert_eq!(names(&list), expected_names(2));
    assert!(seen.is_empty(), "{seen:?}");
    raw.initialized().await;
    let seen = exactly(&mut raw, Vec::new(), 1).await;
    assert!(is_tools_list_changed(&seen[0]));
}

/// A change between page 1 and page 2 of a paged list (the file's
/// `[hostile]` pages it): page 1 is answered as it was, and its cursor, now
/// of an older version of the list, gets -32602 Invalid params (MCP
/// pagination: an invalid cursor SHOULD get -32602).
#[tokio::test]
async fn a_change_between_pages_makes_the_cursor_stale() {
    let (server, mut raw) = initialized("5", "between-pages.toml").await;
    assert!(
        server
            .stderr()
            .lines()
            .next()
            .unwrap()
            .contains("page-size-tools=2"),
        "{}",
        server.stderr()
    );
    let (first, seen) = raw.request("tools/list", json!({})).await;
    assert_eq!(names(&first), expected_names(2));
    let cursor = first["result"]["nextCursor"].clone();
    assert!(cursor.is_string(), "{first}");
    let (second, more) = raw.request("tools/list", json!({ "cursor": cursor })).await;
    assert_eq!(second["error"]["code"], -32602, "{second}");
    exactly(&mut raw, [seen, more].concat(), 1).await;
    // Starting over walks the list as it is now.
    let mut all = Vec::new();
    let mut params = json!({});
    loop {
        let (page, _) = raw.request("tools/list", params).await;
        all.extend(names(&page));
        match page["result"]["nextCursor"].as_str() {
            Some(cursor) => params = json!({ "cursor": cursor }),
            None => break,
        }
    }
    assert_eq!(all, expected_names(6));
}

/// A spurious list_changed (JSON scenario file): notified, yet the list is
/// unchanged.
#[tokio::test]
async fn a_spurious_notification_changes_nothing() {
    let (_server, mut raw) = initialized("2", "spurious-after-initialized.json").await;
    let seen = exactly(&mut raw, Vec::new(), 1).await;
    assert!(is_tools_list_changed(&seen[0]));
    let (list, _) = raw.request("tools/list", json!({})).await;
    assert_eq!(names(&list), expected_names(2));
}

/// The deliberate notification before `notifications/initialized` comes
/// right after the `initialize` answer, once.
#[tokio::test]
async fn a_notification_before_initialized_comes_after_the_initialize_answer() {
    let mut server = ServerProcess::start(&["--scenario", &file("before-initialized.toml")]).await;
    let mut raw = server.raw();
    // `initialize` checks that nothing precedes its answer.
    raw.initialize().await;
    let early = raw.recv().await;
    assert!(is_tools_list_changed(&early), "{early}");
    raw.initialized().await;
    exactly(&mut raw, Vec::new(), 0).await;
}

/// A storm: 50 additions 10 ms apart, each run, all tools there in order.
#[tokio::test]
async fn a_storm_runs_every_time() {
    let mut server =
        ServerProcess::start(&["--tools", "1", "--scenario", &file("storm.toml")]).await;
    let mut client = server.connect().await;
    server.wait_stderr("scenario step ran", 50).await;
    assert!(server.stderr().contains("(run 50 of 50)"));
    client.wait_notifications(1).await;
    assert_eq!(client.tool_names().await, expected_names(51));
    assert!(server.stderr().contains("scenario done"));
    client.close().await;
    server.stops_cleanly().await;
}

/// A bad file: exit 2, one line naming the step and the problem, no pidfile.
#[test]
fn bad_scenario_files_name_their_step() {
    for (name, expected) in [
        (
            "unknown-field.toml",
            "steps[1] (add_tool): unknown field `when`",
        ),
        (
            "bad-value.toml",
            "steps[0] (notify tools): every_ms must be at least 1",
        ),
        (
            "missing-tool.toml",
            "steps[0] (remove_tool echo7): no item of the tools list is named \"echo7\"",
        ),
        (
            "end-session-over-stdio.toml",
            "steps[1] (end_session): end_session needs --http",
        ),
        (
            "page-without-paging.json",
            "steps[0] (add_tool): after a page of tools/list, but tools/list is not paged",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("server.pid");
        let path = file(&format!("bad/{name}"));
        let stderr = refuses_to_start(&pidfile, &["--scenario", &path]);
        let lines: Vec<_> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: one line: {stderr:?}");
        assert!(
            lines[0].starts_with(&format!("error: --scenario {path}: ")),
            "{stderr}"
        );
        assert!(lines[0].contains(expected), "{name}: {stderr}");
        assert!(!pidfile.exists(), "{name}: no pidfile left");
    }
}

/// The scenario is named in the first log line, so a scripted run is never
/// taken for a normal one.
#[tokio::test]
async fn the_first_log_line_names_the_scenario() {
    let path = file("storm.toml");
    let server = ServerProcess::start(&["--scenario", &path]).await;
    let log = server.stderr();
    let first = log.lines().next().unwrap();
    assert!(first.contains(&format!("scenario={path}")), "{log}");
}

/// MCP Streamable HTTP, session management: a session the server ended gets
/// 404, and a client that initializes again gets a new one.
#[tokio::test]
async fn an_ended_http_session_gets_404_and_a_new_one_works() {
    let server = HttpServer::start(&["--scenario", &file("end-session.toml")]).await;
    let raw = Raw::new(&server);
    let session = raw.initialize().await;
    raw.initialized(&session).await;
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }).to_string();
    // Held until the session ended; whatever its stream carries, it ends.
    let response = bounded("tools/list", raw.post(Some(&session), list.clone()).send())
        .await
        .unwrap();
    let mut events = SseReader::new(response);
    while events.next_message().await.is_some() {}
    server.process.wait_stderr("scenario step ran", 1).await;

    let again = bounded("tools/list", raw.post(Some(&session), list.clone()).send())
        .await
        .unwrap();
    assert_eq!(again.status(), 404);

    let renewed = raw.initialize().await;
    assert_ne!(renewed, session);
    raw.initialized(&renewed).await;
    let response = bounded("tools/list", raw.post(Some(&renewed), list).send())
        .await
        .unwrap();
    let answer = SseReader::new(response).next_message().await.unwrap();
    assert_eq!(names(&answer), expected_names(1));
}

/// drop_stream: the session's SSE streams end without the result of the
/// request in flight; the session itself lives on.
#[tokio::test]
async fn dropped_streams_end_without_their_result() {
    let server = HttpServer::start(&["--scenario", &file("drop-stream.toml")]).await;
    let raw = Raw::new(&server);
    let session = raw.initialize().await;
    raw.initialized(&session).await;
    let mut standalone = raw.listen(&session).await;
    let list = |id: u64| json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list" }).to_string();
    let response = bounded("tools/list", raw.post(Some(&session), list(2)).send())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut held = SseReader::new(response);
    assert_eq!(
        held.next_message().await,
        None,
        "no result on a dropped stream"
    );
    assert_eq!(standalone.next_message().await, None, "the GET stream ends");

    let response = bounded("tools/list", raw.post(Some(&session), list(3)).send())
        .await
        .unwrap();
    let answer = SseReader::new(response).next_message().await.unwrap();
    assert_eq!(answer["id"], 3);
    assert_eq!(names(&answer), expected_names(1));
}

/// A step with `client` notifies only the sessions of that client; the next
/// step, without one, notifies every session.
#[tokio::test]
async fn a_client_step_notifies_only_that_client() {
    let server = HttpServer::start(&["--scenario", &file("client-filter.toml")]).await;
    let mut other = server.connect().await;
    let raw = Raw::new(&server);
    let session = raw.initialize().await;
    raw.initialized(&session).await;
    let mut stream = raw.listen(&session).await;
    let list = |id: u64| json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list" }).to_string();

    let response = bounded("tools/list", raw.post(Some(&session), list(2)).send())
        .await
        .unwrap();
    SseReader::new(response).next_message().await.unwrap();
    assert!(is_tools_list_changed(&stream.next_notification().await));
    assert!(
        tokio::time::timeout(QUIET, other.wait_changes(1))
            .await
            .is_err(),
        "the other client is not told"
    );

    let response = bounded("tools/list", raw.post(Some(&session), list(3)).send())
        .await
        .unwrap();
    SseReader::new(response).next_message().await.unwrap();
    assert!(is_tools_list_changed(&stream.next_notification().await));
    assert_eq!(other.wait_changes(1).await, 1);
    other.close().await;
}

/// A client that does what docs/pagination.md says a correct client does with
/// pages: it follows `nextCursor` until it is absent (`""` is a cursor, not
/// the end), and when it gets back the cursor it sent, it asks once more and
/// keeps that page once.
async fn list_like_a_correct_client(raw: &mut RawClient) -> Vec<String> {
    let mut pages: Vec<(Option<String>, Vec<String>)> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut repeats = 0;
    loop {
        let params = match &cursor {
            Some(cursor) => json!({ "cursor": cursor }),
            None => json!({}),
        };
        let (page, _) = raw.request("tools/list", params).await;
        let items = names(&page);
        match pages.last_mut() {
            Some((sent, last)) if *sent == cursor && cursor.is_some() => *last = items,
            _ => pages.push((cursor.clone(), items)),
        }
        let next = page["result"]["nextCursor"].as_str().map(str::to_owned);
        if next.is_some() && next == cursor {
            repeats += 1;
            assert!(repeats <= pages.len(), "a cursor loop: {page}");
        }
        match next {
            Some(next) => cursor = Some(next),
            None => return pages.into_iter().flat_map(|(_, items)| items).collect(),
        }
    }
}

/// Every file in examples/scenarios runs as its `# Run:` line says, its
/// steps all run, and a correct client ends with the tools the file's
/// comment promises.
#[tokio::test]
async fn every_example_scenario_runs_and_a_correct_client_gets_every_tool() {
    let dir = format!("{}/examples/scenarios", env!("CARGO_MANIFEST_DIR"));
    let expected = [
        ("change-during-tools-list.toml", 4),
        ("tools-registered-after-initialize.toml", 4),
        ("empty-string-cursor.toml", 5),
        ("repeated-cursor.toml", 5),
        ("next-cursor-ignored.toml", 5),
        ("notification-burst.toml", 101),
        ("spurious-notifications.toml", 3),
    ];
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut listed: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
    listed.sort();
    assert_eq!(files, listed, "every example is run here");

    for (name, tools) in expected {
        let path = format!("{dir}/{name}");
        let text = std::fs::read_to_string(&path).unwrap();
        let run = text
            .lines()
            .find_map(|line| line.strip_prefix("# Run: dynamic-mcp-server "))
            .unwrap_or_else(|| panic!("{name} has a # Run: line"));
        let relative = format!("examples/scenarios/{name}");
        let args: Vec<&str> = run
            .split_whitespace()
            .map(|arg| if arg == relative { path.as_str() } else { arg })
            .collect();
        assert!(args.contains(&path.as_str()), "{name}: {run}");

        let mut server = ServerProcess::start(&args).await;
        let mut raw = server.raw();
        raw.initialize().await;
        raw.initialized().await;
        list_like_a_correct_client(&mut raw).await;
        server.wait_stderr("scenario done", 1).await;
        let all = list_like_a_correct_client(&mut raw).await;
        assert_eq!(all, expected_names(tools), "{name}");
    }
}

/// A change step with `client`: the change is made for every session, but
/// only that client's sessions are notified of it.
#[tokio::test]
async fn a_client_change_is_global_but_notified_to_that_client_only() {
    let server = HttpServer::start(&["--scenario", &file("client-change.toml")]).await;
    let mut other = server.connect().await;
    let raw = Raw::new(&server);
    let session = raw.initialize().await;
    raw.initialized(&session).await;
    let mut stream = raw.listen(&session).await;
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }).to_string();
    let response = bounded("tools/list", raw.post(Some(&session), list).send())
        .await
        .unwrap();
    SseReader::new(response).next_message().await.unwrap();
    assert!(is_tools_list_changed(&stream.next_notification().await));
    assert_eq!(other.tool_names().await, expected_names(2));
    assert!(
        tokio::time::timeout(QUIET, other.wait_changes(1))
            .await
            .is_err(),
        "the other client is not told"
    );
    other.close().await;
}

/// `[hostile.delay_ms]` holds one method's requests: a ping sent after a
/// delayed call is answered before it, and the call is still answered.
#[tokio::test]
async fn a_per_method_delay_holds_that_method_only() {
    let (server, mut raw) = initialized("1", "slow-calls.toml").await;
    assert!(
        server
            .stderr()
            .lines()
            .next()
            .unwrap()
            .ends_with("delay-ms=tools/call:1000"),
        "{}",
        server.stderr()
    );
    raw.send(json!({
        "jsonrpc": "2.0", "id": 10, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "message": "late" } },
    }))
    .await;
    raw.send(json!({ "jsonrpc": "2.0", "id": 11, "method": "ping" }))
        .await;
    assert_eq!(raw.recv().await["id"], 11, "the ping first");
    let call = raw.recv().await;
    assert_eq!(call["id"], 10);
    assert_eq!(call["result"]["structuredContent"]["echo_message"], "late");
}

/// Run the server with `args`, its address space capped at 2 GiB so that a
/// server reading without bound fails fast instead of taking the machine's
/// memory, and give it 10 seconds to refuse to start: its exit code and
/// stderr. A server still running then is killed and the test fails.
fn refusal_within_bounds(pidfile: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let stderr_path = dir.path().join("stderr");
    let mut command = std::process::Command::new(common::BIN);
    command
        .arg("--pidfile")
        .arg(pidfile)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut child = command.spawn().expect("run the server");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server neither started nor refused within 10 s: {:?}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        status.code(),
        std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    )
}

/// A refused scenario file: exit 2, one line naming the file and saying
/// `expected`, and no pidfile.
fn assert_scenario_refused(path: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("server.pid");
    let (code, stderr) = refusal_within_bounds(&pidfile, &["--scenario", path]);
    assert_eq!(code, Some(2), "{path}: {stderr}");
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{path}: one line: {stderr:?}");
    assert!(
        lines[0].starts_with(&format!("error: --scenario {path}: ")) && lines[0].contains(expected),
        "{path}: {stderr}"
    );
    assert!(!pidfile.exists(), "{path}: no pidfile left");
}

/// A scenario file that is a FIFO nobody writes hung start-up forever (issue
/// 24, finding 2): no exit, no output. It is refused at once, exit 2 and one
/// line, as docs/scenarios.md says of a file that cannot be read; so is a folder.
#[test]
fn a_scenario_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("scenario.toml");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    for path in [fifo.to_str().unwrap(), dir.path().to_str().unwrap()] {
        assert_scenario_refused(path, "cannot read it: it is not a regular file");
    }
}

/// A scenario file that never ends (a device yielding zeros) took memory
/// without bound, 520 MB in 0.9 s (issue 24, finding 3); a scenario must be a
/// regular file of at most 1 MiB. Exactly 1 MiB is read and checked.
#[test]
fn a_scenario_that_never_ends_or_is_too_long_is_refused() {
    assert_scenario_refused("/dev/zero", "cannot read it: it is not a regular file");
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.toml");
    let step = "[[steps]]\nnotify = \"tools\"\n";
    std::fs::write(&long, step.repeat(1024 * 1024 / step.len() + 1)).unwrap();
    assert_scenario_refused(long.to_str().unwrap(), "longer than 1048576 bytes");
    // This one is refused for what it says, not for its size.
    let at_cap = dir.path().join("at-cap.json");
    let json = r#"{"steps": [{"notify": "prompts"}]}"#;
    let padding = " ".repeat(1024 * 1024 - json.len());
    std::fs::write(&at_cap, format!("{json}{padding}")).unwrap();
    assert_scenario_refused(
        at_cap.to_str().unwrap(),
        "steps[0] (notify prompts): the server has no prompts",
    );
}

/// A scenario's work is capped in all, not only per step (issue 24, finding
/// 4): 100,000 steps of `count = 100000` (10^10 changes) took 1 GB in 1.9 s
/// of the start-up check and went on. At most 1,000,000 runs (each step's
/// times × count, summed); the step that crosses the cap is named, before
/// anything is replayed. Here a 1 MiB file of such steps (2.5 × 10^9).
#[test]
fn a_scenario_with_too_much_work_in_all_is_refused_naming_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("work.toml");
    let step = "[[steps]]\nchange = \"add_tool\"\ncount = 100000\n";
    std::fs::write(&path, step.repeat(1024 * 1024 / step.len())).unwrap();
    assert_scenario_refused(
        path.to_str().unwrap(),
        "steps[10] (add_tool): the steps so far make 1100000 runs (times × count, summed); \
         a scenario makes at most 1000000",
    );
    // Storms count as runs too: ten steps of 100,000 notifications are the
    // most; one more notification is one too many.
    let path = dir.path().join("storms.toml");
    let storm = "[[steps]]\nnotify = \"tools\"\nevery_ms = 1\ntimes = 100000\n";
    let one_more = "[[steps]]\nnotify = \"tools\"\n";
    std::fs::write(&path, format!("{}{one_more}", storm.repeat(10))).unwrap();
    assert_scenario_refused(
        path.to_str().unwrap(),
        "steps[10] (notify tools): the steps so far make 1000001 runs",
    );
}
