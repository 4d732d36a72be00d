//! Idempotency keys in a directory store: `keys/<sha-256 of pipeline and key>.key`, a JSON
//! [`KeyClaim`] replaced atomically, each claim decided under the OS lock of its `.lock` file, so
//! that of many processes claiming one key at once exactly one takes it.

use std::path::{Path, PathBuf};

use sha2::Digest;

use super::log::RunFiles;
use crate::store::Durability;
use crate::store::error::{StoreError, StoreResult};
use crate::store::fs::{
    create_private_dir, hold_lock_file, io_error, replace_atomically, sync_dir,
};
use crate::store::keys::KeyClaim;

/// The file of key `key` of `pipeline`: named by a digest, since a key is any text.
fn key_path(dir: &Path, pipeline: &str, key: &str) -> PathBuf {
    let mut hasher = sha2::Sha256::new();
    hasher.update(pipeline.as_bytes());
    hasher.update([0]);
    hasher.update(key.as_bytes());
    let name = crate::data::hex(&hasher.finalize());
    dir.join(format!("{name}.key"))
}

fn read(path: &Path) -> StoreResult<Option<KeyClaim>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read", path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            path: path.to_owned(),
            offset: 0,
            reason: format!("undecodable idempotency key file: {e}"),
        })
}

/// Claims `claim`'s key at `now_ms` (see
/// [`Checkpointer::claim_key`](crate::store::Checkpointer::claim_key)).
pub(super) fn claim(files: &RunFiles, claim: &KeyClaim, now_ms: u64) -> StoreResult<KeyClaim> {
    let dir = files.dir.join("keys");
    create_private_dir(&dir)?;
    let path = key_path(&dir, &claim.pipeline, &claim.key);
    let lock_path = path.with_extension("key.lock");
    let _lock = hold_lock_file(&lock_path)?;
    let held = read(&path)?;
    // A digest shared by two keys would be a SHA-256 collision: refused, never confused.
    if let Some(held) = &held
        && (held.pipeline != claim.pipeline || held.key != claim.key)
    {
        return Err(StoreError::Corrupt {
            path,
            offset: 0,
            reason: "the key file holds another key".into(),
        });
    }
    let kept = claim.against(held.as_ref(), now_ms);
    if kept == claim {
        let bytes = serde_json::to_vec(claim).map_err(StoreError::Encode)?;
        let sync = files.durability == Durability::Sync;
        replace_atomically(&path, &bytes, sync)?;
        if sync {
            sync_dir(&dir)?;
        }
    }
    Ok(kept.clone())
}
