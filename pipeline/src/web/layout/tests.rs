//! The layout's promises: edges go between boxes (never through one), slots in a column never
//! overlap, and the ordering removes the crossings of the usual shapes.

use proptest::prelude::*;

use super::*;

fn node(id: &str, inputs: &[&str]) -> NodeDetail {
    NodeDetail::for_test(id, inputs, Vec::new())
}

/// Every slot of every layer (boxes and waypoints), as (layer, start, end) along the layer.
fn slots(nodes: &[NodeDetail], layout: &Layout) -> Vec<(u32, u32, u32)> {
    let (size, flip) = match layout.down {
        true => (BOX_W, true),
        false => (BOX_H, false),
    };
    let across = |(x, y): (u32, u32)| if flip { (y, x) } else { (x, y) };
    let boxes = (0..nodes.len()).map(|i| {
        let (layer, at) = across(layout.at[i]);
        (layer, at, at + size)
    });
    let ways = layout.routes.iter().flat_map(|r| &r.via).map(|&w| {
        let (layer, mid) = across(w);
        (layer, mid - WAY / 2, mid + WAY / 2)
    });
    boxes.chain(ways).collect()
}

/// The crossings between edge segments of adjacent columns.
fn crossings(layout: &Layout) -> usize {
    assert!(!layout.down, "counted left to right");
    // Each segment: (left column x, y at its left, y at its right).
    let mut segments = Vec::new();
    for route in &layout.routes {
        let (fx, fy) = layout.at[route.from];
        let (tx, ty) = layout.at[route.to];
        let mut points = vec![(fx, fy + BOX_H / 2)];
        points.extend(route.via.iter().copied());
        points.push((tx - COL_GAP - BOX_W, ty + BOX_H / 2));
        for pair in points.windows(2) {
            segments.push((pair[0].0, pair[0].1, pair[1].1));
        }
    }
    let mut n = 0;
    for (i, a) in segments.iter().enumerate() {
        for b in &segments[i + 1..] {
            if a.0 == b.0 && ((a.1 < b.1 && a.2 > b.2) || (a.1 > b.1 && a.2 < b.2)) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn a_node_is_one_column_right_of_its_deepest_upstream_node() {
    let nodes = vec![
        node("a", &["input"]),
        node("b", &["a"]),
        node("c", &["a"]),
        node("d", &["b", "c", "a"]),
    ];
    let layout = layout(&nodes);
    assert_eq!(layout.column, vec![0, 1, 1, 2]);
    // `a -> d` skips a column: it has a waypoint there, between `b` and `c` or beside them.
    let long = layout
        .routes
        .iter()
        .find(|r| (r.from, r.to) == (0, 3))
        .unwrap();
    assert_eq!(long.via.len(), 1);
    assert_eq!(long.via[0].0, column_x(1));
}

/// Issue 29's finding: `statuses -> draft` was drawn straight through `alert` and `geo`, and
/// read as `statuses -> alert`. It now runs through waypoints of its own.
#[test]
fn a_long_edge_goes_around_the_boxes_it_passes() {
    let nodes = vec![
        node("statuses", &["input"]),
        node("alert", &["statuses"]),
        node("geo", &["statuses"]),
        node("summary", &["alert", "geo"]),
        node("draft", &["summary", "statuses"]),
    ];
    let layout = layout(&nodes);
    let long = layout
        .routes
        .iter()
        .find(|r| (r.from, r.to) == (0, 4))
        .unwrap();
    assert_eq!(long.via.len(), 2, "one waypoint per column crossed");
    for &(x, y) in &long.via {
        for (i, &(bx, by)) in layout.at.iter().enumerate() {
            let inside = x == bx && (by..by + BOX_H).contains(&y);
            assert!(!inside, "the edge passes through `{}`", nodes[i].id);
        }
    }
    assert_eq!(crossings(&layout), 0);
}

/// A long chain is drawn top down: it fits a page's width instead of scrolling sideways.
#[test]
fn a_long_chain_is_drawn_top_down_and_fits_a_page() {
    let names: Vec<String> = (0..14).map(|i| format!("n{i}")).collect();
    let nodes: Vec<NodeDetail> = (0..14)
        .map(|i| match i {
            0 => node(&names[0], &[]),
            _ => node(&names[i], &[names[i - 1].as_str()]),
        })
        .collect();
    let layout = layout(&nodes);
    assert!(
        layout.down && layout.width <= PAGE_W,
        "{} wide",
        layout.width
    );
    assert!(
        layout.at.windows(2).all(|w| w[0].1 < w[1].1),
        "each below the one before"
    );
    let short = super::layout(&nodes[..4]);
    assert!(!short.down, "a short chain stays left to right");
}

/// Past the budget, long edges go straight: a node reading every node of a 3,000-node chain
/// would need millions of waypoints.
#[test]
fn past_the_budget_long_edges_have_no_waypoints() {
    let names: Vec<String> = (0..3_000).map(|i| format!("n{i}")).collect();
    let mut nodes: Vec<NodeDetail> = (0..3_000)
        .map(|i| match i {
            0 => node(&names[0], &[]),
            _ => node(&names[i], &[names[i - 1].as_str()]),
        })
        .collect();
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    nodes.push(node("every", &all));
    let layout = layout(&nodes);
    assert!(layout.routes.iter().all(|r| r.via.is_empty()));
    assert_eq!(layout.routes.len(), 2_999 + 3_000);
}

#[test]
fn the_ordering_uncrosses_swapped_fan_outs() {
    // `s1 -> t2`, `s2 -> t1`, listed so that drawing in list order crosses them.
    let nodes = vec![
        node("s1", &[]),
        node("s2", &[]),
        node("t1", &["s2"]),
        node("t2", &["s1"]),
        node("u1", &["t2"]),
        node("u2", &["t1"]),
    ];
    assert_eq!(crossings(&layout(&nodes)), 0);
}

proptest! {
    #[test]
    fn slots_never_overlap_and_waypoints_fill_the_columns_an_edge_crosses(
        edges in proptest::collection::vec((0usize..30, 0usize..30), 0..80)
    ) {
        let n = 30;
        let mut inputs: Vec<Vec<String>> = vec![Vec::new(); n];
        for (a, b) in edges {
            if a < b {
                inputs[b].push(format!("n{a}"));
            }
        }
        let nodes: Vec<NodeDetail> = (0..n)
            .map(|i| {
                let ins: Vec<&str> = inputs[i].iter().map(String::as_str).collect();
                node(&format!("n{i}"), &ins)
            })
            .collect();
        let layout = layout(&nodes);
        let mut all = slots(&nodes, &layout);
        all.sort();
        for pair in all.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            prop_assert!(a.0 != b.0 || a.2 <= b.1, "{a:?} overlaps {b:?}");
        }
        let skipped: u32 = layout
            .routes
            .iter()
            .map(|r| layout.column[r.to] - layout.column[r.from] - 1)
            .sum();
        prop_assume!(skipped as usize <= 4 * n + 1_000);
        for route in &layout.routes {
            let (from, to) = (layout.column[route.from], layout.column[route.to]);
            let layer = |w: &(u32, u32)| if layout.down { w.1 } else { w.0 };
            let layers: Vec<u32> = route.via.iter().map(layer).collect();
            let expected: Vec<u32> = (from + 1..to).map(|c| layout.layer(c)).collect();
            prop_assert_eq!(layers, expected);
        }
        for (x, y) in &layout.at {
            prop_assert!(x + BOX_W <= layout.width && y + BOX_H <= layout.height);
        }
    }
}
