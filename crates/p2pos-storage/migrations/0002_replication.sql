-- Replication (DESIGN.md §5): the blob log peers read, the enrolled peers with how far we have read
-- their logs, what each peer holds, and one-time enrolment tokens.

-- Blobs in the order this node came to hold them: `seq` is what peers' blob cursors point into.
CREATE TABLE blob_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id  BLOB NOT NULL UNIQUE REFERENCES blobs (id)
);
INSERT INTO blob_log (id) SELECT id FROM blobs ORDER BY added_ms, id;

-- Nodes this node replicates with, each pinned by its Ed25519 key at enrolment (TOFU).
CREATE TABLE peers (
    node_id        TEXT PRIMARY KEY,
    name           TEXT NOT NULL DEFAULT '',
    -- Where the peer's HTTP API answers, if it said (the HTTP fallback transport).
    base_url       TEXT,
    added_ms       INTEGER NOT NULL,
    records_cursor INTEGER NOT NULL DEFAULT 0,
    blobs_cursor   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Blobs each peer reported holding (its blob log, as read so far).
CREATE TABLE peer_blobs (
    node_id TEXT NOT NULL REFERENCES peers (node_id) ON DELETE CASCADE,
    id      BLOB NOT NULL,
    PRIMARY KEY (node_id, id)
) WITHOUT ROWID;

-- Enrolment tokens this node issued. Only a hash of the secret is kept; a token works once.
CREATE TABLE enroll_tokens (
    secret_hash BLOB PRIMARY KEY,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    used_ms     INTEGER,
    used_by     TEXT
) WITHOUT ROWID;

-- What the running node last started with (name, hub, public_url), so that `p2pos enroll` and
-- `p2pos peer add` on the same data dir use the same values without repeating the flags.
CREATE TABLE node_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
