//! The rules of idempotency keys every checkpointer that keeps them follows.

use std::sync::Arc;

use super::violation::{Violation, expect};
use crate::run_id::RunId;
use crate::store::error::StoreError;
use crate::store::keys::KeyClaim;
use crate::store::traits::Checkpointer;

/// Checks [`Checkpointer::claim_key`]: a store that keeps no keys passes.
pub(super) async fn check_keys(open: &impl Fn() -> Arc<dyn Checkpointer>) -> Result<(), Violation> {
    let claim = |pipeline: &str, expires_at_ms| KeyClaim {
        pipeline: pipeline.into(),
        key: r#"["acme",7]"#.into(),
        run_id: RunId::generate(),
        expires_at_ms,
    };
    let (first, second) = (claim("P", 1_000), claim("P", 2_000));
    let taken = open().claim_key(&first, 10).await;
    if matches!(taken, Err(StoreError::KeysUnsupported)) {
        return Ok(());
    }
    expect(
        matches!(&taken, Ok(c) if *c == first),
        "claim_key takes a free key",
        &taken,
    )?;
    let held = open().claim_key(&second, 999).await;
    expect(
        matches!(&held, Ok(c) if *c == first),
        "claim_key gives the holder of a key that has not expired",
        &held,
    )?;
    let other = claim("Q", 1_000);
    let own = open().claim_key(&other, 10).await;
    expect(
        matches!(&own, Ok(c) if *c == other),
        "the same key of another pipeline is another key",
        &own,
    )?;
    let expired = open().claim_key(&second, 1_000).await;
    expect(
        matches!(&expired, Ok(c) if *c == second),
        "claim_key takes a key whose claim expired",
        &expired,
    )?;
    let kept = open().claim_key(&first, 1_500).await;
    expect(
        matches!(&kept, Ok(c) if *c == second),
        "the claim that took an expired key holds it",
        &kept,
    )
}
