//! A mapped node's row and an item's end as a commit holds them (see `maps`).

use std::time::Duration;

use super::resolution::Resolution;

/// An open map whose node row a commit holds locked: its items, and how many are left.
#[derive(Clone, Debug)]
pub(crate) struct MapRow {
    pub of: u32,
    /// Items not ended: pending, ready or running.
    pub left: i32,
    pub fail_fast: bool,
    /// Items that ended in this commit (each lets a pending item in).
    pub ended: i32,
    /// Whether its end was decided in this commit.
    pub resolved: bool,
    /// Whether `left` changed (the row is written back).
    pub changed: bool,
}

impl MapRow {
    /// A map's row as read: `items` and `items_left` (never `NULL` on an open map's row).
    pub fn new(of: Option<i32>, left: Option<i32>, fail_fast: bool) -> MapRow {
        MapRow {
            of: of.unwrap_or(0).max(0) as u32,
            left: left.unwrap_or(0),
            fail_fast,
            ended: 0,
            resolved: false,
            changed: false,
        }
    }

    /// One of its items ended (completed, or failed after its retries).
    pub fn item_ended(&mut self) {
        self.left -= 1;
        self.ended += 1;
        self.changed = true;
    }
}

/// How an item's row ends its claim.
pub(crate) struct ItemEnd<'a> {
    pub run_id: &'a str,
    pub node: u32,
    pub item: u32,
    /// `completed`, `failed`, or `ready` (a retry, after `delay`).
    pub state: &'static str,
    pub delay: Option<Duration>,
    pub error: Option<&'a str>,
}

impl<'a> ItemEnd<'a> {
    /// How item `item` of node `node` ends its claim with `resolution`; `None` for a resolution
    /// an item does not have.
    pub fn of(run_id: &'a str, node: u32, item: u32, resolution: &'a Resolution) -> Option<Self> {
        let error = resolution.entry().and_then(|e| e.error.as_deref());
        let (state, delay) = match resolution {
            Resolution::Completed { .. } => ("completed", None),
            Resolution::Failed { .. } => ("failed", None),
            Resolution::Retry { delay, .. } => ("ready", Some(*delay)),
            _ => return None,
        };
        Some(ItemEnd {
            run_id,
            node,
            item,
            state,
            delay,
            error,
        })
    }
}
