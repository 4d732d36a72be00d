//! `ops`: the command line of `pipeline::cli` over this program's pipelines.
//!
//! ```text
//! cargo run -p examples --bin ops -- list
//! cargo run -p examples --bin ops -- run Revenue --input '{"orders": "examples/data/orders.json", "rates": "rates.json"}'
//! ```

use std::collections::BTreeMap;

use pipeline::prelude::*;

/// One order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Order {
    /// The order id.
    pub id: u64,
    /// Its amount in US cents.
    pub cents: i64,
}

/// Reads the orders from a JSON file.
#[node]
async fn load_orders(path: String) -> anyhow::Result<Vec<Order>> {
    let text =
        std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
    Ok(serde_json::from_str(&text)?)
}

/// Sums the orders' amounts, in US cents.
#[node]
async fn total(orders: Vec<Order>) -> i64 {
    orders.iter().map(|o| o.cents).sum()
}

/// Reads exchange rates (`{"EUR": 0.92}`) from a JSON file.
#[node(retries = 1, backoff = "10ms")]
async fn load_rates(path: String) -> anyhow::Result<BTreeMap<String, f64>> {
    let text =
        std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
    Ok(serde_json::from_str(&text)?)
}

/// Converts cents to euros.
#[node]
fn to_eur(cents: i64, rates: BTreeMap<String, f64>) -> anyhow::Result<f64> {
    let rate = rates
        .get("EUR")
        .ok_or_else(|| anyhow::anyhow!("no EUR rate"))?;
    Ok((cents as f64 / 100.0 * rate * 100.0).round() / 100.0)
}

/// Renders the report line.
#[node]
fn render(cents: i64, eur: f64) -> String {
    format!("revenue {:.2} USD = {eur:.2} EUR", cents as f64 / 100.0)
}

pipeline! {
    /// Revenue in dollars and euros.
    pub Revenue(orders: String, rates: String) -> String {
        all    = load_orders(orders);
        cents  = total(all);
        table  = load_rates(rates);
        eur    = to_eur(cents, table);
        report = render(cents, eur);
        report
    }
}

/// The size of one file, in bytes.
#[node]
async fn file_size(path: String) -> anyhow::Result<u64> {
    let metadata =
        std::fs::metadata(&path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
    Ok(metadata.len())
}

/// Adds sizes up.
#[node]
async fn add_up(sizes: Vec<u64>) -> u64 {
    sizes.iter().sum()
}

pipeline! {
    /// The total size of some files: one `file_size` per path.
    pub Sizes(paths: Vec<String>) -> u64 {
        sizes = file_size(each paths);
        bytes = add_up(sizes);
        bytes
    }
}

/// The size of one file, tried again an hour after it cannot be read (three times).
#[node(retries = 3, backoff = "1h")]
async fn patient_size(path: String) -> anyhow::Result<u64> {
    let metadata =
        std::fs::metadata(&path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
    Ok(metadata.len())
}

pipeline! {
    /// The total size of some files, each tried again an hour later while it cannot be read: a
    /// map to interrupt while its items wait to try again.
    pub Patient(paths: Vec<String>) -> u64 {
        sizes = patient_size(each paths);
        bytes = add_up(sizes);
        bytes
    }
}

/// A decision on a payout.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Approval {
    /// Who decided.
    pub by: String,
    /// Whether to pay.
    pub ok: bool,
}

/// Plans a payout of `cents`.
#[node]
fn plan_payout(cents: u64) -> u64 {
    // A span of the node's own: traces show it inside the node's attempt.
    let _check = tracing::info_span!("payout.check", cents).entered();
    // Kept with the attempt: `ops audit RUN --logs` and the viewer's node panel show it.
    tracing::info!(cents, "payout planned");
    cents
}

/// Pays the planned amount.
#[node]
fn pay_out(plan: u64, approval: Approval) -> String {
    format!("paid {plan} cents, approved by {}", approval.by)
}

pipeline! {
    /// Pays out once someone approves: the run waits (holding nothing) for the `approval` signal.
    pub Payout(cents: u64) -> String {
        plan     = plan_payout(cents);
        approval = signal::<Approval>(plan, timeout = "48h");
        paid     = pay_out(plan, approval) if approval.ok;
        paid
    }
}

/// Writes down what to be reminded of.
#[node]
fn take_note(note: String) -> String {
    note
}

/// Sends the reminder once its timer is due.
#[node]
fn send_reminder(note: String, _due: ()) -> String {
    format!("reminder: {note}")
}

pipeline! {
    /// Reminds you later: a durable timer between taking the note and sending it. Run with
    /// `--wait-in-process 0`, the run stops `waiting` and `resume-due` continues it once due.
    pub Remind(note: String) -> String {
        noted = take_note(note);
        later = sleep("3s", noted);
        sent  = send_reminder(noted, later);
        sent
    }
}

/// Prepares a batch.
#[node]
fn prepare_batch(size: u64) -> u64 {
    size
}

/// Works on the batch for an hour: a node to interrupt (kill -9, Ctrl-C).
#[node]
async fn stall(batch: u64) -> u64 {
    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    batch
}

pipeline! {
    /// A run that stays in `stall` for an hour: for trying kill -9 and Ctrl-C.
    pub Stall(size: u64) -> u64 {
        batch = prepare_batch(size);
        held  = stall(batch);
        held
    }
}

/// Bills a tenant.
#[node]
fn bill(tenant: String, cents: u64) -> String {
    format!("billed {tenant} {cents} cents")
}

pipeline! {
    /// One tenant's bill: at most one run per tenant at once, the others queue in order.
    #[limit(key = tenant, runs = 1)]
    pub Billing(tenant: String, cents: u64) -> String {
        line = bill(tenant, cents);
        line
    }
}

fn main() {
    let mut cli = pipeline::cli::Cli::new()
        .name("ops")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Operations: revenue reports, payouts, reminders and file sizes.");
    // The tests' hook: `OPS_CLOCK_AHEAD_MS=3000 ops resume-due` sees the waits as if it were three
    // seconds later (an engine clock set ahead), so a timer is tested without waiting for it.
    if let Some(ahead) = std::env::var("OPS_CLOCK_AHEAD_MS")
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok())
    {
        let clock = pipeline::ManualClock::now();
        clock.advance(std::time::Duration::from_millis(ahead));
        cli = cli.engine(|settings| settings.clock(clock));
    }
    cli.main()
}
