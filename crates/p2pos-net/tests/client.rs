#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

//! Client sessions against a real hub on loopback: a "browser" (webrtc-rs, signing as a member's
//! identity) opens the `p2pos/http` channel to a node's `ClientSessions` and sends requests over
//! it; members only, and only with a DTLS fingerprint bound to the identity the hub proved.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use futures_util::StreamExt;
use p2pos_core::{IdentityId, NodeId};
use p2pos_net::hub::{HubClient, HubEvent, HubHandle};
use p2pos_net::webrtc::carrier::{self, Kind, RequestHead, ResponseHead};
use p2pos_net::webrtc::client::{MAX_STRANGER_SESSIONS, STRANGER_IDLE};
use p2pos_net::webrtc::signal::{RtcSignal, sign_binding, verify_binding};
use p2pos_net::webrtc::{
    Admitted, CarriedRequest, CarriedResponse, ClientService, ClientSessions, DataPeer, DataPeerEvent, Refusal,
    WebRtcConfig,
};
use p2pos_signal::server::{ServerConfig, SignalServer};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Admits one identity (and, with `strangers`, anyone else as a stranger); answers every request
/// with its method, path, body length and caller.
struct Echo {
    member: IdentityId,
    strangers: bool,
}

#[async_trait]
impl ClientService for Echo {
    fn admit(&self, client: &IdentityId) -> Result<Admitted, Refusal> {
        if *client == self.member {
            Ok(Admitted::Member)
        } else if self.strangers {
            Ok(Admitted::Stranger)
        } else {
            Err(Refusal { code: "not_a_member".into(), message: "not in this family".into() })
        }
    }

    fn ends_stranger_session(&self, head: &RequestHead) -> bool {
        head.method == "POST" && head.path.ends_with("/join")
    }

    async fn serve(&self, request: CarriedRequest) -> CarriedResponse {
        let mut body = request.body;
        let mut len = 0usize;
        while let Some(chunk) = body.next().await {
            len += chunk.unwrap().len();
        }
        let reply = json!({
            "method": request.head.method, "path": request.head.path, "len": len,
            "client": request.client.to_string(),
        });
        // A large response, to cross many frames: `len` bytes of 7s after the JSON line.
        let mut bytes = reply.to_string().into_bytes();
        bytes.push(b'\n');
        bytes.extend(std::iter::repeat_n(7u8, len));
        CarriedResponse {
            head: ResponseHead { status: 200, headers: vec![("content-type".into(), "text/plain".into())] },
            body: Box::pin(futures_util::stream::once(async move { Ok(Bytes::from(bytes)) })),
        }
    }
}

fn new_key() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

struct Setup {
    _server: SignalServer,
    _node_hub: HubHandle,
    node: NodeId,
    member: SigningKey,
    url: String,
}

/// A hub, and a node on it serving client sessions with `Echo`.
async fn setup() -> Setup {
    setup_with(false).await
}

async fn setup_with(strangers: bool) -> Setup {
    setup_idle(strangers, STRANGER_IDLE).await
}

async fn setup_idle(strangers: bool, stranger_idle: Duration) -> Setup {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = SignalServer::start(listener, ServerConfig::default(), axum::Router::new()).unwrap();
    let url = format!("ws://{}/v1/ws", server.local_addr());
    let (node_key, member) = (new_key(), new_key());
    let node = NodeId::from_verifying_key(&node_key.verifying_key());
    let member_id = IdentityId::from_verifying_key(&member.verifying_key());
    let (hub, mut events) = HubClient::spawn(url.clone(), Some(node_key.clone()), json!({}));
    let sessions = ClientSessions::with_stranger_idle(
        hub.clone(),
        node_key,
        Arc::new(Echo { member: member_id, strangers }),
        WebRtcConfig::loopback(),
        stranger_idle,
    );
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            // As the node does (p2pos-node, hub.rs): a browser that proved no identity is refused.
            match event {
                HubEvent::Signal { from, from_id: Some(id), payload } => {
                    let _ = sessions.handle_signal(&from, id.parse().unwrap(), payload).await;
                }
                HubEvent::Signal { from, from_id: None, payload } => sessions.refuse_anonymous(&from, &payload).await,
                _ => {}
            }
        }
    });
    Setup { _server: server, _node_hub: hub, node, member, url }
}

/// The browser's side: offers with a binding signed by `signer` (normally `me` itself).
struct Browser {
    /// Kept open for the session's life.
    _hub: HubHandle,
    events: mpsc::Receiver<HubEvent>,
    peer: DataPeer,
}

fn client_payload(signal: &RtcSignal) -> Value {
    let mut payload = signal.to_payload();
    payload["app"] = json!("vault");
    payload
}

impl Browser {
    async fn open(setup: &Setup, me: &SigningKey, signer: &SigningKey) -> Result<Self, (String, String)> {
        Self::open_on_hub_as(setup, Some(me), me, signer).await
    }

    /// `hub_identity`: what the browser proves to the hub (`None`: an anonymous connection).
    async fn open_on_hub_as(
        setup: &Setup,
        hub_identity: Option<&SigningKey>,
        me: &SigningKey,
        signer: &SigningKey,
    ) -> Result<Self, (String, String)> {
        let (hub, mut events) = HubClient::spawn(setup.url.clone(), hub_identity.cloned(), json!({}));
        loop {
            if matches!(events.recv().await.unwrap(), HubEvent::Connected) {
                break;
            }
        }
        let mut peer = DataPeer::new(&[], WebRtcConfig::loopback()).await.unwrap();
        let sdp = peer.offer(carrier::LABEL).await.unwrap();
        let (fingerprint, sig) = sign_binding(signer, &setup.node, &sdp).unwrap();
        let offer = RtcSignal::Offer { session: "s1".into(), sdp, fingerprint, sig };
        hub.signal(&setup.node.to_string(), client_payload(&offer)).await.unwrap();
        let me_id = NodeId::from_verifying_key(&me.verifying_key());
        let opened = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                tokio::select! {
                    event = events.recv() => {
                        let HubEvent::Signal { payload, .. } = event.unwrap() else { continue };
                        match RtcSignal::from_payload(&payload).unwrap().unwrap() {
                            RtcSignal::Answer { sdp, fingerprint, sig, .. } => {
                                verify_binding(&setup.node, &me_id, &sdp, &fingerprint, &sig).unwrap();
                                peer.apply_answer(sdp).await.unwrap();
                            }
                            RtcSignal::Candidates { candidates, .. } => {
                                for c in candidates {
                                    peer.add_candidate(c).await;
                                }
                            }
                            RtcSignal::Close { code, message, .. } => return Err((code, message)),
                            RtcSignal::Offer { .. } => panic!("the node offered"),
                        }
                    }
                    event = peer.next_event() => match event {
                        DataPeerEvent::Candidate(c) => {
                            let batch = RtcSignal::Candidates { session: "s1".into(), candidates: vec![c] };
                            hub.signal(&setup.node.to_string(), client_payload(&batch)).await.unwrap();
                        }
                        DataPeerEvent::Open => return Ok(()),
                        other => panic!("{other:?}"),
                    },
                }
            }
        })
        .await
        .expect("no answer within 20 s");
        opened.map(|()| Self { _hub: hub, events, peer })
    }

    /// The node's `close` signal for this session (code, message), and the channel closing.
    async fn closed_by_node(&mut self) -> (String, String) {
        let close = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let HubEvent::Signal { payload, .. } = self.events.recv().await.unwrap() else { continue };
                if let Some(Ok(RtcSignal::Close { code, message, .. })) = RtcSignal::from_payload(&payload) {
                    return (code, message);
                }
            }
        })
        .await
        .expect("the node did not close the session within 20 s");
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let DataPeerEvent::Closed(_) = self.peer.next_event().await {
                    return;
                }
            }
        })
        .await
        .expect("the channel did not close within 20 s");
        close
    }

    /// One exchange: head, the body in frames, end; then the whole response.
    async fn request(&mut self, id: u32, method: &str, path: &str, body: &[u8]) -> (ResponseHead, Vec<u8>) {
        let head = RequestHead { method: method.into(), path: path.into(), headers: vec![] };
        self.peer.send(&carrier::encode(Kind::Head, id, &serde_json::to_vec(&head).unwrap())).await.unwrap();
        for piece in carrier::chunks(&Bytes::copy_from_slice(body)) {
            self.peer.send(&carrier::encode(Kind::Data, id, &piece)).await.unwrap();
        }
        self.peer.send(&carrier::encode(Kind::End, id, b"")).await.unwrap();
        let (mut head, mut out) = (None, Vec::new());
        loop {
            match tokio::time::timeout(Duration::from_secs(20), self.peer.next_event()).await.unwrap() {
                DataPeerEvent::Message(message) => {
                    let frame = carrier::decode(message).unwrap();
                    assert_eq!(frame.id, id);
                    match frame.kind {
                        Kind::Head => head = Some(serde_json::from_slice(&frame.body).unwrap()),
                        Kind::Data => out.extend_from_slice(&frame.body),
                        Kind::End => return (head.unwrap(), out),
                        Kind::Abort => panic!("aborted: {}", String::from_utf8_lossy(&frame.body)),
                    }
                }
                DataPeerEvent::Candidate(_) => {}
                other => panic!("{other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_member_sends_requests_over_the_channel_as_itself() {
    let setup = setup().await;
    let mut browser = Browser::open(&setup, &setup.member, &setup.member).await.expect("the member is admitted");
    let (head, body) = browser.request(1, "GET", "/v1/albums", b"").await;
    assert_eq!(head.status, 200);
    let line: Value = serde_json::from_slice(body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    let me = IdentityId::from_verifying_key(&setup.member.verifying_key()).to_string();
    assert_eq!(line, json!({"method": "GET", "path": "/v1/albums", "len": 0, "client": me}));
    // A body of many frames goes up, and as many bytes come back.
    let upload = vec![1u8; 300_000];
    let (head, body) = browser.request(2, "PUT", "/v1/blobs/x", &upload).await;
    assert_eq!(head.status, 200);
    let (first, rest) = body.split_at(body.iter().position(|b| *b == b'\n').unwrap() + 1);
    assert_eq!(serde_json::from_slice::<Value>(first).unwrap()["len"], 300_000);
    assert_eq!(rest.len(), 300_000);
}

#[tokio::test]
async fn strangers_and_unbound_certificates_are_refused() {
    let setup = setup().await;
    let stranger = new_key();
    let refused = Browser::open(&setup, &stranger, &stranger).await.err().expect("a stranger is refused");
    assert_eq!(refused.0, "not_a_member", "{refused:?}");
    // The member's connection, but the certificate signed by someone else's key.
    let refused = Browser::open(&setup, &setup.member, &stranger).await.err().expect("an unbound certificate");
    assert_eq!(refused.0, "bad_fingerprint_signature", "{refused:?}");
}

#[tokio::test]
async fn a_browser_that_proved_no_identity_to_the_hub_is_refused() {
    let setup = setup().await;
    let refused = Browser::open_on_hub_as(&setup, None, &setup.member, &setup.member)
        .await
        .err()
        .expect("an anonymous connection is refused");
    assert_eq!(refused.0, "no_identity", "{refused:?}");
}

#[tokio::test]
async fn strangers_take_a_few_sessions_and_never_the_members_room() {
    let setup = setup_with(true).await;
    let mut open = Vec::new();
    for _ in 0..MAX_STRANGER_SESSIONS {
        let key = new_key();
        open.push(Browser::open(&setup, &key, &key).await.expect("a stranger asks to join"));
    }
    let key = new_key();
    let refused = Browser::open(&setup, &key, &key).await.err().expect("one stranger too many");
    assert_eq!(refused.0, "busy", "{refused:?}");
    // The member still gets in, and is served.
    let mut member = Browser::open(&setup, &setup.member, &setup.member).await.expect("the member has room");
    assert_eq!(member.request(1, "GET", "/v1/albums", b"").await.0.status, 200);
}

/// A stranger's session ends once its join call is answered (the answer arrives whole first), and
/// its room goes to the next stranger.
#[tokio::test]
async fn a_strangers_session_ends_once_its_join_call_is_answered() {
    let setup = setup_with(true).await;
    let mut open = Vec::new();
    for _ in 0..MAX_STRANGER_SESSIONS {
        let key = new_key();
        open.push(Browser::open(&setup, &key, &key).await.expect("a stranger asks to join"));
    }
    let asking = &mut open[0];
    // Calls before the join call keep the session.
    assert_eq!(asking.request(1, "GET", "/v1/health", b"").await.0.status, 200);
    let (head, body) = asking.request(2, "POST", "/v1/invites/abc/join", &[5u8; 100_000]).await;
    assert_eq!(head.status, 200);
    assert_eq!(body.len() - body.iter().position(|b| *b == b'\n').unwrap() - 1, 100_000, "the whole answer");
    let (code, message) = asking.closed_by_node().await;
    assert_eq!(code, "asked", "{message}");
    let key = new_key();
    Browser::open(&setup, &key, &key).await.expect("the asking stranger's room is free again");
}

/// A stranger that makes no join call is closed after the idle limit; a member is not.
#[tokio::test]
async fn a_stranger_that_does_not_ask_is_closed_after_the_idle_limit() {
    let setup = setup_idle(true, Duration::from_secs(1)).await;
    let key = new_key();
    let mut stranger = Browser::open(&setup, &key, &key).await.expect("a stranger may ask");
    let mut member = Browser::open(&setup, &setup.member, &setup.member).await.expect("the member");
    let (code, message) = stranger.closed_by_node().await;
    assert_eq!(code, "stranger_idle", "{message}");
    assert!(message.contains("30 s"), "{message}");
    assert_eq!(member.request(1, "GET", "/v1/albums", b"").await.0.status, 200, "the member's session lasts");
}

impl Browser {
    /// Sends only the head of a request (no body, no end frame).
    async fn send_head(&mut self, id: u32, method: &str, path: &str) {
        let head = RequestHead { method: method.into(), path: path.into(), headers: vec![] };
        self.peer.send(&carrier::encode(Kind::Head, id, &serde_json::to_vec(&head).unwrap())).await.unwrap();
    }
}

/// A stranger that starts its join call and never finishes the body is still closed after the
/// idle limit: only an answered join call ends the idle clock.
#[tokio::test]
async fn a_stranger_that_never_finishes_its_join_call_is_closed_after_the_idle_limit() {
    let setup = setup_idle(true, Duration::from_secs(1)).await;
    let key = new_key();
    let mut stranger = Browser::open(&setup, &key, &key).await.expect("a stranger may ask");
    stranger.send_head(1, "POST", "/v1/invites/x/join").await;
    let (code, message) = stranger.closed_by_node().await;
    assert_eq!(code, "stranger_idle", "{message}");
}

/// A stranger that aborts its join call has its session ended at once, not kept without a limit.
#[tokio::test]
async fn a_stranger_that_aborts_its_join_call_is_closed() {
    let setup = setup_with(true).await;
    let key = new_key();
    let mut stranger = Browser::open(&setup, &key, &key).await.expect("a stranger may ask");
    stranger.send_head(1, "POST", "/v1/invites/x/join").await;
    stranger.peer.send(&carrier::encode(Kind::Abort, 1, b"")).await.unwrap();
    // Well before the 30 s idle limit.
    let (code, message) = stranger.closed_by_node().await;
    assert_eq!(code, "closed", "{message}");
    let key = new_key();
    Browser::open(&setup, &key, &key).await.expect("its room is free again");
}
