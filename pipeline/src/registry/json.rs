//! What crosses the registry's JSON boundary: a pipeline's inputs decoded from a JSON object
//! (every input named, no unknown field, each of its type) and a result's output encoded exactly.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::data::{self, Json};
use crate::definition::Pipeline;
use crate::engine::PipelineEngine;
use crate::error::PipelineError;
use crate::result::{PersistenceWarning, PipelineResult, WarningSource};

/// Decodes a pipeline's inputs from a JSON object: every input named (an `Option` may be left
/// out), no field it does not take, each field of its type.
pub(super) fn decode_inputs<P: Pipeline>(
    engine: &PipelineEngine<P>,
    text: &str,
) -> Result<P::Inputs, PipelineError> {
    let graph = engine.graph();
    let invalid = |source| PipelineError::InvalidInputs {
        pipeline: graph.name().to_owned(),
        source,
    };
    // The fields as written (numbers keep every digit: a `u128` input reads back whole), to
    // name what is missing or unknown before the inputs are decoded.
    let value: &RawValue = serde_json::from_str(text).map_err(invalid)?;
    let inputs = &graph.signature().inputs;
    if let Ok(fields) = serde_json::from_str::<HashMap<&str, &RawValue>>(value.get()) {
        // Whether an input may be left out is asked of its type (serde's rule for a missing
        // field), not guessed from how its name is spelt: an alias of `Option` may be.
        let may_be_absent = |i: usize| graph.inner.inputs.get(i).is_some_and(|d| d.may_be_absent);
        let mut problems: Vec<String> = inputs
            .iter()
            .enumerate()
            .filter(|(n, i)| !fields.contains_key(i.name.as_str()) && !may_be_absent(*n))
            .map(|(_, i)| i)
            .map(|i| format!("missing `{}` ({})", i.name, i.type_name))
            .collect();
        let mut unknown: Vec<&str> = fields
            .keys()
            .copied()
            .filter(|k| !inputs.iter().any(|i| i.name == *k))
            .collect();
        unknown.sort_unstable();
        problems.extend(unknown.iter().map(|k| format!("unknown `{k}`")));
        if !problems.is_empty() {
            let expected: Vec<String> = inputs
                .iter()
                .map(|i| format!("`{}`: {}", i.name, i.type_name))
                .collect();
            return Err(PipelineError::InputFields {
                pipeline: graph.name().to_owned(),
                problems,
                expected: match expected.is_empty() {
                    true => "none (give `{}`)".to_owned(),
                    false => expected.join(", "),
                },
            });
        }
    }
    serde_json::from_str(value.get()).map_err(invalid)
}

/// The result with its output as exact JSON (every digit of a `u128` kept); an output whose
/// `Serialize` fails is left out, and a warning says why.
pub(super) fn to_json<O: Serialize>(result: PipelineResult<O>) -> PipelineResult<Json> {
    let mut failed = None;
    let mut result = result.filter_map_output(|output| {
        data::to_json(&output)
            .map_err(|e| failed = Some(e.to_string()))
            .ok()
    });
    if let Some(reason) = failed {
        result.warnings.push(PersistenceWarning {
            source: WarningSource::Output,
            node: None,
            message: format!("the run's output cannot be written as JSON: {reason}"),
            lost: false,
        });
    }
    result
}
