//! The log of the long-running commands (`worker`, `scheduler`) on stderr.

/// Logs the `tracing` events of a worker or a scheduler on stderr (claims lost, commits refused,
/// connection errors, ticks fired, runs ended): `pipeline=info` unless `RUST_LOG` names other targets and levels
/// (`pipeline=debug`, `pipeline::fleet=warn`). A program that embeds the CLI and installed its
/// own subscriber keeps it.
pub(crate) fn to_stderr() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_target("pipeline", LevelFilter::INFO));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .finish()
        .with(filter);
    let _ = tracing::subscriber::set_global_default(subscriber);
}
