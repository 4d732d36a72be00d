//! The order in which waiting work is taken, in one process and on a fleet alike: each run has a
//! **credit**, and work of the run that is ready at time `t` goes as if it were ready at
//! `t - credit`.
//!
//! - **Priority** ([`RunOptions::priority`](crate::RunOptions::priority)): each point is worth
//!   [`PRIORITY_STEP`] of waiting. A run of priority 5 goes before runs of priority 0 that became
//!   ready less than 5 s before it; a run of lower priority ages: once it has waited
//!   `(p_high - p_low) * PRIORITY_STEP` longer, it goes before runs of priority `p_high` too.
//!   So a run of the lowest priority waits at most that long behind work that came after it.
//! - **Fairness** (a pipeline's fairness key, [`GraphBuilder::fair`](crate::GraphBuilder::fair),
//!   or its per-key run limit's key): the runs of one key take turns [`FAIR_SPACING`] apart, from
//!   now or from the key's last turn, whichever is later; a run's credit is less its turn's
//!   distance from now. A key with a backlog of 1,000 runs holds turns far ahead, so a run of
//!   another key goes before all of them but those whose turn came; keys with backlogs take
//!   turns one run each.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// What one point of priority is worth: a second of waiting.
pub const PRIORITY_STEP: Duration = Duration::from_secs(1);

/// How far apart the turns of one fairness key's runs are (in the order of work, not in time:
/// a key alone still runs as fast as it can).
pub(crate) const FAIR_SPACING: Duration = Duration::from_secs(3600);

/// The credit (milliseconds) of a run of priority `priority` started at `now_ms`, and the turn
/// it takes of its fairness key, whose last turn was `last_turn_ms` and which has `unfinished`
/// other runs that have not ended (`None`: the run has no key, or its key no turn yet). A turn
/// comes after the key's last, but never further ahead of now than its unfinished runs reach: a
/// key whose burst ended starts from now again. The one rule, for every executor.
pub(crate) fn credit(now_ms: i64, priority: i32, last: Option<(i64, u64)>) -> (i64, i64) {
    let spacing = FAIR_SPACING.as_millis() as i64;
    let turn = match last {
        Some((last, unfinished)) => {
            let reach = now_ms.saturating_add(spacing.saturating_mul(unfinished as i64));
            now_ms.max(last.saturating_add(spacing).min(reach))
        }
        None => now_ms,
    };
    let priority = i64::from(priority).saturating_mul(PRIORITY_STEP.as_millis() as i64);
    (priority.saturating_sub(turn - now_ms), turn)
}

type Slot = (String, String);

/// The last turn of each fairness key of each pipeline in this process, and how many of its
/// runs have not ended.
static TURNS: LazyLock<Mutex<HashMap<Slot, (i64, u64)>>> = LazyLock::new(Mutex::default);

/// A run's turn of its fairness key in this process: counted among the key's unfinished runs
/// until dropped (when the run ends); the key is forgotten when none is left.
#[derive(Debug)]
pub(crate) struct Turn(Option<Slot>);

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(slot) = self.0.take() else {
            return;
        };
        let mut turns = TURNS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, unfinished)) = turns.get_mut(&slot) {
            *unfinished = unfinished.saturating_sub(1);
            if *unfinished == 0 {
                turns.remove(&slot);
            }
        }
    }
}

/// The credit of a run started in this process at `now_ms`: its priority, and a turn of its
/// fairness key `key` of pipeline `pipeline` when it has one (held until the [`Turn`] drops).
pub(crate) fn credit_here(
    pipeline: &str,
    key: Option<&str>,
    now_ms: i64,
    priority: i32,
) -> (i64, Turn) {
    let Some(key) = key else {
        return (credit(now_ms, priority, None).0, Turn(None));
    };
    let mut turns = TURNS.lock().unwrap_or_else(PoisonError::into_inner);
    let slot = (pipeline.to_owned(), key.to_owned());
    let held = turns.get(&slot).copied();
    let (credit, turn) = credit(now_ms, priority, held);
    let unfinished = held.map_or(0, |(_, n)| n) + 1;
    turns.insert(slot.clone(), (turn, unfinished));
    (credit, Turn(Some(slot)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_priority_point_is_a_second_and_a_keys_turns_are_spaced() {
        assert_eq!(credit(1_000, 0, None), (0, 1_000));
        assert_eq!(credit(1_000, 5, None), (5_000, 1_000));
        assert_eq!(credit(1_000, -2, None), (-2_000, 1_000));
        // A key whose last turn is an hour ahead, with two runs unfinished: two hours ahead.
        let hour = FAIR_SPACING.as_millis() as i64;
        let (now, last) = (1_000, 1_000 + hour);
        assert_eq!(credit(now, 0, Some((last, 2))), (-2 * hour, now + 2 * hour));
        // With one unfinished (the burst mostly ended): an hour ahead, not six.
        assert_eq!(
            credit(now, 0, Some((last + 5 * hour, 1))),
            (-hour, now + hour)
        );
        // A key whose runs all ended takes now, whatever its last turn.
        assert_eq!(credit(now, 1, Some((last + 5 * hour, 0))), (1_000, now));
        // A key whose turns all came takes now.
        assert_eq!(credit(10 * hour, 1, Some((1_000, 3))), (1_000, 10 * hour));
    }
}
