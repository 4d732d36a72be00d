//! The run viewer in a real browser: Debian's `chromium`, headless, driven through
//! `chromedriver` (`.ci/run` installs both). One test, one browser: the run list's statuses (and
//! a run made meanwhile by another engine appearing in it), a run page's colours (asserted on the
//! DOM), a failed node's error in the panel, a node output holding `<script>` shown as text, an
//! action refused without the token, a resume from the page that the page follows live to
//! `completed`, and a signal sent from a waiting run's page. It saves a screenshot of a run page.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use pipeline::web::Viewer;
use serde_json::json;
use tests::web::{SCRIPT, make_runs};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Kills chromedriver (and so its browser) when the test ends, even by a panic.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts chromedriver and connects a headless chromium session to it.
async fn browser(profile: &std::path::Path) -> (Driver, Client) {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "the browser tests need Debian's chromium and chromium-driver: \
         apt-get install -y chromium chromium-driver (.ci/run installs them)"
    );
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1200,800",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    // chromedriver listens once it has started; try until it answers (bounded).
    let mut last = None;
    for _ in 0..200 {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot connect to chromedriver: {last:?}");
}

/// Evaluates `script` in the page until it returns `true` (the page polls every second).
/// `viewer` serving on a port of its own on 127.0.0.1; its base URL.
async fn serve(viewer: Viewer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(viewer.serve(listener));
    base
}

async fn until(client: &Client, script: &str, what: &str) {
    for _ in 0..300 {
        if eval(client, script).await == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Opens `url`.
async fn open(client: &Client, url: &str) {
    client
        .goto(url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
}

/// Clicks the first element `css` selects.
async fn click(client: &Client, css: &str) {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"));
    element
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// What `script` returns in the page.
async fn eval(client: &Client, script: &str) -> serde_json::Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_chromium,
    ignore = "needs Debian's chromium and chromium-driver, not installed when the tests were built: apt-get install -y chromium chromium-driver"
)]
async fn the_viewer_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = make_runs(dir.path()).await;
    let viewer = Viewer::new(runs.stores.clone());
    let token = viewer.token().to_owned();
    let base = serve(viewer).await;
    let (_driver, client) = browser(&dir.path().join("profile")).await;

    // The run list: each run with its status.
    open(&client, &format!("{base}/")).await;
    for (id, status) in [
        (&runs.completed, "completed"),
        (&runs.failed, "failed"),
        (&runs.interrupted, "interrupted"),
    ] {
        let row = client
            .find(Locator::Css(&format!("tr[data-run=\"{id}\"] .badge")))
            .await
            .expect("a row per run");
        assert_eq!(row.text().await.expect("text"), status);
    }

    // Durations: an interrupted run's is "at least" its recorded activity (nothing ran it since).
    let took = eval(
        &client,
        &format!(
            "return document.querySelector('tr[data-run=\"{}\"] td:nth-child(5)').textContent",
            runs.interrupted
        ),
    )
    .await;
    assert!(
        took.as_str().unwrap_or_default().starts_with("≥ "),
        "{took}"
    );

    // A run made meanwhile by another engine shows up without a reload by hand.
    let engine = pipeline::PipelineEngine::new(tests::web::Viewed).stores(runs.stores.clone());
    let inputs = tests::web::ViewedInputs {
        path: dir.path().join("input.txt").display().to_string(),
    };
    let new = engine.run(inputs).await.expect("run").run_id;
    let shown = format!(
        "const row = document.querySelector('tr[data-run=\"{new}\"]'); \
         return row !== null && row.dataset.status === 'completed'"
    );
    until(&client, &shown, "the new run in the list").await;

    // A running run's duration counts up on its page (its held node hangs until cancelled).
    let running = tests::web::running_run(&runs.stores, dir.path()).await;
    open(&client, &format!("{base}/runs/{running}")).await;
    let first = eval(
        &client,
        "return document.getElementById('took').textContent",
    )
    .await;
    until(
        &client,
        &format!("return document.getElementById('took').textContent !== {first}"),
        "the running run's duration to count up",
    )
    .await;

    // A run page colours each node by its status.
    open(&client, &format!("{base}/runs/{}", runs.interrupted)).await;
    let classes = eval(&client, "return [...document.querySelectorAll('#dag .node')].map(n => n.dataset.node + ' ' + n.getAttribute('class'))").await;
    assert_eq!(
        classes,
        json!(["text node s-completed", "held node s-no_outcome"])
    );

    // A node output holding <script> is shown as text, and never runs.
    open(&client, &format!("{base}/runs/{}", runs.completed)).await;
    click(&client, "#dag .node[data-node=\"html\"]").await;
    until(
        &client,
        "return document.querySelectorAll('#panel-body pre').length == 2",
        "the panel",
    )
    .await;
    let output = eval(
        &client,
        "return document.querySelectorAll('#panel-body pre')[1].textContent",
    )
    .await;
    assert_eq!(output, json!(format!("\"{SCRIPT}HELLO\"")));
    let pwned = eval(&client, "return window.pwned === undefined && document.querySelectorAll('#panel script').length == 0").await;
    assert_eq!(
        pwned,
        json!(true),
        "the output's script ran or was inserted as markup"
    );

    // A failed run says why at the top of its page, before any click; the node's name there
    // opens its panel, which has the error too.
    open(&client, &format!("{base}/runs/{}", runs.failed)).await;
    let first = eval(
        &client,
        "const f = document.querySelector('#glance .failure'); \
         return f === null ? null : [f.querySelector('button').textContent, f.querySelector('pre').textContent]",
    )
    .await;
    assert!(
        first[1]
            .as_str()
            .unwrap_or_default()
            .contains("No such file"),
        "the error at the top: {first}"
    );
    let failed_node = first[0].as_str().unwrap_or_default().to_owned();
    click(&client, "#glance .failure button").await;
    until(
        &client,
        &format!(
            "return document.getElementById('panel-title').textContent.startsWith({failed_node:?})"
        ),
        "the failed node's panel",
    )
    .await;
    click(&client, "#dag .node.s-failed").await;
    until(
        &client,
        "return document.querySelector('#panel-body .attempt-error') !== null",
        "the error",
    )
    .await;
    let error = eval(
        &client,
        "return document.querySelector('#panel-body .attempt-error').textContent",
    )
    .await;
    assert!(
        error.as_str().unwrap_or_default().contains("No such file"),
        "{error}"
    );
    let shot = client.screenshot().await.expect("screenshot");
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer-run.png");
    std::fs::write(&target, &shot).expect("save the screenshot");

    // Without the token (no cookie yet), the page's resume is refused.
    click(&client, "button[data-action=\"resume\"]").await;
    until(
        &client,
        "return document.getElementById('action-result').textContent.startsWith('refused')",
        "the refusal",
    )
    .await;
    let refused = eval(
        &client,
        "return document.getElementById('action-result').textContent",
    )
    .await;
    assert!(
        refused.as_str().unwrap_or_default().contains("token"),
        "{refused}"
    );

    // With it (the URL `serve` prints), resume completes the run and the page follows it live.
    runs.fix();
    open(
        &client,
        &format!("{base}/runs/{}?token={token}", runs.failed),
    )
    .await;
    click(&client, "button[data-action=\"resume\"]").await;
    until(
        &client,
        "return document.getElementById('run-status').textContent == 'completed'",
        "the run to complete",
    )
    .await;
    let colours = eval(&client, "return [...document.querySelectorAll('#dag .node')].every(n => n.classList.contains('s-completed'))").await;
    assert_eq!(colours, json!(true));

    // A node restored from the cache: its own colour, and its panel links to the run that
    // computed its output.
    let (computed, restored) = cached_runs(&runs.stores).await;
    open(&client, &format!("{base}/runs/{restored}")).await;
    let fills = eval(
        &client,
        "const fill = (s) => getComputedStyle(document.querySelector('#dag .node.' + s + ' rect')).fill; \
         return [fill('s-cached'), fill('s-completed')]",
    )
    .await;
    assert_ne!(
        fills[0], fills[1],
        "cached and completed look alike: {fills}"
    );
    click(&client, "#dag .node.s-cached").await;
    until(
        &client,
        "return document.querySelector('#panel-body .cached-from a') !== null",
        "the source run in the panel",
    )
    .await;
    let link = eval(
        &client,
        "const a = document.querySelector('#panel-body .cached-from a'); \
         return [a.textContent, a.getAttribute('href')]",
    )
    .await;
    assert_eq!(
        link,
        json!([computed.to_string(), format!("/runs/{computed}")])
    );

    // A graph wider than the page fits its width (zoomed out, its last node in view), and the
    // zoom buttons change its scale. Restored nodes do not look like completed ones.
    let wide = wide_run(&runs.stores).await;
    open(&client, &format!("{base}/runs/{wide}")).await;
    let fit = eval(
        &client,
        "const box = document.querySelector('.graph-box').getBoundingClientRect(); \
         const last = document.querySelector('#dag .node[data-node=\"n13\"]').getBoundingClientRect(); \
         return [last.right <= box.right && last.left >= box.left, \
                 document.getElementById('zoom-level').textContent]",
    )
    .await;
    assert_eq!(fit[0], json!(true), "the last node is off the page: {fit}");
    let fitted: u32 = fit[1]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches('%')
        .parse()
        .unwrap_or(0);
    assert!((40..=100).contains(&fitted), "{fit}");
    click(&client, "button[data-zoom=in]").await;
    let zoomed = eval(
        &client,
        "return document.getElementById('zoom-level').textContent",
    )
    .await;
    assert_ne!(zoomed, fit[1], "zooming in changed nothing");
    let styles = eval(
        &client,
        "const g = (s) => { const n = document.createElementNS('http://www.w3.org/2000/svg', 'g'); \
           n.setAttribute('class', 'node ' + s); n.innerHTML = '<rect/><text>x</text>'; \
           document.querySelector('#dag').append(n); \
           const out = [getComputedStyle(n.querySelector('rect')).fill, getComputedStyle(n.querySelector('text')).fill]; \
           n.remove(); return out; }; \
         return [g('s-restored'), g('s-completed'), g('s-cached')]",
    )
    .await;
    assert!(
        styles[0][0] != styles[1][0]
            && styles[0][1] != styles[1][1]
            && styles[0][0] != styles[2][0],
        "restored looks like completed or cached: {styles}"
    );

    // A completed run's output is at the top of its page (its pipeline is compiled in).
    open(&client, &format!("{base}/runs/{}", runs.completed)).await;
    let output = eval(
        &client,
        "return document.querySelector('#glance .output pre').textContent",
    )
    .await;
    assert!(
        output.as_str().unwrap_or_default().contains("HELLO"),
        "{output}"
    );

    // A mapped node's panel lists attempts by item, and a filter shows one status.
    let mapped = mapped_run(&runs.stores).await;
    open(&client, &format!("{base}/runs/{mapped}")).await;
    click(&client, "#dag .node[data-node=\"items\"]").await;
    until(
        &client,
        "return document.querySelector('.item-filter') !== null",
        "the item filter",
    )
    .await;
    let rows = "[...document.querySelectorAll('#panel-body table.attempts tr[data-status]')] \
                .filter((r) => !r.hidden).map((r) => r.children[1].textContent + '/' + r.children[0].textContent)";
    let all = eval(&client, &format!("return {rows}")).await;
    assert_eq!(
        all,
        json!(["0/1", "1/1", "2/1", "3/1", "3/2", "4/1", "5/1"])
    );
    click(&client, ".item-filter button[data-filter=failed]").await;
    let failed = eval(&client, &format!("return {rows}")).await;
    assert_eq!(failed, json!(["3/1"]));

    // The run list finds a run by part of its id, and says when runs started as people do.
    let part = &runs.completed.to_string()[..13];
    open(&client, &format!("{base}/?run={part}")).await;
    let found = eval(
        &client,
        "return [[...document.querySelectorAll('#runs tbody tr')].map((r) => r.dataset.run), \
                 document.querySelector('input[name=run]').value, \
                 document.querySelector('#runs tbody time.ago').textContent]",
    )
    .await;
    let rows = found[0].as_array().cloned().unwrap_or_default();
    assert!(
        !rows.is_empty()
            && rows
                .iter()
                .all(|r| r.as_str().unwrap_or_default().contains(part)),
        "{found}"
    );
    assert!(rows.contains(&json!(runs.completed.to_string())), "{found}");
    assert_eq!(found[1], json!(part));
    let started = found[2].as_str().unwrap_or_default();
    assert!(
        started == "just now" || started.ends_with(" ago"),
        "{found}"
    );

    // A node's logs: its panel lists what each attempt logged, line by line, level marked.
    let logged = logged_run(&runs.stores).await;
    open(&client, &format!("{base}/runs/{logged}")).await;
    click(&client, "#dag .node[data-node=\"say\"]").await;
    until(
        &client,
        "return document.querySelectorAll('#panel-body pre.logs .log-line').length === 2",
        "the node's two log lines in its panel",
    )
    .await;
    let lines = eval(
        &client,
        "return [...document.querySelectorAll('#panel-body pre.logs .log-line')] \
           .map((l) => [l.className, l.textContent.slice(13)])",
    )
    .await;
    assert_eq!(
        lines,
        json!([
            ["log-line log-info", "INFO  web_browser: saying n=2"],
            ["log-line log-warn", "WARN  web_browser: <b>not html</b>"]
        ])
    );

    // A waiting run: its page offers the signal; a payload sent from the form continues it.
    let waiting = tests::web::waiting_run(&runs.stores, dir.path()).await;
    open(&client, &format!("{base}/runs/{waiting}")).await;
    // The form starts from the payload's template (a `String`'s is `""`), not from `null`; the
    // top of the page says what the run waits for and until when it may.
    let form = eval(
        &client,
        "return [document.querySelector('#signal select').value, \
                 document.querySelector('#signal textarea[name=payload]').value, \
                 document.querySelector('#glance .wait').textContent]",
    )
    .await;
    assert_eq!(
        (&form[0], &form[1]),
        (&json!("reply"), &json!("\"\"")),
        "{form}"
    );
    let wait = form[2].as_str().unwrap_or_default();
    assert!(
        wait.starts_with("Waiting: the signal reply, since ")
            && wait.contains("; it times out ")
            && wait.ends_with(" min)"),
        "{wait}"
    );
    eval(
        &client,
        "document.querySelector('#signal textarea[name=payload]').value = '\"yes\"'; return true",
    )
    .await;
    click(&client, "#signal button[type=submit]").await;
    until(
        &client,
        "return document.getElementById('run-status').textContent == 'completed'",
        "the signalled run to complete",
    )
    .await;
    client.close().await.expect("close the browser");
}

/// The run page of a failed, a waiting and a 200-node run, in a 1,400 × 900 window: saved as
/// PNGs in the test's temporary directory, and in `docs/` with `UPDATE_SCREENSHOTS=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    no_chromium,
    ignore = "needs Debian's chromium and chromium-driver, not installed when the tests were built: apt-get update && apt-get install -y chromium chromium-driver"
)]
async fn screenshots_of_run_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = make_runs(dir.path()).await;
    let big = big_run(&runs.stores).await;
    let waiting = tests::web::waiting_run(&runs.stores, dir.path()).await;
    let base = serve(Viewer::new(runs.stores.clone())).await;
    let (_driver, client) = browser(&dir.path().join("profile")).await;
    // The window is the page's 1,400 × 900 and what the browser's frame takes besides.
    open(&client, &format!("{base}/")).await;
    let frame = eval(
        &client,
        "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]",
    )
    .await;
    let extra = |i: usize| frame[i].as_u64().unwrap_or(0) as u32;
    client
        .set_window_size(1400 + extra(0), 900 + extra(1))
        .await
        .expect("a 1,400 × 900 page");
    for (name, run) in [
        ("run-failed", runs.failed.clone()),
        ("run-waiting", waiting),
        ("run-200-nodes", big),
    ] {
        open(&client, &format!("{base}/runs/{run}")).await;
        until(
            &client,
            "return document.getElementById('zoom-level').textContent !== ''",
            "the graph fitted",
        )
        .await;
        if name == "run-200-nodes" {
            // Its retried node's backoff is drawn on the timeline, after the failed attempt.
            let backoffs = eval(&client, "return [...document.querySelectorAll('#timeline .backoff title')].map((t) => t.textContent)").await;
            let backoffs = backoffs.as_array().cloned().unwrap_or_default();
            assert_eq!(backoffs.len(), 1, "{backoffs:?}");
            assert!(
                backoffs[0]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("step_07_4 attempt 1: retried after a backoff of "),
                "{backoffs:?}"
            );
        }
        let shot = client.screenshot().await.expect("screenshot");
        // A PNG's width and height are the big-endian words at bytes 16 and 20.
        let size =
            |at: usize| u32::from_be_bytes([shot[at], shot[at + 1], shot[at + 2], shot[at + 3]]);
        assert_eq!((size(16), size(20)), (1400, 900), "{name}");
        let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
        std::fs::write(&target, &shot).expect("save the screenshot");
        if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            let docs = format!("{}/../docs/{name}.png", env!("CARGO_MANIFEST_DIR"));
            std::fs::write(docs, &shot).expect("save the screenshot in docs/");
        }
    }
    client.close().await.expect("close the browser");
}

/// A run of 200 nodes: 20 layers of 10, each node reading two of the layer before; one node
/// fails on its first attempt and is retried.
async fn big_run(stores: &pipeline::store::Stores) -> pipeline::RunId {
    use pipeline::{GraphBuilder, PipelineEngine};
    let mut g = GraphBuilder::<u64>::new("big");
    let x = g.input("x", |x: &u64| *x);
    let mut layer = vec![x; 10];
    for l in 0..20 {
        let mut next = Vec::new();
        for i in 0..10 {
            let (a, b) = (layer[i], layer[(i + 3) % 10]);
            let flaky = l == 7 && i == 4;
            let node = g.node(format!("step_{l:02}_{i}")).retries(1).run(
                (a, b),
                move |(a, b): (u64, u64), ctx| async move {
                    if flaky && ctx.attempt() == 1 {
                        return Err(std::io::Error::other("the first try fails"));
                    }
                    Ok(a.wrapping_add(b))
                },
            );
            next.push(node);
        }
        layer = next;
    }
    let last = g
        .node("sum")
        .run((layer[0], layer[9]), |(a, b): (u64, u64), _| async move {
            Ok::<_, std::io::Error>(a.wrapping_add(b))
        });
    let engine = PipelineEngine::new(g.build(last).expect("a graph")).stores(stores.clone());
    engine.run(1).await.expect("the big run").run_id
}

/// A run whose mapped node `items` runs six items; item 3 fails its first attempt, then
/// completes. Items finish out of order (higher ones first).
async fn mapped_run(stores: &pipeline::store::Stores) -> pipeline::RunId {
    use pipeline::{Backoff, GraphBuilder, PipelineEngine};
    let mut g = GraphBuilder::<Vec<u64>>::new("mapped");
    let xs = g.input("xs", |xs: &Vec<u64>| xs.clone());
    let items = g
        .node("items")
        .retries(1)
        .backoff(Backoff {
            initial: std::time::Duration::ZERO,
            max: std::time::Duration::ZERO,
        })
        .each(xs, (), |x: u64, (), ctx| async move {
            for _ in 0..(10 - x) {
                tokio::task::yield_now().await;
            }
            if x == 3 && ctx.attempt() == 1 {
                return Err(std::io::Error::other("item 3 fails once"));
            }
            Ok(x * 2)
        });
    let engine = PipelineEngine::new(g.build(items).expect("a graph")).stores(stores.clone());
    engine
        .run((0..6).collect())
        .await
        .expect("the mapped run")
        .run_id
}

/// A run of a chain of 14 nodes (`n0` to `n13`): wider than the browser's page.
async fn wide_run(stores: &pipeline::store::Stores) -> pipeline::RunId {
    let mut g = pipeline::GraphBuilder::<u64>::new("wide");
    let mut last = g.input("x", |x: &u64| *x);
    for i in 0..14 {
        last =
            g.node(format!("n{i}")).run(
                last,
                |x: u64, _| async move { Ok::<_, std::io::Error>(x + 1) },
            );
    }
    let engine =
        pipeline::PipelineEngine::new(g.build(last).expect("a graph")).stores(stores.clone());
    engine.run(0).await.expect("the wide run").run_id
}

/// A run whose node `say` logs two events (kept by the `NodeLogs` layer, installed here as
/// the process's subscriber); its id.
async fn logged_run(stores: &pipeline::store::Stores) -> pipeline::RunId {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(pipeline::trace::NodeLogs);
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let mut g = pipeline::GraphBuilder::<u64>::new("logged");
    let x = g.input("x", |x: &u64| *x);
    let say = g.node("say").run(x, |n: u64, _| async move {
        tracing::info!(n, "saying");
        tracing::warn!("<b>not html</b>");
        Ok::<_, std::io::Error>(n)
    });
    let engine =
        pipeline::PipelineEngine::new(g.build(say).expect("a graph")).stores(stores.clone());
    engine.run(2).await.expect("the logged run").run_id
}

/// Two runs of a pipeline whose `double` is cached and whose `label` is not: the first computes
/// `double`, the second restores it. Their ids, in that order.
async fn cached_runs(stores: &pipeline::store::Stores) -> (pipeline::RunId, pipeline::RunId) {
    use pipeline::cache::NodeCache;
    use pipeline::{GraphBuilder, PipelineEngine};
    let mut g = GraphBuilder::<u64>::new("cached");
    let x = g.input("x", |x: &u64| *x);
    let double = g
        .node("double")
        .cache(NodeCache::new("web_browser::double", "v1"))
        .run(x, |x: u64, _| async move { Ok::<_, std::io::Error>(x * 2) });
    let label = g.node("label").run(double, |x: u64, _| async move {
        Ok::<_, std::io::Error>(format!("{x}"))
    });
    let engine = PipelineEngine::new(g.build(label).expect("a graph")).stores(stores.clone());
    let first = engine.run(21).await.expect("the first run");
    let second = engine.run(21).await.expect("the second run");
    assert!(second.cached.contains_key("double"), "{second:?}");
    (first.run_id, second.run_id)
}

/// Not a check: prints how long headless chromium takes to load the page of a 10,000-node run
/// (for the README's figures). `cargo test -p tests --test web_browser -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn measure_a_10k_node_run_page() {
    use pipeline::{GraphBuilder, Handle, PipelineEngine};
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = pipeline::store::Stores::open(dir.path().join("store")).unwrap();
    let mut g = GraphBuilder::<u64>::new("fanout");
    let x = g.input("x", |x: &u64| *x);
    let source = g.node("source").run(
        x,
        |x, _| async move { Ok::<_, std::convert::Infallible>(x) },
    );
    let parts: Vec<Handle<u64>> = (0..10_000)
        .map(|i| {
            g.node(format!("n{i}")).run(source, |x, _| async move {
                Ok::<_, std::convert::Infallible>(x)
            })
        })
        .collect();
    let sink = g.node("sink").run(parts, |xs: Vec<u64>, _| async move {
        Ok::<_, std::convert::Infallible>(xs.iter().sum::<u64>())
    });
    let engine = PipelineEngine::new(g.build(sink).expect("graph")).stores(stores.clone());
    let run_id = engine.run(1).await.expect("run").run_id;
    let base = serve(Viewer::new(stores)).await;
    let (_driver, client) = browser(&dir.path().join("profile")).await;
    for round in 0..3 {
        open(&client, &format!("{base}/runs/{run_id}")).await;
        let timing = eval(
            &client,
            "const t = performance.getEntriesByType('navigation')[0]; \
             return [t.responseStart - t.requestStart, t.domContentLoadedEventEnd - t.startTime, t.loadEventEnd - t.startTime]",
        )
        .await;
        println!("round {round}: server response, DOM ready, load (ms): {timing}");
    }
    client.close().await.expect("close");
}
