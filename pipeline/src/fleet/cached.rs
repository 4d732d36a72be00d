//! A cached node on a fleet worker (`#[node(cache)]`): looked up in the store's cache before its
//! body runs, and its output stored there after a miss, by `cache`'s key and rule of reuse, the
//! same as in one process. Every worker on the store shares the entries.

use super::claim::Claimed;
use crate::cache::key::{Probe, probe};
use crate::cache::lookup::{self, Source};
use crate::call::guard::caught_sync;
use crate::data::Json;
use crate::event::EventHandler;
use crate::graph::{NodeDef, ServedGraph, Slot};
use crate::run_id::RunId;
use crate::store::{Checkpointer, PostgresStore, now_ms};

/// What the cache holds for a claimed node's call.
pub(super) enum Looked {
    /// The node is not cached, or its key cannot be made (an argument does not serialize).
    Uncached,
    /// A live entry: its output, computed by run `from`.
    Hit { json: Json, from: RunId },
    /// Nothing to reuse: the output is stored under this key once computed.
    Miss(Miss),
}

pub(super) struct Miss {
    probe: Probe,
    stale: bool,
}

/// Looks the claimed node's call up in the cache.
pub(super) async fn look(
    store: &PostgresStore,
    graph: &dyn ServedGraph,
    node: &NodeDef,
    claimed: &Claimed,
    arguments: Args<'_>,
    events: &dyn EventHandler,
) -> Looked {
    let (Some(cache), Some(store_cache)) = (&node.options.cache, store.cache()) else {
        return Looked::Uncached;
    };
    let Some(keyed) = keyed(graph, node, claimed, arguments) else {
        return Looked::Uncached;
    };
    let version = node.version.as_deref().unwrap_or("");
    let Ok(probe) = probe(cache, version, keyed) else {
        return Looked::Uncached;
    };
    let found = lookup::find(store_cache, &probe, now_ms()).await;
    let (from, json) = match found {
        Ok(lookup::Looked::Hit(hit)) => (hit.run_id, hit.output),
        Ok(lookup::Looked::Miss { stale }) => return Looked::Miss(Miss { probe, stale }),
        Err(e) => {
            tracing::warn!(node = &*node.id, error = %e, "cannot read the cache: the node runs");
            // Replaced by the output this call computes.
            return Looked::Miss(Miss { probe, stale: true });
        }
    };
    let codec = match (&node.map, claimed.item) {
        (Some(map), Some(_)) => &map.item_codec,
        _ => &node.codec,
    };
    // An entry that no longer decodes (its type changed) is replaced, not restored.
    if (codec.decode)(&json).is_err() {
        return Looked::Miss(Miss { probe, stale: true });
    }
    events.on_node_cached(&claimed.run_id, &node.id, claimed.item, &from);
    Looked::Hit { json, from }
}

/// Stores the output `json` a miss computed.
pub(super) async fn keep(
    store: &PostgresStore,
    graph: &dyn ServedGraph,
    node: &NodeDef,
    claimed: &Claimed,
    miss: Miss,
    json: &Json,
) {
    let (Some(cache), Some(store_cache)) = (&node.options.cache, store.cache()) else {
        return;
    };
    let source = Source {
        cache,
        version: node.version.as_deref().unwrap_or(""),
        pipeline: graph.name(),
        node: &node.id,
        run_id: &claimed.run_id,
    };
    let entry = lookup::entry(&source, &miss.probe, json, now_ms());
    if let Err(e) = lookup::store(store_cache, &entry, json, miss.stale).await {
        tracing::warn!(node = &*node.id, error = %e, "the output was not cached");
    }
}

/// A claimed call's arguments: their values, the names of the inputs or nodes they come from,
/// and, for upstream outputs, their stored JSON.
#[derive(Clone, Copy)]
pub(super) struct Args<'a> {
    pub values: &'a [crate::data::Value],
    pub names: &'a [String],
    pub json: &'a [Option<Json>],
}

/// The claimed call's arguments as JSON, by the name of the input or node each comes from; an
/// item's call takes its item in place of the mapped list.
fn keyed(
    graph: &dyn ServedGraph,
    node: &NodeDef,
    claimed: &Claimed,
    arguments: Args<'_>,
) -> Option<Vec<(String, Json)>> {
    let each = node.map.as_ref().filter(|_| claimed.item.is_some());
    let slots = graph.args(claimed.node).iter().enumerate();
    slots
        .map(|(position, slot)| {
            let value = arguments.values.get(position)?;
            let json = match (each, claimed.item) {
                (Some(map), Some(item)) if map.each == position => {
                    (map.item_input)(value, map.each, item.index)?
                }
                _ => match (slot, arguments.json.get(position)?) {
                    (_, Some(json)) => Json::clone(json),
                    (Slot::Input(i), None) => {
                        // User `Serialize` code: a panic leaves the node uncached.
                        caught_sync(|| graph.input_json(*i as usize, value)).ok()??
                    }
                    (Slot::Node(_), None) => return None,
                },
            };
            Some((arguments.names.get(position)?.clone(), json))
        })
        .collect()
}
