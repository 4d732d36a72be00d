//! Waits in the scheduler. A wait begins when its node is ready: a signal stored for it (sent
//! before, or while the run ran) completes it at once, with the payload as its output, written to
//! the checkpoint and the audit trail like any node's; a passed deadline fails it; otherwise it
//! is suspended. When nothing else can run, the signals are read again (one may have arrived
//! meanwhile); what is still suspended then makes the run end `Waiting`.

use std::sync::Arc;
use std::time::Duration;

use super::Run;
use crate::data::Value;
use crate::engine::node_task::{NodeJob, report};
use crate::event::EventHandler;
use crate::graph::WaitDef;
use crate::machine::Event;
use crate::result::{PersistenceWarning, WaitingOn, WarningSource};

impl<I: Send + Sync + 'static, O: Send + 'static> Run<I, O> {
    /// Begins the waits that became ready, and records in the store that the run waits on
    /// them (so the time they began survives a crash, and a signal knows to continue the run).
    pub(super) async fn begin_waits(&mut self) {
        if self.to_begin.is_empty() {
            return;
        }
        while let Some(index) = self.to_begin.pop() {
            if !self.stopped {
                self.begin(index);
            }
        }
        self.save_waits().await;
    }

    /// Begins wait `index`: skipped when an upstream node was skipped or failed or its gate is
    /// false; run as an ordinary node when its gate fails (to record the failure as any node's);
    /// otherwise completed by its stored signal, failed by its deadline, or suspended.
    fn begin(&mut self, index: u32) {
        self.start(index);
        let graph = std::sync::Arc::clone(&self.graph);
        let node = &graph.nodes[index as usize];
        match self.gate_open(index) {
            Ok(true) => {}
            Ok(false) => return self.skip(index),
            Err(_) => return self.ready.push_front(index),
        }
        let began_at_ms = self
            .stored_waits
            .waiting
            .iter()
            .find(|w| w.wait == *node.id)
            .map_or_else(|| self.shared.clock.now_ms(), |w| w.began_at_ms);
        let after = match node.wait {
            Some(WaitDef::Timer(duration)) => Some(duration),
            _ => node.options.timeout,
        };
        let deadline_ms = after.map(|t| crate::store::ms_after(began_at_ms, t));
        self.suspended.push(WaitingOn {
            wait: node.id.as_ref().to_owned(),
            began_at_ms,
            deadline_ms,
            timer: matches!(node.wait, Some(WaitDef::Timer(_))),
        });
        self.apply(Event::Began {
            node: index,
            signalled: false,
        });
        self.wake_suspended();
    }

    /// Moves the suspended waits that have a stored signal, or whose deadline passed, to the
    /// queue of waits to complete; whether any moved.
    pub(super) fn wake_suspended(&mut self) -> bool {
        let now = self.shared.clock.now_ms();
        let mut woken = false;
        let mut still = Vec::with_capacity(self.suspended.len());
        for waiting in std::mem::take(&mut self.suspended) {
            let Some(index) = self.graph.node_index(&waiting.wait) else {
                continue;
            };
            let node = &self.graph.nodes[index as usize];
            let due = waiting.deadline_ms.is_some_and(|d| d <= now);
            let signal = match node.wait {
                Some(WaitDef::Signal(_)) => self.stored_waits.signal(&waiting.wait),
                _ => None,
            };
            let given = match (signal, node.wait) {
                (Some(signal), _) => Some((node.codec.decode)(&signal.payload).map_err(|e| {
                    format!(
                        "the signal's payload does not decode as `{}`: {e}",
                        node.codec.type_name
                    )
                })),
                (None, Some(WaitDef::Timer(_))) => due.then(|| Ok(Arc::new(()) as Value)),
                (None, _) => due.then(|| {
                    let limit = node.options.timeout.unwrap_or_default();
                    Err(format!("the wait timed out: no signal within {limit:?}"))
                }),
            };
            match given {
                Some(given) => {
                    self.start(index);
                    self.completing.push_back((index, given));
                    woken = true;
                }
                None => still.push(waiting),
            }
        }
        self.suspended = still;
        woken
    }

    /// Completes (or fails) the waits whose signal or deadline came, one after the other on the
    /// run's task: each writes one checkpoint record and one audit entry.
    pub(super) async fn complete_waits(&mut self) {
        while let Some((index, given)) = self.completing.pop_front() {
            let report = {
                let node = &self.graph.nodes[index as usize];
                let mut job: NodeJob<'_> = self.job(index, None);
                job.given = Some(given);
                report(&self.shared, node, job).await
            };
            self.on_report(index, report);
        }
    }

    /// Reads the run's signals again, for the waits still suspended when nothing else can run;
    /// whether one of them can go on now.
    pub(super) async fn refresh_waits(&mut self) -> bool {
        if self.suspended.is_empty() {
            return false;
        }
        if let Some(checkpointer) = self.shared.checkpointer.clone()
            && let Ok(waits) = checkpointer.waits(&self.shared.run_id).await
        {
            self.stored_waits.signals = waits.signals;
            self.stored_waits.cancelled = waits.cancelled;
        }
        !self.stored_waits.cancelled && self.wake_suspended()
    }

    /// How long until the first suspended wait is due (a timer, or a signal's timeout), when that
    /// is within the threshold under which the run waits in the process instead of suspending.
    pub(super) fn due_soon(&self) -> Option<Duration> {
        let first = self.suspended.iter().filter_map(|w| w.deadline_ms).min()?;
        let left = Duration::from_millis(first.saturating_sub(self.shared.clock.now_ms()));
        (left <= self.in_process).then_some(left)
    }

    /// Reads the run's signals and earlier waits before it starts, when the graph has waits.
    pub(super) async fn load_waits(&mut self) {
        let Some(checkpointer) = self.shared.checkpointer.clone() else {
            return;
        };
        match checkpointer.waits(&self.shared.run_id).await {
            Ok(waits) => self.stored_waits = waits,
            Err(e) => self.warn_waits(format!("cannot read the run's signals: {e}")),
        }
    }

    /// Records what the run waits on as it ends (nothing, unless it ends `Waiting`), so a signal
    /// knows whether to continue it.
    pub(super) async fn save_waits(&mut self) {
        let Some(checkpointer) = self.shared.checkpointer.clone() else {
            return;
        };
        let (run_id, epoch) = (&self.shared.run_id, self.shared.checkpoint_epoch);
        if let Err(e) = checkpointer
            .set_waiting(run_id, epoch, &self.suspended)
            .await
        {
            self.warn_waits(format!("cannot record what the run waits on: {e}"));
        }
    }

    fn warn_waits(&mut self, message: String) {
        let warning = PersistenceWarning {
            source: WarningSource::Checkpoint,
            node: None,
            message,
            lost: true,
        };
        self.shared
            .events
            .on_persistence_warning(&self.shared.run_id, &warning);
        self.warnings.push(warning);
    }
}
