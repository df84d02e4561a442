//! What both benches share: where results go, the date and the machine.

#![allow(dead_code)] // each bench uses its own part of this module

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

pub mod sessions;

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The value after `--NAME` on the bench's command line, or `default`.
pub fn size_arg(name: &str, default: usize) -> usize {
    let flag = format!("--{name}");
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|pair| pair[0] == flag)
        .map_or(default, |pair| {
            pair[1]
                .parse()
                .unwrap_or_else(|_| panic!("{flag} N: a number"))
        })
}

/// The server binary under test: `$BENCH_OURS` (to compare two builds), or
/// the one `cargo build --release` makes, built on first use.
///
/// Not Cargo's `CARGO_BIN_EXE_dynamic-mcp-server`: for a bench Cargo builds the
/// server with the dev-dependencies' features unified into its own (rmcp's
/// client among them), about 0.5 MB more code than the binary people run, and
/// the binary's size is most of its idle memory. It has its own target dir
/// because both builds would otherwise be written to
/// `target/release/dynamic-mcp-server`.
pub fn ours() -> PathBuf {
    static OURS: OnceLock<PathBuf> = OnceLock::new();
    OURS.get_or_init(|| {
        if let Some(path) = std::env::var_os("BENCH_OURS") {
            return path.into();
        }
        let dir = target_dir().join("bench-release");
        eprintln!("building the release binary in {}", dir.display());
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "--bin",
                "dynamic-mcp-server",
            ])
            .arg("--target-dir")
            .arg(&dir)
            .current_dir(MANIFEST_DIR)
            .status()
            .expect("run cargo build --release");
        assert!(status.success(), "cargo build --release failed");
        dir.join("release/dynamic-mcp-server")
    })
    .clone()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target"))
}

/// `target/bench-results.jsonl`, or `$BENCH_RESULTS`.
pub fn results_path() -> PathBuf {
    std::env::var_os("BENCH_RESULTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("bench-results.jsonl"))
}

/// Append one figure of ours (no floor) to the results file, as
/// `benches/e2e.rs` reads it for the table.
pub fn record_figure(part: &str, figure: &str, unit: &str, ours: serde_json::Value) {
    append_result(serde_json::json!({
        "run": now(), "machine": machine(), "part": part,
        "figure": figure, "unit": unit, "ours": ours, "floor": null, "ratio": null,
        "quick": false,
    }));
}

/// Append one figure of ours with its floor, measured in the same run, and
/// the ratio of their medians.
pub fn record_with_floor(
    part: &str,
    figure: &str,
    unit: &str,
    ours: serde_json::Value,
    floor: serde_json::Value,
    ratio: f64,
) {
    append_result(serde_json::json!({
        "run": now(), "machine": machine(), "part": part,
        "figure": figure, "unit": unit, "ours": ours, "floor": floor, "ratio": ratio,
        "quick": false,
    }));
}

fn append_result(line: serde_json::Value) {
    use std::io::Write as _;
    let path = results_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("the results file");
    writeln!(file, "{line}").expect("write a result");
}

/// Cores, CPU model and kernel, for the table.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {cpu}, Linux {}", kernel.trim())
}

/// `YYYY-MM-DD HH:MM UTC` from seconds since the epoch: the check format's
/// ISO 8601 time, cut to the minute.
pub fn utc(secs: u64) -> String {
    let iso =
        dynamic_mcp_server::verdict::iso8601(std::time::UNIX_EPOCH + Duration::from_secs(secs));
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

/// The current time as [`utc`] writes it.
pub fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    utc(secs)
}

/// Print the p50, p99 and max of `times` (sorted) as `what`, and append them
/// to the results as figure `figure` of part `part`.
pub fn report_latency(part: &str, figure: &str, what: &str, times: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p50, p99, max) = (
        ms(sessions::percentile(times, 50.0)),
        ms(sessions::percentile(times, 99.0)),
        ms(*times.last().unwrap()),
    );
    println!(
        "{what}: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms ({} lists)",
        times.len()
    );
    let figures = serde_json::json!({ "n": times.len(), "median": p50, "p99": p99, "max": max });
    record_figure(part, figure, "ms", figures);
}
