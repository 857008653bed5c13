//! `GET /v1/trash`: what a member may see in the trash and restore within its 30 days
//! (`docs/ARCHITECTURE.md`, "Trash"). Deleting and restoring are ordinary photo and album records
//! (`POST /v1/records`); the vault judges who may. Only the listing needs its own view, because
//! `/v1/albums` lists live things only.

use axum::Json;
use axum::extract::State;
use family_vault::{AlbumId, PhotoId, TRASH_RETENTION_MS, TrashSubject};
use p2pos_core::{BlobId, IdentityId};
use serde::Serialize;

use crate::clock::now_ms;
use crate::error::ApiError;
use crate::session::Session;
use crate::state::AppState;

/// A deleted photo of an album shared with you.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TrashedPhoto {
    #[schema(value_type = String)]
    id: PhotoId,
    #[schema(value_type = String)]
    album: AlbumId,
    epoch: u32,
    #[schema(value_type = String)]
    blob: BlobId,
    size: u64,
    #[schema(value_type = Option<String>)]
    thumb: Option<BlobId>,
    thumb_size: Option<u64>,
    meta: String,
    /// Who added it: with the album's owner and the admins, who may restore it.
    #[schema(value_type = String)]
    author: IdentityId,
    /// When it was deleted (the deleting record's wall time, ms since the Unix epoch).
    deleted_ms: u64,
    /// When its 30 days end on this node (counted from the later of `deleted_ms` and when this
    /// node first stored the deletion): this node refuses a restore after it and releases its blobs.
    expires_ms: u64,
}

/// A deleted album you held a key to. Its photos are in the trash with it, not listed apart.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TrashedAlbum {
    #[schema(value_type = String)]
    id: AlbumId,
    epoch: u32,
    recipient: String,
    /// Encrypted title (armored age, for the album key).
    meta: String,
    deleted_ms: u64,
    expires_ms: u64,
    /// How many photos come back with it.
    photos: usize,
    keys: Vec<crate::family::AlbumKey>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TrashView {
    photos: Vec<TrashedPhoto>,
    albums: Vec<TrashedAlbum>,
}

/// The trash: deleted photos of albums shared with you, and deleted albums you held a key to,
/// newest deletion first, while they can still be restored.
#[utoipa::path(get, path = "/v1/trash", tag = "family",
    responses((status = 200, body = TrashView), (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub(crate) async fn trash(State(state): State<AppState>, session: Session) -> Result<Json<TrashView>, ApiError> {
    session.require_member(&state)?;
    let now = now_ms();
    let clock = state.db(move |db| crate::release::TrashClock::load(db, now, None)).await?;
    let start = |s: TrashSubject<'_>, d: u64| clock.start(s, d);
    let vault = state.vault();
    let me = &session.identity;
    let mut photos: Vec<TrashedPhoto> = vault
        .trashed_photos_from(now, &start)
        .filter(|(_, p)| vault.can_open_album(me, &p.album))
        .filter_map(|(id, p)| {
            let deleted_ms = p.deleted_ms?;
            Some(TrashedPhoto {
                id: id.clone(),
                album: p.album.clone(),
                epoch: p.epoch,
                blob: p.blob,
                size: p.size,
                thumb: p.thumb,
                thumb_size: p.thumb_size,
                meta: p.meta.clone(),
                author: p.author,
                deleted_ms,
                expires_ms: start(TrashSubject::Photo(id), deleted_ms).saturating_add(TRASH_RETENTION_MS),
            })
        })
        .collect();
    photos.sort_by(|a, b| b.deleted_ms.cmp(&a.deleted_ms).then_with(|| a.id.cmp(&b.id)));
    let mut albums: Vec<TrashedAlbum> = vault
        .trashed_albums_from(now, &start)
        .filter_map(|(id, a)| {
            let keys = vault.grant_keys(me, id);
            if keys.is_empty() {
                return None;
            }
            let deleted_ms = a.deleted_ms?;
            let photos = vault.photos_of_trashed_album(id);
            Some(TrashedAlbum {
                id: id.clone(),
                epoch: a.epoch,
                recipient: a.recipient.clone(),
                meta: a.meta.clone(),
                deleted_ms,
                expires_ms: start(TrashSubject::Album(id), deleted_ms).saturating_add(TRASH_RETENTION_MS),
                photos,
                keys: keys.into_iter().map(|(epoch, key)| crate::family::AlbumKey { epoch, key }).collect(),
            })
        })
        .collect();
    albums.sort_by(|a, b| b.deleted_ms.cmp(&a.deleted_ms).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(TrashView { photos, albums }))
}
