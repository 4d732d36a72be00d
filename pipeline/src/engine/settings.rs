//! [`EngineSettings`]: an engine's options as one value, for code that builds engines for
//! pipelines it knows only at run time (the command line builds one per command from them).

use std::time::Duration;

use super::PipelineEngine;
use crate::data::RoundTrip;
use crate::definition::Pipeline;
use crate::node::OnError;
use crate::store::AuditDetail;

/// The options of a [`PipelineEngine`] that do not name a store, as a value: each one set here
/// overrides the engine's default when applied with [`PipelineEngine::settings`]; one left unset
/// keeps it.
///
/// ```
/// use std::time::Duration;
/// use pipeline::{EngineSettings, OnError};
///
/// let settings = EngineSettings::new()
///     .max_concurrency(8)
///     .on_error(OnError::SkipDownstream)
///     .wait_in_process(Duration::ZERO);
/// assert_eq!(settings.get_max_concurrency(), Some(8));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineSettings {
    on_error: Option<OnError>,
    max_concurrency: Option<usize>,
    wait_in_process: Option<Duration>,
    round_trip: Option<RoundTrip>,
    audit_detail: Option<AuditDetail>,
}

impl EngineSettings {
    /// No option set: applied, it changes nothing.
    pub fn new() -> EngineSettings {
        EngineSettings::default()
    }

    /// See [`PipelineEngine::on_error`].
    pub fn on_error(mut self, on_error: OnError) -> EngineSettings {
        self.on_error = Some(on_error);
        self
    }

    /// See [`PipelineEngine::max_concurrency`].
    pub fn max_concurrency(mut self, n: usize) -> EngineSettings {
        self.max_concurrency = Some(n.max(1));
        self
    }

    /// See [`PipelineEngine::wait_in_process`].
    pub fn wait_in_process(mut self, threshold: Duration) -> EngineSettings {
        self.wait_in_process = Some(threshold);
        self
    }

    /// See [`PipelineEngine::round_trip`].
    pub fn round_trip(mut self, round_trip: RoundTrip) -> EngineSettings {
        self.round_trip = Some(round_trip);
        self
    }

    /// See [`PipelineEngine::audit_detail`].
    pub fn audit_detail(mut self, detail: AuditDetail) -> EngineSettings {
        self.audit_detail = Some(detail);
        self
    }

    /// The concurrency cap, if set.
    pub fn get_max_concurrency(&self) -> Option<usize> {
        self.max_concurrency
    }

    /// The threshold under which waits are awaited in the process, if set.
    pub fn get_wait_in_process(&self) -> Option<Duration> {
        self.wait_in_process
    }
}

impl<P: Pipeline> PipelineEngine<P> {
    /// Applies every option `settings` sets.
    pub fn settings(mut self, settings: &EngineSettings) -> Self {
        if let Some(on_error) = settings.on_error {
            self = self.on_error(on_error);
        }
        if let Some(n) = settings.max_concurrency {
            self = self.max_concurrency(n);
        }
        if let Some(threshold) = settings.wait_in_process {
            self = self.wait_in_process(threshold);
        }
        if let Some(round_trip) = settings.round_trip {
            self = self.round_trip(round_trip);
        }
        if let Some(detail) = settings.audit_detail {
            self = self.audit_detail(detail);
        }
        self
    }
}
