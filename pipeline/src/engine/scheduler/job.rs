//! What a node runs on: its arguments and gate values, what its audit entries record of them,
//! and its future, traced and with its panics caught.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::Either;
use tracing::Instrument;

use super::Run;
use crate::data::{Json, Value};
use crate::engine::args::Values;
use crate::engine::node_task::{AuditedInputs, NodeJob};
use crate::graph::Slot;
use crate::store::AuditDetail;

impl<I: Send + Sync + 'static, O: Send + 'static> Run<I, O> {
    /// What node `index` runs on: `args`, its gate's values, and what its audit entries record.
    pub(super) fn job<'a>(&self, index: u32, args: Values<'a>) -> NodeJob<'a> {
        let node = &self.graph.nodes[index as usize];
        let gate_args = node.gate.iter().flat_map(|gate| &gate.args);
        NodeJob {
            args,
            gate_args: Values::Owned(gate_args.map(|&slot| self.value(slot)).collect()),
            inputs: self
                .shared
                .audit
                .is_some()
                .then(|| self.audited_inputs(&node.args)),
        }
    }

    /// `node` inside node `index`'s tracing span, when anyone listens.
    pub(super) fn traced<F: Future>(
        &self,
        index: u32,
        node: F,
    ) -> Either<F, tracing::instrument::Instrumented<F>> {
        let id = &*self.graph.nodes[index as usize].id;
        let span = tracing::info_span!("pipeline.node", run_id = %self.shared.run_id, node = id);
        // Entering a disabled span on every poll costs a little; skip it when nobody listens.
        if span.is_disabled() {
            Either::Left(node)
        } else {
            Either::Right(node.instrument(span))
        }
    }

    pub(super) fn value(&self, slot: Slot) -> Value {
        match slot {
            Slot::Input(i) => Arc::clone(&self.input_values[i as usize]),
            // A node is dispatched only once every upstream node completed, so the value is there.
            Slot::Node(i) => self.values[i as usize]
                .clone()
                .unwrap_or_else(|| Arc::new(())),
        }
    }

    /// What an attempt's audit entries record of its arguments: with references, a pipeline
    /// input (in the run's header) and a checkpointed output are named, anything else is copied.
    pub(super) fn audited_inputs(&self, args: &[Slot]) -> AuditedInputs {
        let detail = self.shared.audit_detail;
        let mut inputs = AuditedInputs::default();
        if detail == AuditDetail::None {
            return inputs;
        }
        for &slot in args {
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
                inputs.refs.push(name.to_string());
            } else {
                let json = json.clone().unwrap_or_else(null_json);
                inputs.copies.insert(name.to_string(), json);
            }
        }
        inputs
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
