//! Ctrl-C during `run` or `resume`: the first cancels the run cleanly (the nodes in flight are
//! stopped, what completed stays checkpointed, and the run's id and how to resume it are printed);
//! the second exits at once.

use crate::engine::CancelHandle;
use crate::run_id::RunId;

/// A handle that the first Ctrl-C cancels; a second Ctrl-C exits with status 130.
pub(super) fn cancel_on_ctrl_c(run_id: &RunId) -> CancelHandle {
    let cancel = CancelHandle::new();
    let handle = cancel.clone();
    let run_id = run_id.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        let program = super::output::again();
        // On a terminal, over the status line.
        let clear = match std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            true => "\r\x1b[2K",
            false => "",
        };
        eprintln!(
            "{clear}cancelling run {run_id} (Ctrl-C again to exit at once); resume it with: \
             {program} resume {run_id}"
        );
        handle.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
    cancel
}
