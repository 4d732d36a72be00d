//! Hand-written tokio: what the shapes cost with no framework at all.

use std::time::Duration;

use crate::{Shape, check, timed};

/// A no-op node's body.
pub async fn noop(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_add(1)
}

/// Each node `.await`ed in turn on the driver's task.
pub async fn plain(shape: Shape, n: usize) -> Duration {
    let mut out = 0;
    let time = timed(async {
        out = match shape {
            Shape::Chain => {
                let mut x = 0;
                for _ in 0..n {
                    x = noop(x).await;
                }
                x
            }
            Shape::Wide => {
                let source = noop(0).await;
                let mut sum = 0;
                for _ in 0..n {
                    sum += noop(source).await;
                }
                std::hint::black_box(sum)
            }
        };
    })
    .await;
    check("plain .await", shape, n, out);
    time
}

/// Each node on a task of its own (`tokio::spawn`), awaited by the driver.
pub async fn spawned(shape: Shape, n: usize) -> Duration {
    let mut out = 0;
    let time = timed(async {
        out = match shape {
            Shape::Chain => {
                let mut x = 0;
                for _ in 0..n {
                    x = tokio::spawn(noop(x)).await.expect("task");
                }
                x
            }
            Shape::Wide => {
                let source = tokio::spawn(noop(0)).await.expect("task");
                let parts: Vec<_> = (0..n).map(|_| tokio::spawn(noop(source))).collect();
                let mut sum = 0;
                for part in parts {
                    sum += part.await.expect("task");
                }
                tokio::spawn(async move { sum }).await.expect("task")
            }
        };
    })
    .await;
    check("spawn + await", shape, n, out);
    time
}

/// The wide shape's readers polled together on the driver's task (`join_all`), no spawn.
pub async fn join_all(n: usize) -> Duration {
    let mut out = 0;
    let time = timed(async {
        let source = noop(0).await;
        let parts = futures_util::future::join_all((0..n).map(|_| noop(source))).await;
        out = parts.into_iter().sum();
    })
    .await;
    check("join_all", Shape::Wide, n, out);
    time
}
