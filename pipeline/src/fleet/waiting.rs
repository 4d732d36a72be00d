//! What waits for the fleet's workers: how many nodes and items are ready but not claimed (the
//! queue's depth), and which runs wait for a worker that does not exist (no worker seen lately
//! serves their pipeline at the fingerprint they were submitted with: workers of another build
//! leave their nodes alone).

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

/// Counts the queue's depth into `pipeline_fleet_ready_nodes` (at a worker's heartbeat), on a
/// task of its own: the worker's loop never waits for it. At most one count a second in a
/// process (every worker of the process counts the same queue). A failed count is logged and
/// leaves the gauge as it was.
pub(crate) fn count_ready(store: &PostgresStore) {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    {
        let mut last = crate::sync::lock(&LAST);
        let now = std::time::Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < std::time::Duration::from_secs(1)) {
            return;
        }
        *last = Some(now);
    }
    let store = store.clone();
    tokio::spawn(async move {
        match ready_count(&store).await {
            Ok(ready) => crate::metrics::fleet_ready(ready),
            Err(e) => tracing::debug!(error = %e, "cannot count the ready nodes"),
        }
    });
}

/// How many node rows and items of every run are ready and due but not claimed (the queue's
/// depth). Two counts over the partial indexes on `state`.
async fn ready_count(store: &PostgresStore) -> StoreResult<i64> {
    let client = store.client().await?;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM pipeline_fleet_nodes \
                       WHERE state = 'ready' AND not_before <= now()) \
                  + (SELECT count(*) FROM pipeline_fleet_items \
                       WHERE state = 'ready' AND not_before <= now())",
            &[],
        )
        .await
        .map_err(store.error("read"))?;
    Ok(row.get::<_, i64>(0))
}

/// The pipelines of `names` with running runs submitted at a fingerprint other than
/// `fingerprints` (another build's), with that fingerprint; none when the store cannot say.
pub(crate) async fn other_builds(
    store: &PostgresStore,
    names: &[String],
    fingerprints: &[String],
) -> Vec<(String, String)> {
    let Ok(client) = store.client().await else {
        return Vec::new();
    };
    let rows = client
        .query(
            "SELECT DISTINCT pipeline, fingerprint FROM pipeline_fleet_runs \
             WHERE state = 'running' AND pipeline = ANY($1) AND fingerprint <> ALL($2)",
            &[&names, &fingerprints],
        )
        .await;
    rows.iter()
        .flatten()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}
