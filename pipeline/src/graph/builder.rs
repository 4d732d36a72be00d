//! [`GraphBuilder`]: declares inputs and nodes, checks ids and handles, and builds a [`Graph`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::built::{
    Edges, FastHash, Flat, Graph, InputDef, KeyFn, NodeDef, OutputFn, Parts, RunLimit,
};
use super::deps::{Deps, Handle, Slot};
use super::error::GraphError;
use crate::data::{Codec, Data, Value};

static NEXT_BUILDER_ID: AtomicU64 = AtomicU64::new(1);

/// Builds a [`Graph`] node by node: [`input`](GraphBuilder::input)s, then
/// [`node`](GraphBuilder::node)s, then [`build`](GraphBuilder::build). A node can read only handles that exist when it is added, so a
/// graph built this way is acyclic by construction, and every edge's type is checked by the compiler.
pub struct GraphBuilder<I> {
    id: u64,
    name: Arc<str>,
    inputs: Vec<InputDef<I>>,
    nodes: Vec<NodeDef>,
    args: Flat<Slot>,
    upstream: Edges,
    /// Every input and node, in the order they were declared: their names are checked for
    /// duplicates when the graph is built, into a map sized once.
    claims: Vec<Slot>,
    /// Each mistake, with how many names were declared when it was made (to report the first).
    errors: Vec<(usize, GraphError)>,
    key: Option<KeyFn<I>>,
    run_limit: Option<RunLimit<I>>,
    fair: Option<KeyFn<I>>,
    #[cfg(feature = "schedules")]
    schedules: crate::cron::Schedules<I>,
}

impl<I: Data> GraphBuilder<I> {
    /// Starts a graph for the pipeline `name`, whose inputs are an `I`.
    pub fn new(name: impl Into<String>) -> Self {
        let name: String = name.into();
        GraphBuilder {
            id: NEXT_BUILDER_ID.fetch_add(1, Ordering::Relaxed),
            errors: if name.is_empty() {
                vec![(0, GraphError::EmptyPipelineName)]
            } else {
                Vec::new()
            },
            name: name.into(),
            inputs: Vec::new(),
            nodes: Vec::new(),
            args: Flat::default(),
            upstream: Edges::default(),
            claims: Vec::new(),
            key: None,
            run_limit: None,
            fair: None,
            #[cfg(feature = "schedules")]
            schedules: Default::default(),
        }
    }

    /// Names the pipeline's idempotency key: what `key` makes of a run's inputs (serialized as
    /// JSON). A start whose key a run of this pipeline holds (within its retention,
    /// [`EngineSettings::key_retention`](crate::EngineSettings::key_retention)) returns that
    /// run's id and result instead of starting another; a key given per start
    /// ([`RunOptions::idempotency_key`](crate::RunOptions::idempotency_key)) takes precedence.
    /// `pipeline!` writes it as `#[idempotent(key = (customer, day))]`.
    ///
    /// ```
    /// # use pipeline::GraphBuilder;
    /// let mut g = GraphBuilder::<(String, u32)>::new("nightly");
    /// g.idempotent(|(customer, day): &(String, u32)| (customer.clone(), *day));
    /// ```
    pub fn idempotent<K: serde::Serialize>(
        &mut self,
        key: impl Fn(&I) -> K + Send + Sync + 'static,
    ) -> &mut Self {
        self.set_key(Box::new(move |inputs| serde_json::to_string(&key(inputs))));
        self
    }

    /// Sets the pipeline's idempotency key, as [`idempotent`](GraphBuilder::idempotent) and
    /// `pipeline!` make it.
    pub(crate) fn set_key(&mut self, key: KeyFn<I>) {
        self.key = Some(key);
    }

    /// Runs at most `runs` runs of the pipeline at once per key: what `key` makes of a run's
    /// inputs (serialized as JSON), e.g. its customer. A run over the limit waits until one of
    /// its key ends; runs wait in the order they came. The limit holds across the engines of one
    /// process and, on a fleet, across every worker. `pipeline!` writes it as
    /// `#[limit(key = customer, runs = 2)]`.
    ///
    /// ```
    /// # use pipeline::GraphBuilder;
    /// let mut g = GraphBuilder::<(String, u32)>::new("invoices");
    /// g.limit_runs(|(customer, _): &(String, u32)| customer.clone(), 2);
    /// ```
    pub fn limit_runs<K: serde::Serialize>(
        &mut self,
        key: impl Fn(&I) -> K + Send + Sync + 'static,
        runs: u32,
    ) -> &mut Self {
        self.set_run_limit(
            Box::new(move |inputs| serde_json::to_string(&key(inputs))),
            runs,
        );
        self
    }

    /// Takes the pipeline's runs in turns per key: what `key` makes of a run's inputs (serialized
    /// as JSON), e.g. its customer. Where runs wait (for a fleet's workers, for a limited node),
    /// the runs of one key take turns with those of the others, however many of them wait: a
    /// customer with a backlog of 1,000 runs does not delay another's first. A pipeline with a
    /// per-key run limit ([`limit_runs`](GraphBuilder::limit_runs)) takes turns by its key unless
    /// given this one. `pipeline!` writes it as `#[fair(key = customer)]`.
    ///
    /// ```
    /// # use pipeline::GraphBuilder;
    /// let mut g = GraphBuilder::<(String, u32)>::new("invoices");
    /// g.fair(|(customer, _): &(String, u32)| customer.clone());
    /// ```
    pub fn fair<K: serde::Serialize>(
        &mut self,
        key: impl Fn(&I) -> K + Send + Sync + 'static,
    ) -> &mut Self {
        self.set_fair(Box::new(move |inputs| serde_json::to_string(&key(inputs))));
        self
    }

    /// Sets the fairness key, as [`fair`](GraphBuilder::fair) and `pipeline!` make it.
    pub(crate) fn set_fair(&mut self, key: KeyFn<I>) {
        self.fair = Some(key);
    }

    /// Sets the per-key run limit, as [`limit_runs`](GraphBuilder::limit_runs) and `pipeline!`
    /// make it.
    pub(crate) fn set_run_limit(&mut self, key: KeyFn<I>, runs: u32) {
        self.run_limit = Some(RunLimit {
            key,
            runs: runs.max(1),
        });
    }

    /// Starts the pipeline on the ticks of `schedule` (feature `schedules`): a
    /// [`Scheduler`](crate::schedule::Scheduler) given an engine of the graph fires them, each
    /// tick once however many schedulers run. `pipeline!` writes it as
    /// `#[schedule(cron = "0 3 * * *", tz = "Europe/Paris", inputs = nightly)]`. A second
    /// schedule of the same name is reported by
    /// [`Scheduler::add`](crate::schedule::Scheduler::add).
    ///
    /// ```
    /// # use pipeline::GraphBuilder;
    /// use pipeline::schedule::{Missed, Schedule};
    ///
    /// let mut g = GraphBuilder::<String>::new("nightly");
    /// g.schedule(Schedule::new("at-3", "0 3 * * *", "UTC", |tick| tick.date())?.missed(Missed::Skip));
    /// # Ok::<(), pipeline::schedule::ScheduleError>(())
    /// ```
    #[cfg(feature = "schedules")]
    #[cfg_attr(docsrs, doc(cfg(feature = "schedules")))]
    pub fn schedule(&mut self, schedule: crate::cron::Schedule<I>) -> &mut Self {
        let name = schedule.name().to_owned();
        self.add_schedule(&name, Ok(schedule));
        self
    }

    /// Adds schedule `name`, or the reason it could not be made (as `pipeline!` does).
    #[cfg(feature = "schedules")]
    pub(crate) fn add_schedule(
        &mut self,
        name: &str,
        schedule: Result<crate::cron::Schedule<I>, crate::cron::ScheduleError>,
    ) {
        self.schedules.add(&self.name, name, schedule);
    }

    /// Declares a pipeline input named `name`, taken out of the inputs value by `extract`.
    pub fn input<T: Data>(
        &mut self,
        name: impl Into<String>,
        extract: impl Fn(&I) -> T + Send + Sync + 'static,
    ) -> Handle<T> {
        let name: Arc<str> = name.into().into();
        let slot = Slot::Input(self.inputs.len() as u32);
        self.claim(&name, slot);
        self.inputs.push(InputDef {
            name,
            extract: Box::new(move |inputs| Arc::new(extract(inputs)) as Value),
            codec: Codec::of::<T>(),
            may_be_absent: crate::data::absent_is_none::<T>(),
        });
        Handle::new(self.id, slot)
    }

    /// Finishes the graph; `output` names what a completed run returns (a handle or a tuple of them).
    pub fn build<D: Deps>(mut self, output: D) -> Result<Graph<I, D::Values>, GraphError> {
        let output_slots = self.resolve("output", &output);
        self.finish(
            output_slots,
            Box::new(move |mut values| output.extract(&mut values)),
        )
    }

    /// Finishes the graph, or reports its first mistake.
    pub(crate) fn finish<O>(
        mut self,
        output_slots: Vec<Slot>,
        output: OutputFn<O>,
    ) -> Result<Graph<I, O>, GraphError> {
        let names = self.names();
        if let Some((_, first)) = self.errors.into_iter().min_by_key(|(at, _)| *at) {
            return Err(first);
        }
        let parts = Parts {
            name: self.name,
            inputs: self.inputs,
            nodes: self.nodes,
            args: self.args,
            upstream: self.upstream,
            names,
            key: self.key,
            run_limit: self.run_limit,
            fair: self.fair,
            #[cfg(feature = "schedules")]
            schedules: self.schedules,
        };
        Ok(Graph::assemble(parts, output_slots, output))
    }

    /// Every input and node by name; a name declared twice is a [`GraphError::DuplicateId`].
    fn names(&mut self) -> HashMap<Arc<str>, Slot, FastHash> {
        let mut names = HashMap::with_capacity_and_hasher(self.claims.len(), FastHash);
        for (at, &slot) in self.claims.iter().enumerate() {
            let name = match slot {
                Slot::Input(i) => &self.inputs[i as usize].name,
                Slot::Node(i) => &self.nodes[i as usize].id,
            };
            // An empty name was reported when it was declared.
            if !name.is_empty() && names.insert(Arc::clone(name), slot).is_some() {
                let error = GraphError::DuplicateId {
                    pipeline: self.name.to_string(),
                    id: name.to_string(),
                };
                self.errors.push((at, error));
            }
        }
        names
    }

    /// Adds a node whose gate slots were checked by [`check_slots`](Self::check_slots) and
    /// whose arguments were pushed by [`push_args`](Self::push_args) or
    /// [`resolve_args`](Self::resolve_args); its upstream list is derived here.
    pub(crate) fn push_node<T>(&mut self, node: NodeDef) -> Handle<T> {
        let args = self.args.pending();
        let gate = node.gate.iter().flat_map(|g| &g.args);
        let mut upstream = args.iter().chain(gate).filter_map(|slot| match *slot {
            Slot::Node(i) => Some(i),
            Slot::Input(_) => None,
        });
        match args.len() + node.gate.as_ref().map_or(0, |g| g.args.len()) {
            // The common cases, without sorting a list.
            0 => self.upstream.push([]),
            1 => {
                let first = upstream.next();
                self.upstream.push(first);
            }
            _ => {
                let mut upstream: Vec<u32> = upstream.collect();
                upstream.sort_unstable();
                upstream.dedup();
                self.upstream.push(upstream);
            }
        }
        self.args.close();
        let slot = Slot::Node(self.nodes.len() as u32);
        self.claim(&node.id, slot);
        self.nodes.push(node);
        Handle::new(self.id, slot)
    }

    /// Records the last input's type as written in a `pipeline!` (instead of its full path).
    pub(crate) fn set_input_type_name(&mut self, type_name: &'static str) {
        if let Some(input) = self.inputs.last_mut() {
            input.codec.type_name = type_name;
        }
    }

    fn claim(&mut self, id: &str, slot: Slot) {
        if id.is_empty() {
            let error = GraphError::EmptyId {
                pipeline: self.name.to_string(),
            };
            self.errors.push((self.claims.len(), error));
        }
        self.claims.push(slot);
    }

    /// Pushes the slots of the next node's arguments `deps`, checked to belong to this builder;
    /// `reader` names the node.
    pub(crate) fn resolve_args<D: Deps>(&mut self, reader: &str, deps: &D) {
        let mine = deps.slots(self.id, self.args.open());
        self.check_slots(reader, mine);
    }

    /// Pushes the next node's argument slots, checked to belong to this builder; `reader` names
    /// the node.
    pub(crate) fn push_args(&mut self, reader: &str, args: impl IntoIterator<Item = (u64, Slot)>) {
        let mut mine = true;
        let id = self.id;
        self.args
            .open()
            .extend(args.into_iter().map(|(graph, slot)| {
                mine &= graph == id;
                slot
            }));
        self.check_slots(reader, mine);
    }

    /// The slots of `deps`, checked to belong to this builder; `reader` names who reads them.
    pub(crate) fn resolve<D: Deps>(&mut self, reader: &str, deps: &D) -> Vec<Slot> {
        let mut slots = Vec::with_capacity(deps.count());
        let mine = deps.slots(self.id, &mut slots);
        self.check_slots(reader, mine);
        slots
    }

    /// Records a [`GraphError::ForeignHandle`] unless every handle `reader` reads is `mine`
    /// (belongs to this builder).
    pub(crate) fn check_slots(&mut self, reader: &str, mine: bool) {
        if !mine {
            let error = GraphError::ForeignHandle {
                pipeline: self.name.to_string(),
                id: reader.to_owned(),
            };
            self.errors.push((self.claims.len(), error));
        }
    }

    /// This builder's id, which its handles carry.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}
