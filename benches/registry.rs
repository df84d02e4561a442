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

use dynamic_mcp_server::actors::registry::{Registry, RegistryMsg};
use ractor::{Actor, ActorRef, call};
use tokio::runtime::Runtime;

fn main() {
    divan::main();
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn spawn_registry(rt: &Runtime, tools: usize) -> ActorRef<RegistryMsg> {
    rt.block_on(async {
        let (registry, _) = Actor::spawn(None, Registry, tools).await.unwrap();
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
                    registry.cast(RegistryMsg::AddTool).unwrap();
                }
                call!(registry, RegistryMsg::Snapshot).unwrap().len()
            })
        });
    registry.stop(None);
}

#[divan::bench(sample_count = 100, sample_size = 10)]
fn snapshot_at_10k(bencher: divan::Bencher) {
    let rt = runtime();
    let registry = spawn_registry(&rt, 10_000);
    bencher.bench_local(|| {
        rt.block_on(async { call!(registry, RegistryMsg::Snapshot).unwrap().len() })
    });
    registry.stop(None);
}
