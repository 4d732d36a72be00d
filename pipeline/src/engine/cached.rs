//! A cached node in one process (`#[node(cache)]`): its output restored from the store's cache
//! instead of run, or, after a miss, the output it computed stored there. The key and the rule of
//! reuse are `cache`'s, shared with the fleet.

use std::time::Instant;

use super::attempt::{Attempt, Encoded};
use super::node_task::{Lookup, NodeTask, Outcome};
use crate::cache::key::probe;
use crate::cache::lookup::{self, Looked, Source};
use crate::call::guard::caught_sync;
use crate::data::Json;
use crate::event::EventHandler;
use crate::result::WarningSource;
use crate::run_id::RunId;

impl NodeTask<'_> {
    /// The node's output from the cache, with its checkpoint record and audit entry written,
    /// when the node is cached and the store holds a live entry for this call; `None` otherwise
    /// (the node runs).
    pub(super) async fn restore_cached(&mut self) -> Option<Outcome> {
        let keyed = self.job.inputs.as_ref()?.keyed.as_ref()?;
        let cache = self.node.options.cache.as_ref()?;
        let store = self.shared.checkpointer.as_ref()?.cache()?;
        let version = self.node.version.as_deref().unwrap_or("");
        let probe = match probe(
            cache,
            version,
            keyed.iter().map(|(n, j)| (&**n, Json::clone(j))),
        ) {
            Ok(probe) => probe,
            Err(reason) => {
                let message =
                    format!("an input cannot be read back, so it is not cached: {reason}");
                self.warn(WarningSource::Cache, message, false);
                return None;
            }
        };
        let now = self.shared.clock.now_ms();
        let (from, output) = match lookup::find(store, &probe, now).await {
            Ok(Looked::Hit(hit)) => (hit.run_id, hit.output),
            Ok(Looked::Miss { stale }) => {
                self.cache = Some(Box::new(Lookup::Miss { probe, stale }));
                return None;
            }
            // An entry that cannot be read (damaged, or the store failed) is replaced by the
            // output this run computes.
            Err(e) => {
                self.warn(
                    WarningSource::Cache,
                    format!("cannot read the cache: {e}"),
                    false,
                );
                self.cache = Some(Box::new(Lookup::Miss { probe, stale: true }));
                return None;
            }
        };
        let codec = match (self.job.item, &self.node.map) {
            (Some(_), Some(map)) => &map.item_codec,
            _ => &self.node.codec,
        };
        let value = match caught_sync(|| (codec.decode)(&output)) {
            Ok(Ok(value)) => value,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    Err(panic) => panic,
                    Ok(Ok(_)) => String::new(),
                };
                let message = format!(
                    "the cached output of run {} no longer decodes ({why}): the node runs, and its \
                     output replaces the entry",
                    from
                );
                self.warn(WarningSource::Cache, message, false);
                self.cache = Some(Box::new(Lookup::Miss { probe, stale: true }));
                return None;
            }
        };
        Some(self.restored(value, output, from).await)
    }

    /// A hit: the output recorded as this run's (checkpoint record, audit entry `cached`), and
    /// the node's end reported.
    async fn restored(&mut self, value: crate::data::Value, output: Json, from: RunId) -> Outcome {
        let (run_id, id) = (&self.shared.run_id, &*self.node.id);
        self.shared
            .events
            .on_node_cached(run_id, id, self.job.item, &from);
        tracing::info!(node = id, cached_from = %from, "node output restored from the cache");
        self.node.metrics(&self.shared.pipeline).cache_hit();
        let attempt = Attempt {
            number: 0,
            started_at_ms: crate::store::now_ms(),
            clock: Some(Instant::now()),
            logs: None,
        };
        let ended = attempt.end(true);
        let encoded = Encoded::new(output, true);
        let checkpointed = match self.shared.persists() {
            true => Box::pin(self.persist(&attempt, ended, &encoded, Some(&from))).await,
            false => false,
        };
        // Then its end, as for a node that ran: attempt 0, no time.
        match self.job.item {
            Some(item) => self.shared.events.on_item_end(run_id, id, item, 0, None),
            None => (self.shared.events).on_node_complete(run_id, id, 0, Default::default()),
        }
        self.cache = Some(Box::new(Lookup::Hit(from)));
        Outcome::Completed {
            value,
            json: encoded.json,
            checkpointed,
        }
    }

    /// After a miss: the output this call computed, stored under its key, when it reads back as
    /// the value downstream saw (`encoded.checkpoint`).
    pub(super) async fn store_cached(&mut self, encoded: &Encoded) {
        let Some(Lookup::Miss { probe, stale }) = self.cache.take().map(|lookup| *lookup) else {
            return;
        };
        let (Some(cache), Some(output)) = (self.node.options.cache.as_ref(), &encoded.json) else {
            return;
        };
        let Some(store) = self.shared.checkpointer.as_ref().and_then(|c| c.cache()) else {
            return;
        };
        if !encoded.checkpoint {
            return;
        }
        let source = Source {
            cache,
            version: self.node.version.as_deref().unwrap_or(""),
            pipeline: &self.shared.pipeline,
            node: &self.node.id,
            run_id: &self.shared.run_id,
        };
        let entry = lookup::entry(&source, &probe, output, self.shared.clock.now_ms());
        if let Err(e) = lookup::store(store, &entry, output, stale).await {
            let message = format!("the output was not cached: {e}");
            self.warn(WarningSource::Cache, message, false);
        }
    }
}
