//! Which runs of a fleet wait for a worker that does not exist: no worker seen lately serves
//! their pipeline at the fingerprint they were submitted with (workers of another build leave
//! their nodes alone).

use std::collections::BTreeMap;

use crate::run_id::RunId;
use crate::store::{PostgresStore, StoreResult};

/// How long a worker counts as alive after it last announced itself (it does so on every
/// heartbeat).
const ALIVE: &str = "2 minutes";

/// The running fleet runs that no live worker can run, each with why: no worker is running, or
/// the workers serve the pipeline at other fingerprints (another build).
///
/// ```no_run
/// # async fn demo(store: pipeline::store::PostgresStore) -> Result<(), pipeline::StoreError> {
/// for (run_id, why) in pipeline::fleet::unserved_runs(&store).await? {
///     println!("{run_id}: {why}");
/// }
/// # Ok(()) }
/// ```
pub async fn unserved_runs(store: &PostgresStore) -> StoreResult<BTreeMap<RunId, String>> {
    let client = store.client().await?;
    let rows = client
        .query(
            &format!(
                "SELECT r.run_id, r.pipeline, r.fingerprint, \
                 (SELECT array_agg(DISTINCT f) FROM pipeline_fleet_workers w, \
                  unnest(w.fingerprints) WITH ORDINALITY AS f (f, i) \
                  WHERE w.last_seen > now() - interval '{ALIVE}' \
                    AND w.pipelines[i] = r.pipeline) \
                 FROM pipeline_fleet_runs r WHERE r.state = 'running' AND NOT EXISTS ( \
                   SELECT 1 FROM pipeline_fleet_workers w \
                   WHERE w.last_seen > now() - interval '{ALIVE}' \
                     AND r.fingerprint = ANY(w.fingerprints))"
            ),
            &[],
        )
        .await
        .map_err(store.error("read"))?;
    let mut unserved = BTreeMap::new();
    for row in rows {
        let Ok(run_id) = RunId::new(row.get::<_, String>(0)) else {
            continue;
        };
        let (pipeline, fingerprint): (String, String) = (row.get(1), row.get(2));
        let others: Option<Vec<String>> = row.get(3);
        let why = match others.filter(|o| !o.is_empty()) {
            None => format!("no worker serving `{pipeline}` is running"),
            Some(others) => format!(
                "waits for a worker of its build: submitted at fingerprint {fingerprint}, the \
                 workers serve `{pipeline}` at {}",
                others.join(", ")
            ),
        };
        unserved.insert(run_id, why);
    }
    Ok(unserved)
}
