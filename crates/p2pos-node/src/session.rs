//! Sessions: the `p2pos_session` cookie (HttpOnly, SameSite=Strict; only a hash of its token is
//! stored, see `store::sessions`), the [`Session`] extractor every member route takes, and the
//! middleware that rotates old tokens. Logging in is `auth.rs`; this module only knows sessions.
//!
//! Over a client session's data channel there is no cookie: the channel is the session
//! ([`ChannelSession`], set by `remote.rs`).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use family_vault::Role;
use p2pos_core::IdentityId;
use std::time::Duration;

use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store;
use crate::store::sessions::SessionRow;

pub const COOKIE: &str = "p2pos_session";

/// Request extension: the request came over a client session's data channel bound to this
/// identity. Only `remote.rs` sets it (HTTP requests cannot carry extensions); the session
/// extractor takes it instead of a cookie.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelSession(pub IdentityId);

/// The page's origin, from the `Origin` header.
pub(crate) fn origin_of(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| !o.is_empty() && *o != "null")
        .map(str::to_string)
        .ok_or_else(|| ApiError::BadRequest("an Origin header is required".into()))
}

fn token_hash(token: &str) -> Vec<u8> {
    blake3::hash(token.as_bytes()).as_bytes().to_vec()
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == COOKIE).then(|| value.to_string())
    })
}

pub(crate) fn session_cookie(token: &str, max_age: Duration, origin: &str) -> HeaderValue {
    let secure = if origin.starts_with("https://") { "; Secure" } else { "" };
    let value = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}", max_age.as_secs());
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A fresh session for `identity` at `origin`: its token and expiry.
pub(crate) async fn create(state: &AppState, identity: IdentityId, origin: &str) -> Result<(String, u64), ApiError> {
    let token = B64URL.encode(rand::random::<[u8; 32]>());
    let now = now_ms();
    let expires_ms = now + state.inner.config.session_ttl.as_millis() as u64;
    let (hash, origin) = (token_hash(&token), origin.to_string());
    state.db(move |db| store::sessions::create(db, &hash, &identity.to_string(), &origin, now, expires_ms)).await?;
    Ok((token, expires_ms))
}

/// Ends the session of the request's cookie, if it has one.
pub(crate) async fn end(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(token) = cookie_token(headers) {
        let hash = token_hash(&token);
        state.db(move |db| store::sessions::delete(db, &hash)).await?;
    }
    Ok(())
}

/// A signed-in identity: from the session cookie, or from the data channel a request came over.
/// Extracting it fails with 401 without a valid, unexpired session, and with 403 for a
/// state-changing request from another origin.
#[derive(Debug, Clone)]
pub struct Session {
    pub identity: IdentityId,
    pub expires_ms: u64,
}

impl Session {
    pub(crate) fn require_member(&self, state: &AppState) -> Result<Role, ApiError> {
        state.vault().role(&self.identity).ok_or(ApiError::NotAMember)
    }
}

async fn lookup(state: &AppState, token: &str) -> Result<Option<SessionRow>, ApiError> {
    let hash = token_hash(token);
    state.db(move |db| store::sessions::find(db, &hash)).await
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Over a client session's data channel the channel is the session (crate::remote).
        if let Some(ChannelSession(identity)) = parts.extensions.get() {
            return Ok(Session {
                identity: *identity,
                expires_ms: now_ms() + state.inner.config.session_ttl.as_millis() as u64,
            });
        }
        let token = cookie_token(&parts.headers).ok_or(ApiError::Unauthorized)?;
        let row = lookup(state, &token).await?.filter(|r| r.expires_ms > now_ms()).ok_or(ApiError::Unauthorized)?;
        let changes_state = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if changes_state && origin_of(&parts.headers).ok().as_deref() != Some(row.origin.as_str()) {
            return Err(ApiError::Forbidden("this request comes from another origin than the session".into()));
        }
        let identity = row.identity.parse().map_err(ApiError::internal)?;
        Ok(Session { identity, expires_ms: row.expires_ms })
    }
}

/// Middleware: replaces a session token older than the rotation age by a fresh one, transparently
/// (the request continues with the new token and the response sets the new cookie).
pub(crate) async fn rotate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(token) = cookie_token(request.headers()) else { return next.run(request).await };
    let Ok(Some(row)) = lookup(&state, &token).await else { return next.run(request).await };
    let rotate_after = state.inner.config.session_rotate_after.as_millis() as u64;
    let now = now_ms();
    if row.expires_ms <= now || row.created_ms + rotate_after > now {
        return next.run(request).await;
    }
    let Ok(identity) = row.identity.parse::<IdentityId>() else { return next.run(request).await };
    let Ok((fresh, _)) = create(&state, identity, &row.origin).await else { return next.run(request).await };
    let old = token_hash(&token);
    let _ = state.db(move |db| store::sessions::delete(db, &old)).await;
    if let Ok(value) = HeaderValue::from_str(&format!("{COOKIE}={fresh}")) {
        request.headers_mut().insert(header::COOKIE, value);
    }
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .append(header::SET_COOKIE, session_cookie(&fresh, state.inner.config.session_ttl, &row.origin));
    response
}
