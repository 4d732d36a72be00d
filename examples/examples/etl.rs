//! ETL over a real file shipped with the examples (`data/sales.csv`): one parse node fans out to
//! independent aggregations, which fan in to a report. A condition gate runs the refund review
//! only when there are refunds, and the exchange-rate branch fails without stopping the others
//! (`on_error = skip_downstream`).
//!
//! ```text
//! cargo run -p examples --example etl
//! ```

use std::collections::BTreeMap;
use std::io::Write;

use pipeline::prelude::*;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sale {
    pub order_id: u64,
    pub customer: String,
    pub region: String,
    pub cents: i64,
    pub refunded: bool,
}

/// The example's data file.
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sales.csv");

/// Reads and parses the CSV file.
#[node]
async fn parse(path: String) -> anyhow::Result<Vec<Sale>> {
    let text =
        std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
    text.lines()
        .skip(1)
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            let [id, customer, region, cents, refunded] = fields[..] else {
                anyhow::bail!(
                    "{path}:{}: expected 5 fields, found {}",
                    i + 2,
                    fields.len()
                );
            };
            Ok(Sale {
                order_id: id.parse()?,
                customer: customer.to_owned(),
                region: region.to_owned(),
                cents: cents.parse()?,
                refunded: refunded.parse()?,
            })
        })
        .collect()
}

/// Net revenue in cents (refunds excluded).
#[node]
async fn revenue(sales: Vec<Sale>) -> i64 {
    sales.iter().filter(|s| !s.refunded).map(|s| s.cents).sum()
}

/// Net revenue per region.
#[node]
async fn by_region(sales: Vec<Sale>) -> BTreeMap<String, i64> {
    let mut regions = BTreeMap::new();
    for sale in sales.iter().filter(|s| !s.refunded) {
        *regions.entry(sale.region.clone()).or_insert(0) += sale.cents;
    }
    regions
}

/// The refunded orders.
#[node]
async fn refunds(sales: Vec<Sale>) -> Vec<u64> {
    sales
        .iter()
        .filter(|s| s.refunded)
        .map(|s| s.order_id)
        .collect()
}

/// Files the refunds for review (runs only when there are refunds).
#[node]
async fn review_refunds(refunded: Vec<u64>) -> String {
    format!("{} refunds filed for review: {refunded:?}", refunded.len())
}

/// Fetches today's EUR exchange rate; the example runs offline, so it fails.
#[node(retries = 1, backoff = "10ms", on_error = skip_downstream)]
async fn eur_rate(revenue: i64) -> anyhow::Result<f64> {
    let _ = revenue;
    anyhow::bail!("exchange-rate service unreachable (the example runs offline)")
}

/// Revenue in EUR: skipped when the rate is missing.
#[node]
async fn in_eur(revenue: i64, rate: f64) -> f64 {
    revenue as f64 / 100.0 * rate
}

/// The report: fan-in of the independent aggregations.
#[node]
fn report(revenue: i64, regions: BTreeMap<String, i64>, refunded: Vec<u64>) -> String {
    let regions: Vec<String> = regions
        .iter()
        .map(|(region, cents)| format!("{region} {:.2}", *cents as f64 / 100.0))
        .collect();
    format!(
        "net revenue {:.2} USD; by region: {}; {} refunded orders",
        revenue as f64 / 100.0,
        regions.join(", "),
        refunded.len()
    )
}

pipeline! {
    /// Sales ETL: parse, aggregate, review refunds, convert, report.
    pub SalesEtl(path: String) -> String {
        sales   = parse(path);
        total   = revenue(sales);
        regions = by_region(sales);
        refunded = refunds(sales);
        review  = review_refunds(refunded) if !refunded.is_empty();
        rate    = eur_rate(total);
        eur     = in_eur(total, rate);
        summary = report(total, regions, refunded);
        summary
    }
}

/// Runs the ETL over `path` and prints every node's status.
pub async fn run(path: &str, out: &mut impl Write) -> anyhow::Result<PipelineResult<String>> {
    let engine = PipelineEngine::new(SalesEtl).audit_log(InMemoryAuditLog::new());
    let result = engine
        .run(SalesEtlInputs {
            path: path.to_owned(),
        })
        .await?;
    writeln!(out, "run {} {}", result.run_id, result.status)?;
    for (node, status) in &result.nodes {
        let why = result
            .failures
            .get(node)
            .map(|f| format!(": {}", f.error))
            .unwrap_or_default();
        writeln!(out, "  {node:<8} {status}{why}")?;
    }
    if let Some(summary) = &result.output {
        writeln!(out, "{summary}")?;
    }
    Ok(result)
}

#[tokio::main]
pub async fn main() -> anyhow::Result<()> {
    run(DATA, &mut std::io::stdout()).await.map(drop)
}
