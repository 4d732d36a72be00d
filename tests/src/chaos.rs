//! The pipeline the fleet's chaos test runs over worker processes: 203 nodes with fan-out,
//! diamonds, condition gates, a fan-in, a node that fails twice before it succeeds, and a node
//! mapped over a 500-item list (`each`) whose sum the fan-in reads. Each execution appends
//! `run node start_ms` to a side-effect log (`run items[i] start_ms` for an item), as a real
//! side effect would.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use pipeline::{Backoff, Graph, GraphBuilder, Handle, NodeContext};

/// Nodes per layer, layers, and gated side nodes (with the root, the flaky node and the sink:
/// 200 in all).
const WIDTH: usize = 19;
const LAYERS: usize = 10;
const SIDES: usize = 7;

fn mix(a: u64, b: u64) -> u64 {
    (a ^ b.rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 3
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Appends one line per execution (one short `write` on an `O_APPEND` file is atomic).
#[derive(Clone)]
struct Effects(Option<PathBuf>);

/// The items of the mapped node.
pub const ITEMS: u64 = 500;

impl Effects {
    fn record(&self, ctx: &NodeContext) {
        if let Some(path) = &self.0 {
            let node = match ctx.item() {
                Some(item) => format!("{}[{}]", ctx.node_id(), item.index),
                None => ctx.node_id().to_owned(),
            };
            let line = format!("{} {node} {}\n", ctx.run_id(), now_ms());
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("the side-effect log opens");
            file.write_all(line.as_bytes())
                .expect("the side-effect log is writable");
        }
    }
}

type Body = std::pin::Pin<Box<dyn Future<Output = Result<u64, std::io::Error>> + Send>>;

/// A node body: record the side effect, take 10 to 30 ms, compute.
fn step(effects: &Effects) -> impl Fn(Vec<u64>, NodeContext) -> Body + Send + Sync + 'static {
    let effects = effects.clone();
    move |inputs, ctx| {
        let effects = effects.clone();
        Box::pin(async move {
            effects.record(&ctx);
            let id = ctx.node_id().bytes().fold(7u64, |h, b| mix(h, b as u64));
            tokio::time::sleep(Duration::from_millis(10 + id % 20)).await;
            Ok(inputs.iter().fold(id, |h, &v| mix(h, v)))
        })
    }
}

/// The chaos pipeline; with `log`, every execution is recorded there.
pub fn graph(log: Option<PathBuf>) -> Graph<u64, u64> {
    let effects = Effects(log);
    let mut g = GraphBuilder::<u64>::new("chaos");
    let x = g.input("x", |x: &u64| *x);
    let root = g.node("root").run(vec![x], step(&effects));
    let e = effects.clone();
    let flaky = g
        .node("flaky")
        .retries(2)
        .backoff(Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(20),
        })
        .run(root, move |v, ctx: NodeContext| {
            let e = e.clone();
            async move {
                e.record(&ctx);
                match ctx.attempt() {
                    1 | 2 => Err(std::io::Error::other("flaky fails twice")),
                    _ => Ok(mix(v, 3)),
                }
            }
        });
    let mut layer: Vec<Handle<u64>> = vec![root; WIDTH];
    let mut sides = 0;
    for l in 0..LAYERS {
        let mut next = Vec::with_capacity(WIDTH);
        for i in 0..WIDTH {
            let id = format!("n{l}_{i}");
            // Diamonds: each node reads two of the layer before; the first layer also `flaky`.
            let mut deps = vec![layer[i], layer[(i + 1) % WIDTH]];
            if l == 0 && i == 0 {
                deps.push(flaky);
            }
            next.push(g.node(id).run(deps, step(&effects)));
        }
        layer = next;
        // Gates: a side node after some layers runs only for even inputs (nothing reads it).
        if l % 3 == 1 || l == 9 {
            for k in 0..2.min(SIDES - sides) {
                let id = format!("side{l}_{k}");
                let gated = g.node(id).when(x, |x| x % 2 == 0);
                gated.run(vec![layer[k * 7]], step(&effects));
                sides += 1;
            }
        }
    }
    // A map of 500 items over a list the root computes; its sum joins the fan-in.
    let list = g.node("list").run(root, |v: u64, _ctx| async move {
        Ok::<_, std::io::Error>((0..ITEMS).map(|i| mix(v, i)).collect::<Vec<u64>>())
    });
    let e = effects.clone();
    let items = g
        .node("items")
        .each(list, (), move |v: u64, (), ctx: NodeContext| {
            let e = e.clone();
            async move {
                e.record(&ctx);
                tokio::time::sleep(Duration::from_millis(v % 3)).await;
                Ok::<_, std::io::Error>(mix(v, 11))
            }
        });
    let tally = g
        .node("tally")
        .run(items, |items: Vec<u64>, _ctx| async move {
            Ok::<_, std::io::Error>(items.iter().fold(0, |h, &v| mix(h, v)))
        });
    layer.push(tally);
    let sink = g.node("sink").run(layer, step(&effects));
    let graph = g.build(sink).expect("the chaos graph is valid");
    debug_assert_eq!(graph.len(), 203);
    graph
}
