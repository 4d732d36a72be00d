//! The rules a `pipeline!` must follow, one function each. Every broken rule is recorded in the
//! context, so one build reports all of them.

use std::collections::{BTreeSet, HashMap};

use syn::visit::Visit;
use syn::{Expr, Ident};

use super::ast::PipelineDef;
use crate::ctxt::Ctxt;
use crate::text::did_you_mean;

/// What the checks resolved about a sound pipeline, for `expand` to read: edges and condition
/// names are derived here once.
pub struct Plan {
    /// The statements in dependency order (each after the bindings it reads).
    pub order: Vec<usize>,
    /// Per statement: the inputs and bindings its condition reads (empty without a condition).
    pub condition_names: Vec<Vec<Ident>>,
    /// Per statement: every input and binding it reads (arguments and condition), sorted by name,
    /// each once: the graph's edges into it.
    pub sources: Vec<Vec<String>>,
}

/// Runs every check; returns the resolved plan when the pipeline is sound.
pub fn all(cx: &Ctxt, def: &PipelineDef) -> Option<Plan> {
    duplicate_inputs(cx, def);
    duplicate_bindings(cx, def);
    bindings_shadowing_inputs(cx, def);
    unknown_arguments(cx, def);
    unknown_outputs(cx, def);
    unknown_key_inputs(cx, def);
    if !cx.is_ok() {
        return None;
    }
    let condition_names: Vec<Vec<Ident>> = def
        .statements
        .iter()
        .map(|s| {
            s.condition
                .as_ref()
                .map(|c| condition_names(def, c))
                .unwrap_or_default()
        })
        .collect();
    let upstream: Vec<Vec<usize>> = (0..def.statements.len())
        .map(|i| upstream_bindings(def, i, &condition_names[i]))
        .collect();
    let order = topological_order(cx, def, &upstream)?;
    let sources = def
        .statements
        .iter()
        .zip(&condition_names)
        .map(|(s, condition)| sources(&s.args, condition))
        .collect();
    Some(Plan {
        order,
        condition_names,
        sources,
    })
}

fn sources(args: &[Ident], condition: &[Ident]) -> Vec<String> {
    let mut from: Vec<String> = args
        .iter()
        .chain(condition)
        .map(ToString::to_string)
        .collect();
    from.sort();
    from.dedup();
    from
}

fn duplicate_inputs(cx: &Ctxt, def: &PipelineDef) {
    let mut seen = BTreeSet::new();
    for input in &def.inputs {
        if !seen.insert(input.name.to_string()) {
            cx.error_spanned_by(
                &input.name,
                format!("the pipeline input `{}` is declared twice", input.name),
            );
        }
    }
}

fn duplicate_bindings(cx: &Ctxt, def: &PipelineDef) {
    let mut first: HashMap<String, &super::ast::Statement> = HashMap::new();
    for statement in &def.statements {
        let name = statement.binding.to_string();
        match first.get(&name) {
            Some(earlier) => {
                let func = &earlier.func;
                cx.error_spanned_by(
                    &statement.binding,
                    format!(
                        "the binding `{name}` is defined twice (first as `{name} = {}(...)`); \
                         each binding is one node, so give this one another name",
                        quote::quote!(#func).to_string().replace(' ', "")
                    ),
                );
            }
            None => {
                first.insert(name, statement);
            }
        }
    }
}

fn bindings_shadowing_inputs(cx: &Ctxt, def: &PipelineDef) {
    for statement in &def.statements {
        if def.inputs.iter().any(|i| i.name == statement.binding) {
            cx.error_spanned_by(
                &statement.binding,
                format!(
                    "the binding `{}` has the name of a pipeline input; rename the binding",
                    statement.binding
                ),
            );
        }
    }
}

fn known_names(def: &PipelineDef) -> Vec<String> {
    def.inputs
        .iter()
        .map(|i| i.name.to_string())
        .chain(def.statements.iter().map(|s| s.binding.to_string()))
        .collect()
}

fn unknown_name(cx: &Ctxt, known: &[String], name: &Ident, what: &str) {
    let text = name.to_string();
    if known.contains(&text) {
        return;
    }
    let hint = did_you_mean(&text, known.iter().map(String::as_str))
        .map(|close| format!("; did you mean `{close}`?"))
        .unwrap_or_default();
    cx.error_spanned_by(
        name,
        format!("no input or binding named `{text}`{what}{hint}"),
    );
}

fn unknown_arguments(cx: &Ctxt, def: &PipelineDef) {
    let known = known_names(def);
    for statement in &def.statements {
        for arg in &statement.args {
            unknown_name(cx, &known, arg, "");
        }
    }
}

/// Every name of a key (`#[idempotent(key = ...)]`, `#[limit(key = ...)]`, `#[fair(key = ...)]`)
/// is an input of the pipeline (a binding is not: the key is known before anything runs).
fn unknown_key_inputs(cx: &Ctxt, def: &PipelineDef) {
    let keys = def.idempotent.iter().map(|i| ("idempotency key", &i.key));
    let keys = keys.chain(def.run_limit.iter().map(|l| ("run limit's key", &l.key)));
    let keys = keys.chain(def.fair.iter().map(|f| ("fairness key", &f.key)));
    let inputs: Vec<String> = def.inputs.iter().map(|i| i.name.to_string()).collect();
    for (what, names) in keys {
        for name in names {
            let text = name.to_string();
            if inputs.contains(&text) {
                continue;
            }
            let pipeline = &def.name;
            let mut message = match def.statements.iter().any(|s| s.binding == *name) {
                true => format!(
                    "the {what} of `{pipeline}` is made of its inputs, and `{text}` is a \
                     binding: the key is known before anything runs"
                ),
                false => format!("`{pipeline}` has no input `{text}`"),
            };
            if let Some(close) = did_you_mean(&text, inputs.iter().map(String::as_str)) {
                message.push_str(&format!("; did you mean `{close}`?"));
            }
            cx.error_spanned_by(name, message);
        }
    }
}

fn unknown_outputs(cx: &Ctxt, def: &PipelineDef) {
    let known = known_names(def);
    for name in &def.tail.names {
        unknown_name(cx, &known, name, " (the pipeline's output)");
    }
}

/// The pipeline inputs and bindings a condition reads: the single-segment names in it that are
/// inputs or bindings. Other names (constants, fns) are left to the compiler.
fn condition_names(def: &PipelineDef, condition: &Expr) -> Vec<Ident> {
    struct Names<'a> {
        known: &'a [String],
        found: Vec<Ident>,
    }
    impl<'ast> Visit<'ast> for Names<'_> {
        fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
            if let Some(ident) = path.path.get_ident()
                && path.qself.is_none()
                && self.known.contains(&ident.to_string())
                && !self.found.contains(ident)
            {
                self.found.push(ident.clone());
            }
        }
    }
    let known = known_names(def);
    let mut names = Names {
        known: &known,
        found: Vec::new(),
    };
    names.visit_expr(condition);
    names.found
}

/// The bindings statement `index` reads (arguments and condition).
fn upstream_bindings(def: &PipelineDef, index: usize, condition: &[Ident]) -> Vec<usize> {
    let mut upstream: Vec<usize> = def.statements[index]
        .args
        .iter()
        .chain(condition)
        .filter_map(|name| def.statements.iter().position(|s| s.binding == *name))
        .collect();
    upstream.sort_unstable();
    upstream.dedup();
    upstream
}

/// Orders the statements so that each comes after the bindings it reads, keeping the written
/// order where it is free; a cycle is an error naming it, at a binding in it.
fn topological_order(cx: &Ctxt, def: &PipelineDef, upstream: &[Vec<usize>]) -> Option<Vec<usize>> {
    let n = def.statements.len();
    let mut state = vec![Visit3::New; n];
    let mut order = Vec::with_capacity(n);
    let mut stack = Vec::new();
    for start in 0..n {
        if let Some(cycle) = visit(start, upstream, &mut state, &mut order, &mut stack) {
            let names: Vec<String> = cycle
                .iter()
                .map(|&i| def.statements[i].binding.to_string())
                .collect();
            cx.error_spanned_by(
                &def.statements[cycle[0]].binding,
                format!(
                    "these bindings form a cycle: `{}`; a node cannot depend, directly or \
                     through others, on its own output",
                    names.join(" -> ")
                ),
            );
            return None;
        }
    }
    Some(order)
}

#[derive(Clone, Copy, PartialEq)]
enum Visit3 {
    New,
    OnStack,
    Done,
}

/// Depth-first post-order; returns the cycle (first binding repeated at the end) if one is found.
fn visit(
    node: usize,
    upstream: &[Vec<usize>],
    state: &mut [Visit3],
    order: &mut Vec<usize>,
    stack: &mut Vec<usize>,
) -> Option<Vec<usize>> {
    match state[node] {
        Visit3::Done => return None,
        Visit3::OnStack => {
            let from = stack.iter().position(|&s| s == node).unwrap_or(0);
            let mut cycle = stack[from..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        Visit3::New => {}
    }
    state[node] = Visit3::OnStack;
    stack.push(node);
    for &up in &upstream[node] {
        if let Some(cycle) = visit(up, upstream, state, order, stack) {
            return Some(cycle);
        }
    }
    stack.pop();
    state[node] = Visit3::Done;
    order.push(node);
    None
}
