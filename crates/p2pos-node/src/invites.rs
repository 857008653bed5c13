//! Invitations: an admin's browser makes a one-time secret, puts it in a link's `#fragment` (no
//! server ever sees it) and registers only an id derived from it here. The invitee's browser
//! derives the same id and posts a join request: its identity, its age recipient, its name sealed
//! with a key derived from the secret, and a MAC under another such key. The node keeps the
//! request until an admin approves it (by signing a `member` record, the only thing that makes
//! anyone a member) or cancels the invitation.
//!
//! The node trusts nothing here and is trusted with nothing: it cannot read the name, and if it
//! (or the hub) swapped the invitee's keys, the admin's browser finds the MAC wrong and the
//! verification words both screens show differ (`docs/SECURITY.md`, "Invitations").
//!
//! - `POST /v1/invites` (admins): register an invitation id, valid for `ttl_secs`.
//! - `GET /v1/invites` (admins): the open invitations and their join requests.
//! - `DELETE /v1/invites/{id}` (admins): cancel one (or close it once approved).
//! - `POST /v1/invites/{id}/join` (anyone): the join request. One per invitation; at most
//!   [`JOINS_PER_MINUTE`] missed attempts a minute on the whole node (unknown ids and the like;
//!   the request on an open, unused invitation always gets through).
//!
//! Invitations live in memory: a restart of the node closes them all (the admin makes a new one).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use family_vault::Role;
use p2pos_core::IdentityId;
use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::error::{ApiError, ApiJson};
use crate::session::{ChannelSession, Session};
use crate::state::AppState;

/// How long an invitation stays open unless the admin asks otherwise.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest an invitation may stay open.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Open invitations a node keeps at once.
pub(crate) const MAX_OPEN: usize = 32;
/// Missed join attempts (unknown or malformed id, used invitation) the node answers per minute,
/// all invitations together. A request on an open, unused invitation is never refused for them.
pub(crate) const JOINS_PER_MINUTE: usize = 30;
/// Largest sealed name (base64), bytes.
const MAX_SEALED: usize = 2048;

/// The open invitations of this node, in memory.
#[derive(Debug, Default)]
pub(crate) struct Invites {
    book: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    open: HashMap<String, Invite>,
    /// When recent missed join attempts came, oldest first (at most [`JOINS_PER_MINUTE`]).
    joins: VecDeque<u64>,
}

#[derive(Debug, Clone)]
struct Invite {
    by: IdentityId,
    created_ms: u64,
    expires_ms: u64,
    request: Option<JoinRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct JoinRequest {
    /// The invitee's identity (untrusted until the admin's browser checks `mac` and the words).
    #[schema(value_type = String)]
    identity: IdentityId,
    /// The invitee's age recipient.
    recipient: String,
    /// The invitee's name, sealed with a key derived from the invitation secret (base64).
    sealed: String,
    /// HMAC-SHA256 over the request under a key derived from the secret (base64).
    mac: String,
    received_ms: u64,
}

impl Book {
    fn sweep(&mut self, now: u64) {
        self.open.retain(|_, invite| invite.expires_ms > now);
        while self.joins.front().is_some_and(|at| *at + 60_000 <= now) {
            self.joins.pop_front();
        }
    }
}

impl Invites {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        // A panic while holding the lock leaves nothing half-written: every change is one insert.
        self.book.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens an invitation without the route (for tests of other modules).
    #[cfg(test)]
    pub(crate) fn open_for_test(&self, id: &str, by: IdentityId) {
        let now = now_ms();
        let invite = Invite { by, created_ms: now, expires_ms: now + 60_000, request: None };
        self.book().open.insert(id.to_string(), invite);
    }

    /// Whether any invitation is open (a stranger's data channel may then reach the join route).
    pub(crate) fn any_open(&self) -> bool {
        let mut book = self.book();
        book.sweep(now_ms());
        !book.open.is_empty()
    }
}

fn require_admin(state: &AppState, session: &Session) -> Result<(), ApiError> {
    match session.require_member(state)? {
        Role::Admin => Ok(()),
        Role::Member => Err(ApiError::Forbidden("only the family's admins invite people".into())),
    }
}

/// An invitation id: 16 to 32 bytes in unpadded base64url (the web app derives 16 from the secret).
fn check_id(id: &str) -> Result<(), ApiError> {
    let valid = (22..=43).contains(&id.len()) && B64URL.decode(id).is_ok();
    if valid { Ok(()) } else { Err(ApiError::BadRequest("an invitation id is 16 to 32 bytes of base64url".into())) }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewInvite {
    /// Derived from the invitation secret by the admin's browser; the secret never comes here.
    id: String,
    /// How long it stays open: 1 s to 7 days (default 1 day).
    ttl_secs: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct InviteView {
    id: String,
    /// The admin who opened it.
    #[schema(value_type = String)]
    by: IdentityId,
    created_ms: u64,
    expires_ms: u64,
    request: Option<JoinRequest>,
}

/// Open an invitation (admins).
#[utoipa::path(post, path = "/v1/invites", tag = "invites", request_body = NewInvite,
    responses((status = 201, body = InviteView), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 409, body = crate::openapi::ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<NewInvite>,
) -> Result<Response, ApiError> {
    require_admin(&state, &session)?;
    check_id(&req.id)?;
    let ttl = req.ttl_secs.map_or(DEFAULT_TTL, Duration::from_secs);
    if ttl < Duration::from_secs(1) || ttl > MAX_TTL {
        return Err(ApiError::BadRequest("an invitation stays open from 1 s to 7 days".into()));
    }
    let now = now_ms();
    let invite =
        Invite { by: session.identity, created_ms: now, expires_ms: now + ttl.as_millis() as u64, request: None };
    let mut book = state.inner.invites.book();
    book.sweep(now);
    if book.open.contains_key(&req.id) {
        return Err(ApiError::Conflict("this invitation is already open".into()));
    }
    if book.open.len() >= MAX_OPEN {
        return Err(ApiError::Conflict(format!("{MAX_OPEN} invitations are open: cancel one first")));
    }
    book.open.insert(req.id.clone(), invite.clone());
    Ok((StatusCode::CREATED, Json(view(req.id, invite))).into_response())
}

fn view(id: String, invite: Invite) -> InviteView {
    InviteView {
        id,
        by: invite.by,
        created_ms: invite.created_ms,
        expires_ms: invite.expires_ms,
        request: invite.request,
    }
}

/// The open invitations and their join requests (admins).
#[utoipa::path(get, path = "/v1/invites", operation_id = "list_invites", tag = "invites",
    responses((status = 200, body = Vec<InviteView>), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub(crate) async fn list(State(state): State<AppState>, session: Session) -> Result<Json<Vec<InviteView>>, ApiError> {
    require_admin(&state, &session)?;
    let mut book = state.inner.invites.book();
    book.sweep(now_ms());
    let mut out: Vec<InviteView> = book.open.iter().map(|(id, invite)| view(id.clone(), invite.clone())).collect();
    out.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(out))
}

/// Cancel an invitation, or close it once its request is approved (admins).
#[utoipa::path(delete, path = "/v1/invites/{id}", tag = "invites", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &session)?;
    let mut book = state.inner.invites.book();
    book.sweep(now_ms());
    match book.open.remove(&id) {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::NotFound("no such open invitation".into())),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Join {
    #[schema(value_type = String)]
    identity: IdentityId,
    recipient: String,
    sealed: String,
    mac: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct JoinAnswer {
    /// Until when an admin can approve it.
    expires_ms: u64,
}

/// Ask to join with an invitation (anyone who has its link). An admin still has to approve.
#[utoipa::path(post, path = "/v1/invites/{id}/join", tag = "invites", params(("id" = String, Path)),
    request_body = Join,
    responses((status = 202, body = JoinAnswer), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody),
        (status = 429, body = crate::openapi::ErrorBody)))]
pub(crate) async fn join(
    State(state): State<AppState>,
    channel: Option<Extension<ChannelSession>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Join>,
) -> Result<Response, ApiError> {
    // Over a data channel the hub proved who is asking: the request is for that identity only.
    if let Some(Extension(ChannelSession(caller))) = channel
        && caller != req.identity
    {
        return Err(ApiError::Forbidden("over a channel, ask to join as the channel's own identity".into()));
    }
    let now = now_ms();
    {
        // Only misses count against the limit (a malformed or unknown id, or someone else's
        // request on a used invitation): guesses without the link never keep the invitee out.
        let mut book = state.inner.invites.book();
        book.sweep(now);
        let hit = book.open.get(&id).is_some_and(|invite| {
            invite.request.as_ref().is_none_or(|r| r.identity == req.identity && r.recipient == req.recipient)
        });
        if !hit {
            if book.joins.len() >= JOINS_PER_MINUTE {
                return Err(ApiError::TooManyRequests("too many join requests: try again in a minute".into()));
            }
            book.joins.push_back(now);
        }
    }
    check_id(&id)?;
    let recipient_ok = req.recipient.len() == 62
        && req.recipient.starts_with("age1")
        && req.recipient.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !recipient_ok {
        return Err(ApiError::BadRequest("recipient is not an age X25519 recipient (age1…, 62 characters)".into()));
    }
    let sealed_ok = req.sealed.len() <= MAX_SEALED && B64.decode(&req.sealed).is_ok_and(|b| b.len() >= 28);
    if !sealed_ok {
        return Err(ApiError::BadRequest(format!(
            "sealed is base64 of a nonce and ciphertext, at most {MAX_SEALED} characters"
        )));
    }
    if B64.decode(&req.mac).map(|m| m.len()) != Ok(32) {
        return Err(ApiError::BadRequest("mac is base64 of 32 bytes".into()));
    }
    // The invitation first: without its link, nobody learns from the answer who is a member.
    if !state.inner.invites.book().open.contains_key(&id) {
        return Err(ApiError::NotFound("no such open invitation".into()));
    }
    if state.vault().role(&req.identity).is_some() {
        return Err(ApiError::Conflict("this identity is already a member of the family".into()));
    }
    let request = JoinRequest {
        identity: req.identity,
        recipient: req.recipient,
        sealed: req.sealed,
        mac: req.mac,
        received_ms: now,
    };
    let mut book = state.inner.invites.book();
    let invite = book.open.get_mut(&id).ok_or_else(|| ApiError::NotFound("no such open invitation".into()))?;
    match &invite.request {
        // The same request again (a retry after a lost answer) is answered alike.
        Some(existing) if existing.identity == request.identity && existing.recipient == request.recipient => {}
        Some(_) => return Err(ApiError::Conflict("this invitation has already been used".into())),
        None => invite.request = Some(request),
    }
    Ok((StatusCode::ACCEPTED, Json(JoinAnswer { expires_ms: invite.expires_ms })).into_response())
}
