//! Schedules through the shipped command line (`schedule_subject`, whose `Ticks` pipeline fires
//! every second and notes each execution in a log): three schedulers killed with SIGKILL and
//! started again, over and over, fire each tick exactly once and lose none, in one process per
//! scheduler (a directory store) and on a fleet of three workers (PostgreSQL); a backfill starts
//! one run per tick, and a second one (or one after a kill) finds them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pipeline::RunStatus;
use pipeline::store::{RunState, Stores};

const SUBJECT: &str = env!("CARGO_BIN_EXE_schedule_subject");

/// How many seconds the kill tests last: `SCHEDULE_TICKS` (200 for the figure in the README),
/// 20 by default.
fn ticks() -> u64 {
    std::env::var("SCHEDULE_TICKS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(20)
}

/// A `schedule_subject` process with `args` after `--store STORE`, noting executions in `log`.
fn start(store: &str, args: &[&str], log: &Path, out: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .unwrap();
    Command::new(SUBJECT)
        .args(["--store", store])
        .args(args)
        .env("TICK_LOG", log)
        .env("RUST_LOG", "pipeline=warn")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("schedule_subject starts")
}

/// The tick log: how many times each tick's node executed.
fn executions(log: &Path) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        let tick = line.split_whitespace().next().unwrap_or_default();
        *seen.entry(tick.to_owned()).or_insert(0) += 1;
    }
    seen
}

/// Every run in `stores`: its tick (the run's input) and its state.
async fn runs_by_tick(stores: &Stores) -> BTreeMap<String, Vec<RunState>> {
    let mut runs: BTreeMap<String, Vec<RunState>> = BTreeMap::new();
    for id in stores.checkpointer.list_runs().await.unwrap() {
        let checkpoint = stores.checkpointer.load(&id).await.unwrap().unwrap();
        let inputs: serde_json::Value =
            serde_json::from_str(checkpoint.header.inputs.get()).unwrap();
        let tick = inputs["tick"].as_str().unwrap().to_owned();
        let view = stores.view(&id).await.unwrap().unwrap();
        runs.entry(tick).or_default().push(view.state);
    }
    runs
}

/// Three schedulers run `args` over `store` for `ticks()` seconds; every ~1.4 s one of them
/// (in turn) is killed with SIGKILL and started again at once. Then the last tick of the span
/// is given 20 s to end, the schedulers are stopped, and every tick from the fourth second
/// (the first ones may come before any scheduler is up) to the end of the span has exactly
/// one run, which completed, and its node executed.
async fn three_schedulers_under_kills(store: &str, stores: &Stores, args: &[&str], dir: &Path) {
    let log = dir.join("ticks.log");
    let out = |i: usize| dir.join(format!("scheduler-{i}.out"));
    let mut schedulers: Vec<Child> = (0..3).map(|i| start(store, args, &log, &out(i))).collect();
    let began = Instant::now();
    let span = Duration::from_secs(ticks());
    let mut kills = 0;
    while began.elapsed() < span {
        // Pacing the kills, not waiting for something to happen.
        std::thread::sleep(Duration::from_millis(1_400));
        let victim = kills % 3;
        schedulers[victim].kill().unwrap();
        schedulers[victim].wait().unwrap();
        schedulers[victim] = start(store, args, &log, &out(victim));
        kills += 1;
    }
    let every_second = pipeline::schedule::Cron::new("* * * * * *", "UTC").unwrap();
    let end = now_ms();
    let first = end - span.as_millis() as i64 + 4_000;
    let wanted: Vec<String> = every_second.between(first, end).map(|t| t.utc()).collect();
    // Each wanted tick's run ends: the survivors resume the runs of killed schedulers.
    let deadline = Instant::now() + Duration::from_secs(20);
    let runs = loop {
        let runs = runs_by_tick(stores).await;
        let ended = wanted.iter().all(|tick| {
            runs.get(tick)
                .is_some_and(|states| states.contains(&RunState::Ended(RunStatus::Completed)))
        });
        if ended || Instant::now() > deadline {
            break runs;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for mut scheduler in schedulers {
        scheduler.kill().unwrap();
        scheduler.wait().unwrap();
    }
    let executed = executions(&log);
    for tick in &wanted {
        let states = runs.get(tick).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            states,
            [RunState::Ended(RunStatus::Completed)],
            "tick {tick}: one completed run ({kills} kills; logs in {})",
            dir.display()
        );
        assert!(executed.get(tick).is_some_and(|&n| n >= 1), "{tick} ran");
    }
    // No tick outside the span has more than one run either.
    for (tick, states) in &runs {
        assert_eq!(states.len(), 1, "tick {tick} has {} runs", states.len());
    }
    eprintln!(
        "{} ticks, {kills} kills: each tick one run, {} executions of {} ticks' nodes",
        wanted.len(),
        executed.values().sum::<usize>(),
        executed.len()
    );
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_schedulers_killed_again_and_again_fire_each_tick_once_in_one_process_each() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("runs");
    std::fs::create_dir(&store).unwrap();
    let stores = Stores::open(&store).unwrap();
    let args = ["scheduler", "--pipeline", "Ticks"];
    let store = store.to_str().unwrap().to_owned();
    three_schedulers_under_kills(&store, &stores, &args, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_postgres,
    ignore = "needs PostgreSQL, which did not answer when the tests were built: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)]
async fn three_workers_killed_again_and_again_fire_each_tick_once_on_a_fleet() {
    let db = tests::postgres::TestDatabase::create();
    let store = pipeline::store::PostgresStore::open(&db.url).unwrap();
    store.migrate().await.unwrap();
    let stores = Stores {
        checkpointer: std::sync::Arc::new(store.clone()),
        audit: std::sync::Arc::new(store),
    };
    let dir = tempfile::tempdir().unwrap();
    let args = ["worker", "--lease", "2", "--heartbeat", "0.5"];
    three_schedulers_under_kills(&db.url, &stores, &args, dir.path()).await;
}

fn run_cli(store: &Path, args: &[&str], log: &Path) -> (i32, String) {
    let output = Command::new(SUBJECT)
        .arg("--store")
        .arg(store)
        .args(args)
        .env("TICK_LOG", log)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn a_backfill_starts_one_run_per_tick_and_a_second_one_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = (dir.path().join("runs"), dir.path().join("ticks.log"));
    std::fs::create_dir(&store).unwrap();
    let nightly = [
        "backfill",
        "Ticks",
        "--schedule",
        "nightly",
        "--from",
        "2026-03-27",
        "--to",
        "2026-03-31",
    ];
    let (code, first) = run_cli(&store, &nightly, &log);
    assert_eq!(code, 0, "{first}");
    assert!(
        first.contains("backfill of 5 ticks: 5 completed, 0 not completed"),
        "{first}"
    );
    // 03:00 in Paris, on the night the clocks go forward too (2026-03-29, UTC+2 from then).
    let executed = executions(&log);
    let ticks: Vec<&str> = executed.keys().map(String::as_str).collect();
    assert_eq!(
        ticks,
        [
            "2026-03-27T02:00:00Z",
            "2026-03-28T02:00:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-30T01:00:00Z",
            "2026-03-31T01:00:00Z"
        ]
    );
    let (code, second) = run_cli(&store, &nightly, &log);
    assert_eq!(code, 0, "{second}");
    assert_eq!(second.matches("found run").count(), 5, "{second}");
    assert_eq!(
        executions(&log).values().sum::<usize>(),
        5,
        "nothing ran again"
    );
    // A pipeline with two schedules needs one named; a bad date says what.
    let (code, text) = run_cli(
        &store,
        &[
            "backfill",
            "Ticks",
            "--from",
            "2026-03-27",
            "--to",
            "2026-03-28",
        ],
        &log,
    );
    assert_ne!(code, 0);
    assert!(
        text.contains("has schedules each_second, nightly: name one"),
        "{text}"
    );
    let bad = [
        "backfill",
        "Ticks",
        "--schedule",
        "nightly",
        "--from",
        "March",
        "--to",
        "2026-03-28",
    ];
    let (code, text) = run_cli(&store, &bad, &log);
    assert_ne!(code, 0);
    assert!(text.contains("`March`: not a date"), "{text}");
    // Three days of a schedule of every second is refused before anything starts.
    let huge = [
        "backfill",
        "Ticks",
        "--schedule",
        "each_second",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-03",
    ];
    let (code, text) = run_cli(&store, &huge, &log);
    assert_ne!(code, 0);
    assert!(text.contains("more than 100000 ticks"), "{text}");
    assert_eq!(
        executions(&log).values().sum::<usize>(),
        5,
        "nothing more ran"
    );
}

#[test]
fn a_backfill_killed_midway_is_resumed_by_running_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = (dir.path().join("runs"), dir.path().join("ticks.log"));
    std::fs::create_dir(&store).unwrap();
    // 120 ticks of a second, 2 at a time, each node taking 20 ms: killed once 10 ran.
    let range = [
        "backfill",
        "Ticks",
        "--schedule",
        "each_second",
        "--from",
        "2026-12-01T00:00:00Z",
        "--to",
        "2026-12-01T00:01:59Z",
        "--parallel",
        "2",
    ];
    let mut first = Command::new(SUBJECT)
        .arg("--store")
        .arg(&store)
        .args(range)
        .env("TICK_LOG", &log)
        .env("TICK_SLEEP_MS", "20")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while executions(&log).len() < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let before = executions(&log).len();
    assert!(
        (10..120).contains(&before),
        "{before} ticks ran before the kill"
    );
    let (code, again) = run_cli(&store, &range, &log);
    assert_eq!(code, 0, "{again}");
    assert!(
        again.contains("backfill of 120 ticks: 120 completed"),
        "{again}"
    );
    let found = again.matches("found run").count();
    assert!(
        found >= before,
        "{found} runs found of the {before} started before the kill"
    );
    let executed = executions(&log);
    assert_eq!(executed.len(), 120);
    // A node killed as it ran runs again when its run is resumed; no other runs twice.
    let twice = executed.values().filter(|&&n| n > 1).count();
    assert!(twice <= 2, "{twice} ticks ran twice");
    let stores = Stores::open(&store).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let runs = runtime.block_on(runs_by_tick(&stores));
    assert_eq!(runs.len(), 120);
    assert!(
        runs.values().all(|states| states.len() == 1),
        "one run per tick"
    );
}
