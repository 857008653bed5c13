//! The vault from anywhere: a family member's browser that cannot reach this node's HTTP origin
//! opens a WebRTC data channel to it through the hub, and sends the same `/v1` requests over it
//! (`p2pos_net::webrtc::client`). Each request runs through the node's own router, as the identity
//! the channel is bound to ([`ChannelSession`]): same handlers, same rules, same errors.

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use futures_util::TryStreamExt;
use p2pos_core::IdentityId;
use p2pos_net::TransportError;
use p2pos_net::webrtc::carrier::ResponseHead;
use p2pos_net::webrtc::{CarriedRequest, CarriedResponse, ClientService, Refusal};
use tower::ServiceExt;

use crate::session::ChannelSession;
use crate::state::AppState;

/// Request headers passed on to the router; the others (cookies, origin, hop-by-hop) mean
/// nothing on a channel.
const FORWARDED: [HeaderName; 4] = [header::ACCEPT, header::CONTENT_TYPE, header::CONTENT_LENGTH, header::RANGE];

pub(crate) struct VaultOverRtc {
    state: AppState,
    router: Router,
}

impl VaultOverRtc {
    /// `router` is the node's own (`crate::router`), passed in so this module does not reach up
    /// for it.
    pub(crate) fn new(state: AppState, router: Router) -> Self {
        Self { router, state }
    }
}

#[async_trait]
impl ClientService for VaultOverRtc {
    fn admit(&self, client: &IdentityId) -> Result<(), Refusal> {
        match self.state.vault().role(client) {
            Some(_) => Ok(()),
            None => Err(Refusal {
                code: "not_a_member".into(),
                message: "this identity is not a member of the family this node serves".into(),
            }),
        }
    }

    async fn serve(&self, request: CarriedRequest) -> CarriedResponse {
        match self.route(request).await {
            Ok(response) => response,
            Err((status, code, message)) => json_response(status, code, &message),
        }
    }
}

impl VaultOverRtc {
    async fn route(&self, carried: CarriedRequest) -> Result<CarriedResponse, (StatusCode, &'static str, String)> {
        let CarriedRequest { client, head, body } = carried;
        let bad = |message: String| (StatusCode::BAD_REQUEST, "bad_request", message);
        // The vault's API only: not the web app's files, nor the node-to-node routes.
        if !head.path.starts_with("/v1/") || head.path.starts_with("/v1/peer/") {
            return Err((StatusCode::NOT_FOUND, "not_found", format!("{} is not served over a channel", head.path)));
        }
        let method =
            Method::from_bytes(head.method.as_bytes()).map_err(|_| bad(format!("bad method {}", head.method)))?;
        let mut request = Request::builder()
            .method(method)
            .uri(head.path.as_str())
            .body(Body::from_stream(body))
            .map_err(|e| bad(format!("bad request line: {e}")))?;
        for (name, value) in &head.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad(format!("bad header name {name}")))?;
            if FORWARDED.contains(&name) {
                let value = HeaderValue::from_str(value).map_err(|_| bad(format!("bad value for {name}")))?;
                request.headers_mut().insert(name, value);
            }
        }
        request.extensions_mut().insert(ChannelSession(client));
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let headers = parts
            .headers
            .iter()
            .filter(|(name, _)| *name != header::SET_COOKIE)
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect();
        let body = body.into_data_stream().map_err(|e| TransportError::broken_by("response body", e));
        Ok(CarriedResponse { head: ResponseHead { status: parts.status.as_u16(), headers }, body: Box::pin(body) })
    }
}

fn json_response(status: StatusCode, code: &str, message: &str) -> CarriedResponse {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    CarriedResponse {
        head: ResponseHead {
            status: status.as_u16(),
            headers: vec![("content-type".into(), "application/json".into())],
        },
        body: Box::pin(futures_util::stream::once(async move { Ok(axum::body::Bytes::from(body)) })),
    }
}
