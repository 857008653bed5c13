//! `p2pos export`: the family's photos as standard age files plus a readable manifest, so a member
//! can decrypt everything with nothing but the `age` CLI and their identity file.
//!
//! Reads the data dir without changing it (the database read-only, blob files copied), so it is
//! safe while the node runs. Layout of the output folder:
//!
//! ```text
//! README.txt                      how to decrypt, step by step
//! manifest.json                   albums, photos, keys (ids, sizes, file names; no plaintext)
//! <album>/album-meta.age          the album's title etc., for the album key
//! <album>/keys/<member>-epoch<N>.age   the album key, encrypted to that member
//! <album>/<photo>.age             the photo (and <photo>.thumb.age, <photo>.meta.age)
//! ```
//!
//! Live albums and photos, and those in the trash that can still be restored (by this node's
//! count, `release.rs`): each of those carries `"trash": {"deleted_ms", "restorable_until_ms"}` in
//! the manifest (a photo of a deleted album carries its album's). What the trash no longer keeps
//! is left out.

use std::path::{Path, PathBuf};

use family_vault::{TRASH_RETENTION_MS, TrashSubject};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("reading the database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0} exists and is not empty; choose a new folder")]
    NotEmpty(PathBuf),
    #[error("the data dir has no family yet")]
    NoFamily,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_path_buf(), source }
}

#[derive(Debug, Serialize)]
struct Manifest {
    family: String,
    albums: Vec<AlbumEntry>,
}

#[derive(Debug, Serialize)]
struct AlbumEntry {
    id: String,
    epoch: u32,
    recipient: String,
    meta: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    trash: Option<TrashEntry>,
    keys: Vec<KeyEntry>,
    photos: Vec<PhotoEntry>,
}

/// An album or photo in the trash, restorable until `restorable_until_ms` (this node's count).
#[derive(Debug, Clone, Copy, Serialize)]
struct TrashEntry {
    deleted_ms: u64,
    restorable_until_ms: u64,
}

#[derive(Debug, Serialize)]
struct KeyEntry {
    member: String,
    epoch: u32,
    file: String,
}

#[derive(Debug, Serialize)]
struct PhotoEntry {
    id: String,
    epoch: u32,
    file: String,
    size: u64,
    thumb: Option<String>,
    meta: String,
    /// False when this node does not hold the blob (yet): the photo is listed but not copied.
    present: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    trash: Option<TrashEntry>,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub albums: usize,
    pub photos: usize,
    pub missing: usize,
}

const README: &str = "P2POS export\n\
============\n\
Everything here is encrypted with age (https://age-encryption.org). To read a photo you need your\n\
p2pos identity file (unencrypted: `p2pos id show` names it; an encrypted one works too, age asks\n\
for its passphrase) and the stock `age` tool.\n\n\
1. Find your album key: <album>/keys/<your id>-epoch<N>.age (N = the photo's epoch in manifest.json).\n\
2. Decrypt it:   age -d -i my-identity.txt <album>/keys/<your id>-epoch1.age > album-key.txt\n\
3. Decrypt a photo:   age -d -i album-key.txt <album>/<photo>.age > photo\n\
4. Its original name and type:   age -d -i album-key.txt <album>/<photo>.meta.age\n\n\
manifest.json lists every album, key and photo with its size; nothing in it is secret. Albums and\n\
photos with a \"trash\" entry were deleted but could still be restored when this was exported.\n";

/// Exports the vault of `data_dir` into the new or empty folder `out`.
pub fn export(data_dir: &Path, out: &Path) -> Result<ExportSummary, ExportError> {
    export_at(data_dir, out, crate::clock::now_ms())
}

/// [`export`] as of `now_ms` (what the trash still keeps then).
#[doc(hidden)]
pub fn export_at(data_dir: &Path, out: &Path, now_ms: u64) -> Result<ExportSummary, ExportError> {
    if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(ExportError::NotEmpty(out.to_path_buf()));
    }
    let db_path = data_dir.join("p2pos.db");
    let db = Connection::open_with_flags(&db_path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let vault = crate::state::load_vault(&db, p2pos_core::hlc::DEFAULT_MAX_DRIFT_MS)?;
    let family = vault.family().ok_or(ExportError::NoFamily)?.to_string();
    // A data dir no node of this version has opened has no notes yet: count from the stamps.
    let clock = match crate::release::TrashClock::load(&db, now_ms, None) {
        Ok(clock) => clock,
        Err(e) => {
            tracing::warn!(error = %e, "no trash notes in the database; counting from the deletions' stamps");
            crate::release::TrashClock::from_stamps()
        }
    };
    let start = |s: TrashSubject<'_>, d: u64| clock.start(s, d);
    let trash = |s: TrashSubject<'_>, deleted_ms: Option<u64>| {
        deleted_ms
            .map(|d| TrashEntry { deleted_ms: d, restorable_until_ms: start(s, d).saturating_add(TRASH_RETENTION_MS) })
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut summary = ExportSummary::default();
    let mut albums: Vec<_> = vault.albums().chain(vault.trashed_albums_from(now_ms, &start)).collect();
    albums.sort_by(|a, b| a.0.cmp(b.0));
    let mut manifest = Manifest { family, albums: Vec::new() };
    for (album_id, album) in albums {
        let dir = out.join(album_id.to_string());
        std::fs::create_dir_all(dir.join("keys")).map_err(io(&dir))?;
        write(&dir.join("album-meta.age"), album.meta.as_bytes())?;
        let album_trash = trash(TrashSubject::Album(album_id), album.deleted_ms);
        let mut entry = AlbumEntry {
            id: album_id.to_string(),
            epoch: album.epoch,
            recipient: album.recipient.clone(),
            meta: "album-meta.age".into(),
            trash: album_trash,
            keys: Vec::new(),
            photos: Vec::new(),
        };
        for (member, epoch, key) in vault.grants_of(album_id) {
            let file = format!("keys/{member}-epoch{epoch}.age");
            write(&dir.join(&file), key.as_bytes())?;
            entry.keys.push(KeyEntry { member: member.to_string(), epoch, file });
        }
        // Live photos (in the trash with the album, if it is), and photos deleted themselves that
        // can still be restored.
        let mut photos: Vec<_> = vault
            .photos_of(album_id)
            .filter_map(|(id, p)| match trash(TrashSubject::Photo(id), p.deleted_ms) {
                None => Some((id, p, album_trash)),
                Some(t) if now_ms < t.restorable_until_ms => Some((id, p, Some(t))),
                Some(_) => None,
            })
            .collect();
        photos.sort_by(|a, b| a.0.cmp(b.0));
        for (photo_id, photo, photo_trash) in photos {
            let file = format!("{photo_id}.age");
            let present = copy_blob(data_dir, &photo.blob.to_string(), &dir.join(&file))?;
            let thumb = match photo.thumb {
                Some(t) => {
                    let name = format!("{photo_id}.thumb.age");
                    copy_blob(data_dir, &t.to_string(), &dir.join(&name))?.then_some(name)
                }
                None => None,
            };
            let meta = format!("{photo_id}.meta.age");
            write(&dir.join(&meta), photo.meta.as_bytes())?;
            summary.photos += usize::from(present);
            summary.missing += usize::from(!present);
            entry.photos.push(PhotoEntry {
                id: photo_id.to_string(),
                epoch: photo.epoch,
                file,
                size: photo.size,
                thumb,
                meta,
                present,
                trash: photo_trash,
            });
        }
        manifest.albums.push(entry);
        summary.albums += 1;
    }
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ExportError::Io { path: out.join("manifest.json"), source: e.into() })?;
    write(&out.join("manifest.json"), &json)?;
    write(&out.join("README.txt"), README.as_bytes())?;
    Ok(summary)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    std::fs::write(path, bytes).map_err(io(path))
}

fn copy_blob(data_dir: &Path, hex: &str, to: &Path) -> Result<bool, ExportError> {
    let from = data_dir.join("blobs").join(&hex[..2]).join(hex);
    match std::fs::copy(&from, to) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ExportError::Io { path: from, source }),
    }
}
