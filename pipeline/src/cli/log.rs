//! What a command logs and exports: the long-running commands' (`worker`, `scheduler`) log on
//! stderr, and, in a build with the feature `otel` where an OTLP endpoint is set, every
//! command's traces.

use super::error::CliError;
use crate::trace::TraceParent;

/// What the process logs and exports, kept for the command's life: dropping it sends the spans
/// not yet sent.
pub(crate) struct Telemetry {
    #[cfg(feature = "otel")]
    _otel: Option<crate::otel::OtelGuard>,
}

/// Installs this process's subscriber, unless a program that embeds the CLI installed its own:
/// - the [`NodeLogs`](crate::trace::NodeLogs) layer: each node attempt's `INFO` and higher events
///   are kept in its audit entry;
/// - with `stderr`, the `tracing` events of a worker or a scheduler on stderr (claims lost,
///   commits refused, connection errors, ticks fired, runs ended): `pipeline=info` unless
///   `RUST_LOG` names other targets and levels (`pipeline=debug`, `pipeline::fleet=warn`);
/// - in a build with `otel`, when `OTEL_EXPORTER_OTLP_ENDPOINT` or
///   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and `OTEL_SDK_DISABLED` is not `true`), the
///   export of info-level spans (the engine's and the nodes' own) as service `service`.
pub(crate) fn install(stderr: bool, service: &str) -> Telemetry {
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_target("pipeline", LevelFilter::INFO));
    let log = stderr.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_filter(filter)
    });
    #[cfg(feature = "otel")]
    let otel = export(service);
    #[cfg(feature = "otel")]
    let traces = otel
        .as_ref()
        .map(|otel| otel.layer().with_filter(LevelFilter::INFO));
    #[cfg(not(feature = "otel"))]
    let traces: Option<tracing_subscriber::layer::Identity> = {
        let _ = service;
        None
    };
    // Node logs: the events of each node's attempt, kept in its audit entry.
    let node_logs = crate::trace::NodeLogs.with_filter(LevelFilter::INFO);
    let subscriber = tracing_subscriber::registry()
        .with(log)
        .with(traces)
        .with(node_logs);
    let _ = tracing::subscriber::set_global_default(subscriber);
    Telemetry {
        #[cfg(feature = "otel")]
        _otel: otel,
    }
}

/// The OTLP export, when the environment asks for one; an export that cannot be set up is
/// said on stderr, and the command goes on without it.
#[cfg(feature = "otel")]
fn export(service: &str) -> Option<crate::otel::OtelGuard> {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    if disabled
        || !(set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    {
        return None;
    }
    let otel =
        crate::otel::Otel::new(service).attribute("process.pid", i64::from(std::process::id()));
    match otel.install() {
        Ok(guard) => Some(guard),
        Err(e) => {
            eprintln!("warning: traces are not exported: {e}");
            None
        }
    }
}

/// The caller's trace, from `TRACEPARENT` (a W3C `traceparent`), for `run` and `submit`.
pub(crate) fn caller_trace() -> Result<Option<TraceParent>, CliError> {
    match std::env::var("TRACEPARENT") {
        Ok(text) if !text.trim().is_empty() => {
            text.parse()
                .map(Some)
                .map_err(
                    |e: crate::trace::TraceParentError| CliError::InvalidOption {
                        option: "TRACEPARENT".to_owned(),
                        reason: e.to_string(),
                    },
                )
        }
        _ => Ok(None),
    }
}
