//! The Nodes page's API: this node and its peers, enrolment tokens, adding and removing peers.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use family_vault::Role;
use p2pos_core::NodeId;
use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::enroll::{self, EnrollError, EnrollToken};
use crate::error::{ApiError, ApiJson};
use crate::replication::peers::PeerInfo;
use crate::session::Session;
use crate::state::AppState;

fn require_admin(state: &AppState, session: &Session) -> Result<(), ApiError> {
    match session.require_member(state)? {
        Role::Admin => Ok(()),
        Role::Member => Err(ApiError::Forbidden("only the family's admins manage nodes".into())),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Nodes {
    /// This node.
    me: PeerInfo,
    /// The hub this node uses, if any.
    hub: Option<String>,
    peers: Vec<PeerInfo>,
}

/// This node and its enrolled peers.
#[utoipa::path(get, path = "/v1/nodes", operation_id = "list_nodes", tag = "nodes",
    responses((status = 200, body = Nodes), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub(crate) async fn list(State(state): State<AppState>, session: Session) -> Result<Json<Nodes>, ApiError> {
    session.require_member(&state)?;
    Ok(Json(Nodes {
        me: state.me(),
        hub: state.inner.config.replication.hub.clone(),
        peers: state.inner.replication.peers(),
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Token {
    /// `P2POS-ENROLL-…`: give it to the other node (`p2pos peer add`, or its Nodes page).
    token: String,
    expires_ms: u64,
}

/// Issue a one-time enrolment token (admins; the node needs a hub and a family).
#[utoipa::path(post, path = "/v1/enroll", tag = "nodes",
    responses((status = 201, body = Token), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub(crate) async fn enroll(State(state): State<AppState>, session: Session) -> Result<Response, ApiError> {
    require_admin(&state, &session)?;
    let Some(hub) = state.inner.config.replication.hub.clone() else {
        return Err(ApiError::Conflict("this node has no hub configured (`--hub`), so it cannot enrol peers".into()));
    };
    let family = state.vault().family().map(|f| f.to_string()).ok_or(ApiError::Unauthorized)?;
    let node = state.node_id();
    let token = state
        .db(move |db| Ok(enroll::issue(db, node, &family, &hub, now_ms())))
        .await?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((StatusCode::CREATED, Json(Token { token: token.encode(), expires_ms: token.expires_ms })).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddPeer {
    /// A token issued by the other node.
    token: String,
}

/// Complete an enrolment with the node that issued `token` (admins): both nodes pin each other.
#[utoipa::path(post, path = "/v1/nodes/peers", operation_id = "add_peer", tag = "nodes", request_body = AddPeer,
    responses((status = 201, body = PeerInfo), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 409, body = crate::openapi::ErrorBody), (status = 502, body = crate::openapi::ErrorBody)))]
pub(crate) async fn add_peer(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<AddPeer>,
) -> Result<Response, ApiError> {
    require_admin(&state, &session)?;
    let token = EnrollToken::parse(&req.token).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let peer = join(&state, &token).await?;
    Ok((StatusCode::CREATED, Json(peer)).into_response())
}

/// The joining side of enrolment, for a running node.
pub(crate) async fn join(state: &AppState, token: &EnrollToken) -> Result<PeerInfo, ApiError> {
    if token.node == state.node_id() {
        return Err(ApiError::BadRequest("this token was issued by this node; use it on the other node".into()));
    }
    if let Some(family) = state.vault().family().map(|f| f.to_string())
        && family != token.family
    {
        return Err(ApiError::Conflict(EnrollError::OtherFamily(family).to_string()));
    }
    let me = state.me();
    let (peer, _) =
        enroll::join(token, &state.inner.node_key, &me.name, me.base_url.as_deref(), Duration::from_secs(30))
            .await
            .map_err(|e| match e {
                EnrollError::Expired | EnrollError::Used | EnrollError::UnknownToken | EnrollError::Refused(_) => {
                    ApiError::Forbidden(e.to_string())
                }
                EnrollError::BadToken(_) => ApiError::BadRequest(e.to_string()),
                other => ApiError::BadGateway(other.to_string()),
            })?;
    state.add_peer(peer.clone()).await?;
    Ok(peer)
}

/// Stop replicating with a peer and refuse its requests from now on (admins).
#[utoipa::path(delete, path = "/v1/nodes/peers/{id}", operation_id = "remove_peer", tag = "nodes",
    params(("id" = String, Path, description = "The peer's node id")),
    responses((status = 204), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub(crate) async fn remove_peer(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &session)?;
    let node: NodeId = id.parse().map_err(|e| ApiError::BadRequest(format!("not a node id: {e}")))?;
    if state.remove_peer(node).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("no such peer".into()))
    }
}
