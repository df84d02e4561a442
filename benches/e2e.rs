//! End-to-end benchmarks: the release binary over real pipes, with real
//! signals, against the floor (`benches/floor/floor.rs`) measured alternately
//! in the same run by the same client.
//!
//! ```sh
//! cargo bench --bench e2e                 # every part (a few minutes)
//! cargo bench --bench e2e -- sighup scale # only these parts
//! cargo bench --bench e2e -- --table      # the markdown table of the last run
//! cargo bench --bench e2e -- --update     # ... written into BENCHMARKS.md
//! ```
//!
//! Parts: `startup`, `sighup`, `burst`, `scale`, `calls`, `memory` (1 to 6 of
//! issue 3; the floor, part 8, runs inside each), and `paging` (the cost of
//! `--page-size`, issue 10). Every figure is printed as
//! ours, floor, and ours/floor, and appended as a JSON line to
//! `target/bench-results.jsonl` (or `$BENCH_RESULTS`); at the end the table
//! for `BENCHMARKS.md` is printed and written to `target/bench-table.md`.
//! `BENCH_QUICK=1` shrinks every count for a smoke run.
//!
//! The client is deliberately lean: blocking std I/O, newline-delimited
//! JSON-RPC written from prebuilt bytes, responses read as raw lines and
//! matched without parsing on the timed path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

mod common;
use common::{MANIFEST_DIR, machine, results_path, target_dir, utc};

/// How long any single wait for the server may take before it counts as hung.
const HANG: Duration = Duration::from_secs(20);

const INITIALIZE: &[u8] = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}
"#;
const INITIALIZED: &[u8] = b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";
const NOTIFICATION: &[u8] =
    b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--burst-sender") {
        return burst_sender(&args[1], &args[2]);
    }
    let results = results_path();
    if args.iter().any(|a| a == "--table") {
        let table = table_from(&results);
        print!("{table}");
        return;
    }
    if args.iter().any(|a| a == "--update") {
        return update_benchmarks_md(&table_from(&results));
    }
    let parts: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let wanted = |part: &str| parts.is_empty() || parts.contains(&part);

    let bench = Bench::new(results);
    println!(
        "e2e benchmarks, run {} on {}\nours: {}\nfloor: {}\n",
        bench.run,
        bench.machine,
        bench.ours.display(),
        bench.floor.display()
    );
    let started = Instant::now();
    bench.check_same_bytes();
    if wanted("startup") {
        bench.startup();
    }
    if wanted("sighup") {
        bench.sighup_latency();
    }
    if wanted("burst") {
        bench.bursts();
    }
    if wanted("scale") {
        bench.scale();
    }
    if wanted("calls") {
        bench.calls();
    }
    if wanted("memory") {
        bench.memory();
    }
    if wanted("paging") {
        bench.paging();
    }
    println!("\ne2e done in {:.1} s\n", started.elapsed().as_secs_f64());
    let table = table_from(&bench.results);
    let _ = std::fs::write(target_dir().join("bench-table.md"), &table);
    print!("{table}");
}

// ---------------------------------------------------------------------------
// The servers under test.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Ours,
    Floor,
}

const KINDS: [Kind; 2] = [Kind::Ours, Kind::Floor];

/// One running server (ours or the floor) and the client's end of its pipes.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    /// `None` while a burst reads it from another thread.
    out: Option<BufReader<SpinReader>>,
    pid: i32,
    line: Vec<u8>,
    next_id: u64,
    _dir: tempfile::TempDir,
}

impl Server {
    fn spawn(bench: &Bench, kind: Kind, tools: Option<usize>) -> (Self, Instant) {
        Self::spawn_with(bench, kind, tools, &[])
    }

    /// [`Server::spawn`] with more arguments (ours only: the floor has none).
    fn spawn_with(
        bench: &Bench,
        kind: Kind,
        tools: Option<usize>,
        args: &[&str],
    ) -> (Self, Instant) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(match kind {
            Kind::Ours => bench.ours.as_path(),
            Kind::Floor => bench.floor.as_path(),
        });
        command.arg("--pidfile").arg(dir.path().join("server.pid"));
        if let Some(n) = tools {
            command.arg("--tools").arg(n.to_string());
        }
        command.args(args);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let t0 = Instant::now();
        let mut child = command.spawn().expect("spawn the server");
        let server = Self {
            pid: child.id() as i32,
            stdin: child.stdin.take(),
            out: Some(BufReader::with_capacity(
                1 << 20,
                SpinReader {
                    inner: child.stdout.take().unwrap(),
                    spin: false,
                },
            )),
            child,
            line: Vec::with_capacity(1 << 16),
            next_id: 1,
            _dir: dir,
        };
        (server, t0)
    }

    /// Wait for the server's lines by spinning on a non-blocking pipe rather
    /// than sleeping in `read` (`on`), or block again. The latency parts
    /// spin so that the client's own wake-up (tens of microseconds for an idle
    /// virtual CPU) is not counted; ours and the floor are read alike.
    fn set_spin(&mut self, on: bool) {
        let reader = self.out.as_mut().unwrap().get_mut();
        let fd = reader.inner.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own, with valid flags.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            let flags = if on {
                flags | libc::O_NONBLOCK
            } else {
                flags & !libc::O_NONBLOCK
            };
            assert_eq!(libc::fcntl(fd, libc::F_SETFL, flags), 0, "fcntl");
        }
        reader.spin = on;
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stdin
            .as_mut()
            .unwrap()
            .write_all(bytes)
            .expect("write to the server");
    }

    /// Read one line (without its newline) into `self.line`.
    fn read_line(&mut self) -> &[u8] {
        self.line.clear();
        let n = self
            .out
            .as_mut()
            .unwrap()
            .read_until(b'\n', &mut self.line)
            .expect("read from the server");
        assert!(n > 0, "the server closed its stdout");
        self.line.pop();
        &self.line
    }

    /// Initialize; returns when the `initialize` response has been read.
    fn initialize(&mut self) {
        self.send(INITIALIZE);
        let line = self.read_line();
        assert!(line.starts_with(br#"{"jsonrpc":"2.0","id":0,"result""#));
        self.send(INITIALIZED);
    }

    fn request(&mut self, method: &str, params: Option<Value>) -> Vec<u8> {
        let id = self.next_id;
        self.next_id += 1;
        let mut request = json!({ "jsonrpc": "2.0", "id": id, "method": method });
        if let Some(params) = params {
            request["params"] = params;
        }
        let mut bytes = serde_json::to_vec(&request).unwrap();
        bytes.push(b'\n');
        bytes
    }

    /// Send a request and return its response line, skipping notifications.
    fn call(&mut self, method: &str, params: Option<Value>) -> Vec<u8> {
        let request = self.request(method, params);
        self.send(&request);
        loop {
            let line = self.read_line();
            if line != NOTIFICATION {
                return line.to_vec();
            }
        }
    }

    /// `tools/list`: (latency from writing the request to having read the
    /// whole line, response bytes with the newline).
    fn timed_list(&mut self) -> (Duration, usize) {
        let request = self.request("tools/list", None);
        let t = Instant::now();
        self.send(&request);
        let len = self.read_line().len();
        (t.elapsed(), len + 1)
    }

    /// Every page of `tools/list`, following `nextCursor`: (latency from
    /// writing the first request to having read the last page, pages, response
    /// bytes with the newlines). The cursor is read without parsing the page
    /// (a hex string, so no escapes), as a lean client would.
    fn timed_all_pages(&mut self) -> (Duration, usize, usize) {
        const FIELD: &[u8] = b"\"nextCursor\":\"";
        let t = Instant::now();
        let (mut pages, mut bytes) = (0, 0);
        let mut cursor: Option<String> = None;
        loop {
            let request = self.request("tools/list", cursor.map(|c| json!({ "cursor": c })));
            self.send(&request);
            let line = self.read_line();
            pages += 1;
            bytes += line.len() + 1;
            cursor = line
                .windows(FIELD.len())
                .position(|window| window == FIELD)
                .map(|at| {
                    let rest = &line[at + FIELD.len()..];
                    let end = rest
                        .iter()
                        .position(|&b| b == b'"')
                        .expect("a whole cursor");
                    String::from_utf8(rest[..end].to_vec()).expect("an ASCII cursor")
                });
            if cursor.is_none() {
                return (t.elapsed(), pages, bytes);
            }
        }
    }

    /// (VmRSS, VmHWM) in kB.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn sighup(&self) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.pid, libc::SIGHUP) };
        assert_eq!(rc, 0, "kill -HUP {}", self.pid);
    }

    /// Close stdin and wait for the exit: the time from EOF to the reaped exit.
    fn close(mut self) -> Duration {
        let t = Instant::now();
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for the server");
        let elapsed = t.elapsed();
        assert!(status.success(), "the server exited with {status}");
        elapsed
    }
}

/// The server's stdout; in spin mode a read that would block is retried at once.
struct SpinReader {
    inner: ChildStdout,
    spin: bool,
}

impl Read for SpinReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(e) if self.spin && e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::hint::spin_loop()
                }
                other => return other,
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// Statistics and results.

#[derive(Clone, Debug, Default)]
struct Stats {
    n: usize,
    median: f64,
    p90: f64,
    p99: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(samples: &[f64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            // nearest rank
            let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[i - 1]
        };
        Self {
            n: sorted.len(),
            median: if sorted.len().is_multiple_of(2) {
                (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
            } else {
                sorted[sorted.len() / 2]
            },
            p90: rank(0.90),
            p99: rank(0.99),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        }
    }

    fn one(value: f64) -> Self {
        Self::of(&[value])
    }

    fn json(&self) -> Value {
        json!({ "n": self.n, "median": self.median, "p90": self.p90, "p99": self.p99,
                "min": self.min, "max": self.max })
    }
}

fn durations_ms(samples: &[Duration]) -> Vec<f64> {
    samples.iter().map(|d| d.as_secs_f64() * 1e3).collect()
}

fn durations_us(samples: &[Duration]) -> Vec<f64> {
    samples.iter().map(|d| d.as_secs_f64() * 1e6).collect()
}

struct Bench {
    ours: PathBuf,
    floor: PathBuf,
    results: PathBuf,
    run: String,
    machine: String,
    quick: bool,
}

impl Bench {
    fn new(results: PathBuf) -> Self {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        Self {
            ours: common::ours(),
            floor: build_floor(),
            results,
            run: utc(now.as_secs()),
            machine: machine(),
            quick: std::env::var_os("BENCH_QUICK").is_some_and(|v| v != "0"),
        }
    }

    /// `full`, or a tenth of it (at least `min`) in a quick run.
    fn count(&self, full: usize, min: usize) -> usize {
        if self.quick {
            (full / 10).max(min)
        } else {
            full
        }
    }

    /// Print one figure and append it to the results file.
    fn record(&self, part: &str, figure: &str, unit: &str, ours: &Stats, floor: Option<&Stats>) {
        let ratio = floor.map(|f| ours.median / f.median);
        let show = |s: &Stats| {
            if s.n > 1 {
                format!(
                    "p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}",
                    s.median, s.p90, s.p99, s.max
                )
            } else {
                format!("{:.3}", s.median)
            }
        };
        println!("  {figure} ({unit}), n={}", ours.n);
        println!("      ours:  {}", show(ours));
        if let Some(floor) = floor {
            println!("      floor: {}", show(floor));
            println!("      ours/floor (median): {:.2}", ratio.unwrap());
        }
        let line = json!({
            "run": self.run, "machine": self.machine, "part": part, "figure": figure,
            "unit": unit, "ours": ours.json(), "floor": floor.map(Stats::json),
            "ratio": ratio, "quick": self.quick,
        });
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.results)
            .expect("open the results file");
        writeln!(file, "{line}").expect("append a result");
    }

    // -- part 8's precondition: same requests, same bytes --------------------

    fn check_same_bytes(&self) {
        let mut transcripts = Vec::new();
        for kind in KINDS {
            let (mut server, _) = Server::spawn(self, kind, Some(4));
            let mut lines = Vec::new();
            server.send(INITIALIZE);
            lines.push(server.read_line().to_vec());
            server.send(INITIALIZED);
            lines.push(server.call("tools/list", None));
            for (name, arguments) in [
                ("echo", json!({ "message": "hello" })),
                ("echo4", json!({ "message": "with \"quotes\"" })),
                ("counter", json!({})),
            ] {
                let params = json!({ "name": name, "arguments": arguments });
                lines.push(server.call("tools/call", Some(params)));
            }
            lines.push(server.call("ping", None));
            server.sighup();
            lines.push(server.read_line().to_vec());
            lines.push(server.call("tools/list", None));
            server.close();
            transcripts.push(lines);
        }
        for (ours, floor) in transcripts[0].iter().zip(&transcripts[1]) {
            assert_eq!(
                String::from_utf8_lossy(ours),
                String::from_utf8_lossy(floor),
                "the floor must answer with the same bytes as the server"
            );
        }
        println!(
            "floor check: the floor answers the benchmark's requests with the same bytes as ours\n"
        );
    }

    // -- part 1 ---------------------------------------------------------------

    fn startup(&self) {
        let spawns = self.count(50, 5);
        println!("[1] startup: {spawns} spawns each, alternating");
        let mut init: [Vec<Duration>; 2] = Default::default();
        let mut list: [Vec<Duration>; 2] = Default::default();
        let mut exit: [Vec<Duration>; 2] = Default::default();
        for _ in 0..spawns {
            for (i, kind) in KINDS.into_iter().enumerate() {
                let (mut server, t0) = Server::spawn(self, kind, None);
                server.send(INITIALIZE);
                server.read_line();
                init[i].push(t0.elapsed());
                server.send(INITIALIZED);
                let request = server.request("tools/list", None);
                server.send(&request);
                server.read_line();
                list[i].push(t0.elapsed());
                exit[i].push(server.close());
            }
        }
        for (figure, samples) in [
            ("spawn_to_initialize", &init),
            ("spawn_to_first_list", &list),
            ("exit_after_eof", &exit),
        ] {
            let ours = Stats::of(&durations_ms(&samples[0]));
            let floor = Stats::of(&durations_ms(&samples[1]));
            self.record("startup", figure, "ms", &ours, Some(&floor));
        }
    }

    // -- part 2 ---------------------------------------------------------------

    fn sighup_latency(&self) {
        let signals = self.count(1000, 100);
        println!("[2] SIGHUP latency: {signals} paced SIGHUPs each, alternating");
        let mut servers: Vec<Server> = KINDS
            .iter()
            .map(|&kind| {
                let (mut server, _) = Server::spawn(self, kind, Some(3));
                server.initialize();
                server.set_spin(true);
                server
            })
            .collect();
        let mut samples: [Vec<Duration>; 2] = Default::default();
        for _ in 0..signals {
            for (i, server) in servers.iter_mut().enumerate() {
                let t = Instant::now();
                server.sighup();
                let line = server.read_line();
                let elapsed = t.elapsed();
                assert_eq!(line, NOTIFICATION);
                samples[i].push(elapsed);
            }
        }
        for server in servers {
            server.close();
        }
        let ours = Stats::of(&durations_us(&samples[0]));
        let floor = Stats::of(&durations_us(&samples[1]));
        self.record(
            "sighup",
            "sighup_to_notification",
            "us",
            &ours,
            Some(&floor),
        );
    }

    // -- part 3 ---------------------------------------------------------------

    fn bursts(&self) {
        println!("[3] bursts: SIGHUPs in a tight loop from another process");
        // Single 1,000-SIGHUP bursts are bimodal (whether the receiver gets a
        // core during the millisecond the burst lasts), so the share caught
        // is compared as a mean over 30 bursts, ours and the floor alternating.
        for (size, runs) in [
            (1_000, self.count(30, 3)),
            (10_000, self.count(3, 1)),
            (20_000, self.count(10, 2)),
            (100_000, self.count(2, 1)),
        ] {
            let mut outcomes: [Vec<BurstOutcome>; 2] = Default::default();
            for _ in 0..runs {
                for (i, kind) in KINDS.into_iter().enumerate() {
                    outcomes[i].push(self.burst(kind, size));
                }
            }
            for (i, kind) in KINDS.into_iter().enumerate() {
                let o = &outcomes[i];
                let added: Vec<f64> = o.iter().map(|b| b.added as f64).collect();
                println!(
                    "  {kind:?} {size}-SIGHUP burst x{runs}: sent {:?}, added {:?}, notifications {:?}, \
                     final notification after {:?} ms, consistent {}/{runs}, crashes {}, hangs {}",
                    o.iter().map(|b| b.sent).collect::<Vec<_>>(),
                    o.iter().map(|b| b.added).collect::<Vec<_>>(),
                    o.iter().map(|b| b.notifications).collect::<Vec<_>>(),
                    o.iter()
                        .map(|b| (b.final_ms * 10.0).round() / 10.0)
                        .collect::<Vec<_>>(),
                    o.iter().filter(|b| b.consistent).count(),
                    o.iter().filter(|b| b.crashed).count(),
                    o.iter().filter(|b| b.hung).count(),
                );
                let _ = added;
            }
            let part = format!("burst_{size}");
            let stat = |i: usize, f: &dyn Fn(&BurstOutcome) -> f64| {
                Stats::of(&outcomes[i].iter().map(f).collect::<Vec<_>>())
            };
            type Field = (&'static str, &'static str, fn(&BurstOutcome) -> f64);
            let fields: [Field; 7] = [
                ("sent", "signals", |b| b.sent as f64),
                ("added", "tools", |b| b.added as f64),
                ("added_percent", "%", |b| {
                    100.0 * b.added as f64 / b.sent.max(1) as f64
                }),
                ("notifications", "notifications", |b| b.notifications as f64),
                ("final_notification", "ms", |b| b.final_ms),
                ("failed_runs", "runs", |b| {
                    (b.crashed || b.hung || !b.consistent) as u8 as f64
                }),
                ("crashes_or_hangs", "runs", |b| {
                    (b.crashed || b.hung) as u8 as f64
                }),
            ];
            if size == 1_000 {
                // Issue 12's target: the mean share caught, >= 0.8x the floor's.
                let percent = |b: &BurstOutcome| 100.0 * b.added as f64 / b.sent.max(1) as f64;
                let mean = |i: usize| {
                    Stats::one(outcomes[i].iter().map(percent).sum::<f64>() / runs as f64)
                };
                println!("  mean of {runs} bursts each:");
                self.record(&part, "added_percent_mean", "%", &mean(0), Some(&mean(1)));
            }
            for (figure, unit, f) in fields {
                let (ours, floor) = (stat(0, &f), stat(1, &f));
                if figure == "failed_runs" || figure == "crashes_or_hangs" {
                    // a count over the runs, not a median
                    let sum = |i: usize| Stats::one(outcomes[i].iter().map(f).sum());
                    self.record(&part, figure, unit, &sum(0), Some(&sum(1)));
                } else {
                    self.record(&part, figure, unit, &ours, Some(&floor));
                }
            }
        }
    }

    fn burst(&self, kind: Kind, size: usize) -> BurstOutcome {
        const QUIET: Duration = Duration::from_millis(300);
        let (mut server, _) = Server::spawn(self, kind, Some(3));
        server.initialize();
        let pid = server.pid;

        // Lines arrive through a thread so that waits can time out.
        let mut out = server.out.take().unwrap();
        let (tx, lines) = mpsc::channel::<(Instant, Vec<u8>)>();
        let reader = std::thread::spawn(move || {
            let mut line = Vec::new();
            loop {
                line.clear();
                match out.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        line.pop();
                        if tx.send((Instant::now(), line.clone())).is_err() {
                            return;
                        }
                    }
                }
            }
        });

        let mut sender = Command::new(std::env::current_exe().unwrap())
            .args(["--burst-sender", &pid.to_string(), &size.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the burst sender");
        let mut sender_out = BufReader::new(sender.stdout.take().unwrap());
        let mut ready = String::new();
        sender_out.read_line(&mut ready).unwrap();
        let go = Instant::now();
        sender.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let mut report = String::new();
        sender_out.read_line(&mut report).unwrap();
        sender.wait().unwrap();
        let sent: usize = report.split_whitespace().nth(1).unwrap().parse().unwrap();

        let mut outcome = BurstOutcome {
            sent,
            ..Default::default()
        };
        let mut last_notification = None;
        // Wait until every signal has been delivered and the notifications
        // have stopped.
        let deadline = Instant::now() + HANG;
        loop {
            if Instant::now() > deadline {
                outcome.hung = true;
                break;
            }
            match lines.recv_timeout(QUIET) {
                Ok((at, line)) if line == NOTIFICATION => {
                    outcome.notifications += 1;
                    last_notification = Some(at);
                }
                Ok((_, line)) => panic!("unexpected line {}", String::from_utf8_lossy(&line)),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if sighup_pending(pid) != Some(true) {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        outcome.final_ms = last_notification
            .map(|t| (t - go).as_secs_f64() * 1e3)
            .unwrap_or(f64::NAN);
        if let Ok(Some(_)) = server.child.try_wait() {
            outcome.crashed = true;
        }

        // Consistency: contiguous names, counter equal to the list length,
        // no change without a notification, still answering.
        if !outcome.crashed && !outcome.hung {
            let mut ask = |server: &mut Server, method: &str, params: Option<Value>| {
                let request = server.request(method, params);
                server.send(&request);
                loop {
                    match lines.recv_timeout(HANG) {
                        Ok((_, line)) if line == NOTIFICATION => outcome.notifications += 1,
                        Ok((_, line)) => return serde_json::from_slice::<Value>(&line).ok(),
                        Err(_) => return None,
                    }
                }
            };
            let list = ask(&mut server, "tools/list", None);
            let counter = ask(
                &mut server,
                "tools/call",
                Some(json!({ "name": "counter", "arguments": {} })),
            );
            let again = ask(&mut server, "tools/list", None);
            match (list, counter, again) {
                (Some(list), Some(counter), Some(again)) => {
                    let names: Vec<&str> = list["result"]["tools"]
                        .as_array()
                        .map(|tools| tools.iter().filter_map(|t| t["name"].as_str()).collect())
                        .unwrap_or_default();
                    let n = names.len();
                    let contiguous = names
                        .iter()
                        .enumerate()
                        .all(|(i, name)| *name == expected_name(i + 1));
                    let count = counter["result"]["structuredContent"]["count"].as_u64();
                    let n_again = again["result"]["tools"].as_array().map_or(0, Vec::len);
                    outcome.added = n.saturating_sub(3);
                    outcome.consistent = contiguous
                        && n >= 3
                        && count == Some(n as u64)
                        && n_again == n
                        && outcome.notifications <= outcome.added
                        && (outcome.added == 0 || outcome.notifications >= 1);
                }
                _ => outcome.hung = true,
            }
        }
        if let Ok(Some(_)) = server.child.try_wait() {
            outcome.crashed = true;
        }
        if !outcome.crashed && !outcome.hung {
            server.close();
        }
        drop(lines);
        let _ = reader.join();
        outcome
    }

    // -- part 4 (and 6 at scale) ----------------------------------------------

    fn scale(&self) {
        let lists = self.count(20, 5);
        let spawns = self.count(10, 3);
        println!("[4] tools/list at scale: {spawns} spawns and {lists} lists each, alternating");
        for size in [1_000, 10_000, 100_000] {
            let mut init: [Vec<Duration>; 2] = Default::default();
            let mut first: [Vec<Duration>; 2] = Default::default();
            for _ in 0..spawns {
                for (i, kind) in KINDS.into_iter().enumerate() {
                    let (mut server, t0) = Server::spawn(self, kind, Some(size));
                    server.send(INITIALIZE);
                    server.read_line();
                    init[i].push(t0.elapsed());
                    server.send(INITIALIZED);
                    let request = server.request("tools/list", None);
                    server.send(&request);
                    server.read_line();
                    first[i].push(t0.elapsed());
                    server.close();
                }
            }
            let mut servers: Vec<Server> = KINDS
                .iter()
                .map(|&kind| {
                    let (mut server, _) = Server::spawn(self, kind, Some(size));
                    server.initialize();
                    server
                })
                .collect();
            let mut latency: [Vec<Duration>; 2] = Default::default();
            let mut bytes = [0usize; 2];
            for _ in 0..lists {
                for (i, server) in servers.iter_mut().enumerate() {
                    let (elapsed, len) = server.timed_list();
                    latency[i].push(elapsed);
                    bytes[i] = len;
                }
            }
            assert_eq!(bytes[0], bytes[1], "the same list, the same bytes");
            let memory: Vec<(f64, f64)> = servers.iter().map(Server::memory).collect();
            for server in servers {
                server.close();
            }
            let part = format!("scale_{size}");
            for (figure, samples) in [
                ("spawn_to_initialize", &init),
                ("spawn_to_first_list", &first),
                ("list_latency", &latency),
            ] {
                let ours = Stats::of(&durations_ms(&samples[0]));
                let floor = Stats::of(&durations_ms(&samples[1]));
                self.record(&part, figure, "ms", &ours, Some(&floor));
            }
            let b = |i: usize| Stats::one(bytes[i] as f64);
            self.record(&part, "list_bytes", "bytes", &b(0), Some(&b(1)));
            let rss = |i: usize| Stats::one(memory[i].0 / 1024.0);
            let hwm = |i: usize| Stats::one(memory[i].1 / 1024.0);
            self.record(&part, "vm_rss_after_lists", "MB", &rss(0), Some(&rss(1)));
            self.record(&part, "vm_hwm_after_lists", "MB", &hwm(0), Some(&hwm(1)));
        }
    }

    // -- pagination (issue 10) ------------------------------------------------

    /// The cost of `--page-size`: `tools/list` at 10,000 tools in one answer
    /// (ours and the floor, as in part 4) against all of its pages at page size
    /// 100 (ours, one client following `nextCursor`; the floor has no pages, so
    /// its whole list in one answer is the reference: the same tools, the
    /// least a server can do to deliver them), and one page of 100 alone.
    fn paging(&self) {
        const TOOLS: usize = 10_000;
        const PAGE: usize = 100;
        let rounds = self.count(20, 5);
        println!(
            "[paging] tools/list at {TOOLS} tools, whole and by {PAGE}: {rounds} rounds, alternating"
        );
        let ready = |kind, args: &[&str]| {
            let (mut server, _) = Server::spawn_with(self, kind, Some(TOOLS), args);
            server.initialize();
            server
        };
        let mut ours = ready(Kind::Ours, &[]);
        let mut floor = ready(Kind::Floor, &[]);
        let page_size = PAGE.to_string();
        let mut paged = ready(Kind::Ours, &["--page-size", &page_size]);
        let mut whole: [Vec<Duration>; 2] = Default::default();
        let mut all_pages = Vec::new();
        let mut first_page = Vec::new();
        let mut bytes = [0; 3];
        for _ in 0..rounds {
            let (elapsed, len) = ours.timed_list();
            whole[0].push(elapsed);
            bytes[0] = len;
            let (elapsed, len) = floor.timed_list();
            whole[1].push(elapsed);
            bytes[1] = len;
            let (elapsed, pages, len) = paged.timed_all_pages();
            assert_eq!(pages, TOOLS / PAGE, "every page, each once");
            all_pages.push(elapsed);
            bytes[2] = len;
            first_page.push(paged.timed_list().0);
        }
        assert_eq!(bytes[0], bytes[1], "the same list, the same bytes");
        for server in [ours, floor, paged] {
            server.close();
        }
        let part = format!("paging_{TOOLS}");
        let floor_whole = Stats::of(&durations_ms(&whole[1]));
        self.record(
            &part,
            "whole_list",
            "ms",
            &Stats::of(&durations_ms(&whole[0])),
            Some(&floor_whole),
        );
        self.record(
            &part,
            "all_pages_by_100",
            "ms",
            &Stats::of(&durations_ms(&all_pages)),
            Some(&floor_whole),
        );
        self.record(
            &part,
            "one_page_of_100",
            "ms",
            &Stats::of(&durations_ms(&first_page)),
            None,
        );
        let b = |i: usize| Stats::one(bytes[i] as f64);
        self.record(&part, "all_pages_bytes", "bytes", &b(2), Some(&b(1)));
    }

    // -- part 5 ---------------------------------------------------------------

    fn calls(&self) {
        let calls = self.count(20_000, 2_000);
        println!(
            "[5] tools/call echo: {calls} calls, sequential (interleaved) and pipelined (alternating rounds)"
        );
        let echo = |id: usize| {
            format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{\"name\":\"echo\",\"arguments\":{{\"message\":\"hello\"}}}}}}\n"
            )
            .into_bytes()
        };
        let requests: Vec<Vec<u8>> = (1..=calls).map(echo).collect();

        // Sequential: one call in flight; ours and the floor take turns call by call.
        let mut servers: Vec<Server> = KINDS
            .iter()
            .map(|&kind| {
                let (mut server, _) = Server::spawn(self, kind, Some(3));
                server.initialize();
                server
            })
            .collect();
        let mut sequential: [Vec<Duration>; 2] = Default::default();
        for server in &mut servers {
            server.set_spin(true);
        }
        for request in &requests {
            for (i, server) in servers.iter_mut().enumerate() {
                let t = Instant::now();
                server.send(request);
                server.read_line();
                sequential[i].push(t.elapsed());
            }
        }
        for server in &mut servers {
            server.set_spin(false);
        }
        let per_second = |samples: &[Duration]| {
            samples.len() as f64 / samples.iter().sum::<Duration>().as_secs_f64()
        };
        let ours = Stats::one(per_second(&sequential[0]));
        let floor = Stats::one(per_second(&sequential[1]));
        self.record(
            "calls",
            "sequential_calls_per_second",
            "calls/s",
            &ours,
            Some(&floor),
        );
        let ours = Stats::of(&durations_us(&sequential[0]));
        let floor = Stats::of(&durations_us(&sequential[1]));
        self.record(
            "calls",
            "sequential_call_latency",
            "us",
            &ours,
            Some(&floor),
        );

        // Pipelined: a writer thread writes every request in chunks of 64
        // while this thread reads the responses; alternating rounds.
        let rounds = 3;
        let mut rate: [Vec<f64>; 2] = Default::default();
        let mut latency: [Vec<Duration>; 2] = Default::default();
        for _ in 0..rounds {
            for (i, server) in servers.iter_mut().enumerate() {
                let (r, l) = pipelined(server, &requests);
                rate[i].push(r);
                latency[i].extend(l);
            }
        }
        for server in servers {
            server.close();
        }
        let ours = Stats::of(&rate[0]);
        let floor = Stats::of(&rate[1]);
        self.record(
            "calls",
            "pipelined_calls_per_second",
            "calls/s",
            &ours,
            Some(&floor),
        );
        let ours = Stats::of(&durations_us(&latency[0]));
        let floor = Stats::of(&durations_us(&latency[1]));
        self.record("calls", "pipelined_call_latency", "us", &ours, Some(&floor));
    }

    // -- part 6 ---------------------------------------------------------------

    fn memory(&self) {
        let spawns = self.count(5, 2);
        println!("[6] memory idle after initialize: {spawns} spawns each, alternating");
        let mut rss: [Vec<f64>; 2] = Default::default();
        let mut hwm: [Vec<f64>; 2] = Default::default();
        for _ in 0..spawns {
            for (i, kind) in KINDS.into_iter().enumerate() {
                let (mut server, _) = Server::spawn(self, kind, None);
                server.initialize();
                let ping = server.request("ping", None);
                server.send(&ping);
                server.read_line();
                std::thread::sleep(Duration::from_millis(20));
                let (r, h) = server.memory();
                rss[i].push(r / 1024.0);
                hwm[i].push(h / 1024.0);
                server.close();
            }
        }
        for (figure, samples) in [("idle_vm_rss", &rss), ("idle_vm_hwm", &hwm)] {
            let ours = Stats::of(&samples[0]);
            let floor = Stats::of(&samples[1]);
            self.record("memory", figure, "MB", &ours, Some(&floor));
        }
    }
}

#[derive(Default, Debug)]
struct BurstOutcome {
    sent: usize,
    added: usize,
    notifications: usize,
    final_ms: f64,
    consistent: bool,
    crashed: bool,
    hung: bool,
}

fn expected_name(k: usize) -> String {
    match k {
        1 => "echo".into(),
        2 => "calculator".into(),
        3 => "counter".into(),
        k => format!("echo{k}"),
    }
}

/// Whether a SIGHUP is still pending for `pid` (`None`: no such process).
fn sighup_pending(pid: i32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let bit = 1u64 << (libc::SIGHUP - 1);
    let pending = status
        .lines()
        .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .fold(0, |acc, mask| acc | mask);
    Some(pending & bit != 0)
}

/// Write all requests from another thread while reading all responses here:
/// (calls per second, each call's latency from its chunk's write to its
/// response).
fn pipelined(server: &mut Server, requests: &[Vec<u8>]) -> (f64, Vec<Duration>) {
    const CHUNK: usize = 64;
    let n = requests.len();
    // Renumber from 1 so that the index is the id (the ids repeat per round,
    // which is fine: one round is over before the next starts).
    let chunks: Vec<Vec<u8>> = requests.chunks(CHUNK).map(|c| c.concat()).collect();
    let mut stdin = server.stdin.take().unwrap();
    let start = Instant::now();
    let (written, sent) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut sent = Vec::with_capacity(chunks.len());
            for chunk in &chunks {
                sent.push(Instant::now());
                stdin.write_all(chunk).expect("write requests");
            }
            (stdin, sent)
        });
        let mut received = vec![start; n];
        for _ in 0..n {
            let line = server.read_line();
            let at = Instant::now();
            let id = response_id(line);
            received[id - 1] = at;
        }
        let (stdin, sent) = writer.join().unwrap();
        server.stdin = Some(stdin);
        (received, sent)
    });
    let elapsed = start.elapsed();
    let latency = written
        .iter()
        .enumerate()
        .map(|(i, &at)| at - sent[i / CHUNK])
        .collect();
    (n as f64 / elapsed.as_secs_f64(), latency)
}

fn response_id(line: &[u8]) -> usize {
    let from = line
        .windows(5)
        .position(|w| w == b"\"id\":")
        .expect("a response id")
        + 5;
    line[from..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0, |acc, &b| acc * 10 + (b - b'0') as usize)
}

/// The burst sender: a separate process that sends `count` SIGHUPs to `pid`
/// in a tight loop once told to go, then reports how many it sent.
fn burst_sender(pid: &str, count: &str) {
    let pid: i32 = pid.parse().unwrap();
    let count: usize = count.parse().unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut go = [0u8; 3];
    std::io::stdin().read_exact(&mut go).unwrap();
    let start = Instant::now();
    let mut sent = 0;
    for _ in 0..count {
        // SAFETY: kill(2) has no memory-safety preconditions.
        if unsafe { libc::kill(pid, libc::SIGHUP) } == 0 {
            sent += 1;
        }
    }
    println!("sent {sent} {}", start.elapsed().as_nanos());
}

// ---------------------------------------------------------------------------
// Set-up: the floor's build, where results go, date and machine.

/// Compile the floor with plain rustc (std only), unless it is up to date.
fn build_floor() -> PathBuf {
    let source = Path::new(MANIFEST_DIR).join("benches/floor/floor.rs");
    let dir = target_dir().join("bench-floor");
    let binary = dir.join("floor");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&binary).is_some() && modified(&binary) >= modified(&source) {
        return binary;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "-C",
            "opt-level=3",
            "-C",
            "panic=abort",
        ])
        .args(["-C", "codegen-units=1", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("run rustc to build the floor");
    assert!(status.success(), "the floor does not compile");
    binary
}

// ---------------------------------------------------------------------------
// The table for BENCHMARKS.md.

/// One row of the table: which recorded figure it shows, and its targets.
struct Row {
    label: &'static str,
    part: &'static str,
    figure: &'static str,
    /// Show the p99 next to the median.
    p99: bool,
    target: &'static str,
    /// The Python reference's figure, as issue 3 gives it.
    python: &'static str,
    /// The absolute target on our figures, if any.
    absolute: Option<fn(&Value) -> bool>,
    /// The target on ours/floor (medians), if any.
    ratio: Option<Ratio>,
    parts_arg: &'static str,
}

#[derive(Clone, Copy)]
enum Ratio {
    AtMost(f64),
    AtLeast(f64),
    Equal,
}

use Ratio::{AtLeast, AtMost, Equal};

fn median(v: &Value) -> f64 {
    v["median"].as_f64().unwrap_or(f64::NAN)
}

fn p99(v: &Value) -> f64 {
    v["p99"].as_f64().unwrap_or(f64::NAN)
}

#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row { label: "spawn to initialize response", part: "startup", figure: "spawn_to_initialize", p99: true,
          target: "<= 5 ms; <= 3x floor", python: "515 ms",
          absolute: Some(|o| median(o) <= 5.0), ratio: Some(AtMost(3.0)), parts_arg: "startup" },
    Row { label: "spawn to first tools/list response", part: "startup", figure: "spawn_to_first_list", p99: true,
          target: "<= 3x floor", python: "",
          absolute: None, ratio: Some(AtMost(3.0)), parts_arg: "startup" },
    Row { label: "exit after stdin EOF", part: "startup", figure: "exit_after_eof", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "startup" },
    Row { label: "SIGHUP to notification", part: "sighup", figure: "sighup_to_notification", p99: true,
          target: "p50 <= 50 us, p99 <= 250 us; p50 <= 1.5x floor", python: "2,280 us / 7,688 us",
          absolute: Some(|o| median(o) <= 50.0 && p99(o) <= 250.0), ratio: Some(AtMost(1.5)), parts_arg: "sighup" },
    Row { label: "1,000-SIGHUP burst x30: SIGHUPs that become tools, mean", part: "burst_1000", figure: "added_percent_mean", p99: false,
          target: ">= 0.8x floor", python: "",
          absolute: None, ratio: Some(AtLeast(0.8)), parts_arg: "burst" },
    Row { label: "1,000-SIGHUP burst x30: SIGHUPs that become tools, median", part: "burst_1000", figure: "added_percent", p99: false,
          target: "report; more is better", python: "6 to 8 %",
          absolute: None, ratio: None, parts_arg: "burst" },
    Row { label: "10,000-SIGHUP burst: tools added", part: "burst_10000", figure: "added", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "burst" },
    Row { label: "10,000-SIGHUP burst: notifications", part: "burst_10000", figure: "notifications", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "burst" },
    Row { label: "10,000-SIGHUP burst: go to final notification", part: "burst_10000", figure: "final_notification", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "burst" },
    Row { label: "10,000-SIGHUP burst x3: crashed, hung or inconsistent runs", part: "burst_10000", figure: "failed_runs", p99: false,
          target: "0", python: "",
          absolute: Some(|o| median(o) == 0.0), ratio: None, parts_arg: "burst" },
    Row { label: "20,000-SIGHUP burst x10: crashed, hung or inconsistent runs", part: "burst_20000", figure: "failed_runs", p99: false,
          target: "0", python: "6 of 8 (5 crashes, 1 hang)",
          absolute: Some(|o| median(o) == 0.0), ratio: None, parts_arg: "burst" },
    Row { label: "100,000-SIGHUP burst: tools added", part: "burst_100000", figure: "added", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "burst" },
    Row { label: "100,000-SIGHUP burst: go to final notification", part: "burst_100000", figure: "final_notification", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "burst" },
    Row { label: "100,000-SIGHUP burst x2: crashed, hung or inconsistent runs", part: "burst_100000", figure: "failed_runs", p99: false,
          target: "0", python: "",
          absolute: Some(|o| median(o) == 0.0), ratio: None, parts_arg: "burst" },
    Row { label: "1,000-tool start to first tools/list", part: "scale_1000", figure: "spawn_to_first_list", p99: false,
          target: "<= 3x floor", python: "",
          absolute: None, ratio: Some(AtMost(3.0)), parts_arg: "scale" },
    Row { label: "10,000-tool start to first tools/list", part: "scale_10000", figure: "spawn_to_first_list", p99: false,
          target: "<= 50 ms; <= 3x floor", python: "13.3 s",
          absolute: Some(|o| median(o) <= 50.0), ratio: Some(AtMost(3.0)), parts_arg: "scale" },
    Row { label: "100,000-tool start to first tools/list", part: "scale_100000", figure: "spawn_to_first_list", p99: false,
          target: "<= 3x floor", python: "",
          absolute: None, ratio: Some(AtMost(3.0)), parts_arg: "scale" },
    Row { label: "tools/list at 1,000 tools", part: "scale_1000", figure: "list_latency", p99: true,
          target: "<= 1.5x floor", python: "",
          absolute: None, ratio: Some(AtMost(1.5)), parts_arg: "scale" },
    Row { label: "tools/list at 10,000 tools", part: "scale_10000", figure: "list_latency", p99: true,
          target: "<= 5 ms; <= 1.5x floor", python: "709 ms",
          absolute: Some(|o| median(o) <= 5.0), ratio: Some(AtMost(1.5)), parts_arg: "scale" },
    Row { label: "tools/list at 100,000 tools", part: "scale_100000", figure: "list_latency", p99: true,
          target: "<= 60 ms; <= 1.5x floor", python: "not measured (too slow)",
          absolute: Some(|o| median(o) <= 60.0), ratio: Some(AtMost(1.5)), parts_arg: "scale" },
    Row { label: "tools/list response at 100,000 tools", part: "scale_100000", figure: "list_bytes", p99: false,
          target: "same bytes as the floor", python: "",
          absolute: None, ratio: Some(Equal), parts_arg: "scale" },
    Row { label: "tools/list at 10,000 tools, whole (same run as the next rows)", part: "paging_10000", figure: "whole_list", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "paging" },
    Row { label: "tools/list at 10,000 tools, all 100 pages of --page-size 100", part: "paging_10000", figure: "all_pages_by_100", p99: true,
          target: "report (floor: its whole list)", python: "",
          absolute: None, ratio: None, parts_arg: "paging" },
    Row { label: "tools/list, one page of 100 (of 10,000 tools)", part: "paging_10000", figure: "one_page_of_100", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "paging" },
    Row { label: "tools/list at 10,000 tools, all pages' bytes (floor: whole list)", part: "paging_10000", figure: "all_pages_bytes", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "paging" },
    Row { label: "echo calls per second, sequential", part: "calls", figure: "sequential_calls_per_second", p99: false,
          target: ">= 20,000/s; >= 0.7x floor", python: "373/s",
          absolute: Some(|o| median(o) >= 20_000.0), ratio: Some(AtLeast(0.7)), parts_arg: "calls" },
    Row { label: "echo call latency, sequential", part: "calls", figure: "sequential_call_latency", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "calls" },
    Row { label: "echo calls per second, pipelined", part: "calls", figure: "pipelined_calls_per_second", p99: false,
          target: ">= 100,000/s; >= 0.7x floor", python: "478/s",
          absolute: Some(|o| median(o) >= 100_000.0), ratio: Some(AtLeast(0.7)), parts_arg: "calls" },
    Row { label: "echo call latency, pipelined (each from its write)", part: "calls", figure: "pipelined_call_latency", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "calls" },
    Row { label: "idle RSS (VmRSS) after initialize", part: "memory", figure: "idle_vm_rss", p99: false,
          target: "<= 6 MB; <= 3x floor", python: "55 MB",
          absolute: Some(|o| median(o) <= 6.0), ratio: Some(AtMost(3.0)), parts_arg: "memory" },
    Row { label: "idle peak RSS (VmHWM)", part: "memory", figure: "idle_vm_hwm", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "memory" },
    Row { label: "RSS at 10,000 tools after tools/list", part: "scale_10000", figure: "vm_rss_after_lists", p99: false,
          target: "<= 20 MB; <= 3x floor", python: "285 to 358 MB",
          absolute: Some(|o| median(o) <= 20.0), ratio: Some(AtMost(3.0)), parts_arg: "scale" },
    Row { label: "peak RSS (VmHWM) at 10,000 tools", part: "scale_10000", figure: "vm_hwm_after_lists", p99: false,
          target: "<= 20 MB; <= 3x floor", python: "",
          absolute: Some(|o| median(o) <= 20.0), ratio: Some(AtMost(3.0)), parts_arg: "scale" },
    Row { label: "RSS at 100,000 tools after tools/list", part: "scale_100000", figure: "vm_rss_after_lists", p99: false,
          target: "<= 3x floor", python: "",
          absolute: None, ratio: Some(AtMost(3.0)), parts_arg: "scale" },
    Row { label: "peak RSS (VmHWM) at 100,000 tools", part: "scale_100000", figure: "vm_hwm_after_lists", p99: false,
          target: "<= 3x floor", python: "",
          absolute: None, ratio: Some(AtMost(3.0)), parts_arg: "scale" },
    Row { label: "registry alone: AddTool per second (in process)", part: "registry", figure: "add_tool_per_second", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "registry alone: Snapshot round trip at 10,000 tools", part: "registry", figure: "snapshot_at_10k", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "SIGHUP to the last of 1,000 HTTP sessions notified", part: "http_fanout_1000", figure: "sighup_to_last_session", p99: true,
          target: "p99 <= 15 ms (before issue 12: 18.6 (23.0) ms)", python: "",
          absolute: Some(|o| p99(o) <= 15.0), ratio: None, parts_arg: "" },
    Row { label: "SIGHUP to the last of 10,000 HTTP sessions notified", part: "http_fanout_10000", figure: "sighup_to_last_session", p99: true,
          target: "p99 <= 100 ms (before issue 12: 226 (262) ms)", python: "",
          absolute: Some(|o| p99(o) <= 100.0), ratio: None, parts_arg: "" },
    Row { label: "server CPU per SIGHUP, 10,000 HTTP sessions", part: "http_fanout_10000", figure: "cpu_per_sighup", p99: false,
          target: "report (before issue 12: 367 ms)", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "RSS per idle HTTP session (1,000 sessions)", part: "http_fanout_1000", figure: "rss_per_idle_session", p99: false,
          target: "<= 32 KiB (before issue 12: 79.3 KiB)", python: "",
          absolute: Some(|o| median(o) <= 32.0), ratio: None, parts_arg: "" },
    Row { label: "RSS per idle HTTP session (10,000 sessions)", part: "http_fanout_10000", figure: "rss_per_idle_session", p99: false,
          target: "<= 32 KiB (before issue 12: 78.3 KiB)", python: "",
          absolute: Some(|o| median(o) <= 32.0), ratio: None, parts_arg: "" },
    Row { label: "SIGTERM to exit with 10,000 HTTP sessions open", part: "http_fanout_10000", figure: "shutdown", p99: false,
          target: "<= 1,000 ms (before issue 12: 397 ms)", python: "",
          absolute: Some(|o| median(o) <= 1000.0), ratio: None, parts_arg: "" },
    Row { label: "fleet of 100: spawn to the initialize answer of u100 (floor: a single server's)", part: "fleet", figure: "start_100_upstreams", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "fleet of 100: idle RSS (floor: a single server's)", part: "fleet", figure: "rss_100_upstreams", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "RSS per idle fleet upstream (fleet of 100 - fleet of 1) / 99", part: "fleet", figure: "rss_per_idle_upstream", p99: false,
          target: "< 64 KiB", python: "",
          absolute: Some(|o| median(o) < 64.0), ratio: None, parts_arg: "" },
    Row { label: "RSS per idle fleet upstream, recorded (--control)", part: "fleet", figure: "rss_per_idle_recorded_upstream", p99: false,
          target: "< 64 KiB", python: "",
          absolute: Some(|o| median(o) < 64.0), ratio: None, parts_arg: "" },
    Row { label: "SIGHUP to the last of u1's 100 sessions, 99 upstreams holding 9,900 more (floor: a single server's 100)", part: "fleet", figure: "fanout_one_upstream_of_100", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "control request to notification read, stdio", part: "control", figure: "control_to_notification_stdio", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "control request to the last of 100 HTTP sessions notified", part: "control", figure: "control_to_last_http_session", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "tools/list at 10,000 tools, one page, without --report (same run as the next rows)", part: "report", figure: "report_off_list_10000", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "tools/list at 10,000 tools, one page, with --report", part: "report", figure: "report_on_list_10000", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "tools/list at 10,000 tools, all 100 pages of --page-size 100, without --report", part: "report", figure: "report_off_paged_list_10000", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "tools/list at 10,000 tools, all 100 pages of --page-size 100, with --report", part: "report", figure: "report_on_paged_list_10000", p99: true,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 10,000 changes, stdio, 1 client, folding: changes applied per second", part: "storm", figure: "stdio_fold_changes_per_second", p99: false,
          target: "report; no session misses the last change", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 10,000 changes, stdio, 1 client, folding: notifications read per second", part: "storm", figure: "stdio_fold_notifications_per_second", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 10,000 changes, stdio, 1 client, --coalesce off: changes applied per second", part: "storm", figure: "stdio_exact_changes_per_second", p99: false,
          target: "report; no session misses the last change", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 10,000 changes, stdio, 1 client, --coalesce off: notifications read per second", part: "storm", figure: "stdio_exact_notifications_per_second", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 1,000 changes, 100 HTTP sessions, folding: changes applied per second", part: "storm", figure: "http100_fold_changes_per_second", p99: false,
          target: "report; no session misses the last change", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 1,000 changes, 100 HTTP sessions, folding: notifications read per second", part: "storm", figure: "http100_fold_notifications_per_second", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 1,000 changes, 100 HTTP sessions, --coalesce off: changes applied per second", part: "storm", figure: "http100_exact_changes_per_second", p99: false,
          target: "report; no session misses the last change", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 1,000 changes, 100 HTTP sessions, --coalesce off: notifications read per second", part: "storm", figure: "http100_exact_notifications_per_second", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 100 changes, 1,000 HTTP sessions, folding: changes applied per second", part: "storm", figure: "http1000_fold_changes_per_second", p99: false,
          target: "report; no session misses the last change", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 100 changes, 1,000 HTTP sessions, folding: notifications read per second", part: "storm", figure: "http1000_fold_notifications_per_second", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 100 changes, 1,000 HTTP sessions, --coalesce off: changes applied per second", part: "storm", figure: "http1000_exact_changes_per_second", p99: false,
          target: "report; no session misses the last change", python: "",
          absolute: None, ratio: None, parts_arg: "" },
    Row { label: "storm of 100 changes, 1,000 HTTP sessions, --coalesce off: notifications read per second", part: "storm", figure: "http1000_exact_notifications_per_second", p99: false,
          target: "report", python: "",
          absolute: None, ratio: None, parts_arg: "" },
];

/// The bench that measures a row, and its arguments.
fn bench_of(row: &Row) -> (&'static str, &'static str) {
    match row.part {
        "registry" | "control" | "report" | "fleet" => (row.part, ""),
        "storm" => ("control --", "--part storm"),
        part if part.starts_with("http_fanout") => ("http_fanout", ""),
        _ => ("e2e --", row.parts_arg),
    }
}

/// The verdict on one row: `-` for a figure that is only reported.
fn verdict(row: &Row, ours: &Value, floor: &Value) -> String {
    if row.absolute.is_none() && row.ratio.is_none() {
        return "-".into();
    }
    let absolute = row.absolute.map(|met| met(ours));
    let ratio = row.ratio.map(|ratio| {
        let r = median(ours) / median(floor);
        match ratio {
            AtMost(limit) => r <= limit,
            AtLeast(limit) => r >= limit,
            Equal => r == 1.0,
        }
    });
    match (absolute, ratio) {
        (Some(true), Some(false)) => "met; **missed** vs floor".into(),
        (Some(false), Some(true)) => "**missed**; met vs floor".into(),
        (Some(false), _) | (_, Some(false)) => "**missed**".into(),
        _ => "met".into(),
    }
}

/// Replace the table between BENCHMARKS.md's markers with `table`.
fn update_benchmarks_md(table: &str) {
    const START: &str = "<!-- table: cargo bench --bench e2e -- --update -->\n";
    const END: &str = "<!-- /table -->";
    let path = Path::new(MANIFEST_DIR).join("BENCHMARKS.md");
    let text = std::fs::read_to_string(&path).expect("read BENCHMARKS.md");
    let (Some(start), Some(end)) = (text.find(START), text.find(END)) else {
        panic!("BENCHMARKS.md has no table markers");
    };
    let updated = format!("{}{START}{table}{}", &text[..start], &text[end..]);
    std::fs::write(&path, updated).expect("write BENCHMARKS.md");
    println!("updated {}", path.display());
}

/// The markdown table from the newest result of every figure in `results`.
fn table_from(results: &Path) -> String {
    let text = std::fs::read_to_string(results).unwrap_or_default();
    let mut latest: BTreeMap<(String, String), Value> = BTreeMap::new();
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            let key = (
                v["part"].as_str().unwrap_or("").to_owned(),
                v["figure"].as_str().unwrap_or("").to_owned(),
            );
            latest.insert(key, v);
        }
    }
    let fmt = |x: f64| {
        if !x.is_finite() {
            "-".to_owned()
        } else if x >= 1000.0 {
            let s = format!("{:.0}", x);
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            out
        } else if x >= 100.0 {
            format!("{x:.0}")
        } else if x >= 10.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.2}")
        }
    };
    let mut out = String::new();
    out.push_str("| figure | target | ours: median (p99) | floor: median (p99) | ours/floor | met | Python reference (issue 3) | reproduce | date, machine |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for row in ROWS {
        let Some(v) = latest.get(&(row.part.to_owned(), row.figure.to_owned())) else {
            continue;
        };
        let unit = v["unit"].as_str().unwrap_or("");
        let show = |s: &Value| {
            if s.is_null() {
                return "-".to_owned();
            }
            if row.p99 {
                format!(
                    "{} ({}) {unit}",
                    fmt(median(s)),
                    fmt(s["p99"].as_f64().unwrap_or(f64::NAN))
                )
            } else {
                format!("{} {unit}", fmt(median(s)))
            }
        };
        let met = verdict(row, &v["ours"], &v["floor"]);
        let ratio = v["ratio"]
            .as_f64()
            .map_or("-".into(), |r| format!("{r:.2}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {ratio} | {met} | {} | `cargo bench --bench {} {}` | {}, {}{} |",
            row.label,
            row.target,
            show(&v["ours"]),
            show(&v["floor"]),
            if row.python.is_empty() {
                "-"
            } else {
                row.python
            },
            bench_of(row).0,
            bench_of(row).1,
            v["run"].as_str().unwrap_or(""),
            v["machine"].as_str().unwrap_or(""),
            if v["quick"].as_bool() == Some(true) {
                " (quick run)"
            } else {
                ""
            },
        );
    }
    out
}
