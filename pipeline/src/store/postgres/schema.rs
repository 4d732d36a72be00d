//! The store's schema: migrations embedded in the build, applied in order under an advisory
//! lock (so processes starting together migrate once) and recorded in `pipeline_schema`. A
//! database migrated by a newer build is refused, never written with an older idea of it.

use deadpool_postgres::Object;

use super::driver::DriverError;
use crate::store::error::{StoreError, StoreResult};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "store",
        sql: include_str!("migrations/0001_store.sql"),
    },
    Migration {
        version: 2,
        name: "fleet",
        sql: include_str!("migrations/0002_fleet.sql"),
    },
    Migration {
        version: 3,
        name: "items",
        sql: include_str!("migrations/0003_items.sql"),
    },
    Migration {
        version: 4,
        name: "waits",
        sql: include_str!("migrations/0004_waits.sql"),
    },
    Migration {
        version: 5,
        name: "fleet waits",
        sql: include_str!("migrations/0005_fleet_waits.sql"),
    },
    Migration {
        version: 6,
        name: "item digests",
        sql: include_str!("migrations/0006_item_digests.sql"),
    },
    Migration {
        version: 7,
        name: "fleet items",
        sql: include_str!("migrations/0007_fleet_items.sql"),
    },
    Migration {
        version: 8,
        name: "attempts across starts",
        sql: include_str!("migrations/0008_attempts_across_starts.sql"),
    },
    Migration {
        version: 9,
        name: "idempotency keys",
        sql: include_str!("migrations/0009_idempotency_keys.sql"),
    },
    Migration {
        version: 10,
        name: "limits",
        sql: include_str!("migrations/0010_limits.sql"),
    },
    Migration {
        version: 11,
        name: "priorities and fairness",
        sql: include_str!("migrations/0011_priorities.sql"),
    },
    Migration {
        version: 12,
        name: "result cache",
        sql: include_str!("migrations/0012_cache.sql"),
    },
];

/// The schema version this build creates and reads.
pub const SCHEMA_VERSION: i64 = 12;

const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].version == SCHEMA_VERSION);

/// Brings the database to [`SCHEMA_VERSION`] in one transaction.
pub(super) async fn migrate(client: &mut Object, target: &str) -> StoreResult<()> {
    let error = |op: &'static str| {
        move |source: tokio_postgres::Error| StoreError::Postgres {
            op,
            target: target.to_owned(),
            source: DriverError::boxed(source),
        }
    };
    let tx = client.transaction().await.map_err(error("migrate"))?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('pipeline:schema', 0));
         CREATE TABLE IF NOT EXISTS pipeline_schema (
             version bigint PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .await
    .map_err(error("migrate"))?;
    let row = tx
        .query_one("SELECT coalesce(max(version), 0) FROM pipeline_schema", &[])
        .await
        .map_err(error("read the schema version of"))?;
    let current: i64 = row.get(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            target: target.to_owned(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(migration.sql)
            .await
            .map_err(error("migrate"))?;
        tx.execute(
            "INSERT INTO pipeline_schema (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(error("migrate"))?;
    }
    tx.commit().await.map_err(error("migrate"))
}
