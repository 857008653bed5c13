-- The trash (docs/ARCHITECTURE.md, "Organising and the trash"): when this node first stored the
-- record that put each photo or album in the trash. Node-local, never replicated: the node counts
-- a subject's 30 days from the later of this and the vault's `deleted_ms`, so a delete stamped in
-- the past cannot make it release the blobs at once. `subject` is `photo:<id>` or `album:<id>`;
-- `deleted_ms` is the vault's (a new deletion after a restore is a new row).
CREATE TABLE trash_seen (
    subject    TEXT NOT NULL,
    deleted_ms INTEGER NOT NULL,
    seen_ms    INTEGER NOT NULL,
    PRIMARY KEY (subject, deleted_ms)
) WITHOUT ROWID;
