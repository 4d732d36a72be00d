//! A PostgreSQL database of its own for each test: created with a random name on the local
//! server, dropped when the test ends, so tests never see each other's rows.
//!
//! The server is `PIPELINE_TEST_POSTGRES` (a URL of a database the tests may create databases
//! from), by default `postgres://postgres@127.0.0.1:5432/postgres`. A test that needs it is
//! marked `#[cfg_attr(no_postgres, ignore = "...")]`: when no server answered as the tests were
//! built (outside CI), it is reported ignored with the command that starts one; otherwise it
//! runs, and fails when the server does not answer.

use std::time::Duration;

use tokio_postgres::NoTls;

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database created for one test and dropped with this value.
pub struct TestDatabase {
    name: String,
    admin: String,
    /// The URL of the test's database.
    pub url: String,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("url", &self.url)
            .finish()
    }
}

/// Runs `work` to completion on a runtime of its own, on a thread of its own, so it can be
/// called from anywhere (a `Drop`, a sync helper inside an async test).
fn on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the test database")
            .block_on(work)
    })
    .join()
    .expect("the test database thread does not panic")
}

async fn admin_client(admin: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = admin.parse()?;
    config.connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

impl TestDatabase {
    /// A fresh database. Panics, saying how to start it, when the server does not answer: a
    /// test that needs PostgreSQL is built `#[ignore]`d when none answered then (see
    /// `tests/build.rs`), so one that runs expects it.
    pub fn create() -> TestDatabase {
        let admin = std::env::var("PIPELINE_TEST_POSTGRES").unwrap_or(DEFAULT_SERVER.to_owned());
        let name = format!(
            "pipeline_test_{}_{:016x}",
            std::process::id(),
            fastrand::u64(..)
        );
        let (admin_url, create) = (admin.clone(), format!("CREATE DATABASE {name}"));
        let created = on_own_runtime(async move {
            let client = admin_client(&admin_url).await?;
            drop_orphans(&client).await?;
            client.batch_execute(&create).await
        });
        if let Err(e) = created {
            panic!(
                "this test needs PostgreSQL at {admin}, which does not answer ({e}); start it \
                 with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
            );
        }
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("PIPELINE_TEST_POSTGRES must be a URL ending in /DATABASE: {admin}"),
        };
        TestDatabase { name, admin, url }
    }

    /// The one number `sql` (a `SELECT count(*) ...`) reads from this database.
    pub fn count(&self, sql: &str) -> i64 {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        on_own_runtime(async move {
            let client = admin_client(&url)
                .await
                .expect("connect to the test database");
            let row = client.query_one(&sql, &[]).await.expect("the count query");
            row.get::<_, i64>(0)
        })
    }

    /// How many deadlocks the server detected in this database (`pg_stat_database`), once every
    /// other connection to it has closed (see [`TestDatabase::statistic`]).
    pub async fn deadlocks(&self) -> i64 {
        self.statistic("deadlocks").await
    }

    /// Column `column` of this database's row of `pg_stat_database` (`xact_commit`,
    /// `tup_inserted`, ...), read from the server's own database once every connection to this
    /// one has closed: a backend's statistics are flushed as it exits (before it leaves
    /// `pg_stat_activity`), so by then the count is final, and reading it adds nothing to it.
    /// Panics when connections are still open after 30 s.
    pub async fn statistic(&self, column: &str) -> i64 {
        let client = admin_client(&self.admin)
            .await
            .expect("connect to the server");
        let open = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1";
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let open: i64 = client.query_one(open, &[&self.name]).await.unwrap().get(0);
            if open == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{open} connections to the test database are still open after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        client
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .await
            .unwrap();
        let sql = format!("SELECT {column}::int8 FROM pg_stat_database WHERE datname = $1");
        client.query_one(&sql, &[&self.name]).await.unwrap().get(0)
    }
}

/// Drops the databases of test processes that died before they could drop their own (killed,
/// or stopped at a timeout): their names carry the process id, and on Linux `/proc` says whether
/// it still runs.
async fn drop_orphans(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    if !std::path::Path::new("/proc/self").exists() {
        return Ok(());
    }
    let rows = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'pipeline\\_test\\_%'",
            &[],
        )
        .await?;
    for row in rows {
        let name: String = row.get(0);
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
            // Another test process may be dropping it too: either way it goes.
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
    Ok(())
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, drop) = (
            self.admin.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        let dropped = on_own_runtime(async move {
            let client = admin_client(&admin).await?;
            client.batch_execute(&drop).await
        });
        if let Err(e) = dropped {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}
