//! Read views of the vault for members: `GET /v1/members`, `/v1/albums`, `/v1/albums/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use family_vault::{AlbumId, Role};
use p2pos_core::IdentityId;
use serde::Serialize;

use crate::error::ApiError;
use crate::session::Session;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MemberView {
    #[schema(value_type = String)]
    identity: IdentityId,
    #[schema(value_type = crate::openapi::RoleSchema)]
    role: Role,
    recipient: String,
}

#[utoipa::path(get, path = "/v1/members", tag = "family",
    responses((status = 200, body = Vec<MemberView>), (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub(crate) async fn members(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<MemberView>>, ApiError> {
    session.require_member(&state)?;
    let vault = state.vault();
    let mut out: Vec<MemberView> = vault
        .members()
        .map(|(id, m)| MemberView { identity: *id, role: m.role, recipient: m.recipient.clone() })
        .collect();
    out.sort_by_key(|m| m.identity);
    Ok(Json(out))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AlbumView {
    #[schema(value_type = String)]
    id: AlbumId,
    epoch: u32,
    recipient: String,
    /// Encrypted title and dates (armored age, for the album key).
    meta: String,
    photos: usize,
    /// Bytes its live photos take (originals and thumbnails, encrypted).
    bytes: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AlbumKey {
    pub(crate) epoch: u32,
    /// The album identity for this epoch, as an armored age file for your recipient.
    pub(crate) key: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AlbumDetail {
    #[serde(flatten)]
    album: AlbumView,
    keys: Vec<AlbumKey>,
}

/// Albums shared with you.
#[utoipa::path(get, path = "/v1/albums", tag = "family",
    responses((status = 200, body = Vec<AlbumView>), (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub(crate) async fn albums(State(state): State<AppState>, session: Session) -> Result<Json<Vec<AlbumView>>, ApiError> {
    session.require_member(&state)?;
    let vault = state.vault();
    let mut out: Vec<AlbumView> = vault
        .albums()
        .filter(|(id, _)| vault.can_open_album(&session.identity, id))
        .map(|(id, a)| view(&vault, id, a))
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(out))
}

/// One album with your keys to it (its photos come a page at a time: `GET /v1/albums/{id}/photos`).
#[utoipa::path(get, path = "/v1/albums/{id}", tag = "family", params(("id" = String, Path)),
    responses((status = 200, body = AlbumDetail), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub(crate) async fn album(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<AlbumDetail>, ApiError> {
    session.require_member(&state)?;
    let id: AlbumId = id.parse().map_err(|e| ApiError::BadRequest(format!("{e}")))?;
    let vault = state.vault();
    let album = vault.album(&id).ok_or_else(|| ApiError::NotFound("no such album".into()))?;
    if !vault.can_open_album(&session.identity, &id) {
        return Err(ApiError::Forbidden("this album is not shared with you".into()));
    }
    let view = view(&vault, &id, album);
    let keys =
        vault.grant_keys(&session.identity, &id).into_iter().map(|(epoch, key)| AlbumKey { epoch, key }).collect();
    Ok(Json(AlbumDetail { album: view, keys }))
}

fn view(vault: &family_vault::Vault, id: &AlbumId, album: &family_vault::vault::Album) -> AlbumView {
    let (photos, bytes) =
        vault.photos_in(id).fold((0, 0), |(n, bytes), (_, p)| (n + 1, bytes + p.size + p.thumb_size.unwrap_or(0)));
    AlbumView {
        id: id.clone(),
        epoch: album.epoch,
        recipient: album.recipient.clone(),
        meta: album.meta.clone(),
        photos,
        bytes,
    }
}
