-- The substrate's tables: the signed record log, blob presence, and login sessions.
-- Albums and photos live in family-vault's migrations; nothing here knows about them.

-- Every signed record this node accepted, in the order it accepted them. `seq` is the local
-- sequence number that replication cursors point into; rows are never updated or deleted.
CREATE TABLE records (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- BLAKE3 of the record's body bytes and signature: one row per distinct record.
    record_id   BLOB NOT NULL UNIQUE,
    signer      TEXT NOT NULL,
    -- What the record describes (e.g. "album"), and which one: last writer wins per (kind, subject).
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    hlc_wall    INTEGER NOT NULL,
    hlc_counter INTEGER NOT NULL,
    body        BLOB NOT NULL,
    sig         BLOB NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX records_by_subject ON records (kind, subject, hlc_wall, hlc_counter);

-- Blobs this node holds (the files under blobs/ are the truth; see DESIGN.md for reconciliation).
CREATE TABLE blobs (
    id       BLOB PRIMARY KEY,
    size     INTEGER NOT NULL,
    added_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Login sessions, bound to an identity and an origin. Only a hash of the token is stored.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    identity   TEXT NOT NULL,
    origin     TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_expiry ON sessions (expires_ms);
