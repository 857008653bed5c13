//! Photos a page at a time, and what changed since: `GET /v1/albums/{id}/photos`, `GET /v1/photos`
//! (the timeline: every album shared with you) and `GET /v1/replication/changes`.
//!
//! One order everywhere: newest first by the HLC of the photo's current record, then by id (both
//! descending). A page's cursor is the position of its last photo, so a photo deleted (or added
//! elsewhere) does not shift the next page: it starts after that position, whatever came before.
//! The listings are read from the folded vault (in memory, under its read lock): one pass over
//! the photos per page, then a partial sort, so no SQL index is involved.
//!
//! Each photo comes with where it is stored; after that, a page polls `replication/changes` with
//! the cursor of its last answer and gets only what changed (`replication::journal`).

use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use family_vault::vault::Photo;
use family_vault::{AlbumId, PhotoId, Vault};
use p2pos_core::{BlobId, Hlc, IdentityId};
use serde::{Deserialize, Serialize};

use crate::clock::lock;
use crate::error::{ApiError, ApiQuery};
use crate::replication::journal::{Current, Journal, Since};
use crate::replication::status::{NodeSummary, PhotoPlacement, Placement, PlacementSource, this_node};
use crate::session::Session;
use crate::state::AppState;

/// Photos per page when the client does not say.
pub(crate) const DEFAULT_PAGE: usize = 100;
/// The most photos one page holds.
pub(crate) const MAX_PAGE: usize = 500;
/// The most changes one `replication/changes` answer holds (`more` says when others wait).
pub(crate) const MAX_CHANGES: usize = 500;
/// The journal is compared with the vault at most this often, however many pages poll.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// A photo's place in every listing. Ordered ascending; listings run descending.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    hlc: Hlc,
    id: PhotoId,
}

impl Position {
    fn of(id: &PhotoId, photo: &Photo) -> Self {
        Self { hlc: photo.stamp().hlc, id: id.clone() }
    }

    /// 16 hex digits of wall time, 8 of the counter, then the id: fixed width, so two positions
    /// compare as strings as they do as values.
    fn encode(&self) -> String {
        format!("{:016x}{:08x}{}", self.hlc.wall_ms, self.hlc.counter, self.id)
    }

    fn parse(text: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::BadRequest("not a cursor of this listing (pass a `next` or a photo's `cursor`)".into());
        if text.len() != 50 || !text.is_ascii() {
            return Err(bad());
        }
        let wall_ms = u64::from_str_radix(&text[..16], 16).map_err(|_| bad())?;
        let counter = u32::from_str_radix(&text[16..24], 16).map_err(|_| bad())?;
        let id = text[24..].parse().map_err(|_| bad())?;
        Ok(Self { hlc: Hlc { wall_ms, counter }, id })
    }

    fn before(&self, hlc: Hlc, id: &PhotoId) -> bool {
        (hlc, id) < (self.hlc, &self.id)
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Start after this position: the `next` of the previous page (absent: the newest photos).
    cursor: Option<String>,
    /// Photos per page: 1–500, default 100.
    limit: Option<usize>,
}

impl PageQuery {
    fn read(&self) -> Result<(Option<Position>, usize), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::BadRequest(format!("limit is 1 to {MAX_PAGE}")));
        }
        Ok((self.cursor.as_deref().map(Position::parse).transpose()?, limit))
    }
}

/// A photo in a listing: its record's fields, its position and where it is stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PhotoItem {
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
    /// Encrypted file name, type, size, date (armored age, for the album key).
    meta: String,
    /// Who added it: with the album's owner and the admins, who may change or delete it.
    #[schema(value_type = String)]
    author: IdentityId,
    /// Its position: pass it as `cursor` for the photos after it. Positions compare as strings:
    /// the larger comes first in every listing.
    cursor: String,
    /// Where it is stored: this node first, then each enrolled peer.
    nodes: Vec<Placement>,
}

/// One page of a listing, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PhotoPage {
    photos: Vec<PhotoItem>,
    /// The cursor of the next page; absent on the last one.
    next: Option<String>,
}

/// The photos of an album, a page at a time, newest first.
#[utoipa::path(get, path = "/v1/albums/{id}/photos", tag = "family", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = PhotoPage), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub(crate) async fn album_photos(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PhotoPage>, ApiError> {
    session.require_member(&state)?;
    let id: AlbumId = id.parse().map_err(|e| ApiError::BadRequest(format!("{e}")))?;
    let (after, limit) = query.read()?;
    let (page, next) = {
        let vault = state.vault();
        openable(&vault, &session.identity, &id)?;
        select(vault.photos_in(&id), after.as_ref(), limit)
    };
    Ok(Json(PhotoPage { photos: with_placements(&state, page).await?, next }))
}

/// Every photo of every album shared with you, a page at a time, newest first.
#[utoipa::path(get, path = "/v1/photos", tag = "family", params(PageQuery),
    responses((status = 200, body = PhotoPage), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub(crate) async fn timeline(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PhotoPage>, ApiError> {
    session.require_member(&state)?;
    let (after, limit) = query.read()?;
    let (page, next) = {
        let vault = state.vault();
        let shared: std::collections::HashSet<&AlbumId> =
            vault.albums().map(|(id, _)| id).filter(|id| vault.can_open_album(&session.identity, id)).collect();
        select(vault.photos().filter(|(_, p)| shared.contains(&p.album)), after.as_ref(), limit)
    };
    Ok(Json(PhotoPage { photos: with_placements(&state, page).await?, next }))
}

/// The album exists and `who` may open it: the same answers as `GET /v1/albums/{id}`.
fn openable(vault: &Vault, who: &IdentityId, id: &AlbumId) -> Result<(), ApiError> {
    vault.album(id).ok_or_else(|| ApiError::NotFound("no such album".into()))?;
    if !vault.can_open_album(who, id) {
        return Err(ApiError::Forbidden("this album is not shared with you".into()));
    }
    Ok(())
}

/// The `limit` photos after `after` in listing order, and the next page's cursor if more follow.
/// One pass and a partial sort: O(photos + limit·log limit).
fn select<'a>(
    photos: impl Iterator<Item = (&'a PhotoId, &'a Photo)>,
    after: Option<&Position>,
    limit: usize,
) -> (Vec<(PhotoId, Photo)>, Option<String>) {
    let mut candidates: Vec<(Hlc, &PhotoId, &Photo)> = photos
        .map(|(id, p)| (p.stamp().hlc, id, p))
        .filter(|(hlc, id, _)| after.is_none_or(|a| a.before(*hlc, id)))
        .collect();
    let newest_first = |a: &(Hlc, &PhotoId, &Photo), b: &(Hlc, &PhotoId, &Photo)| (b.0, b.1).cmp(&(a.0, a.1));
    let more = candidates.len() > limit;
    if more {
        candidates.select_nth_unstable_by(limit, newest_first);
        candidates.truncate(limit);
    }
    candidates.sort_unstable_by(newest_first);
    let next = more.then(|| candidates.last().map(|(_, id, p)| Position::of(id, p).encode())).flatten();
    (candidates.into_iter().map(|(_, id, p)| (id.clone(), p.clone())).collect(), next)
}

/// The page's photos with where each is stored (this node's blob table read for their blobs only).
async fn with_placements(state: &AppState, page: Vec<(PhotoId, Photo)>) -> Result<Vec<PhotoItem>, ApiError> {
    let blobs: Vec<BlobId> = page.iter().flat_map(|(_, p)| std::iter::once(p.blob).chain(p.thumb)).collect();
    let source = PlacementSource::load(state, Some(blobs)).await?;
    Ok(page.into_iter().map(|(id, photo)| item(&source, id, photo)).collect())
}

fn item(source: &PlacementSource, id: PhotoId, photo: Photo) -> PhotoItem {
    let cursor = Position::of(&id, &photo).encode();
    let nodes = source.of(&photo);
    PhotoItem {
        id,
        album: photo.album,
        epoch: photo.epoch,
        blob: photo.blob,
        size: photo.size,
        thumb: photo.thumb,
        thumb_size: photo.thumb_size,
        meta: photo.meta,
        author: photo.author,
        cursor,
        nodes,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangesQuery {
    /// Only this album's photos (absent: every album shared with you, as the timeline).
    album: Option<String>,
    /// The `cursor` of the previous answer. Absent: no changes, only the cursor to start from
    /// (ask for it before the first page, so nothing falls between).
    since: Option<String>,
    /// Only photos at or before this listing position (newer ones included): the `next` of the
    /// last page loaded. Photos past it arrive with their pages. Absent: every photo.
    through: Option<String>,
}

/// What changed since a cursor in the photos a page shows and where they are stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReplicationChanges {
    /// This node.
    node: NodeSummary,
    /// Pass as `since` next time.
    cursor: String,
    /// The `since` given is from before this node (re)started: load the listing again.
    reset: bool,
    /// More changes wait than one answer holds: ask again at once with `cursor`.
    more: bool,
    /// Photos that appeared (uploaded, arrived from a peer, restored), newest first.
    added: Vec<PhotoItem>,
    /// Photos whose placement changed: where each is stored now.
    changed: Vec<PhotoPlacement>,
    /// Ids of photos that went away (deleted).
    removed: Vec<String>,
}

/// Changes since a cursor: photos added, removed, or stored somewhere new, of one album or of
/// every album shared with you. An idle page that polls this gets an answer of a few hundred bytes.
#[utoipa::path(get, path = "/v1/replication/changes", operation_id = "replication_changes", tag = "nodes",
    params(ChangesQuery),
    responses((status = 200, body = ReplicationChanges), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub(crate) async fn changes(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(query): ApiQuery<ChangesQuery>,
) -> Result<Json<ReplicationChanges>, ApiError> {
    session.require_member(&state)?;
    let album: Option<AlbumId> =
        query.album.as_deref().map(str::parse).transpose().map_err(|e| ApiError::BadRequest(format!("{e}")))?;
    if let Some(album) = &album {
        openable(&state.vault(), &session.identity, album)?;
    }
    let through = query.through.as_deref().map(Position::parse).transpose()?;
    let since = {
        let journal = lock(&state.inner.placements);
        journal.parse(query.since.as_deref()).map_err(|e| ApiError::BadRequest(e.to_string()))?
    };
    // A page asking where to start (no cursor, or a stale one) is given the journal as it is, not
    // made to wait for a pass over every photo: whatever changed since the last pass gets a later
    // version at the next one, so the page sees it then (perhaps again: applying it is idempotent).
    // Only a journal never compared needs the pass first.
    let baseline = lock(&state.inner.placements).has_baseline();
    if matches!(since, Since::Version(_)) || !baseline {
        refresh(&state).await?;
    }

    let node = this_node(&state);
    let version = match since {
        Since::Version(v) => v,
        Since::Now | Since::Stale => {
            let cursor = lock(&state.inner.placements).cursor();
            let reset = since == Since::Stale;
            let nothing = ReplicationChanges {
                node,
                cursor,
                reset,
                more: false,
                added: vec![],
                changed: vec![],
                removed: vec![],
            };
            return Ok(Json(nothing));
        }
    };

    // Under the vault's read lock, then the journal's: what changed, in scope, oldest first.
    let (cursor, more, added, changed, removed) = {
        let vault = state.vault();
        let journal = lock(&state.inner.placements);
        let in_scope = |id: &PhotoId, e: &crate::replication::journal::Entry| {
            album.as_ref().is_none_or(|a| *a == e.album)
                && through.as_ref().is_none_or(|t| !t.before(e.hlc, id))
                && vault.can_open_album(&session.identity, &e.album)
        };
        let mut entries: Vec<_> =
            journal.changed_since(version).into_iter().filter(|(id, e)| in_scope(id, e)).collect();
        let more = entries.len() > MAX_CHANGES;
        let cursor = if more {
            entries.truncate(MAX_CHANGES);
            entries.last().map_or(journal.version(), |(_, e)| e.changed)
        } else {
            journal.version()
        };
        let (mut added, mut changed, mut removed) = (vec![], vec![], vec![]);
        for (id, e) in entries {
            match vault.live_photo(id) {
                Some(photo) if e.live && e.added > version => added.push((id.clone(), photo.clone())),
                Some(photo) if e.live => changed.push((id.clone(), photo.clone())),
                _ => removed.push(id.to_string()),
            }
        }
        (Journal::cursor_at(journal.generation(), cursor), more, added, changed, removed)
    };
    let blobs: Vec<BlobId> =
        added.iter().chain(&changed).flat_map(|(_, p)| std::iter::once(p.blob).chain(p.thumb)).collect();
    let source = PlacementSource::load(&state, Some(blobs)).await?;
    let mut added: Vec<PhotoItem> = added.into_iter().map(|(id, photo)| item(&source, id, photo)).collect();
    added.sort_by(|a, b| b.cursor.cmp(&a.cursor));
    let changed = changed
        .into_iter()
        .map(|(id, photo)| PhotoPlacement {
            photo: id.to_string(),
            album: photo.album.to_string(),
            nodes: source.of(&photo),
        })
        .collect();
    Ok(Json(ReplicationChanges { node, cursor, reset: false, more, added, changed, removed }))
}

/// Compares the journal with the vault and the placements, unless that was done within
/// [`REFRESH_EVERY`]: one pass over every live photo. Requests arriving during a pass wait for
/// it and use it.
pub(crate) async fn refresh(state: &AppState) -> Result<(), ApiError> {
    let fresh = || !lock(&state.inner.placements).stale(Instant::now(), REFRESH_EVERY);
    if fresh() {
        return Ok(());
    }
    let _pass = state.inner.refreshing.lock().await;
    if fresh() {
        return Ok(());
    }
    let source = PlacementSource::load(state, None).await?;
    let current: Vec<Current> = {
        let vault = state.vault();
        vault
            .photos()
            .map(|(id, photo)| Current {
                photo: id.clone(),
                album: photo.album.clone(),
                hlc: photo.stamp().hlc,
                record: digest(photo.stamp()),
                placement: placement_digest(&source.of(photo)),
            })
            .collect()
    };
    lock(&state.inner.placements).refresh(current, Instant::now());
    Ok(())
}

fn digest(value: &impl Hash) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// What a client shows of a placement; the age of the last attempt is left out (it changes on
/// every look without anything happening).
fn placement_digest(nodes: &[Placement]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    for n in nodes {
        (&n.node, n.state, &n.error, n.error_kind).hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn positions_compare_as_strings_as_they_do_as_values() {
        let id = |c: char| -> PhotoId { c.to_string().repeat(26).parse().unwrap() };
        let p = |wall_ms, counter, c| Position { hlc: Hlc { wall_ms, counter }, id: id(c) };
        let mut values = vec![p(1, 0, 'a'), p(0x10, 0, 'a'), p(1, 2, 'b'), p(1, 2, 'c'), p(u64::MAX, u32::MAX, '7')];
        values.sort();
        let mut texts: Vec<String> = values.iter().map(Position::encode).collect();
        let sorted = texts.clone();
        texts.sort();
        assert_eq!(texts, sorted);
        for v in &values {
            assert_eq!(&Position::parse(&v.encode()).unwrap(), v);
        }
        for bad in ["", "zz", &"g".repeat(50), &format!("{}{}", "0".repeat(24), "A".repeat(26))] {
            assert!(Position::parse(bad).is_err(), "{bad}");
        }
    }
}
