use pipeline::prelude::*;

#[derive(Serialize, Deserialize)]
pub struct Batch {
    pub ids: Vec<u64>,
}

#[node]
async fn size(batch: Batch) -> usize {
    batch.ids.len()
}

fn main() {}
