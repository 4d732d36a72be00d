//! One claimed node on a worker: its arguments read back from the store, its condition gate,
//! its lease checked, one attempt, the [`Resolution`] that records how it went, and what the
//! worker's event handler hears of it (`Heard`) once that is committed.

use std::sync::Arc;
use std::time::Instant;

use super::claim::Claimed;
use super::lease::Lease;
use super::read;
use super::resolution::Resolution;
use crate::call;
use crate::call::args::Values;
use crate::data::{Json, Value, canonical_digest};
use crate::event::EventHandler;
use crate::graph::ServedGraph;
use crate::graph::map::{MISTYPED, MapDef};
use crate::graph::{NodeDef, Slot, WaitDef};
use crate::machine::retry_after;
use crate::node::{DEFAULT_MAX_IN_FLIGHT, MapItem, NodeContext};
use crate::store::now_ms;
use crate::store::{AuditEntry, AuditStatus, Checkpointer, NodeRecord, PostgresStore, StoreResult};
use crate::trace::RunTrace;
use crate::trace::logs::{Captured, Kept, LogLimits};

/// The values a node reads, decoded from the run's header and its upstream nodes' records.
struct Arguments {
    args: Vec<Value>,
    gate: Vec<Value>,
    names: Vec<String>,
    /// Each argument's JSON as stored, for a cached node's key: an upstream output's record;
    /// `None` for a pipeline input (encoded when a key needs it).
    json: Vec<Option<Json>>,
}

async fn arguments(
    store: &PostgresStore,
    graph: &dyn ServedGraph,
    node: &NodeDef,
    claimed: &Claimed,
    inputs: &[Value],
) -> StoreResult<Result<Arguments, String>> {
    let nodes = graph.nodes();
    let upstream: Vec<&str> = graph
        .upstream_of(claimed.node)
        .iter()
        .map(|&u| &*nodes[u as usize].id)
        .collect();
    let stored = read::outputs(store, &claimed.run_id, &upstream).await?;
    let value = |slot: &Slot| -> Result<(Value, String, Option<Json>), String> {
        match *slot {
            Slot::Input(i) => match (inputs.get(i as usize), graph.input_name(i as usize)) {
                (Some(value), Some(name)) => Ok((Arc::clone(value), name.to_owned(), None)),
                _ => Err(format!("the run has no pipeline input {i}")),
            },
            Slot::Node(i) => {
                let up = &nodes[i as usize];
                let json = stored.get(&*up.id).ok_or_else(|| {
                    format!("the output of `{}` is not in the run's checkpoint", up.id)
                })?;
                let value = (up.codec.decode)(json).map_err(|e| {
                    format!("the stored output of `{}` does not decode: {e}", up.id)
                })?;
                Ok((value, up.id.to_string(), Some(Arc::clone(json))))
            }
        }
    };
    let mut arguments = Arguments {
        args: Vec::new(),
        gate: Vec::new(),
        names: Vec::new(),
        json: Vec::new(),
    };
    for slot in graph.args(claimed.node) {
        match value(slot) {
            Ok((value, name, json)) => {
                arguments.args.push(value);
                arguments.names.push(name);
                arguments.json.push(json);
            }
            Err(e) => return Ok(Err(e)),
        }
    }
    for slot in node.gate.iter().flat_map(|g| &g.args) {
        match value(slot) {
            Ok((value, _, _)) => arguments.gate.push(value),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(arguments))
}

/// Runs one claimed node's attempt (or skips it) and says how to resolve it; `None` when the
/// claim's `lease` lapsed before the node's body could start (someone else may hold the node
/// now). `inputs` are the run's pipeline input values.
/// In the node's span (its item's), a child of the run's span in `trace`.
pub(crate) async fn execute(
    store: &PostgresStore,
    graph: &dyn ServedGraph,
    claimed: &Claimed,
    (inputs, trace, logs): (Result<&[Value], &str>, Option<&RunTrace>, LogLimits),
    worker: &str,
    lease: &Lease,
    events: &dyn EventHandler,
) -> StoreResult<Option<Resolution>> {
    let node = &graph.nodes()[claimed.node as usize];
    let span = crate::trace::node_span(&claimed.run_id, &node.id, claimed.item, trace);
    let run = run_claim(store, graph, claimed, (inputs, logs), worker, lease, events);
    crate::trace::traced(span, run).await
}

async fn run_claim(
    store: &PostgresStore,
    graph: &dyn ServedGraph,
    claimed: &Claimed,
    (inputs, limits): (Result<&[Value], &str>, LogLimits),
    worker: &str,
    lease: &Lease,
    events: &dyn EventHandler,
) -> StoreResult<Option<Resolution>> {
    let node = &graph.nodes()[claimed.node as usize];
    if claimed.blocked {
        return Ok(Some(Resolution::Skipped));
    }
    let started_at_ms = now_ms();
    let clock = Instant::now();
    let entry = |status, names: Vec<String>| AuditEntry {
        run_id: claimed.run_id.clone(),
        node: node.id.to_string(),
        item: claimed.item,
        status,
        attempt: claimed.attempt,
        started_at_ms,
        finished_at_ms: now_ms(),
        duration_us: clock.elapsed().as_micros() as u64,
        inputs: Default::default(),
        input_refs: names,
        output: None,
        output_in_checkpoint: false,
        error: None,
        worker: Some(worker.to_owned()),
        retry_at_ms: None,
        cached_from: None,
        logs: Vec::new(),
        logs_dropped: 0,
    };
    let failed = |error: String, names: Vec<String>, retry: bool| {
        let mut entry = entry(AuditStatus::Failed, names);
        entry.error = Some(error);
        // This start's retry budget counts only its own attempts (numbers go on across starts).
        let this_start = claimed
            .attempt
            .saturating_sub(claimed.attempts_before)
            .max(1);
        match retry_after(&node.options, this_start, retry) {
            Some(delay) => {
                entry.retry_at_ms = Some(crate::store::ms_after(entry.finished_at_ms, delay));
                Resolution::Retry { entry, delay }
            }
            None => Resolution::Failed { entry },
        }
    };
    if claimed.began {
        let entry = entry(AuditStatus::Completed, Vec::new());
        return wait_end(store, node, claimed, entry).await.map(Some);
    }
    let inputs = match inputs {
        Ok(inputs) => inputs,
        Err(error) => return Ok(Some(failed(error.to_owned(), Vec::new(), false))),
    };
    let mut arguments = match arguments(store, graph, node, claimed, inputs).await? {
        Ok(arguments) => arguments,
        Err(error) => return Ok(Some(failed(error, Vec::new(), false))),
    };
    // An item's map was let through the gate when it opened.
    if claimed.item.is_none() {
        match call::gate(node, &Values::Owned(std::mem::take(&mut arguments.gate))) {
            Ok(true) => {}
            Ok(false) => return Ok(Some(Resolution::Skipped)),
            // As in one process: a broken gate fails the node without retries.
            Err(error) => return Ok(Some(failed(error, arguments.names, false))),
        }
        if let Some(map) = &node.map {
            match opening(node, map, &arguments.args) {
                Ok(Some(open)) => return Ok(Some(open)),
                // Over an empty list, a mapped node runs whole, as any node.
                Ok(None) => {}
                Err(error) => return Ok(Some(failed(error.to_owned(), arguments.names, false))),
            }
        }
    }
    match node.wait {
        Some(WaitDef::Timer(after)) => {
            return Ok(Some(Resolution::Begin { after: Some(after) }));
        }
        Some(WaitDef::Signal(_)) => {
            let after = node.options.timeout;
            return Ok(Some(Resolution::Begin { after }));
        }
        None => {}
    }
    let (codec, digest) = match (&node.map, claimed.item) {
        (Some(map), Some(item)) => (&map.item_codec, item_digest(map, &arguments.args, item)),
        _ => (&node.codec, None),
    };
    // A cached node whose key the cache holds is restored, not run.
    let cached = match node.options.cache {
        Some(_) => {
            let args = super::cached::Args {
                values: &arguments.args,
                names: &arguments.names,
                json: &arguments.json,
            };
            super::cached::look(store, graph, node, claimed, args, events).await
        }
        None => super::cached::Looked::Uncached,
    };
    let miss = match cached {
        super::cached::Looked::Hit { json, from } => {
            // No attempt ran: attempt 0.
            let mut entry = entry(AuditStatus::Cached, arguments.names);
            entry.attempt = 0;
            entry.cached_from = Some(from);
            return Ok(Some(completed(node, claimed, entry, json, digest)));
        }
        super::cached::Looked::Miss(miss) => Some(miss),
        super::cached::Looked::Uncached => None,
    };
    let ctx = NodeContext {
        run_id: claimed.run_id.clone(),
        node_id: Arc::clone(&node.id),
        attempt: claimed.attempt,
        item: claimed.item,
        claim: u64::try_from(claimed.claim).ok(),
    };
    // A rated node's execution waits for its reserved turn here, as late as it can, so that
    // reading its run and arguments does not spread the starts (its lease is renewed meanwhile).
    if let Some(start_at) = claimed.start_at {
        tokio::time::sleep_until(start_at).await;
    }
    // The last moment before the body starts: a claim that lapsed meanwhile is left alone.
    if !lease.live() {
        return Ok(None);
    }
    if claimed.item.is_none() {
        events.on_node_start(&claimed.run_id, &node.id, claimed.attempt);
    }
    let span = crate::trace::attempt_span(claimed.attempt);
    let call = call::call(node, &Values::Owned(arguments.args), ctx);
    let call = crate::trace::traced(span.clone(), call);
    // The body's events are kept in the attempt's entry.
    let (output, logs) = match limits.on() && crate::trace::logs::watched() {
        true => Captured::new(call, limits).await,
        false => (call.await, Kept::default()),
    };
    let output = output
        .map_err(|e| e.to_string())
        .and_then(|value| call::stored_output(codec, &value));
    if let Err(error) = &output {
        crate::trace::failed(span.as_ref(), error);
    }
    drop(span);
    Ok(Some(match output {
        Ok(json) => {
            if let Some(miss) = miss {
                super::cached::keep(store, graph, node, claimed, miss, &json).await;
            }
            let mut entry = entry(AuditStatus::Completed, arguments.names);
            (entry.logs, entry.logs_dropped) = (logs.lines, logs.dropped);
            completed(node, claimed, entry, json, digest)
        }
        Err(error) => {
            let mut failed = failed(error, arguments.names, true);
            if let Some(entry) = failed.entry_mut() {
                (entry.logs, entry.logs_dropped) = (logs.lines, logs.dropped);
            }
            failed
        }
    }))
}

/// A mapped node whose gate let it through opens on its list: `None` over an empty list (it runs
/// whole), `Err` when the list is not the one it maps over.
fn opening(
    node: &NodeDef,
    map: &MapDef,
    args: &[Value],
) -> Result<Option<Resolution>, &'static str> {
    let list = args.get(map.each).ok_or(MISTYPED)?;
    let of = match (map.len)(list, map.each).map(u32::try_from) {
        Some(Ok(0)) => return Ok(None),
        Some(Ok(of)) => of,
        Some(Err(_)) => return Err("a map has at most 4,294,967,295 items"),
        None => return Err(MISTYPED),
    };
    let digests = (0..of)
        .map(|item| {
            let json = (map.item_input)(list, map.each, item)?;
            canonical_digest(json.get()).ok()
        })
        .collect();
    let limit = node.options.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT);
    let limit = u32::try_from(limit).unwrap_or(u32::MAX).max(1);
    Ok(Some(Resolution::Open { digests, limit }))
}

/// The canonical digest of `item` of the mapped list, for its record: a resume keeps the record
/// only while the list holds the same item at the same place.
fn item_digest(map: &MapDef, args: &[Value], item: MapItem) -> Option<String> {
    let json = (map.item_input)(args.get(map.each)?, map.each, item.index)?;
    canonical_digest(json.get()).ok()
}

/// Ends a wait that began and is now due or signalled: a timer completes with `()`; a signal
/// wait completes with the stored signal's payload, or, without one, fails with a timeout (it is
/// claimed again only when its timeout passed or a signal was stored).
async fn wait_end(
    store: &PostgresStore,
    node: &NodeDef,
    claimed: &Claimed,
    mut entry: AuditEntry,
) -> StoreResult<Resolution> {
    let given: Result<Value, String> = match node.wait {
        Some(WaitDef::Signal(_)) => {
            let waits = Checkpointer::waits(store, &claimed.run_id).await?;
            match (waits.signal(&node.id), node.options.timeout) {
                (Some(signal), _) => (node.codec.decode)(&signal.payload).map_err(|e| {
                    format!(
                        "the signal's payload does not decode as `{}`: {e}",
                        node.codec.type_name
                    )
                }),
                (None, Some(limit)) => {
                    Err(format!("the wait timed out: no signal within {limit:?}"))
                }
                // Not due without a timeout: claimed again only by a signal.
                (None, None) => return Ok(Resolution::Begin { after: None }),
            }
        }
        _ => Ok(Arc::new(()) as Value),
    };
    entry.finished_at_ms = now_ms();
    match given.and_then(|value| call::stored_output(&node.codec, &value)) {
        Ok(json) => Ok(completed(node, claimed, entry, json, None)),
        Err(error) => {
            entry.status = AuditStatus::Failed;
            entry.error = Some(error);
            Ok(Resolution::Failed { entry })
        }
    }
}

/// A completed node (item) of `claimed`: its record holds `json` (and, for an item, the digest
/// of its item), numbered as its audit `entry` is.
fn completed(
    node: &NodeDef,
    claimed: &Claimed,
    mut entry: AuditEntry,
    json: Json,
    item_digest: Option<String>,
) -> Resolution {
    entry.output_in_checkpoint = true;
    let record = NodeRecord {
        node: node.id.to_string(),
        attempt: entry.attempt,
        started_at_ms: entry.started_at_ms,
        finished_at_ms: entry.finished_at_ms,
        duration_us: entry.duration_us,
        output: json,
        item: claimed.item,
        item_digest,
    };
    Resolution::Completed { record, entry }
}

/// The failure of a claimed row whose node index is not one of the pipeline's `nodes`.
pub(crate) fn damaged_row(claimed: &Claimed, nodes: usize, worker: &str) -> Resolution {
    let now = now_ms();
    let error = format!(
        "the run's row for node index {} is damaged: the pipeline has {nodes} nodes",
        claimed.node
    );
    Resolution::Failed {
        entry: AuditEntry {
            run_id: claimed.run_id.clone(),
            node: format!("#{}", claimed.node),
            item: None,
            status: AuditStatus::Failed,
            attempt: claimed.attempt,
            started_at_ms: now,
            finished_at_ms: now,
            duration_us: 0,
            inputs: Default::default(),
            input_refs: Vec::new(),
            output: None,
            output_in_checkpoint: false,
            error: Some(error),
            worker: Some(worker.to_owned()),
            retry_at_ms: None,
            cached_from: None,
            logs: Vec::new(),
            logs_dropped: 0,
        },
    }
}
