//! When a worker looks at the queue again: the time the next ready node waits for (a backoff, a
//! timer, a signal's timeout), and the `NOTIFY` that wakes the workers.

use deadpool_postgres::Transaction;

use crate::store::postgres::fleet::NOTIFY_READY;
use crate::store::{PostgresStore, StoreResult};

/// The claim statement's last column (see `claimer::CLAIM`), when it claimed fewer than `$3`:
/// the seconds until the earliest `not_before` of a ready row of the fingerprints `$2` that it
/// did not claim (`c`, `ic`), leaving out the limited nodes `$5` names (`fingerprint/node`): a
/// full limit frees by an execution's end or the next poll, not by time, so a worker must not
/// look again at once. Zero when a row it did not claim is due already (another worker holds it
/// locked). Read in the claim's own statement, it costs no round trip of its own (it was a
/// statement after each claim that left slots free: every node of a chain); each part is an
/// index scan by `not_before` that stops at its first row, and none runs when the claim filled.
macro_rules! next_due {
    () => {
        "CASE WHEN (SELECT count(*) FROM c) + (SELECT count(*) FROM ic) < $3 THEN \
         extract(epoch FROM least( \
            (SELECT min(x.not_before) FROM pipeline_fleet_nodes x WHERE x.state = 'ready' \
               AND x.not_before > now() AND x.not_before < 'infinity' \
               AND x.fingerprint = ANY($2) \
               AND NOT (x.fingerprint || '/' || x.node = ANY($5::text[]))), \
            (SELECT min(x.not_before) FROM pipeline_fleet_items x WHERE x.state = 'ready' \
               AND x.not_before > now() AND x.fingerprint = ANY($2) \
               AND NOT (x.fingerprint || '/' || x.node = ANY($5::text[]))), \
            (SELECT now() WHERE EXISTS (SELECT 1 FROM pipeline_fleet_nodes x \
               WHERE x.state = 'ready' AND x.not_before <= now() AND x.fingerprint = ANY($2) \
               AND NOT (x.fingerprint || '/' || x.node = ANY($5::text[])) \
               AND NOT EXISTS (SELECT 1 FROM c WHERE c.run_id = x.run_id AND c.node = x.node))), \
            (SELECT now() WHERE EXISTS (SELECT 1 FROM pipeline_fleet_items x \
               WHERE x.state = 'ready' AND x.not_before <= now() AND x.fingerprint = ANY($2) \
               AND NOT (x.fingerprint || '/' || x.node = ANY($5::text[])) \
               AND NOT EXISTS (SELECT 1 FROM ic WHERE ic.run_id = x.run_id \
                   AND ic.node = x.node AND ic.item = x.item)))) - now())::float8 END"
    };
}
pub(crate) use next_due;

/// Wakes the idle workers when `tx` commits: ready rows are there for them. The statement is
/// prepared once per connection (as text, each `NOTIFY` cost the server a parse and a round trip
/// of its own).
pub(crate) async fn notify_ready(store: &PostgresStore, tx: &Transaction<'_>) -> StoreResult<()> {
    let statement = store.prepared(tx, NOTIFY_READY).await?;
    tx.execute(&statement, &[])
        .await
        .map_err(store.error("write to"))?;
    Ok(())
}
