//! The floor: the least a process can do to answer the benchmark's requests
//! with the same bytes as dynamic-mcp-server. No MCP library, no actors, no
//! async runtime, no JSON parser: one thread, SIGHUP through a signalfd, one
//! `poll` over stdin and the signalfd, and the serialized tool list kept
//! ready so that a `tools/list` answer is a single write of cached bytes.
//!
//! It is what the kernel, the pipes and the client cost, which no server can
//! beat. It understands only the requests the benchmark sends (initialize,
//! notifications/initialized, ping, tools/list, tools/call of the echo tools
//! and counter), and the benchmark checks that it answers them byte for byte
//! as the real server does.
//!
//! Built by the benchmark with plain `rustc -O` (std only, so no Cargo
//! dependency and no extra binary in the package), and run as
//! `floor --pidfile PATH [--tools N]`, like the real server.

use std::ffi::c_int;
use std::fs::File;
use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;

const SIGHUP: c_int = 1;
const SIG_BLOCK: c_int = 0;
const SFD_CLOEXEC: c_int = 0o2000000;
const SFD_NONBLOCK: c_int = 0o4000;
const POLLIN: i16 = 1;
/// `struct signalfd_siginfo` is 128 bytes: one per delivered signal.
const SIGINFO: usize = 128;

#[repr(C)]
struct SigSet([u64; 16]);

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

unsafe extern "C" {
    fn sigemptyset(set: *mut SigSet) -> c_int;
    fn sigaddset(set: *mut SigSet, signal: c_int) -> c_int;
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn signalfd(fd: c_int, mask: *const SigSet, flags: c_int) -> c_int;
    fn poll(fds: *mut PollFd, count: u64, timeout: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut u8, count: usize) -> isize;
}

const INITIALIZE_RESULT: &str = r#"{"protocolVersion":"2025-11-25","capabilities":{"logging":{},"tools":{"listChanged":true}},"serverInfo":{"name":"dynamic-mcp-server","version":"0.1.0"},"instructions":"A test server whose tool list grows by one tool on every SIGHUP, each followed by notifications/tools/list_changed."}"#;
const TOOL_1: &str = r#"{"name":"echo","description":"Echo a message back.","inputSchema":{"properties":{"message":{"description":"The message to echo","type":"string"}},"required":["message"],"type":"object"},"outputSchema":{"properties":{"echo_message":{"type":"string"}},"required":["echo_message"],"type":"object"}}"#;
const TOOL_2: &str = r#"{"name":"calculator","description":"Add, subtract, multiply or divide two integers.","inputSchema":{"properties":{"a":{"description":"The first operand","type":"integer"},"b":{"description":"The second operand","type":"integer"},"operation":{"description":"The operation to apply to a and b","enum":["add","subtract","multiply","divide"],"type":"string"}},"required":["a","b","operation"],"type":"object"},"outputSchema":{"properties":{"result":{"type":"number"}},"required":["result"],"type":"object"}}"#;
const TOOL_3: &str = r#"{"name":"counter","description":"Return the current number of tools.","inputSchema":{"properties":{},"type":"object"},"outputSchema":{"properties":{"count":{"type":"integer"}},"required":["count"],"type":"object"}}"#;
/// Tool `k >= 4` is this with its number after `echo`.
const TOOL_K: (&str, &str) = (
    r#"{"name":"echo"#,
    r#"","description":"Echo a message back, with this tool's number (added by SIGHUP).","inputSchema":{"properties":{"message":{"description":"The message to echo","type":"string"}},"required":["message"],"type":"object"},"outputSchema":{"properties":{"echo_message":{"type":"string"},"tool_number":{"type":"integer"}},"required":["echo_message","tool_number"],"type":"object"}}"#,
);
const NOTIFICATION: &[u8] = b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n";

/// The tool list, serialized once and appended to on every SIGHUP.
struct Tools {
    count: usize,
    /// `{tool 1},{tool 2},...`: the inside of the `tools` array.
    json: Vec<u8>,
}

impl Tools {
    fn add(&mut self) {
        self.count += 1;
        if self.count > 1 {
            self.json.push(b',');
        }
        match self.count {
            1 => self.json.extend_from_slice(TOOL_1.as_bytes()),
            2 => self.json.extend_from_slice(TOOL_2.as_bytes()),
            3 => self.json.extend_from_slice(TOOL_3.as_bytes()),
            k => {
                self.json.extend_from_slice(TOOL_K.0.as_bytes());
                let _ = write!(self.json, "{k}");
                self.json.extend_from_slice(TOOL_K.1.as_bytes());
            }
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut pidfile, mut count) = (String::from("dynamic_server.pid"), 1usize);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--pidfile" => pidfile = args.next().expect("--pidfile PATH"),
            "--tools" => count = args.next().expect("--tools N").parse().expect("a count"),
            _ => {}
        }
    }

    // SIGHUP is blocked before the pidfile exists, so it is never fatal; the
    // signalfd then reads one record per delivery.
    let sfd = unsafe {
        let mut set = SigSet([0; 16]);
        sigemptyset(&mut set);
        sigaddset(&mut set, SIGHUP);
        sigprocmask(SIG_BLOCK, &set, std::ptr::null_mut());
        signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)
    };
    assert!(sfd >= 0, "signalfd");

    let temp = format!("{pidfile}.{}.tmp", std::process::id());
    std::fs::write(&temp, std::process::id().to_string()).expect("write the pidfile");
    std::fs::rename(&temp, &pidfile).expect("rename the pidfile");

    let mut tools = Tools {
        count: 0,
        json: Vec::new(),
    };
    for _ in 0..count {
        tools.add();
    }

    let mut stdin = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    let mut stdout = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let mut input: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut start = 0; // where the unread part of `input` begins
    let mut out: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut initialized = false;
    let mut changed_before_initialized = false;
    let mut siginfo = [0u8; SIGINFO * 64];

    loop {
        let mut fds = [
            PollFd {
                fd: 0,
                events: POLLIN,
                revents: 0,
            },
            PollFd {
                fd: sfd,
                events: POLLIN,
                revents: 0,
            },
        ];
        if unsafe { poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            continue; // EINTR
        }
        if fds[1].revents != 0 {
            loop {
                let n = unsafe { read(sfd, siginfo.as_mut_ptr(), siginfo.len()) };
                if n <= 0 {
                    break;
                }
                for _ in 0..n as usize / SIGINFO {
                    tools.add();
                }
                if initialized {
                    out.extend_from_slice(NOTIFICATION);
                } else {
                    changed_before_initialized = true;
                }
            }
        }
        let mut eof = false;
        if fds[0].revents != 0 {
            if input.len() - start < 4096 {
                input.drain(..start);
                start = 0;
            }
            input.reserve(1 << 16);
            let len = input.len();
            let spare = input.capacity() - len;
            input.resize(len + spare, 0);
            match stdin.read(&mut input[len..]) {
                Ok(0) | Err(_) => {
                    input.truncate(len);
                    eof = true;
                }
                Ok(n) => input.truncate(len + n),
            }
            while let Some(end) = input[start..].iter().position(|&b| b == b'\n') {
                let line = &input[start..start + end];
                start += end + 1;
                answer(
                    line,
                    &tools,
                    &mut out,
                    &mut stdout,
                    &mut initialized,
                    &mut changed_before_initialized,
                );
            }
        }
        if !out.is_empty() {
            stdout.write_all(&out).expect("write");
            out.clear();
        }
        if eof {
            let _ = std::fs::remove_file(&pidfile);
            return;
        }
    }
}

/// Append the answer to one request line to `out` (a `tools/list` answer is
/// written straight from the cache instead).
fn answer(
    line: &[u8],
    tools: &Tools,
    out: &mut Vec<u8>,
    stdout: &mut File,
    initialized: &mut bool,
    changed_before_initialized: &mut bool,
) {
    let Some(method) = string_after(line, b"\"method\":\"") else {
        return;
    };
    let id = raw_after(line, b"\"id\":").unwrap_or(b"null");
    let head = |out: &mut Vec<u8>| {
        out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
        out.extend_from_slice(id);
        out.extend_from_slice(b",\"result\":");
    };
    match method {
        b"initialize" => {
            head(out);
            out.extend_from_slice(INITIALIZE_RESULT.as_bytes());
            out.extend_from_slice(b"}\n");
        }
        b"notifications/initialized" => {
            *initialized = true;
            if std::mem::take(changed_before_initialized) {
                out.extend_from_slice(NOTIFICATION);
            }
        }
        b"ping" => {
            head(out);
            out.extend_from_slice(b"{}}\n");
        }
        b"tools/list" => {
            head(out);
            out.extend_from_slice(b"{\"tools\":[");
            stdout.write_all(out).expect("write");
            out.clear();
            stdout.write_all(&tools.json).expect("write");
            out.extend_from_slice(b"]}}\n");
        }
        b"tools/call" => {
            let name = string_after(line, b"\"name\":\"").unwrap_or(b"");
            let k = match name {
                b"echo" => 1,
                b"counter" => 3,
                _ => name
                    .strip_prefix(b"echo")
                    .and_then(|d| std::str::from_utf8(d).ok()?.parse::<usize>().ok())
                    .filter(|&k| k >= 4 && k <= tools.count)
                    .unwrap_or(0),
            };
            let mut result = Vec::with_capacity(64);
            match k {
                3 => {
                    let _ = write!(result, "{{\"count\":{}}}", tools.count);
                }
                0 => return, // not a request the benchmark sends
                k => {
                    let message = json_string_after(line, b"\"message\":").unwrap_or(b"\"\"");
                    result.extend_from_slice(b"{\"echo_message\":");
                    result.extend_from_slice(message);
                    if k > 1 {
                        let _ = write!(result, ",\"tool_number\":{k}");
                    }
                    result.push(b'}');
                }
            }
            head(out);
            out.extend_from_slice(b"{\"content\":[{\"type\":\"text\",\"text\":\"");
            for &b in &result {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.extend_from_slice(b"\"}],\"structuredContent\":");
            out.extend_from_slice(&result);
            out.extend_from_slice(b",\"isError\":false}}\n");
        }
        _ => {}
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The characters of the string that follows `key` (which ends in a quote).
fn string_after<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let from = find(line, key)? + key.len();
    let len = line[from..].iter().position(|&b| b == b'"')?;
    Some(&line[from..from + len])
}

/// The raw token after `key`, up to the next `,` or `}`: a number, or a
/// string without commas.
fn raw_after<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let from = find(line, key)? + key.len();
    let len = line[from..].iter().position(|&b| b == b',' || b == b'}')?;
    Some(&line[from..from + len])
}

/// The JSON string token (quotes and escapes included) after `key`.
fn json_string_after<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let from = find(line, key)? + key.len();
    if line.get(from) != Some(&b'"') {
        return None;
    }
    let mut i = from + 1;
    while i < line.len() {
        match line[i] {
            b'\\' => i += 2,
            b'"' => return Some(&line[from..=i]),
            _ => i += 1,
        }
    }
    None
}
