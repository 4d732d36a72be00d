//! Nodes mapped over a list (`each`) in the scheduler. A map opens when its node is ready: its
//! gate is checked, its list measured, the items a resumed run restored are put in place. It then
//! hands out its missing items one by one as units of work (at most `max_in_flight` at once,
//! all of them under the run's `max_concurrency`), and resolves its node once every item ended:
//! completed with the `Vec` of outputs in item order, or failed, naming each failed item.
//!
//! A map waits for its whole list: a node mapped over another mapped node's output starts once
//! that node completed (a barrier), never item by item.

use super::Run;
use super::items::MapRun;
use crate::data::{Json, Value, canonical_digest, json_list};
use crate::engine::node_task::{Outcome, Report};
use crate::engine::restore::PartialMap;
use crate::event::EventHandler;
use crate::graph::map::MISTYPED;
use crate::machine::{self, Event};
use crate::node::{DEFAULT_MAX_IN_FLIGHT, MapItem};
use crate::result::{ItemFailure, NodeFailure};
use crate::store::AuditDetail;

impl<I: Send + Sync + 'static, O: Send + 'static> Run<I, O> {
    /// Node `index` has no unresolved upstream node: a mapped node is opened before its items
    /// are handed out, a wait begins, any other one is ready.
    pub(super) fn make_ready(&mut self, index: u32) {
        let node = &self.graph.nodes[index as usize];
        match (&node.map, &node.wait) {
            (Some(_), _) => self.to_open.push(index),
            (_, Some(_)) => self.to_begin.push(index),
            _ => self.ready.push_back(index),
        }
    }

    /// Opens the mapped nodes that became ready.
    pub(super) fn open_maps(&mut self) {
        while let Some(index) = self.to_open.pop() {
            if !self.stopped {
                self.open(index);
            }
        }
    }

    /// Opens mapped node `index`: skipped when an upstream node was skipped or failed, or its
    /// gate is false; run whole (as an ordinary node) when its gate fails, to record the failure
    /// as any node's, or when its list is empty; otherwise its items are handed out.
    fn open(&mut self, index: u32) {
        self.start(index);
        let graph = std::sync::Arc::clone(&self.graph);
        let node = &graph.nodes[index as usize];
        let Some(map) = &node.map else {
            self.ready.push_back(index);
            return;
        };
        match self.gate_open(index) {
            Ok(true) => {}
            Ok(false) => return self.skip(index),
            Err(_) => return self.ready.push_front(index),
        }
        let list = self.value(self.graph.args.of(index)[map.each]);
        let of = match (map.len)(&list, map.each).map(u32::try_from) {
            Some(Ok(0)) => return self.ready.push_front(index),
            Some(Ok(of)) => of,
            Some(Err(_)) => return self.fail_map(index, "a map has at most 4,294,967,295 items"),
            None => return self.fail_map(index, MISTYPED),
        };
        let keep_json =
            self.shared.audit.is_some() && self.shared.audit_detail == AuditDetail::Full;
        let limit = node
            .options
            .max_in_flight
            .unwrap_or(DEFAULT_MAX_IN_FLIGHT)
            .min(self.cap);
        let mut run = MapRun::new(of, limit, keep_json);
        if let Some(at) = self.partial.iter().position(|p| p.index == index) {
            let PartialMap { items, .. } = self.partial.swap_remove(at);
            // Bound to the item, not to its place: the list may have been computed again, with
            // other items or in another order.
            for item in (0..of).filter(|_| !items.is_empty()) {
                let found = (map.item_input)(&list, map.each, item)
                    .and_then(|json| canonical_digest(json.get()).ok())
                    .and_then(|digest| items.get(&digest));
                if let Some((value, json)) = found {
                    run.outputs[item as usize] = Some(Value::clone(value));
                    if let Some(kept) = &mut run.json {
                        kept[item as usize] = Some(Json::clone(json));
                    }
                    run.left -= 1;
                }
            }
        }
        self.shared
            .events
            .on_node_start(&self.shared.run_id, &node.id, 1);
        let done = run.left == 0;
        self.maps.insert(index, run);
        match done {
            true => self.end_map(index),
            false => self.queue_map(index),
        }
    }

    fn queue_map(&mut self, index: u32) {
        if let Some(run) = self.maps.get_mut(&index)
            && !run.queued
            && run.startable() > 0
        {
            run.queued = true;
            self.open.push_back(index);
        }
    }

    /// The next unit of work: an item of an open map, or a ready node.
    pub(super) fn pop_work(&mut self) -> Option<(u32, Option<MapItem>)> {
        while let Some(&index) = self.open.front() {
            let Some(run) = self.maps.get_mut(&index) else {
                self.open.pop_front();
                continue;
            };
            let item = run.take();
            if item.is_none() || run.startable() == 0 {
                run.queued = false;
                self.open.pop_front();
            }
            if let Some(item) = item {
                return Some((index, Some(item)));
            }
        }
        self.ready.pop_front().map(|index| (index, None))
    }

    /// How many units of work could start now, at most.
    pub(super) fn startable(&self) -> usize {
        let items: usize = self
            .open
            .iter()
            .filter_map(|index| self.maps.get(index))
            .map(MapRun::startable)
            .sum();
        self.ready.len() + items
    }

    /// An item of mapped node `index` ended.
    pub(super) fn on_item(&mut self, index: u32, item: MapItem, report: Report) {
        let stops = self.stops(index);
        let Some(run) = self.maps.get_mut(&index) else {
            return;
        };
        run.in_flight -= 1;
        run.left -= 1;
        run.ran |= report.ran;
        let slot = item.index as usize;
        let item_failed = matches!(report.outcome, Outcome::Failed { .. });
        match report.outcome {
            Outcome::Completed {
                value,
                json,
                checkpointed,
            } => {
                run.outputs[slot] = Some(value);
                if let (Some(kept), Some(json)) = (&mut run.json, json) {
                    kept[slot] = Some(json);
                }
                run.checkpointed &= checkpointed;
            }
            Outcome::Failed { error, attempts } => {
                run.failures.push(ItemFailure {
                    index: item.index,
                    error,
                    attempts,
                });
            }
            Outcome::Skipped => run.failures.push(ItemFailure {
                index: item.index,
                error: MISTYPED.into(),
                attempts: 1,
            }),
        }
        let (left, in_flight) = (run.left, run.in_flight);
        if item_failed {
            self.apply(Event::ItemFailed { node: index, stops });
        }
        // Once the run stopped, no other item starts: the map ends with its last one in flight.
        if left == 0 || (self.stopped && in_flight == 0) {
            self.end_map(index);
        } else if !self.stopped {
            self.queue_map(index);
        }
    }

    /// Resolves mapped node `index` from its items.
    fn end_map(&mut self, index: u32) {
        let Some(mut run) = self.maps.remove(&index) else {
            return;
        };
        if run.ran {
            self.executed.push(index);
        }
        let graph = std::sync::Arc::clone(&self.graph);
        let node = &graph.nodes[index as usize];
        let unrun = run.left.saturating_sub(run.in_flight) as usize;
        let outcome = machine::map_outcome(run.failures.len(), unrun, self.stops(index));
        if outcome == machine::Outcome::Stopped {
            return self.end(index, outcome);
        }
        if !run.failures.is_empty() {
            run.failures.sort_by_key(|f| f.index);
            let failure = NodeFailure::of_items(run.of, run.failures);
            let (run_id, id) = (&self.shared.run_id, &*node.id);
            self.shared
                .events
                .on_node_fail(run_id, id, failure.attempts, &failure.error);
            self.failures.insert(id.to_owned(), failure);
            return self.fail(index);
        }
        let Some(map) = &node.map else { return };
        let outputs: Option<Vec<Value>> = run.outputs.into_iter().collect();
        let Some(value) = outputs.and_then(map.collect) else {
            return self.fail_map(index, MISTYPED);
        };
        let json = run.json.and_then(|items| {
            let items: Option<Vec<Json>> = items.into_iter().collect();
            json_list(items?.iter().map(|item| &**item))
        });
        self.values[index as usize] = Some(value);
        self.json[index as usize] = json;
        // With references, a reader's audit entry refers to the map's output: each item's is in
        // its checkpoint record or, where it is not, in the item's own audit entry.
        self.checkpointed[index as usize] =
            run.checkpointed || self.shared.audit_detail == AuditDetail::References;
        self.shared.events.on_node_complete(
            &self.shared.run_id,
            &node.id,
            1,
            run.started.elapsed(),
        );
        self.end(index, machine::Outcome::Completed);
    }

    /// Fails mapped node `index` before any item ran.
    fn fail_map(&mut self, index: u32, error: &str) {
        self.maps.remove(&index);
        let id = &self.graph.nodes[index as usize].id;
        self.shared
            .events
            .on_node_fail(&self.shared.run_id, id, 1, error);
        let failure = NodeFailure {
            error: error.to_owned(),
            attempts: 1,
            items: Vec::new(),
        };
        self.failures.insert(id.as_ref().to_owned(), failure);
        self.fail(index);
    }
}
