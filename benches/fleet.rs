//! A fleet in one process (issue 21) against the release binary, each figure
//! against a floor in the same run: the single server the fleet's upstreams
//! each are, started and signalled alternately with the fleet.
//!
//! 1. `start`: spawn to the `initialize` answer of the last of 100 upstreams
//!    (`--fleet 100`, `/mcp/u100`), against spawn to a single server's
//!    `initialize` answer (`/mcp`); 10 spawns each, alternately. The client
//!    spins on a raw socket: connect until the port is bound, then one POST.
//! 2. `memory`: VmRSS once started and idle (no session), 5 spawns each of
//!    a single server, a fleet of 1 and a fleet of 100, and the same fleets
//!    recorded (`--control`, which gives each upstream a Recorder): memory
//!    per idle upstream is (fleet of 100 - fleet of 1) / 99. Goal: < 64 KiB.
//! 3. `fanout`: 100 upstreams with 100 sessions each; SIGHUP with
//!    `--signals-to u1` to the moment the last of u1's 100 sessions has read
//!    its `notifications/tools/list_changed` (p50, p99 over 50 SIGHUPs,
//!    after 5 to warm up), while the 9,900 others hold their streams and
//!    must read none; against a single server with 100 sessions, signalled
//!    alternately.
//!
//! Run: `cargo bench --bench fleet` (`-- --part start|memory|fanout` for one
//! part, `--upstreams N`, `--sighups N`). Each figure is appended to
//! `target/bench-results.jsonl` (part `fleet`) for `BENCHMARKS.md`'s table.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

mod common;
use common::sessions::{
    Progress, Server, open_sessions, open_sessions_at, percentile, raise_descriptor_limit,
    read_notifications, within,
};

const PART: &str = "fleet";
const WARMUP_SIGHUPS: usize = 5;
/// Sessions on each upstream, and on the floor's single server.
const SESSIONS_EACH: usize = 100;

fn main() {
    let upstreams = common::size_arg("upstreams", 100);
    let sighups = common::size_arg("sighups", 50);
    let args: Vec<String> = std::env::args().collect();
    let only = args
        .windows(2)
        .find(|pair| pair[0] == "--part")
        .map(|pair| pair[1].clone());
    let runs = |part: &str| only.as_deref().is_none_or(|only| only == part);
    // Built before anything is timed.
    common::ours();
    if runs("start") {
        start(upstreams, 10);
    }
    if runs("memory") {
        memory(upstreams, 5);
    }
    if runs("fanout") {
        let limit = raise_descriptor_limit();
        let sessions = (upstreams + 1) * SESSIONS_EACH;
        assert!(
            sessions as u64 + 200 <= limit,
            "{sessions} sessions need more descriptors than the hard limit of {limit}"
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(fanout(upstreams, sighups));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Append one figure of ours against the floor, as `benches/e2e.rs` reads
/// it for the table: medians (and p99s when given) and their ratio.
fn record(figure: &str, unit: &str, ours: serde_json::Value, floor: serde_json::Value) {
    let ratio = ours["median"].as_f64().unwrap() / floor["median"].as_f64().unwrap();
    common::record_with_floor(PART, figure, unit, ours, floor, ratio);
}

/// A server process started on a port of its own, with its pidfile in a
/// temporary directory.
struct Spawned {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Spawned {
    fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        // A free port, taken back by the server at once.
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let child = Command::new(common::ours())
            .arg("--http")
            .arg(addr.to_string())
            .args(args)
            .arg("--pidfile")
            .arg(dir.path().join("server.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        Self {
            child,
            addr,
            _dir: dir,
        }
    }

    /// Spin until `path` answers `initialize`: connect until the port is
    /// bound, then POST once and read until the result's `serverInfo`.
    fn initialize(&self, path: &str) {
        let body = json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": { "name": "fleet-bench", "version": "0" },
            },
        })
        .to_string();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut stream = loop {
            match TcpStream::connect(self.addr) {
                Ok(stream) => break stream,
                Err(_) if Instant::now() < deadline => std::hint::spin_loop(),
                Err(error) => panic!("the server never listened: {error}"),
            }
        };
        stream.write_all(request.as_bytes()).expect("POST");
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while !answer.windows(10).any(|w| w == b"serverInfo") {
            let n = stream.read(&mut buffer).expect("the answer");
            assert!(n > 0, "{}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buffer[..n]);
        }
    }

    /// Wait until the pidfile says the server has started.
    fn wait_started(&self) {
        let pidfile = self._dir.path().join("server.pid");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !pidfile.exists() {
            assert!(Instant::now() < deadline, "the server never started");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }

    fn stop(mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "the server exited with {status}");
    }
}

/// Part 1: spawn to the last upstream's `initialize` answer.
fn start(upstreams: usize, spawns: usize) {
    let fleet = upstreams.to_string();
    let last = format!("/mcp/u{upstreams}");
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..spawns {
        for (times, args, path) in [
            (&mut floor, vec![], "/mcp"),
            (&mut ours, vec!["--fleet", fleet.as_str()], last.as_str()),
        ] {
            let spawned_at = Instant::now();
            let server = Spawned::start(&args);
            server.initialize(path);
            times.push(spawned_at.elapsed());
            server.stop();
        }
    }
    ours.sort();
    floor.sort();
    let stats = |times: &[Duration]| {
        json!({ "n": times.len(), "median": ms(percentile(times, 50.0)),
                "p99": ms(percentile(times, 99.0)), "max": ms(*times.last().unwrap()) })
    };
    println!(
        "fleet start: spawn to initialize answered by u{upstreams} of {upstreams}: median {:.2} ms (single server: {:.2} ms, {:.2}x)",
        ms(percentile(&ours, 50.0)),
        ms(percentile(&floor, 50.0)),
        ms(percentile(&ours, 50.0)) / ms(percentile(&floor, 50.0)),
    );
    record(
        &format!("start_{upstreams}_upstreams"),
        "ms",
        stats(&ours),
        stats(&floor),
    );
}

/// Part 2: idle memory of a fleet, and per idle upstream.
fn memory(upstreams: usize, spawns: usize) {
    let fleet = upstreams.to_string();
    let shapes: [(&str, Vec<&str>); 5] = [
        ("single", vec![]),
        ("fleet of 1", vec!["--fleet", "1"]),
        ("fleet", vec!["--fleet", fleet.as_str()]),
        (
            "recorded fleet of 1",
            vec!["--fleet", "1", "--control", "127.0.0.1:0"],
        ),
        (
            "recorded fleet",
            vec!["--fleet", fleet.as_str(), "--control", "127.0.0.1:0"],
        ),
    ];
    let mut rss: Vec<Vec<f64>> = vec![Vec::new(); shapes.len()];
    for _ in 0..spawns {
        for (i, (_, args)) in shapes.iter().enumerate() {
            let server = Spawned::start(args);
            server.wait_started();
            // What start-up left to finish, finished.
            std::thread::sleep(Duration::from_millis(300));
            rss[i].push(server.rss_kib() as f64);
            server.stop();
        }
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let medians: Vec<f64> = rss.iter_mut().map(median).collect();
    let per = |many: f64, one: f64| (many - one) / (upstreams - 1) as f64;
    let per_upstream = per(medians[2], medians[1]);
    let per_recorded = per(medians[4], medians[3]);
    println!(
        "fleet memory (VmRSS, idle, median of {spawns}): single server {:.0} KiB; fleet of 1 {:.0} KiB; fleet of {upstreams} {:.0} KiB: {per_upstream:.1} KiB per idle upstream",
        medians[0], medians[1], medians[2]
    );
    println!(
        "  recorded (--control): fleet of 1 {:.0} KiB; fleet of {upstreams} {:.0} KiB: {per_recorded:.1} KiB per idle upstream",
        medians[3], medians[4]
    );
    let one = |kib: f64| json!({ "n": spawns, "median": kib });
    record(
        &format!("rss_{upstreams}_upstreams"),
        "KiB",
        one(medians[2]),
        one(medians[0]),
    );
    // Against the whole single server: what one more upstream costs of what
    // a server costs.
    record(
        "rss_per_idle_upstream",
        "KiB",
        one(per_upstream),
        one(medians[0]),
    );
    record(
        "rss_per_idle_recorded_upstream",
        "KiB",
        one(per_recorded),
        one(medians[0]),
    );
}

/// Part 3: one upstream's change to its 100 sessions while the others hold
/// theirs, against a single server's change to its 100.
async fn fanout(upstreams: usize, sighups: usize) {
    let fleet_arg = upstreams.to_string();
    let single = Server::start(&[]).await;
    let fleet = Server::start(&["--fleet", &fleet_arg, "--signals-to", "u1"]).await;
    let http = reqwest::Client::new();
    let opening = Instant::now();
    let floor_streams = open_sessions(&http, &single, SESSIONS_EACH).await;
    let mut changed = Vec::new();
    let mut others = Vec::new();
    for i in 1..=upstreams {
        let streams = open_sessions_at(&http, &fleet, &format!("/mcp/u{i}"), SESSIONS_EACH).await;
        match i {
            1 => changed = streams,
            _ => others.extend(streams),
        }
    }
    let opened_in = opening.elapsed();
    let idle = others.len();
    let floor_progress = Progress::new(SESSIONS_EACH);
    let floor_reader = read_notifications(floor_streams, Arc::clone(&floor_progress));
    let progress = Progress::new(SESSIONS_EACH);
    let reader = read_notifications(changed, Arc::clone(&progress));
    let quiet = read_notifications(others, Progress::new(idle.max(1)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fleet_rss = fleet.rss_kib();

    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for round in 0..WARMUP_SIGHUPS + sighups {
        for (server, progress, times) in [
            (&single, &floor_progress, &mut floor),
            (&fleet, &progress, &mut ours),
        ] {
            let sent = Instant::now();
            server.signal(libc::SIGHUP);
            let last = within("every session's notification", progress.round(round + 1)).await;
            if round >= WARMUP_SIGHUPS {
                times.push(last - sent);
            }
        }
    }
    for mut server in [single, fleet] {
        server.signal(libc::SIGTERM);
        let status = within("the server to stop", server.child.wait())
            .await
            .expect("wait");
        assert!(status.success(), "{status}: {}", server.log());
    }
    let join = |reader: std::thread::JoinHandle<Vec<common::sessions::Delivered>>| {
        within(
            "the streams to end",
            tokio::task::spawn_blocking(move || reader.join().expect("a reader")),
        )
    };
    let rounds = WARMUP_SIGHUPS + sighups;
    for delivered in [
        join(floor_reader).await.unwrap(),
        join(reader).await.unwrap(),
    ] {
        assert!(delivered.iter().all(|d| d.notifications == rounds));
    }
    let untouched = join(quiet).await.unwrap();
    assert_eq!(untouched.iter().map(|d| d.notifications).sum::<usize>(), 0);
    assert_eq!(
        progress.read.load(Ordering::Acquire),
        rounds * SESSIONS_EACH
    );

    ours.sort();
    floor.sort();
    let stats = |times: &[Duration]| {
        json!({ "n": times.len(), "median": ms(percentile(times, 50.0)),
                "p99": ms(percentile(times, 99.0)), "max": ms(*times.last().unwrap()) })
    };
    let (o, f) = (stats(&ours), stats(&floor));
    let get = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap();
    println!(
        "fleet fan-out: {upstreams} upstreams x {SESSIONS_EACH} sessions (opened in {:.1} s; fleet RSS {fleet_rss} KiB)",
        opened_in.as_secs_f64()
    );
    println!(
        "  SIGHUP to the last of u1's {SESSIONS_EACH} sessions, {idle} others idle: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        get(&o, "median"),
        get(&o, "p99"),
        get(&o, "max")
    );
    println!(
        "  single server, {SESSIONS_EACH} sessions: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; ratio of medians {:.2}x",
        get(&f, "median"),
        get(&f, "p99"),
        get(&f, "max"),
        get(&o, "median") / get(&f, "median")
    );
    record("fanout_one_upstream_of_100", "ms", o, f);
}
