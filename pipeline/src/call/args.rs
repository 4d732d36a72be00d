//! The values a node reads, as its body and condition gate take them: references gathered on the
//! stack, from the run's own values or from a copy a node on another task owns.

use std::sync::{Arc, LazyLock};

use crate::data::Value;
use crate::graph::Slot;

/// The values a node reads: borrowed from the run by a node run on the scheduler's own task, from
/// its batch by a node started on another task (or owned, by a fleet worker's node).
pub(crate) enum Values<'a> {
    /// The values themselves (a fleet worker decodes them from the store).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Owned(Vec<Value>),
    /// A node's share of the values of a batch of nodes started on one task.
    Slice(&'a [Value]),
    /// Where the run keeps them: the node's argument (or gate) slots into the pipeline inputs and
    /// the node outputs.
    Run {
        slots: &'a [Slot],
        inputs: &'a [Value],
        nodes: &'a [Option<Value>],
    },
}

/// Stands for a value that is not there, which the scheduler rules out (a node starts only once
/// its upstream nodes completed): the node's body then reports a type mismatch.
static MISSING: LazyLock<Value> = LazyLock::new(|| Arc::new(()));

/// A copy of the stand-in for a value that is not there.
pub(crate) fn missing() -> Value {
    Arc::clone(&MISSING)
}

impl Values<'_> {
    fn len(&self) -> usize {
        match self {
            Values::Owned(values) => values.len(),
            Values::Slice(values) => values.len(),
            Values::Run { slots, .. } => slots.len(),
        }
    }

    pub fn get(&self, i: usize) -> &Value {
        match self {
            Values::Owned(values) => &values[i],
            Values::Slice(values) => &values[i],
            Values::Run {
                slots,
                inputs,
                nodes,
            } => match slots[i] {
                Slot::Input(k) => &inputs[k as usize],
                Slot::Node(k) => nodes[k as usize].as_ref().unwrap_or(&MISSING),
            },
        }
    }

    /// Calls `f` with references to the values, gathered on the stack when they are few.
    pub fn with_refs<R>(&self, f: impl FnOnce(&[&Value]) -> R) -> R {
        const FEW: usize = 8;
        let n = self.len();
        if n <= FEW {
            let mut refs = [&*MISSING; FEW];
            for (i, slot) in refs.iter_mut().take(n).enumerate() {
                *slot = self.get(i);
            }
            f(&refs[..n])
        } else {
            f(&(0..n).map(|i| self.get(i)).collect::<Vec<_>>())
        }
    }
}
