//! The kinds of metric (a counter, a histogram) and a family of one kind: one metric per set of
//! label values, made on first use and kept for the life of the process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A count that only goes up.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub(crate) struct Gauge(std::sync::atomic::AtomicI64);

impl Gauge {
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the histograms' buckets, in seconds: from 100 µs (an in-process node or a
/// buffered write) to 5 minutes (a long node), about three to a decade.
pub(crate) const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
    30.0, 300.0,
];

/// How long things took: counts by bucket (each an upper bound, not cumulative here), their
/// number and their sum.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| seconds <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The cumulative count of each bucket (`le` its bound), the count and the sum in seconds.
    pub fn snapshot(&self) -> (Vec<u64>, u64, f64) {
        let mut running = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect();
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (cumulative, count, sum)
    }
}

/// A node's metrics, one lookup for all three (see `NodeMetrics`).
#[derive(Debug, Default)]
pub(crate) struct NodeSeries {
    pub attempts: Histogram,
    pub retries: Counter,
    pub cache_hits: Counter,
}

/// Label values, in the order of the family's label names.
pub(crate) type Labels = Vec<Arc<str>>;

/// A family's metrics by a hash of their label values.
type Buckets<M> = HashMap<u64, Vec<(Labels, Arc<M>)>>;

/// One metric of kind `M` per set of label values. A lookup hashes the values (it allocates
/// nothing once the metric exists); the hot paths keep the metric they looked up (see
/// `NodeMetrics`). Sorted only when listed.
#[derive(Debug)]
pub(crate) struct Family<M> {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: &'static [&'static str],
    /// By a hash of the label values: the metrics whose values have that hash (one, but for a
    /// collision).
    metrics: RwLock<Option<Buckets<M>>>,
}

impl<M: Default> Family<M> {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Family {
            name,
            help,
            labels,
            metrics: RwLock::new(None),
        }
    }

    /// The metric of `values` (as many as the family has labels), made if it is new.
    pub fn with(&self, values: &[&str]) -> Arc<M> {
        debug_assert_eq!(values.len(), self.labels.len(), "{}", self.name);
        let hash = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::hash::DefaultHasher::new();
            values.hash(&mut hasher);
            hasher.finish()
        };
        let same = |(labels, _): &&(Labels, Arc<M>)| {
            labels.iter().map(|l| &**l).eq(values.iter().copied())
        };
        let found = self
            .metrics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|metrics| {
                metrics
                    .get(&hash)?
                    .iter()
                    .find(same)
                    .map(|(_, m)| Arc::clone(m))
            });
        if let Some(metric) = found {
            return metric;
        }
        let mut metrics = self.metrics.write().unwrap_or_else(|p| p.into_inner());
        let bucket = metrics
            .get_or_insert_with(HashMap::new)
            .entry(hash)
            .or_default();
        if let Some((_, metric)) = bucket.iter().find(same) {
            return Arc::clone(metric);
        }
        let labels = values.iter().map(|v| Arc::from(*v)).collect();
        let metric = Arc::default();
        bucket.push((labels, Arc::clone(&metric)));
        metric
    }

    /// Every metric, with its label values, ordered by them.
    pub fn each(&self) -> Vec<(Labels, Arc<M>)> {
        let metrics = self.metrics.read().unwrap_or_else(|p| p.into_inner());
        let mut each: Vec<(Labels, Arc<M>)> = metrics
            .iter()
            .flat_map(|metrics| metrics.values().flatten())
            .map(|(k, m)| (k.clone(), Arc::clone(m)))
            .collect();
        each.sort_by(|a, b| a.0.cmp(&b.0));
        each
    }
}
