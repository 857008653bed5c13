//! Login by Ed25519 challenge, bound to the web origin, and sessions in an httpOnly cookie.
//!
//! 1. `POST /v1/auth/challenge {identity}` → `{nonce, expires_ms}` (single use, 2 minutes).
//! 2. The client signs `p2pos-login-v1|<origin>|<nonce>|<expires_ms>` with its identity key, where
//!    `<origin>` is the page's origin; the node rebuilds it from the request's `Origin` header, so a
//!    signature made for another site does not log in here.
//! 3. `POST /v1/auth/verify {identity, nonce, sig}` → cookie `p2pos_session` (HttpOnly,
//!    SameSite=Strict), valid for the session lifetime; only a hash of the token is stored.
//!
//! Sessions themselves (the cookie, the extractor, rotation) are `session.rs`. Also here: claiming
//! a fresh node with its setup code (`/v1/setup`).

use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, http::StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use ed25519_dalek::Signature;
use family_vault::Role;
use p2pos_core::{IdentityId, SignedRecord};
use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::error::{ApiError, ApiJson};
use crate::session::{self, COOKIE, Session, origin_of, session_cookie};
use crate::state::AppState;

const LOGIN_CONTEXT: &str = "p2pos-login-v1";
const CHALLENGE_TTL: Duration = Duration::from_secs(120);

/// The message a client signs to log in.
pub fn login_message(origin: &str, nonce: &str, expires_ms: u64) -> String {
    format!("{LOGIN_CONTEXT}|{origin}|{nonce}|{expires_ms}")
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChallengeRequest {
    #[schema(value_type = String, example = "XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX")]
    identity: IdentityId,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ChallengeResponse {
    nonce: String,
    expires_ms: u64,
}

/// The address a request came from, when the connection has one (not a test's `oneshot`, nor a
/// request over a data channel).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0)))
    }
}

/// Starts a login: a single-use nonce for this identity, valid for 2 minutes.
///
/// Challenges are stateless: the nonce carries its expiry, some randomness and a MAC (BLAKE3
/// keyed with a secret only this process holds) over the identity and expiry. Issuing one stores
/// nothing, so no flood of challenges, from one address or a million, can crowd out anyone's
/// login. A nonce is remembered only once it has logged a member in, so each works once.
#[utoipa::path(post, path = "/v1/auth/challenge", tag = "auth", request_body = ChallengeRequest,
    responses((status = 200, body = ChallengeResponse), (status = 400, body = crate::openapi::ErrorBody)))]
pub(crate) async fn challenge(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> Result<Json<ChallengeResponse>, ApiError> {
    let expires_ms = now_ms() + CHALLENGE_TTL.as_millis() as u64;
    let random: [u8; 16] = rand::random();
    let mac = challenge_mac(&state, &req.identity, expires_ms, &random);
    let mut nonce = Vec::with_capacity(8 + 16 + 32);
    nonce.extend_from_slice(&expires_ms.to_be_bytes());
    nonce.extend_from_slice(&random);
    nonce.extend_from_slice(mac.as_bytes());
    Ok(Json(ChallengeResponse { nonce: B64URL.encode(nonce), expires_ms }))
}

fn challenge_mac(state: &AppState, identity: &IdentityId, expires_ms: u64, random: &[u8; 16]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(&state.inner.login_key);
    h.update(b"p2pos-login-challenge-v1|").update(identity.to_string().as_bytes());
    h.update(&expires_ms.to_be_bytes()).update(random);
    h.finalize()
}

/// The expiry and randomness of a nonce this node issued for `identity`, if it did.
fn open_nonce(state: &AppState, identity: &IdentityId, nonce: &str) -> Option<(u64, [u8; 16])> {
    let bytes = B64URL.decode(nonce).ok()?;
    let (expires, rest) = bytes.split_first_chunk::<8>()?;
    let (random, mac) = rest.split_first_chunk::<16>()?;
    let mac: [u8; 32] = mac.try_into().ok()?;
    let expires_ms = u64::from_be_bytes(*expires);
    // `blake3::Hash` compares in constant time.
    (challenge_mac(state, identity, expires_ms, random) == blake3::Hash::from_bytes(mac))
        .then_some((expires_ms, *random))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyRequest {
    #[schema(value_type = String)]
    identity: IdentityId,
    nonce: String,
    sig: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Me {
    #[schema(value_type = String)]
    identity: IdentityId,
    #[schema(value_type = Option<crate::openapi::RoleSchema>)]
    role: Option<Role>,
    expires_ms: u64,
}

/// Completes a login with the signed challenge; sets the `p2pos_session` cookie. Only current
/// members of the family get a session: anyone else, on a claimed node or not, gets 403
/// `not_a_member` (a node is claimed with `/v1/setup`, which needs no session).
#[utoipa::path(post, path = "/v1/auth/verify", tag = "auth", request_body = VerifyRequest,
    responses((status = 200, body = Me, description = "Signed in; `Set-Cookie: p2pos_session=…`"),
        (status = 400, body = crate::openapi::ErrorBody), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    let origin = origin_of(&headers)?;
    let refused = || {
        state.inner.metrics.logins_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ApiError::Unauthorized
    };
    let now = now_ms();
    let (expires_ms, random) = open_nonce(&state, &req.identity, &req.nonce).ok_or_else(refused)?;
    if expires_ms <= now {
        return Err(refused());
    }
    let sig: [u8; 64] = B64.decode(&req.sig).ok().and_then(|s| s.try_into().ok()).ok_or_else(refused)?;
    let message = login_message(&origin, &req.nonce, expires_ms);
    let key = req.identity.verifying_key().map_err(|_| refused())?;
    key.verify_strict(message.as_bytes(), &Signature::from_bytes(&sig)).map_err(|_| refused())?;
    // The key is proven; only a member gets a session (and a row in the table).
    let Some(role) = state.vault().role(&req.identity) else {
        state.inner.metrics.logins_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(ApiError::NotAMember);
    };
    // Each nonce logs in once. Only members' logins are remembered, until their nonce expires.
    {
        let mut used = state.inner.used_logins.lock().unwrap_or_else(|p| p.into_inner());
        used.retain(|_, expires| *expires > now);
        if used.insert(random, expires_ms).is_some() {
            return Err(refused());
        }
    }
    let role = Some(role);
    let (token, expires_ms) = session::create(&state, req.identity, &origin).await?;
    state.inner.metrics.logins.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut response = Json(Me { identity: req.identity, role, expires_ms }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&token, state.inner.config.session_ttl, &origin));
    Ok(response)
}

/// Ends the session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    session::end(&state, &headers).await?;
    let clear = HeaderValue::from_str(&format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"))
        .unwrap_or_else(|_| HeaderValue::from_static(""));
    Ok(([(header::SET_COOKIE, clear)], StatusCode::NO_CONTENT).into_response())
}

/// Who is signed in, and their role in the family.
#[utoipa::path(get, path = "/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = crate::openapi::ErrorBody)))]
pub(crate) async fn me(State(state): State<AppState>, session: Session) -> Json<Me> {
    let role = state.vault().role(&session.identity);
    Json(Me { identity: session.identity, role, expires_ms: session.expires_ms })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetupRequest {
    code: String,
    /// The founding `family` record and the founder's own `member` record, signed by the founder.
    #[schema(value_type = Vec<crate::openapi::SignedRecordSchema>)]
    records: Vec<SignedRecord>,
}

/// Claims a fresh node: the setup code printed at first start proves the caller is at the
/// console, and the signer of the founding record becomes the family's first admin.
#[utoipa::path(post, path = "/v1/setup", tag = "family", request_body = SetupRequest,
    responses((status = 201, body = Vec<crate::records::Accepted>), (status = 403, body = crate::openapi::ErrorBody),
        (status = 409, body = crate::openapi::ErrorBody)))]
pub(crate) async fn setup(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SetupRequest>,
) -> Result<Response, ApiError> {
    if state.vault().family().is_some() {
        return Err(ApiError::Conflict("this node already belongs to a family".into()));
    }
    if state.joining() {
        return Err(ApiError::Conflict(
            "this node joins its family through an enrolled peer; it cannot be claimed".into(),
        ));
    }
    let code = state.setup_code();
    if !state.take_setup_code(&req.code) {
        return Err(ApiError::Forbidden("wrong setup code (it is printed by `p2pos node` at start)".into()));
    }
    let mut seqs = Vec::new();
    for record in req.records {
        match crate::records::accept(&state, record).await {
            Ok(accepted) => seqs.push(accepted),
            Err(e) => {
                // Nothing was claimed if the founding records were refused.
                if state.vault().family().is_none()
                    && let Some(code) = code
                {
                    state.restore_setup_code(code);
                }
                return Err(e);
            }
        }
    }
    Ok((StatusCode::CREATED, Json(seqs)).into_response())
}
