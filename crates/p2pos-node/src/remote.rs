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
use p2pos_net::webrtc::carrier::{RequestHead, ResponseHead};
use p2pos_net::webrtc::{Admitted, CarriedRequest, CarriedResponse, ClientService, Refusal};
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
    fn admit(&self, client: &IdentityId) -> Result<Admitted, Refusal> {
        // While an invitation is open, a stranger's browser may open a channel to ask to join
        // with it (and do nothing else: see `route`), in the few sessions kept for strangers.
        let invited = || self.state.inner.invites.any_open();
        match self.state.vault().role(client) {
            Some(_) => Ok(Admitted::Member),
            None if invited() => Ok(Admitted::Stranger),
            None => Err(Refusal {
                code: "not_a_member".into(),
                message: "this identity is not a member of the family this node serves".into(),
            }),
        }
    }

    /// A stranger comes to ask to join: once that is answered, its channel closes (it connects
    /// again to see whether it was approved), so strangers do not hold the few sessions kept
    /// for them.
    fn ends_stranger_session(&self, head: &RequestHead) -> bool {
        Method::from_bytes(head.method.as_bytes()).is_ok_and(|method| is_join_call(&method, &head.path))
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
        // A stranger (admitted while an invitation is open) reaches the join route, and what a
        // page calls before it (health, and sign-in, which answers `not_a_member`), only.
        if self.state.vault().role(&client).is_none() && !stranger_may_call(&method, &head.path) {
            let message = "this identity is not a member of the family this node serves".to_string();
            return Err((StatusCode::FORBIDDEN, "not_a_member", message));
        }
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

/// What a stranger may call over a channel: `POST /v1/invites/{id}/join`, and what the page calls
/// before it (`GET /v1/health`, the sign-in routes, which give a stranger no session).
fn stranger_may_call(method: &Method, path: &str) -> bool {
    let join = is_join_call(method, path);
    let before = match *method {
        Method::GET => path == "/v1/health",
        Method::POST => path == "/v1/auth/challenge" || path == "/v1/auth/verify",
        _ => false,
    };
    join || before
}

/// `POST /v1/invites/{id}/join`.
fn is_join_call(method: &Method, path: &str) -> bool {
    let id = path.strip_prefix("/v1/invites/").and_then(|rest| rest.strip_suffix("/join"));
    *method == Method::POST && id.is_some_and(|id| !id.is_empty() && !id.contains('/') && !id.contains('?'))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

    use super::*;
    use crate::state::NodeConfig;
    use futures_util::StreamExt as _;
    use p2pos_core::Identity;

    fn carried(client: IdentityId, method: &str, path: &str, body: &'static str) -> CarriedRequest {
        let body = futures_util::stream::once(async move { Ok(axum::body::Bytes::from(body)) });
        CarriedRequest {
            client,
            head: RequestHead {
                method: method.into(),
                path: path.into(),
                headers: vec![("content-type".into(), "application/json".into())],
            },
            body: Box::pin(body),
        }
    }

    async fn read(response: CarriedResponse) -> (u16, String) {
        let bytes: Vec<u8> = response.body.map(|chunk| chunk.unwrap().to_vec()).concat().await;
        (response.head.status, String::from_utf8(bytes).unwrap())
    }

    /// A stranger's browser opens a channel only while an invitation is open, and reaches only the
    /// join route over it.
    #[tokio::test]
    async fn a_stranger_reaches_the_join_route_only_while_an_invitation_is_open() {
        let data = tempfile::tempdir().unwrap();
        let state = AppState::open(NodeConfig::new("127.0.0.1:0".parse().unwrap(), data.path().into())).await.unwrap();
        let service = VaultOverRtc::new(state.clone(), crate::router(state.clone()));
        let stranger = Identity::generate().unwrap();
        assert_eq!(service.admit(&stranger.id()).unwrap_err().code, "not_a_member");

        state.inner.invites.open_for_test("aW52aXRhdGlvbi1mb3ItYmVu", stranger.id());
        assert_eq!(
            service.admit(&stranger.id()).ok(),
            Some(Admitted::Stranger),
            "an open invitation lets a stranger ask"
        );
        for (method, path) in [
            ("GET", "/v1/records"),
            ("GET", "/v1/invites"),
            ("GET", "/v1/invites/aW52aXRhdGlvbi1mb3ItYmVu/join"),
            ("POST", "/v1/invites/aW52aXRhdGlvbi1mb3ItYmVu/join/x"),
            ("POST", "/v1/records"),
        ] {
            let (status, body) = read(service.serve(carried(stranger.id(), method, path, "{}")).await).await;
            assert_eq!(status, 403, "{method} {path}: {body}");
            assert!(body.contains("not_a_member"), "{method} {path}: {body}");
        }
        let head = |method: &str, path: &str| RequestHead { method: method.into(), path: path.into(), headers: vec![] };
        assert!(service.ends_stranger_session(&head("POST", "/v1/invites/aW52aXRhdGlvbi1mb3ItYmVu/join")));
        for (method, path) in [("GET", "/v1/health"), ("POST", "/v1/auth/verify"), ("GET", "/v1/invites/x/join")] {
            assert!(!service.ends_stranger_session(&head(method, path)), "{method} {path} does not end the session");
        }
        let (status, _) = read(service.serve(carried(stranger.id(), "GET", "/v1/health", "")).await).await;
        assert_eq!(status, 200, "the page may see the node is there");
        let verify = format!(r#"{{"identity":"{}","nonce":"x","sig":"y"}}"#, stranger.id());
        let verify: &'static str = Box::leak(verify.into_boxed_str());
        let (status, body) = read(service.serve(carried(stranger.id(), "POST", "/v1/auth/verify", verify)).await).await;
        assert!(status == 400 || status == 401 || status == 403, "no session for a stranger: {status} {body}");
        let join = r#"{"identity":"x","recipient":"y","sealed":"z","mac":"w"}"#;
        let (status, body) = read(
            service.serve(carried(stranger.id(), "POST", "/v1/invites/aW52aXRhdGlvbi1mb3ItYmVu/join", join)).await,
        )
        .await;
        assert_eq!(status, 400, "the join route itself answers (here: a malformed request): {body}");
    }

    /// Over a channel, a join request is for the channel's own identity: a stranger cannot ask in
    /// someone else's name.
    #[tokio::test]
    async fn a_join_over_a_channel_is_for_the_channel_s_identity() {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let data = tempfile::tempdir().unwrap();
        let state = AppState::open(NodeConfig::new("127.0.0.1:0".parse().unwrap(), data.path().into())).await.unwrap();
        let service = VaultOverRtc::new(state.clone(), crate::router(state.clone()));
        let (eve, ben) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        state.inner.invites.open_for_test("aW52aXRhdGlvbi1mb3ItYmVu", eve.id());
        let body = |who: &Identity| -> &'static str {
            let text = serde_json::json!({"identity": who.id(), "recipient": who.recipient().to_string(),
                "sealed": b64(&[1u8; 40]), "mac": b64(&[2u8; 32])})
            .to_string();
            Box::leak(text.into_boxed_str())
        };
        let path = "/v1/invites/aW52aXRhdGlvbi1mb3ItYmVu/join";
        let (status, answer) = read(service.serve(carried(eve.id(), "POST", path, body(&ben))).await).await;
        assert_eq!(status, 403, "Ben's identity over Eve's channel: {answer}");
        let (status, answer) = read(service.serve(carried(eve.id(), "POST", path, body(&eve))).await).await;
        assert_eq!(status, 202, "her own: {answer}");
    }
}
