//! Enrolled peers: who they are, how far this node has read their logs, and which blobs each
//! is known to hold.

use p2pos_core::{BlobId, NodeId};
use p2pos_replication::Cursors;
use rusqlite::{Connection, OptionalExtension, params};

use crate::replication::peers::PeerInfo;

/// Every enrolled peer (one with an unreadable id is skipped, with a warning).
pub(crate) fn all(db: &Connection) -> rusqlite::Result<Vec<PeerInfo>> {
    let mut stmt = db.prepare("SELECT node_id, name, base_url, added_ms FROM peers")?;
    let rows = stmt.query_map([], |r| {
        let id: String = r.get(0)?;
        Ok((id, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, i64>(3)?))
    })?;
    let mut peers = Vec::new();
    for row in rows {
        let (id, name, base_url, added_ms) = row?;
        match id.parse() {
            Ok(node) => peers.push(PeerInfo { node, name, base_url, added_ms: added_ms as u64 }),
            Err(e) => tracing::warn!(id, error = %e, "skipping a peer with an unreadable id"),
        }
    }
    Ok(peers)
}

/// Pins `peer`; enrolling a pinned peer again updates its name and URL (its cursors stay).
pub(crate) fn upsert(db: &Connection, peer: &PeerInfo) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO peers (node_id, name, base_url, added_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (node_id) DO UPDATE SET name = excluded.name, base_url = excluded.base_url",
        params![peer.node.to_string(), peer.name, peer.base_url, peer.added_ms as i64],
    )?;
    Ok(())
}

/// Forgets `peer`; returns whether it was enrolled.
pub(crate) fn remove(db: &Connection, peer: &NodeId) -> rusqlite::Result<bool> {
    Ok(db.execute("DELETE FROM peers WHERE node_id = ?1", [peer.to_string()])? > 0)
}

/// How far this node has read `peer`'s logs (zero for a peer not pinned), and the blobs it is
/// known to hold.
pub(crate) fn progress(db: &Connection, peer: &NodeId) -> rusqlite::Result<(Cursors, Vec<BlobId>)> {
    let id = peer.to_string();
    let cursors = db
        .query_row("SELECT records_cursor, blobs_cursor FROM peers WHERE node_id = ?1", [&id], |r| {
            Ok(Cursors { records: r.get::<_, i64>(0)? as u64, blobs: r.get::<_, i64>(1)? as u64 })
        })
        .optional()?
        .unwrap_or_default();
    let mut stmt = db.prepare("SELECT id FROM peer_blobs WHERE node_id = ?1")?;
    let holds = stmt
        .query_map([&id], |r| r.get::<_, Vec<u8>>(0))?
        .filter_map(|b| b.ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).map(BlobId::from_bytes))
        .collect();
    Ok((cursors, holds))
}

/// Saves how far this node has read `peer`'s logs.
pub(crate) fn save_cursors(db: &Connection, peer: &NodeId, cursors: Cursors) -> rusqlite::Result<()> {
    db.execute(
        "UPDATE peers SET records_cursor = ?2, blobs_cursor = ?3 WHERE node_id = ?1",
        params![peer.to_string(), cursors.records as i64, cursors.blobs as i64],
    )?;
    Ok(())
}

/// Remembers that `peer` holds these blobs, in one transaction.
pub(crate) fn add_holds(db: &mut Connection, peer: &NodeId, blobs: &[BlobId]) -> rusqlite::Result<()> {
    let tx = db.transaction()?;
    {
        let mut stmt = tx.prepare_cached("INSERT OR IGNORE INTO peer_blobs (node_id, id) VALUES (?1, ?2)")?;
        let peer = peer.to_string();
        for id in blobs {
            stmt.execute(params![peer, id.as_bytes().as_slice()])?;
        }
    }
    tx.commit()
}
