//! Part 7: the Registry actor alone, in process, on the same current-thread
//! tokio runtime the binary uses.
//!
//! ```sh
//! cargo bench --bench registry
//! ```
//!
//! - `add_tool`: how many `AddTool`s per second the registry absorbs (a burst
//!   of casts, then one `Snapshot` call to wait until all were handled).
//! - `snapshot`: one `Snapshot` round trip through the mailbox at 10,000 tools.
//!
//! After divan's report, the same two figures are measured once more by hand
//! (medians of 30 bursts and of 1,000 round trips) and appended as JSON lines
//! to `target/bench-results.jsonl` (or `$BENCH_RESULTS`), like the e2e parts,
//! so that `cargo bench --bench e2e -- --table` shows them too.

use std::io::Write;
use std::time::Instant;

use dynamic_mcp_server::catalog::Change;
use dynamic_mcp_server::internals::{RegistryArgs, RegistryHandle};
use serde_json::json;
use tokio::runtime::Runtime;

mod common;

fn main() {
    divan::main();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    record_figures();
}

/// The two figures as JSON lines: AddTools per second (median of 30 bursts of
/// 1,000) and the Snapshot round trip at 10,000 tools (1,000 of them).
fn record_figures() {
    let rt = runtime();
    let registry = spawn_registry(&rt, 3);
    let mut rates: Vec<f64> = (0..30)
        .map(|_| {
            let t = Instant::now();
            rt.block_on(async {
                for _ in 0..BURST {
                    registry.submit(Change::add_tool()).unwrap();
                }
                registry.snapshot().await.unwrap().tools.len()
            });
            BURST as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    registry.actor().stop(None);
    let registry = spawn_registry(&rt, 10_000);
    let mut round_trips: Vec<f64> = (0..1000)
        .map(|_| {
            let t = Instant::now();
            rt.block_on(async { registry.snapshot().await.unwrap().tools.len() });
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    registry.actor().stop(None);
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        json!({ "n": v.len(), "median": v[v.len() / 2], "p90": at(0.9), "p99": at(0.99),
                "min": v[0], "max": v[v.len() - 1] })
    };
    let results = common::results_path();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&results)
        .expect("open the results file");
    let (run, machine) = (common::now(), common::machine());
    for (figure, unit, stats) in [
        ("add_tool_per_second", "AddTool/s", stats(&mut rates)),
        ("snapshot_at_10k", "us", stats(&mut round_trips)),
    ] {
        println!("registry {figure} ({unit}): {stats}");
        let line = json!({ "run": run, "machine": machine, "part": "registry",
                           "figure": figure, "unit": unit, "ours": stats, "floor": null,
                           "ratio": null, "quick": false });
        writeln!(file, "{line}").expect("append a result");
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn spawn_registry(rt: &Runtime, tools: usize) -> RegistryHandle {
    rt.block_on(async {
        let (registry, _) = RegistryHandle::spawn(RegistryArgs::tools(tools))
            .await
            .unwrap();
        registry
    })
}

/// Casts per sample: enough that the final round trip is noise.
const BURST: usize = 1_000;

#[divan::bench(sample_count = 30, sample_size = 1)]
fn add_tool(bencher: divan::Bencher) {
    let rt = runtime();
    let registry = spawn_registry(&rt, 3);
    bencher
        .counter(divan::counter::ItemsCount::new(BURST))
        .bench_local(|| {
            rt.block_on(async {
                for _ in 0..BURST {
                    registry.submit(Change::add_tool()).unwrap();
                }
                registry.snapshot().await.unwrap().tools.len()
            })
        });
    registry.actor().stop(None);
}

#[divan::bench(sample_count = 100, sample_size = 10)]
fn snapshot_at_10k(bencher: divan::Bencher) {
    let rt = runtime();
    let registry = spawn_registry(&rt, 10_000);
    bencher.bench_local(|| rt.block_on(async { registry.snapshot().await.unwrap().tools.len() }));
    registry.actor().stop(None);
}
