//! Sending a signal to a run's wait: [`Signal`], and [`PipelineEngine::signal`], which checks the
//! run's pipeline, the wait and the payload's type before anything is written, stores it first
//! (durably, once per idempotency key), and then continues the run if it waits on it and nobody
//! else holds it.

use serde::Serialize;

use super::PipelineEngine;
use super::lifecycle::check_header;
use crate::data::{Json, to_json};
use crate::definition::Pipeline;
use crate::error::PipelineError;
use crate::graph::WaitDef;
use crate::result::{PipelineResult, RunStatus};
use crate::run_id::RunId;
use crate::store::now_ms;
use crate::store::{SignalRecord, SignalSent};

/// A signal for a wait of a run: the wait's binding name and its payload, with an optional
/// idempotency key (by default the payload itself: the same payload twice is one signal).
///
/// ```
/// use pipeline::Signal;
///
/// let signal = Signal::new("approval", &true)?.key("ticket-4711");
/// assert_eq!(signal.wait(), "approval");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Signal {
    wait: String,
    payload: Json,
    key: Option<String>,
}

impl Signal {
    /// A signal for wait `wait` carrying `payload`.
    pub fn new<T: Serialize + ?Sized>(
        wait: impl Into<String>,
        payload: &T,
    ) -> Result<Signal, serde_json::Error> {
        Ok(Signal {
            wait: wait.into(),
            payload: to_json(payload)?,
            key: None,
        })
    }

    /// A signal whose payload is JSON text (as the command line takes it); checked against the
    /// wait's type when sent.
    pub fn from_json(wait: impl Into<String>, json: &str) -> Result<Signal, serde_json::Error> {
        let payload = serde_json::value::RawValue::from_string(json.trim().to_owned())?;
        Ok(Signal {
            wait: wait.into(),
            payload: payload.into(),
            key: None,
        })
    }

    /// Sets the idempotency key: sending the same key and payload again is one signal.
    pub fn key(mut self, key: impl Into<String>) -> Signal {
        self.key = Some(key.into());
        self
    }

    /// The wait this signal is for.
    pub fn wait(&self) -> &str {
        &self.wait
    }
}

/// What [`PipelineEngine::signal`] takes: a [`Signal`], or the typed signal enum `pipeline!`
/// generates for a pipeline with waits (`PayoutSignal::Approval(approval)`).
pub trait IntoSignal {
    /// The signal; `Err` when the payload does not serialize.
    fn into_signal(self) -> Result<Signal, serde_json::Error>;
}

impl IntoSignal for Signal {
    fn into_signal(self) -> Result<Signal, serde_json::Error> {
        Ok(self)
    }
}

/// What [`PipelineEngine::signal`] did.
#[derive(Debug)]
pub struct SignalOutcome<O> {
    /// Whether the signal was stored, or was stored already.
    pub sent: SignalSent,
    /// The run, when the signal continued it here (it waited on this signal and nobody else
    /// held it). `None` when it will be consumed later: the wait has not begun yet, or the
    /// process that runs the run picks it up.
    pub run: Option<PipelineResult<O>>,
}

impl<P: Pipeline> PipelineEngine<P> {
    /// Sends `signal` to run `run_id`: checks that the run is one of this pipeline (of this
    /// shape: [`PipelineError::PipelineMismatch`], [`PipelineError::GraphChanged`]), that the
    /// pipeline has that wait, and that the payload is a value of its type, before anything is
    /// written; then stores it (durably, before anything else; once per idempotency
    /// key, and a different second payload for the same wait is an error that says so), then
    /// continues the run if it waits on this signal and no one else holds it. A signal for a wait
    /// that has not begun yet is kept and consumed when it begins.
    ///
    /// On a fleet (`PipelineEngine::fleet`, feature `postgres`), the transaction that stores the
    /// signal also makes the wait due and wakes the workers (`NOTIFY`); one of them continues the
    /// run, and `PipelineEngine::wait` returns its result (ended, or waiting again); `run` is
    /// `None`, as in one process when another engine holds the run.
    pub async fn signal(
        &self,
        run_id: &RunId,
        signal: impl IntoSignal,
    ) -> Result<SignalOutcome<P::Output>, PipelineError> {
        let signal = signal
            .into_signal()
            .map_err(|source| PipelineError::Decode {
                run_id: run_id.clone(),
                what: "signal (its payload does not serialize)".into(),
                source,
            })?;
        let checkpointer = self
            .checkpointer
            .as_ref()
            .ok_or_else(|| PipelineError::NoCheckpointer(run_id.clone()))?;
        let store_error = |e| PipelineError::from_store(run_id, e);
        // The run must be one of this pipeline, in this shape, before anything is written: a
        // signal stored for another pipeline's wait of the same name would be refused when it is
        // consumed, and then block the right one.
        let header = checkpointer
            .header(run_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| PipelineError::UnknownRun(run_id.clone()))?;
        check_header(&self.graph, &header)?;
        let graph = &self.graph.inner;
        let is_signal = |n: &&crate::graph::NodeDef| matches!(n.wait, Some(WaitDef::Signal(_)));
        let Some(node) = graph
            .nodes
            .iter()
            .filter(is_signal)
            .find(|n| *n.id == signal.wait)
        else {
            return Err(PipelineError::UnknownWait {
                run_id: run_id.clone(),
                wait: signal.wait,
                waits: graph
                    .nodes
                    .iter()
                    .filter(is_signal)
                    .map(|n| n.id.as_ref().to_owned())
                    .collect(),
            });
        };
        if let Err(source) = (node.codec.decode)(&signal.payload) {
            return Err(PipelineError::BadSignal {
                run_id: run_id.clone(),
                wait: signal.wait,
                type_name: node.codec.type_name,
                source,
            });
        }
        if checkpointer
            .waits(run_id)
            .await
            .map_err(store_error)?
            .cancelled
        {
            return Err(PipelineError::RunCancelled(run_id.clone()));
        }
        let record = SignalRecord {
            key: signal
                .key
                .unwrap_or_else(|| signal.payload.get().to_owned()),
            wait: signal.wait,
            payload: signal.payload,
            sent_at_ms: now_ms(),
        };
        let sent = checkpointer
            .send_signal(run_id, &record)
            .await
            .map_err(store_error)?;
        if self.is_fleet() {
            // Storing it made the wait due: a worker continues the run (`wait` returns it).
            return Ok(SignalOutcome { sent, run: None });
        }
        let waits = checkpointer.waits(run_id).await.map_err(store_error)?;
        if !waits.waiting.iter().any(|w| w.wait == record.wait) {
            return Ok(SignalOutcome { sent, run: None });
        }
        match self.resume(run_id).await {
            Ok(run) => Ok(SignalOutcome {
                sent,
                run: Some(run),
            }),
            // The holder reads the signals again before it stops waiting.
            Err(PipelineError::RunLocked(_)) => Ok(SignalOutcome { sent, run: None }),
            Err(e) => Err(e),
        }
    }

    /// Cancels run `run_id` wherever it is: the store marks it cancelled, so no signal continues
    /// it and no resume runs anything of it. A run that waits, or that nobody holds, ends
    /// [`RunStatus::Cancelled`](crate::RunStatus::Cancelled) here and is returned; a run another
    /// engine (another process) is running is ended by that engine, which reads the request
    /// while the run runs (within about a second), and `None` is returned. On a fleet
    /// (`PipelineEngine::fleet`, feature `postgres`), this is `PipelineEngine::cancel`, and it
    /// returns the ended run.
    pub async fn cancel_waiting(
        &self,
        run_id: &RunId,
    ) -> Result<Option<PipelineResult<P::Output>>, PipelineError> {
        #[cfg(feature = "postgres")]
        if self.fleet.is_some() {
            self.cancel(run_id).await?;
            // Nothing ran in this call: what had completed is restored, as in one process.
            let result = self.wait(run_id).await?;
            let completed = result.executed.indexes().collect();
            return Ok(Some(self.since(result, completed)));
        }
        let checkpointer = self
            .checkpointer
            .as_ref()
            .ok_or_else(|| PipelineError::NoCheckpointer(run_id.clone()))?;
        checkpointer
            .cancel_waits(run_id)
            .await
            .map_err(|e| PipelineError::from_store(run_id, e))?;
        match self.resume(run_id).await {
            Ok(result) => Ok(Some(result)),
            Err(PipelineError::RunLocked(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Continues every run of the checkpointer that waits on something due: a timer whose time
    /// came, or a signal whose timeout passed (which then fails, as any timed-out node). Runs
    /// another process holds are left to it. Returns the continued runs' results.
    pub async fn resume_due(&self) -> Result<Vec<PipelineResult<P::Output>>, PipelineError> {
        // Errors of the store as a whole name this id (a valid constant).
        let run_id = RunId::new("resume-due").unwrap_or_else(|_| RunId::generate());
        let checkpointer = self
            .checkpointer
            .as_ref()
            .ok_or_else(|| PipelineError::NoCheckpointer(run_id.clone()))?;
        let store_error = |e| PipelineError::from_store(&run_id, e);
        let now = self.clock.now_ms();
        let mut continued = Vec::new();
        for run in checkpointer.list_runs().await.map_err(store_error)? {
            let waits = checkpointer.waits(&run).await.map_err(store_error)?;
            if !waits
                .waiting
                .iter()
                .any(|w| w.deadline_ms.is_some_and(|d| d <= now))
            {
                continue;
            }
            match self.resume(&run).await {
                Ok(result) => continued.push(result),
                Err(PipelineError::RunLocked(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(continued)
    }

    /// Whether the engine runs its pipeline on a worker fleet.
    fn is_fleet(&self) -> bool {
        #[cfg(feature = "postgres")]
        return self.fleet.is_some();
        #[cfg(not(feature = "postgres"))]
        false
    }

    /// A run that ended `Waiting` is continued at once when a signal it waits on was stored while
    /// it still held the run (the sender then found it locked and left the signal to it).
    pub(super) async fn continue_if_signalled(
        &self,
        result: PipelineResult<P::Output>,
    ) -> Result<PipelineResult<P::Output>, PipelineError> {
        if result.status != RunStatus::Waiting {
            return Ok(result);
        }
        let Some(checkpointer) = &self.checkpointer else {
            return Ok(result);
        };
        let Ok(waits) = checkpointer.waits(&result.run_id).await else {
            return Ok(result);
        };
        let signalled = result
            .waiting
            .iter()
            .any(|w| waits.signal(&w.wait).is_some());
        match signalled {
            true => self.resume(&result.run_id).await,
            false => Ok(result),
        }
    }
}
