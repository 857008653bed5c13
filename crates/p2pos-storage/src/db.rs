//! The node's SQLite database: one file, WAL mode, foreign keys on, numbered migrations.
//!
//! Migrations are SQL files applied in order inside one transaction each; `PRAGMA user_version`
//! records how far a database has come. Other crates (family-vault) bring their own migration
//! lists, numbered in their own range, and apply them with [`migrate`].

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// One numbered migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The substrate's migrations (versions 1–99; family-vault uses 100 and up).
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "0001_init", sql: include_str!("../migrations/0001_init.sql") },
    Migration { version: 2, name: "0002_replication", sql: include_str!("../migrations/0002_replication.sql") },
    Migration { version: 3, name: "0003_trash", sql: include_str!("../migrations/0003_trash.sql") },
    Migration {
        version: 4,
        name: "0004_records_besides_photos",
        sql: include_str!("../migrations/0004_records_besides_photos.sql"),
    },
];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database is at version {found}, newer than this program knows ({known}); upgrade p2pos")]
    TooNew { found: u32, known: u32 },
    #[error("migration {name} failed: {source}")]
    Migration { name: &'static str, source: rusqlite::Error },
}

/// Opens (creating) the database at `path` with the node's settings and the substrate migrations.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    migrate(&conn, MIGRATIONS)?;
    Ok(conn)
}

/// WAL (readers never block the writer), `synchronous = FULL` so a commit that returned survives a
/// power cut, foreign keys enforced, and a busy timeout instead of immediate lock errors.
pub fn configure(conn: &Connection) -> Result<(), DbError> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Applies the migrations of `list` newer than the database, each in its own transaction.
pub fn migrate(conn: &Connection, list: &[Migration]) -> Result<(), DbError> {
    let current: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = list.iter().map(|m| m.version).max().unwrap_or(0);
    // A database from a newer program in the same numbering range must not be touched.
    if list.iter().any(|m| m.version <= current) && current > known && current / 100 == known / 100 {
        return Err(DbError::TooNew { found: current, known });
    }
    for m in list.iter().filter(|m| m.version > current) {
        let apply = |conn: &Connection| -> rusqlite::Result<()> {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            // Another process (a CLI command beside a starting node) may have migrated meanwhile:
            // decide again under the write lock.
            let now: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if now >= m.version {
                return conn.execute_batch("COMMIT");
            }
            let result = conn.execute_batch(m.sql).and_then(|()| conn.pragma_update(None, "user_version", m.version));
            match result {
                Ok(()) => conn.execute_batch("COMMIT"),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        };
        apply(conn).map_err(|source| DbError::Migration { name: m.name, source })?;
        tracing::info!(migration = m.name, "applied database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_in_wal_with_foreign_keys_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p2pos.db");
        let conn = open(&path).unwrap();
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
        assert_eq!(fk, 1);
        drop(conn);
        let again = open(&path).unwrap();
        let version: u32 = again.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, latest());
    }

    fn latest() -> u32 {
        MIGRATIONS.iter().map(|m| m.version).max().unwrap()
    }

    #[test]
    fn a_failing_migration_changes_nothing() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, MIGRATIONS).unwrap();
        let bad = [Migration {
            version: latest() + 1,
            name: "0099_bad",
            sql: "CREATE TABLE extra (x); SELECT nope FROM nowhere;",
        }];
        assert!(matches!(migrate(&conn, &bad), Err(DbError::Migration { name: "0099_bad", .. })));
        let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, latest());
        let extra: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'extra'", [], |r| r.get(0)).unwrap();
        assert_eq!(extra, 0, "the half-applied migration was rolled back");
    }

    #[test]
    fn a_database_from_a_newer_program_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, MIGRATIONS).unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
        assert!(matches!(migrate(&conn, MIGRATIONS), Err(DbError::TooNew { found: 7, known }) if known == latest()));
    }
}
