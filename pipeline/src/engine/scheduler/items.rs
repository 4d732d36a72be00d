//! The state the scheduler keeps beside its nodes': one map in flight (a node mapped over a list
//! with `each`: which items ended, which run, which start next), and what a wait completes with.

use std::time::Instant;

use crate::data::{Json, Value};
use crate::node::MapItem;
use crate::result::ItemFailure;

/// What a wait completes with: its signal's payload (or `()` for a timer), or why it failed.
pub(crate) type Given = Result<Value, String>;

/// A map in flight.
pub(crate) struct MapRun {
    /// How many items the list has.
    pub of: u32,
    /// The next item to consider starting.
    pub next: u32,
    /// The outputs of the items that completed (or were restored).
    pub outputs: Vec<Option<Value>>,
    /// The items' JSON, kept only when the readers' audit entries copy the whole output.
    pub json: Option<Vec<Option<Json>>>,
    /// Items that have not ended.
    pub left: u32,
    /// Items started and not ended.
    pub in_flight: u32,
    /// The most items in flight at once.
    pub limit: u32,
    /// Whether the map is in the queue of maps with items to start.
    pub queued: bool,
    /// Whether every item's output is in the checkpoint.
    pub checkpointed: bool,
    /// Whether an item ran in this call.
    pub ran: bool,
    /// The items that failed after their retries.
    pub failures: Vec<ItemFailure>,
    /// When the map opened.
    pub started: Instant,
}

impl MapRun {
    /// A map of `of` items, at most `limit` in flight; `keep_json` keeps the items' JSON.
    pub fn new(of: u32, limit: usize, keep_json: bool) -> Self {
        MapRun {
            of,
            next: 0,
            outputs: vec![None; of as usize],
            json: keep_json.then(|| vec![None; of as usize]),
            left: of,
            in_flight: 0,
            limit: u32::try_from(limit).unwrap_or(u32::MAX).max(1),
            queued: false,
            checkpointed: true,
            ran: false,
            failures: Vec::new(),
            started: Instant::now(),
        }
    }

    /// The next item to start, if the map may start one now.
    pub fn take(&mut self) -> Option<MapItem> {
        if self.in_flight >= self.limit {
            return None;
        }
        while self.next < self.of {
            let index = self.next;
            self.next += 1;
            if self.outputs[index as usize].is_none() {
                self.in_flight += 1;
                return Some(MapItem { index, of: self.of });
            }
        }
        None
    }

    /// How many items it could start now, at most (restored items ahead are counted).
    pub fn startable(&self) -> usize {
        let room = self.limit.saturating_sub(self.in_flight);
        room.min(self.of - self.next) as usize
    }
}
