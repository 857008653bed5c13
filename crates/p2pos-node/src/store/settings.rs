//! Settings the running node recorded for the commands that open its data dir beside it
//! (`name`, `hub`, `public_url`).

use rusqlite::{Connection, OptionalExtension};

/// Sets `key` to `value`, or removes it for `None`.
pub(crate) fn set(db: &Connection, key: &str, value: Option<&str>) -> rusqlite::Result<()> {
    match value {
        Some(v) => db.execute(
            "INSERT INTO node_settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, v],
        )?,
        None => db.execute("DELETE FROM node_settings WHERE key = ?1", [key])?,
    };
    Ok(())
}

pub(crate) fn get(db: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    db.query_row("SELECT value FROM node_settings WHERE key = ?1", [key], |r| r.get(0)).optional()
}
