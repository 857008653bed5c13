//! Filling a data dir fast, for benchmarks that need a large vault (100,000 photos) without
//! spending minutes on one fsync per record. Records still pass the vault's rules; blobs are
//! written without fsync. Not for production data.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use family_vault::{Body, Outcome, Vault};
use p2pos_core::{BlobId, SignedRecord};

use crate::clock::now_ms;
use crate::state::NodeError;
use crate::store;
use crate::store::records::NewRecord;

/// Import `records` (in order, through the vault's rules) and `blobs` into the data dir `dir`.
pub fn import(dir: &Path, records: &[SignedRecord], blobs: &[(BlobId, Vec<u8>)]) -> Result<(), NodeError> {
    let bad = |why: String| NodeError::DataDir { path: dir.to_path_buf(), source: std::io::Error::other(why) };
    let mut db = p2pos_storage::db::open(&dir.join("p2pos.db"))?;
    let now = now_ms();
    let mut vault = Vault::new(p2pos_core::hlc::DEFAULT_MAX_DRIFT_MS);
    for (_, record) in store::records::all(&db)? {
        if let Ok(v) = record.verify() {
            let _ = vault.insert(&v, now);
        }
    }
    for (id, bytes) in blobs {
        let hex = id.to_string();
        let shard = dir.join("blobs").join(&hex[..2]);
        std::fs::create_dir_all(&shard).map_err(|e| bad(e.to_string()))?;
        std::fs::write(shard.join(&hex), bytes).map_err(|e| bad(e.to_string()))?;
    }
    let tx = db.transaction()?;
    for (id, bytes) in blobs {
        store::blobs::record_presence_in(&tx, *id, bytes.len() as u64, now)?;
    }
    let verified =
        records.iter().map(|record| record.verify().map_err(|e| bad(e.to_string()))).collect::<Result<Vec<_>, _>>()?;
    // Kept and folded at once: admitting them one by one scans every held record per admission
    // (minutes at 100,000). A record the rules refuse where it stands fails the import.
    for (n, outcome) in vault.insert_many(&verified, now).into_iter().enumerate() {
        match outcome.map_err(|e| bad(format!("record {n}: {e}")))? {
            Outcome::Refused(e) => return Err(bad(format!("record {n} refused: {e}"))),
            Outcome::Applied | Outcome::Held => {}
        }
    }
    for (record, verified) in records.iter().zip(&verified) {
        let body: Body = verified.parse().map_err(|e| bad(e.to_string()))?;
        let sig = B64.decode(&record.sig).map_err(|e| bad(e.to_string()))?;
        store::records::append_in(&tx, &NewRecord { record: verified, body: &body, sig: &sig }, now)?;
    }
    tx.commit()?;
    Ok(())
}
