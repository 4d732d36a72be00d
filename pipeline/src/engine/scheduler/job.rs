//! What a node runs on: its arguments and gate values (borrowed, or copied into a batch for
//! another task), what its audit entries record of them, and its tracing span.

use std::sync::Arc;

use tracing::Span;

use super::Run;
use crate::call::args::{Values, missing};
use crate::call::gate;
use crate::call::guard::caught_sync;
use crate::data::{Json, Value};
use crate::engine::attempt::AuditedInputs;
use crate::engine::node_task::NodeJob;
use crate::engine::tasks::Batch;
use crate::graph::Slot;
use crate::node::MapItem;
use crate::store::AuditDetail;

impl<I: Send + Sync + 'static, O: Send + 'static> Run<I, O> {
    /// What `node` runs on when it runs on the scheduler's task: its arguments and gate values
    /// borrowed from the run, and what its audit entries record.
    pub(super) fn job(&self, index: u32, item: Option<MapItem>) -> NodeJob<'_> {
        let node = &self.graph.nodes[index as usize];
        let values = |slots| Values::Run {
            slots,
            inputs: &self.input_values,
            nodes: &self.values,
        };
        NodeJob {
            args: values(self.graph.args.of(index)),
            gate_args: values(node.gate.as_ref().map_or(&[], |gate| &gate.args)),
            inputs: self.audit_inputs(index, item),
            item,
            given: None,
        }
    }

    /// Adds node `index` to `batch`, with copies of its arguments and gate values.
    pub(super) fn add_to(&self, batch: &mut Batch, index: u32, item: Option<MapItem>) {
        let (inputs, span) = (self.audit_inputs(index, item), self.span(index, item));
        if let Some(last) = batch.last()
            && self.same_reads(last, index)
        {
            batch.push_like_last(index, inputs, span, item);
            return;
        }
        let node = &self.graph.nodes[index as usize];
        let args = self.graph.args.of(index).iter();
        let gate_args = node.gate.iter().flat_map(|gate| &gate.args);
        batch.push(
            index,
            args.map(|&slot| self.value(slot)),
            gate_args.map(|&slot| self.value(slot)),
            inputs,
            span,
            item,
        );
    }

    /// Whether nodes `a` and `b` read the same values, in the same order.
    fn same_reads(&self, a: u32, b: u32) -> bool {
        let gate = |i: u32| {
            self.graph.nodes[i as usize]
                .gate
                .as_ref()
                .map(|g| &g.args[..])
        };
        self.graph.args.of(a) == self.graph.args.of(b) && gate(a) == gate(b)
    }

    /// Node `index`'s condition gate over the run's values (open without a gate); `Err` when it
    /// panicked or read a value of another type.
    pub(super) fn gate_open(&self, index: u32) -> Result<bool, String> {
        let node = &self.graph.nodes[index as usize];
        let gate_args = Values::Run {
            slots: node.gate.as_ref().map_or(&[], |gate| &gate.args),
            inputs: &self.input_values,
            nodes: &self.values,
        };
        gate(node, &gate_args)
    }

    /// Node `index`'s tracing span (or its item's), when anyone listens.
    pub(super) fn span(&self, index: u32, item: Option<MapItem>) -> Option<Span> {
        let id = &*self.graph.nodes[index as usize].id;
        crate::trace::node_span(&self.shared.run_id, id, item, None)
    }

    pub(super) fn value(&self, slot: Slot) -> Value {
        match slot {
            Slot::Input(i) => Arc::clone(&self.input_values[i as usize]),
            // A node is dispatched only once every upstream node completed, so the value is there.
            Slot::Node(i) => self.values[i as usize].clone().unwrap_or_else(missing),
        }
    }

    /// What node `index`'s audit entries record of its arguments, when there is an audit log:
    /// with references, a pipeline input (in the run's header) and a checkpointed output are
    /// named, anything else is copied.
    ///
    /// An item's entries record only its item of the mapped argument: a copy of it, or the
    /// reference (the entry's `item` says which item of the referred value it read).
    fn audit_inputs(&self, index: u32, item: Option<MapItem>) -> Option<AuditedInputs> {
        let keyed = self.keyed_inputs(index, item);
        if self.shared.audit.is_none() {
            return keyed.map(|keyed| AuditedInputs {
                keyed: Some(keyed),
                ..AuditedInputs::default()
            });
        }
        let detail = self.shared.audit_detail;
        let mut inputs = AuditedInputs {
            keyed,
            ..AuditedInputs::default()
        };
        if detail == AuditDetail::None {
            return Some(inputs);
        }
        let each = self.graph.nodes[index as usize]
            .map
            .as_ref()
            .filter(|_| item.is_some());
        for (position, &slot) in self.graph.args.of(index).iter().enumerate() {
            let (name, json, stored) = match slot {
                Slot::Input(i) => (
                    &self.graph.inputs[i as usize].name,
                    &self.input_json[i as usize],
                    true,
                ),
                Slot::Node(i) => (
                    &self.graph.nodes[i as usize].id,
                    &self.json[i as usize],
                    self.checkpointed[i as usize],
                ),
            };
            if detail == AuditDetail::References && stored {
                inputs.refs.push(String::from(&**name));
            } else if let (Some(map), Some(item)) = (each, item)
                && map.each == position
            {
                let json = (map.item_input)(&self.value(slot), map.each, item.index);
                inputs
                    .copies
                    .insert(String::from(&**name), json.unwrap_or_else(null_json));
            } else {
                let json = json.clone().unwrap_or_else(null_json);
                inputs.copies.insert(String::from(&**name), json);
            }
        }
        Some(inputs)
    }

    /// A cached node's arguments as JSON, for its cache key, when its run's store keeps a cache:
    /// an item's entries take its item in place of the mapped list. `None` for other nodes, and
    /// when an argument does not serialize (the node then runs uncached).
    fn keyed_inputs(&self, index: u32, item: Option<MapItem>) -> Option<Vec<(Arc<str>, Json)>> {
        let node = &self.graph.nodes[index as usize];
        node.options.cache.as_ref()?;
        self.shared.checkpointer.as_ref()?.cache()?;
        let each = node.map.as_ref().filter(|_| item.is_some());
        let args = self.graph.args.of(index).iter().enumerate();
        args.map(|(position, &slot)| {
            let (name, stored, codec) = match slot {
                Slot::Input(i) => {
                    let input = &self.graph.inputs[i as usize];
                    (&input.name, &self.input_json[i as usize], &input.codec)
                }
                Slot::Node(i) => {
                    let upstream = &self.graph.nodes[i as usize];
                    (&upstream.id, &self.json[i as usize], &upstream.codec)
                }
            };
            let json = match (each, item) {
                (Some(map), Some(item)) if map.each == position => {
                    (map.item_input)(&self.value(slot), map.each, item.index)?
                }
                _ => match stored {
                    Some(json) => Arc::clone(json),
                    None => caught_sync(|| (codec.encode)(&self.value(slot)))
                        .ok()?
                        .ok()?,
                },
            };
            Some((Arc::clone(name), json))
        })
        .collect()
    }

    /// Whether a node's JSON must be kept for the audit entries of its readers.
    pub(super) fn keep_json(&self, checkpointed: bool) -> bool {
        self.shared.audit.is_some()
            && match self.shared.audit_detail {
                AuditDetail::Full => true,
                AuditDetail::References => !checkpointed,
                AuditDetail::None => false,
            }
    }
}

pub(super) fn null_json() -> Json {
    Arc::from(serde_json::value::RawValue::NULL.to_owned())
}
