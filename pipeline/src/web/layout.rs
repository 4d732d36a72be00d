//! The DAG's layered layout (Sugiyama's method, kept linear enough for 10,000 nodes):
//! - **Layers:** a node is one column right of its deepest upstream node.
//! - **Long edges** get a waypoint in each column they cross, which takes a slot of its own in
//!   that column's order: an edge never passes through a box, it goes between them (up to a
//!   budget of waypoints of four per node, past which long edges are drawn as plain curves).
//! - **Order:** within a column, nodes and waypoints are sorted by the mean position of their
//!   neighbours, sweeping down and up a few times (the barycenter heuristic), which removes
//!   most crossings of the usual fan-out and fan-in shapes.
//! - **Coordinates:** each column is stacked top to bottom and centred on the tallest. A graph
//!   much deeper than wide (a long chain) is drawn top down instead, layers as rows, so that it
//!   fits a page's width.

use std::collections::{BTreeSet, HashMap};

use super::detail::NodeDetail;

pub(super) const BOX_W: u32 = 168;
pub(super) const BOX_H: u32 = 34;
pub(super) const COL_GAP: u32 = 56;
pub(super) const ROW_GAP: u32 = 14;
/// The room a waypoint takes in its layer.
const WAY: u32 = 4;
/// Drawn top down: the gap between layers, and between boxes in a layer.
const LAYER_GAP: u32 = 40;
const SIDE_GAP: u32 = 16;
/// A graph wider than this left to right is drawn top down, when that is narrower.
const PAGE_W: u32 = 1_400;
pub(super) const PAD: u32 = 12;
/// Down-and-up sweeps of the barycenter ordering.
const SWEEPS: usize = 4;

/// An edge as drawn: from a node's box to another's, through waypoints.
pub(super) struct Route {
    pub from: usize,
    pub to: usize,
    /// A condition's input, drawn dashed.
    pub gate: bool,
    /// Each waypoint (in the layers between, in order): where the edge enters its layer (its
    /// left drawn left to right, its top drawn top down) and the middle of its slot across.
    pub via: Vec<(u32, u32)>,
}

/// Where everything is drawn.
pub(super) struct Layout {
    /// Each node's box: its left and top.
    pub at: Vec<(u32, u32)>,
    pub routes: Vec<Route>,
    pub width: u32,
    pub height: u32,
    /// Drawn top down (layers as rows) rather than left to right.
    pub down: bool,
    /// Each node's column (tests read it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub column: Vec<u32>,
}

/// The left of column `c`.
pub(super) fn column_x(c: u32) -> u32 {
    PAD + c * (BOX_W + COL_GAP)
}

/// Where layer `c` is: its left drawn left to right, its top drawn top down.
fn layer_at(down: bool, c: u32) -> u32 {
    match down {
        true => PAD + c * (BOX_H + LAYER_GAP),
        false => column_x(c),
    }
}

impl Layout {
    /// Where layer `c` is (see [`layer_at`]).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn layer(&self, c: u32) -> u32 {
        layer_at(self.down, c)
    }
}

pub(super) fn layout(nodes: &[NodeDetail]) -> Layout {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    // Each node's upstream nodes, a gate's input marked; nodes come in topological order.
    let mut edges = BTreeSet::new();
    for (to, node) in nodes.iter().enumerate() {
        let ends = node.inputs.iter().map(|u| (u, false));
        for (from, gate) in ends.chain(node.condition_inputs.iter().map(|u| (u, true))) {
            if let Some(&from) = index.get(from.as_str())
                && from < to
            {
                edges.insert((from, to, gate));
            }
        }
    }
    let mut column = vec![0u32; nodes.len()];
    for &(from, to, _) in &edges {
        column[to] = column[to].max(column[from] + 1);
    }
    let columns = column.iter().max().map_or(0, |c| c + 1) as usize;
    // Vertices: the nodes, then a waypoint per column a long edge crosses.
    let mut vertex_column: Vec<u32> = column.clone();
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut chains = Vec::with_capacity(edges.len());
    // Waypoints are one per layer an edge skips: a graph whose edges skip very many layers in
    // all (a node that reads from every layer of a long chain) would be drawn slowly and huge,
    // so past a budget of a few per node its long edges go straight, as curves.
    let skipped: usize = edges
        .iter()
        .map(|&(from, to, _)| (column[to] - column[from] - 1) as usize)
        .sum();
    let around = skipped <= 4 * nodes.len() + 1_000;
    for &(from, to, gate) in &edges {
        let mut via = Vec::new();
        let mut last = from;
        let crossed = if around {
            column[from] + 1..column[to]
        } else {
            0..0
        };
        for c in crossed {
            let way = vertex_column.len();
            vertex_column.push(c);
            up.push(vec![last]);
            down.push(Vec::new());
            down[last].push(way);
            via.push(way);
            last = way;
        }
        down[last].push(to);
        up[to].push(last);
        chains.push((from, to, gate, via));
    }
    let mut by_column: Vec<Vec<usize>> = vec![Vec::new(); columns];
    for (v, &c) in vertex_column.iter().enumerate() {
        by_column[c as usize].push(v);
    }
    let mut pos = vec![0f64; vertex_column.len()];
    let place = |members: &[usize], pos: &mut [f64]| {
        for (p, &v) in members.iter().enumerate() {
            pos[v] = p as f64;
        }
    };
    for members in &by_column {
        place(members, &mut pos);
    }
    // Sorts a column by the mean position of each vertex's neighbours on one side; a vertex
    // with none keeps its place.
    let sort = |members: &mut Vec<usize>, side: &[Vec<usize>], pos: &mut Vec<f64>| {
        let key = |v: usize| match side[v].len() {
            0 => pos[v],
            n => side[v].iter().map(|&u| pos[u]).sum::<f64>() / n as f64,
        };
        let mut keyed: Vec<(f64, f64, usize)> =
            members.iter().map(|&v| (key(v), pos[v], v)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        *members = keyed.into_iter().map(|(_, _, v)| v).collect();
        place(members, pos);
    };
    for sweep in 0..SWEEPS {
        for members in by_column.iter_mut().skip(1) {
            sort(members, &up, &mut pos);
        }
        if sweep + 1 < SWEEPS {
            for members in by_column.iter_mut().rev().skip(1) {
                sort(members, &down, &mut pos);
            }
        }
    }
    // Coordinates: a layer's slots stacked, the layer centred on the longest. Left to right,
    // a layer is a column of boxes `BOX_H` high; top down, a row of boxes `BOX_W` wide.
    let stack = |size: u32, gap: u32| -> (Vec<u32>, u32) {
        let slot = |v: usize| if v < nodes.len() { size } else { WAY };
        let lengths: Vec<u32> = by_column
            .iter()
            .map(|m| {
                m.iter()
                    .map(|&v| slot(v) + gap)
                    .sum::<u32>()
                    .saturating_sub(gap)
            })
            .collect();
        let longest = lengths.iter().copied().max().unwrap_or(0).max(size);
        let mut along = vec![0u32; vertex_column.len()];
        for (members, length) in by_column.iter().zip(&lengths) {
            let mut at = PAD + (longest - length) / 2;
            for &v in members {
                along[v] = at;
                at += slot(v) + gap;
            }
        }
        (along, longest)
    };
    let layers = columns as u32;
    let across_lr = (layers * (BOX_W + COL_GAP)).saturating_sub(COL_GAP);
    let (along_lr, longest_lr) = stack(BOX_H, ROW_GAP);
    let (along_td, longest_td) = stack(BOX_W, SIDE_GAP);
    let down = across_lr > PAGE_W && longest_td < across_lr;
    let (along, longest) = if down {
        (along_td, longest_td)
    } else {
        (along_lr, longest_lr)
    };
    let layer_at = |c: u32| layer_at(down, c);
    let at = (0..nodes.len())
        .map(|i| match down {
            true => (along[i], layer_at(column[i])),
            false => (layer_at(column[i]), along[i]),
        })
        .collect();
    let routes = chains
        .into_iter()
        .map(|(from, to, gate, via)| Route {
            from,
            to,
            gate,
            via: via
                .into_iter()
                .map(|w| match down {
                    true => (along[w] + WAY / 2, layer_at(vertex_column[w])),
                    false => (layer_at(vertex_column[w]), along[w] + WAY / 2),
                })
                .collect(),
        })
        .collect();
    let deep = (layers * (BOX_H + LAYER_GAP)).saturating_sub(LAYER_GAP);
    let (width, height) = match down {
        true => (longest, deep),
        false => (across_lr, longest),
    };
    Layout {
        at,
        routes,
        width: 2 * PAD + width,
        height: 2 * PAD + height,
        down,
        column,
    }
}

/// The SVG path of `route`: a curve across each gap between layers, a straight line through
/// each layer it crosses (in its waypoint's slot, where no box is).
pub(super) fn path(layout: &Layout, route: &Route) -> String {
    use std::fmt::Write;
    let (fx, fy) = layout.at[route.from];
    let (tx, ty) = layout.at[route.to];
    // Where the edge leaves a box, enters the target box, and crosses a waypoint's layer.
    let (start, end, through) = match layout.down {
        true => (
            (fx + BOX_W / 2, fy + BOX_H),
            (tx + BOX_W / 2, ty),
            (0, BOX_H),
        ),
        false => (
            (fx + BOX_W, fy + BOX_H / 2),
            (tx, ty + BOX_H / 2),
            (BOX_W, 0),
        ),
    };
    let mut d = String::with_capacity(48 * (route.via.len() + 1));
    let (mut x, mut y) = start;
    let _ = write!(d, "M{x},{y}");
    let curve = |d: &mut String, (x, y): (u32, u32), (nx, ny): (u32, u32)| {
        let _ = match layout.down {
            true => {
                let mid = (y + ny) / 2;
                write!(d, " C{x},{mid} {nx},{mid} {nx},{ny}")
            }
            false => {
                let mid = (x + nx) / 2;
                write!(d, " C{mid},{y} {mid},{ny} {nx},{ny}")
            }
        };
    };
    for &(wx, wy) in &route.via {
        curve(&mut d, (x, y), (wx, wy));
        (x, y) = (wx + through.0, wy + through.1);
        let _ = write!(d, " L{x},{y}");
    }
    curve(&mut d, (x, y), end);
    d
}

#[cfg(test)]
mod tests;
