//! The process the cache's crash test kills while it writes cache entries: runs, round after
//! round, a pipeline whose cached node is mapped over 8 new items each round, each output about
//! 256 KiB, so that kill -9 lands while entries are being written.
//!
//! ```text
//! cache_subject <store dir | sqlite://file | postgres://...> <first round>
//! ```
//! Prints `round N` after each run. Each output is a [`Block`] that says whether it is whole.

use std::convert::Infallible;

use pipeline::cache::NodeCache;
use pipeline::store::Stores;
use pipeline::{Durability, GraphBuilder, PipelineEngine};
use serde::{Deserialize, Serialize};

/// A cached output that can tell whether it was read back whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub item: u64,
    pub payload: String,
    pub check: u64,
}

fn check(payload: &str) -> u64 {
    payload.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn block(item: u64) -> Block {
    let payload = format!("{item:016x}").repeat(16 * 1024);
    Block {
        item,
        check: check(&payload),
        payload,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (spec, first) = match &args[..] {
        [_, spec, first] => (spec.clone(), first.parse::<u64>().expect("a round number")),
        _ => panic!("usage: cache_subject STORE FIRST_ROUND"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let stores = pipeline::store::StoreSpec::parse(&spec)
            .and_then(|s| s.open(Durability::Sync))
            .expect("the store opens");
        let mut g = GraphBuilder::<u64>::new("blocks");
        let round = g.input("round", |r: &u64| *r);
        let items = g.node("items").run(round, |r: u64, _| async move {
            Ok::<_, Infallible>((r * 8..r * 8 + 8).collect::<Vec<u64>>())
        });
        let blocks = g
            .node("block")
            .cache(NodeCache::new("cache_subject::block", "v1"))
            .each(items, (), |item: u64, (), _| async move {
                Ok::<_, Infallible>(block(item))
            });
        let graph = g.build(blocks).expect("a valid graph");
        let engine = PipelineEngine::new(graph).stores(Stores::clone(&stores));
        for round in first.. {
            engine.run(round).await.expect("the run");
            println!("round {round}");
        }
    });
}

/// Whether `json` is a whole block (used by the test through its own copy of these rules).
#[allow(dead_code)]
pub fn whole(json: &str) -> bool {
    serde_json::from_str::<Block>(json)
        .is_ok_and(|b| b.check == check(&b.payload) && b == block(b.item))
}
