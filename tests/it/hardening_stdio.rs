//! Hostile paths, hostile timing and hostile clients on stdio (issue 9): the
//! pidfile never clobbers what is not ours, stdout carries only whole
//! messages, and memory stays bounded whatever the client does.

use crate::common;

use std::os::unix::fs::FileTypeExt;
use std::process::{Command, Stdio};

use common::{BIN, ServerProcess, bounded, refuses_to_start};

// Finding 1: `--pidfile` at something that is not a regular file is refused,
// and the thing is left exactly as it was (as root, `--pidfile /dev/null`
// deleted /dev/null).

#[test]
fn a_pidfile_path_that_is_a_fifo_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let stderr = refuses_to_start(&fifo, &[]);
    assert!(stderr.contains("not a regular file"), "{stderr}");
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO is still there");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing else written"
    );
}

#[test]
fn a_pidfile_path_that_is_a_directory_or_a_symlink_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let subdir = dir.path().join("subdir");
    std::fs::create_dir(&subdir).unwrap();
    refuses_to_start(&subdir, &[]);
    assert!(subdir.is_dir());

    // A symlink to a file someone cares about: neither is touched.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let link = dir.path().join("link.pid");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let stderr = refuses_to_start(&link, &[]);
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(std::fs::read_link(&link).unwrap(), victim);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

// Finding 2: a symlink planted at the predictable temporary name
// `.NAME.PID.tmp` is not followed (it truncated its target).
#[tokio::test]
async fn a_symlink_planted_at_the_temporary_name_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let pidfile = dir.path().join("server.pid");
    // The shell plants the link at its own PID's name, then becomes the
    // server with that PID.
    let script = format!(
        "ln -s {victim} {dir}/.server.pid.$$.tmp && exec {BIN} --pidfile {pidfile}",
        victim = victim.display(),
        dir = dir.path().display(),
        pidfile = pidfile.display(),
    );
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    bounded("the pidfile", async {
        while std::fs::read_to_string(&pidfile).ok() != Some(pid.to_string()) {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await;
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    drop(child.stdin.take());
    let status = bounded("the server to exit", child.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!pidfile.exists());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

// Findings 1 and 3: on exit the server removes only the pidfile it wrote, and
// only while it still holds its PID.
#[tokio::test]
async fn two_servers_on_one_pidfile_each_remove_only_their_own() {
    let mut first = ServerProcess::start(&[]).await;
    let pidfile = first.pidfile.clone();
    let mut second = tokio::process::Command::new(BIN)
        .arg("--pidfile")
        .arg(&pidfile)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let second_pid = second.id().unwrap().to_string();
    bounded("the second server's pidfile", async {
        while std::fs::read_to_string(&pidfile).ok().as_ref() != Some(&second_pid) {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await;
    first.signal(libc::SIGTERM);
    let status = first.wait_exit().await;
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        second_pid,
        "the first server left the second's pidfile"
    );
    drop(second.stdin.take());
    let status = bounded("the second server to exit", second.wait())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!pidfile.exists(), "the second removed its own pidfile");
}

#[tokio::test]
async fn a_pidfile_rewritten_by_someone_else_is_left_on_exit() {
    let mut server = ServerProcess::start(&[]).await;
    std::fs::write(&server.pidfile, "1\n").unwrap();
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit().await.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&server.pidfile).unwrap(), "1\n");
}

/// Whether the process has a handler installed for `signal`: its bit in
/// `SigCgt` of `status`, an open /proc/PID/status (re-read with pread, the
/// fastest way to catch the moment it changes).
fn catches(status: &std::fs::File, signal: i32) -> bool {
    use std::os::unix::fs::FileExt;
    let mut buffer = [0u8; 4096];
    let Ok(n) = status.read_at(&mut buffer, 0) else {
        return false;
    };
    String::from_utf8_lossy(&buffer[..n])
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
}

// Finding 10: a SIGTERM in the start-up window (handlers installed, pidfile
// not yet written) exits 0 and leaves no pidfile, like a SIGTERM at any later
// moment. The window is short, so this aims at it many times; it failed
// ("cannot start the pidfile writer actor: Supervisor is shutting down",
// exit 2) on the first attempt with the window widened by a 20 ms sleep
// before the pidfile write, and passes with the same sleep since the fix.
#[test]
fn sigterm_the_moment_the_handler_is_installed_exits_0_without_a_pidfile() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("server.pid");
    for attempt in 0..200 {
        let child = Command::new(BIN)
            .arg("--pidfile")
            .arg(&pidfile)
            .args(["--tools", "3"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let status = std::fs::File::open(format!("/proc/{pid}/status")).unwrap();
        let deadline = std::time::Instant::now() + common::TIMEOUT;
        while !catches(&status, libc::SIGTERM) {
            assert!(std::time::Instant::now() < deadline, "no SIGTERM handler");
            std::hint::spin_loop();
        }
        // SAFETY: kill(2) has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "attempt {attempt}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!pidfile.exists(), "attempt {attempt}: a pidfile was left");
    }
}

/// The server's stdout, parsed line by line: each must be one whole JSON
/// message.
fn messages(stdout: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(stdout).expect("stdout is UTF-8");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "stdout ends in a cut line: ...{:?}",
        &text[text.len().saturating_sub(80)..]
    );
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "stdout line is not JSON ({e}): {}",
                    &line[..line.len().min(200)]
                )
            })
        })
        .collect()
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// Run the server on `input` (then EOF) and return its status and messages.
async fn run_on(args: &[&str], input: &str) -> (std::process::ExitStatus, Vec<serde_json::Value>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .arg("--pidfile")
        .arg(dir.path().join("server.pid"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let mut stdout = Vec::new();
    bounded(
        "stdout to close",
        child.stdout.take().unwrap().read_to_end(&mut stdout),
    )
    .await
    .unwrap();
    let status = bounded("the server to exit", child.wait()).await.unwrap();
    (status, messages(&stdout))
}

// Finding 4: stdin EOF does not cut the answers still being written. The
// client reads only after a pause (the issue's `| (sleep 1; cat)`): the
// server waited 500 ms and then exited in the middle of a line.
#[tokio::test]
async fn answers_to_requests_read_before_eof_are_written_whole_to_a_slow_reader() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .arg("--pidfile")
        .arg(dir.path().join("server.pid"))
        .args(["--tools", "1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = format!("{INIT}\n{INITIALIZED}\n");
    for id in 1..=3 {
        input.push_str(&format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/list\"}}\n"
        ));
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    // The slow reader under test: it reads nothing for a while (longer than
    // the 500 ms the server used to give its writes).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut stdout = Vec::new();
    bounded(
        "stdout to close",
        child.stdout.take().unwrap().read_to_end(&mut stdout),
    )
    .await
    .unwrap();
    let status = bounded("the server to exit", child.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0));
    let messages = messages(&stdout);
    let lists: Vec<_> = messages
        .iter()
        .filter(|m| m["result"]["tools"].is_array())
        .collect();
    assert_eq!(lists.len(), 3, "three whole tools/list answers");
    for list in lists {
        assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 1000);
    }
}

// Finding 4, the other half of the rule: a client that never reads again
// does not hold the exit forever.
#[tokio::test]
async fn a_client_that_never_reads_does_not_hold_the_exit_forever() {
    use tokio::io::AsyncWriteExt;
    let mut server = ServerProcess::start(&["--tools", "1000"]).await;
    let (stdout, mut stdin) = server.take_stdio();
    let mut input = format!("{INIT}\n{INITIALIZED}\n");
    for id in 1..=20 {
        input.push_str(&format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/list\"}}\n"
        ));
    }
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let status = server.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert!(!server.pidfile_exists());
    assert!(
        server
            .stderr()
            .contains("the client stopped reading stdout"),
        "{}",
        server.stderr()
    );
    drop(stdout);
}

// Finding 5: a bad last line right before EOF is answered, and `id` is
// `null` when it cannot be read (JSON-RPC 2.0, section 5: "If there was an
// error in detecting the id in the Request object (e.g. Parse error/Invalid
// Request), it MUST be Null").
#[tokio::test]
async fn a_bad_last_line_before_eof_is_answered_with_id_null() {
    let (status, messages) = run_on(&[], "garbage\n").await;
    assert_eq!(status.code(), Some(0));
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["error"]["code"], -32700, "{}", messages[0]);
    assert_eq!(
        messages[0].get("id"),
        Some(&serde_json::Value::Null),
        "{}",
        messages[0]
    );

    // Without a final newline, and JSON that is no request: -32600, id null.
    let (_, messages) = run_on(&[], r#"{"hello":"world"}"#).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["error"]["code"], -32600, "{}", messages[0]);
    assert_eq!(
        messages[0].get("id"),
        Some(&serde_json::Value::Null),
        "{}",
        messages[0]
    );
}

// Finding 5: a -32600 carries the request's id when it can be read (JSON-RPC
// 2.0, section 5: the id "MUST be the same as the value of the id member in
// the Request Object"), or the client waits forever.
#[tokio::test]
async fn an_invalid_request_is_answered_with_its_id() {
    let input = format!(
        "{INIT}\n{INITIALIZED}\n{}\n{}\n",
        r#"{"jsonrpc":"2.0","id":31,"method":"tools/call","params":[1]}"#,
        r#"{"jsonrpc":"2.0","id":"s","method":"tools/call","params":[1]}"#
    );
    let (status, messages) = run_on(&[], &input).await;
    assert_eq!(status.code(), Some(0));
    for id in [serde_json::json!(31), serde_json::json!("s")] {
        let answer = messages
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("no answer with id {id}: {messages:?}"));
        assert_eq!(answer["error"]["code"], -32600, "{answer}");
    }
}

// Finding 18: a broken stdout (EPIPE) is the client gone: the server takes
// the one shutdown path at once, though stdin is still open.
#[tokio::test]
async fn a_broken_stdout_stops_the_server() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut server = ServerProcess::start(&[]).await;
    let (stdout, mut stdin) = server.take_stdio();
    stdin
        .write_all(format!("{INIT}\n{INITIALIZED}\n").as_bytes())
        .await
        .unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let answer = bounded("the initialize answer", lines.next_line())
        .await
        .unwrap();
    assert!(answer.unwrap().contains("protocolVersion"));
    drop(lines);
    // The answers to these pings meet a closed pipe.
    for id in 1..=3 {
        let ping = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n");
        stdin.write_all(ping.as_bytes()).await.unwrap();
    }
    stdin.flush().await.unwrap();
    let status = server.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert!(!server.pidfile_exists());
    // A client that leaves is routine: ERROR is for a server in the wrong.
    assert!(!server.stderr().contains("ERROR"), "{}", server.stderr());
    drop(stdin);
}

/// The cause of `a_broken_stdout_stops_the_server`'s rare hang, made
/// certain: a client (or the last process holding its end, such as a child
/// forked by the test binary at that moment) closes stdout after the last
/// answer was written. No write fails after that, so the server must learn
/// of it from the pipe itself, and exit.
#[tokio::test]
async fn a_stdout_closed_after_the_last_answer_stops_the_server() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut server = ServerProcess::start(&[]).await;
    let (stdout, mut stdin) = server.take_stdio();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    stdin
        .write_all(format!("{INIT}\n{INITIALIZED}\n{ping}\n").as_bytes())
        .await
        .unwrap();
    let mut lines = BufReader::new(stdout).lines();
    for answer in ["protocolVersion", r#""id":1"#] {
        let line = bounded("an answer", lines.next_line()).await.unwrap();
        assert!(line.unwrap().contains(answer));
    }
    // Every answer is read: nothing more will be written.
    drop(lines);
    let status = server.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert!(!server.pidfile_exists());
    assert!(!server.stderr().contains("ERROR"), "{}", server.stderr());
    drop(stdin);
}

/// Bytes waiting in the pipe behind `fd` (either end).
fn unread(fd: &impl std::os::fd::AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD");
    n as usize
}

/// A field of /proc/PID/status in kB, such as `VmHWM` (peak RSS).
fn status_kb(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

// Finding 8: a client that pipelines requests and does not read the answers
// cannot grow the server's memory without bound: the server stops reading
// while too many answers wait (30,000 pings took it to 240 MB).
#[tokio::test]
async fn a_client_that_pipelines_without_reading_holds_memory_bounded() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    const PINGS: usize = 30_000;
    let mut server = ServerProcess::start(&[]).await;
    let pid = server.pid;
    let (stdout, mut stdin) = server.take_stdio();
    stdin
        .write_all(format!("{INIT}\n{INITIALIZED}\n").as_bytes())
        .await
        .unwrap();
    let mut lines = BufReader::new(stdout).lines();
    bounded("the initialize answer", lines.next_line())
        .await
        .unwrap();
    let baseline = status_kb(pid, "VmRSS");

    let mut input = String::new();
    for id in 1..=PINGS {
        input.push_str(&format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n"
        ));
    }
    let writer = tokio::spawn(async move {
        stdin.write_all(input.as_bytes()).await.unwrap();
        stdin
    });
    // Read nothing until the server has read everything (unbounded) or has
    // stopped reading with both pipes full (bounded).
    let stdin_fd = std::fs::File::open(format!("/proc/{pid}/fd/0")).unwrap();
    let stdout_fd = std::os::fd::AsRawFd::as_raw_fd(lines.get_ref().get_ref());
    bounded("the writer to finish or both pipes to fill", async {
        let both_full = || unread(&stdin_fd) > 32 * 1024 && unread(&stdout_fd) > 32 * 1024;
        while !(writer.is_finished() || both_full()) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let mut answered = 0;
    while answered < PINGS {
        let line = bounded("a pong", lines.next_line()).await.unwrap().unwrap();
        assert!(line.contains(r#""result":{}"#), "{line}");
        answered += 1;
    }
    let peak = status_kb(pid, "VmHWM");
    eprintln!("peak RSS {peak} kB, {baseline} kB before the pings");
    assert!(
        peak < baseline + 30 * 1024,
        "peak RSS {peak} kB, from {baseline} kB at the start"
    );
    drop(bounded("the writer", writer).await.unwrap());
    server.stops_cleanly().await;
}

// Finding 13: a request whose id is still in flight gets an error, not
// silence (rmcp loses one of two answers with one id; JSON-RPC 2.0, section
// 4: the id is what matches a response to its request).
#[tokio::test]
async fn a_second_request_with_an_id_in_flight_is_answered_with_an_error() {
    let mut server = ServerProcess::start(&[]).await;
    let mut raw = server.raw();
    // A 2026-07-28 listen stream keeps id 5 in flight until shutdown.
    raw.listen(5, serde_json::json!({ "toolsListChanged": true }))
        .await;
    raw.send(serde_json::json!({
        "jsonrpc": "2.0", "id": 5, "method": "tools/list",
        "params": { "_meta": common::RawClient::meta_2026() },
    }))
    .await;
    let answer = raw.recv().await;
    assert_eq!(answer["id"], 5, "{answer}");
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in flight"),
        "{answer}"
    );
    // Still serving, and the stream still ends with its own answer.
    raw.send(serde_json::json!({
        "jsonrpc": "2.0", "id": 6, "method": "tools/list",
        "params": { "_meta": common::RawClient::meta_2026() },
    }))
    .await;
    let (pong, _) = raw.response_to(6).await;
    assert!(pong["result"]["tools"].is_array(), "{pong}");
    raw.close_stdin();
    let last = raw.recv().await;
    assert_eq!(last["id"], 5, "{last}");
    assert!(last.get("result").is_some(), "{last}");
    server.stops_cleanly().await;
}

/// Run the server with `args`, expecting it to refuse to start within the
/// usual bound (it must not hang); returns its stderr.
async fn refuses_promptly(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("server.pid");
    let child = tokio::process::Command::new(BIN)
        .arg("--pidfile")
        .arg(&pidfile)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = bounded("the server to refuse", child.wait_with_output())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty());
    assert!(!pidfile.exists());
    String::from_utf8(output.stderr).unwrap()
}

// Finding 15: the toolcount file must be a regular file (a FIFO hung the
// start-up, /dev/zero filled memory), read only as far as a count can go.
#[tokio::test]
async fn a_toolcount_file_that_is_not_a_regular_file_or_too_long_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let stderr = refuses_promptly(&["--toolcount-file", fifo.to_str().unwrap()]).await;
    assert!(stderr.contains("not a regular file"), "{stderr}");

    let stderr = refuses_promptly(&["--toolcount-file", "/dev/zero"]).await;
    assert!(stderr.contains("not a regular file"), "{stderr}");

    let long = dir.path().join("long");
    std::fs::write(&long, format!("{}3\n", " ".repeat(1 << 20))).unwrap();
    let stderr = refuses_promptly(&["--toolcount-file", long.to_str().unwrap()]).await;
    assert!(stderr.contains("longer than 64 bytes"), "{stderr}");

    // A count with a little whitespace is still fine.
    let fine = dir.path().join("fine");
    std::fs::write(&fine, "  12\r\n").unwrap();
    let mut server = ServerProcess::start(&["--toolcount-file", fine.to_str().unwrap()]).await;
    let client = server.connect().await;
    assert_eq!(client.tool_names().await.len(), 12);
    client.close().await;
    server.stops_cleanly().await;
}

// Finding 14: an integer literal below i64::MIN is an error, as one above
// i64::MAX is (it was clamped to i64::MIN). Raw lines, so the literals reach
// the server exactly as written.
#[tokio::test]
async fn integers_beyond_i64_either_way_are_errors() {
    let call = |id: u32, a: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"calculator","arguments":{{"a":{a},"b":0,"operation":"add"}}}}}}"#
        )
    };
    let literals = [
        "-9223372036854775809",
        "-99999999999999999999",
        "9223372036854775808",
        "-9223372036854775808",
        "9223372036854775807",
    ];
    let mut input = format!("{INIT}\n{INITIALIZED}\n");
    for (id, a) in (1..).zip(literals) {
        input.push_str(&call(id, a));
        input.push('\n');
    }
    let (_, messages) = run_on(&["--tools", "2"], &input).await;
    let result = |id: u32| {
        messages
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("no answer {id}: {messages:?}"))["result"]
            .clone()
    };
    for id in 1..=3 {
        let answer = result(id);
        assert_eq!(
            answer["isError"],
            true,
            "{}: {answer}",
            literals[id as usize - 1]
        );
        assert!(
            answer["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("fits in 64 bits"),
            "{answer}"
        );
    }
    assert_eq!(result(4)["structuredContent"]["result"], i64::MIN);
    assert_eq!(result(5)["structuredContent"]["result"], i64::MAX);
}

/// `initialize` on `revision`, then `notifications/initialized`.
fn handshake(revision: &str) -> String {
    format!("{}\n{INITIALIZED}\n", INIT.replace("2025-11-25", revision))
}

// Finding 12: revision 2025-03-26 requires servers to accept JSON-RPC
// batches ("Implementations MUST support receiving JSON-RPC batches"), answered
// as one array (JSON-RPC 2.0, section 6), invalid members answered in it, a
// batch of notifications alone answered with nothing.
#[tokio::test]
async fn a_batch_on_a_2025_03_26_session_is_answered_as_a_batch() {
    let input = format!(
        "{}{}\n{}\n{}\n",
        handshake("2025-03-26"),
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"b"}}},5,{"jsonrpc":"2.0","id":3,"method":"tools/call","params":[1]}]"#,
        r#"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#,
    );
    let (status, messages) = run_on(&[], &input).await;
    assert_eq!(status.code(), Some(0));
    assert_eq!(messages[0]["result"]["protocolVersion"], "2025-03-26");
    // The batch's answer comes when its last answer is in, so the ping after
    // it may come first.
    let arrays: Vec<_> = messages.iter().filter_map(|m| m.as_array()).collect();
    assert_eq!(arrays.len(), 1, "one array answers the batch: {messages:?}");
    let batch = arrays[0];
    assert_eq!(batch.len(), 4, "{batch:?}");
    let by_id = |id: serde_json::Value| {
        batch
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {batch:?}"))
    };
    assert_eq!(by_id(1.into())["result"], serde_json::json!({}));
    assert_eq!(
        by_id(2.into())["result"]["structuredContent"]["echo_message"],
        "b"
    );
    assert_eq!(by_id(3.into())["error"]["code"], -32600);
    assert_eq!(by_id(serde_json::Value::Null)["error"]["code"], -32600);
    // The notification-only batch got nothing; the next request is answered.
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages.iter().any(|m| m["id"] == 4), "{messages:?}");
}

#[tokio::test]
async fn a_batch_on_any_other_revision_is_refused_with_a_clear_error() {
    for revision in ["2024-11-05", "2025-06-18", "2025-11-25"] {
        let input = format!(
            "{}{}\n",
            handshake(revision),
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#
        );
        let (_, messages) = run_on(&[], &input).await;
        assert_eq!(messages.len(), 2, "{revision}: {messages:?}");
        let refusal = &messages[1];
        assert_eq!(refusal["error"]["code"], -32600, "{revision}: {refusal}");
        assert_eq!(refusal.get("id"), Some(&serde_json::Value::Null));
        assert!(
            refusal["error"]["message"]
                .as_str()
                .unwrap()
                .contains("2025-03-26"),
            "{refusal}"
        );
    }
}
