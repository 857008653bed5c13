#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

//! Two (or three) nodes on loopback, each with its own key, talking WebRTC through a real hub
//! started in-process. Nothing here leaves 127.0.0.1.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use ed25519_dalek::{Signer, SigningKey};
use futures_util::StreamExt;
use p2pos_core::{BlobId, NodeId};
use p2pos_net::auth::{ReplayGuard, sign_request};
use p2pos_net::clock::now_ms;
use p2pos_net::hub::{HubClient, HubEvent, HubHandle};
use p2pos_net::webrtc::{RtcSignal, WebRtcConfig, WebRtcEndpoint, is_rtc_signal};
use p2pos_net::{
    BlobBody, PathKind, PeerRequest, PeerResponse, PeerService, PeerTransport, ServiceError, TransportError,
    TransportErrorKind,
};
use p2pos_signal::server::{ServerConfig, SignalServer};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const MIB: usize = 1024 * 1024;

/// Answers `hello` with its node id and serves blobs from memory.
struct MemService {
    me: NodeId,
    blobs: HashMap<BlobId, Bytes>,
    /// Blobs whose reads deliver 1 MiB and then hang (a stuck disk).
    hanging: HashSet<BlobId>,
}

#[async_trait]
impl PeerService for MemService {
    async fn call(&self, _from: NodeId, request: PeerRequest) -> Result<PeerResponse, ServiceError> {
        match request {
            PeerRequest::Hello => {
                Ok(PeerResponse::Hello { node: self.me, family: Some("river".into()), records_head: 7, blobs_head: 3 })
            }
            PeerRequest::Records { .. } => Ok(PeerResponse::Records { records: vec![], head: 7 }),
            PeerRequest::Blobs { .. } => Ok(PeerResponse::Blobs { blobs: vec![], head: 3 }),
            PeerRequest::GetBlob { .. } => Err(ServiceError::new("bad_request", "get_blob is a stream")),
        }
    }

    async fn get_blob(&self, _from: NodeId, id: BlobId, offset: u64) -> Result<BlobBody, ServiceError> {
        let bytes = self.blobs.get(&id).ok_or_else(|| ServiceError::new("not_found", format!("no blob {id}")))?;
        if offset > bytes.len() as u64 {
            return Err(ServiceError::new("bad_offset", "offset past the end"));
        }
        let rest = bytes.slice(offset as usize..);
        // Chunks of 256 KiB, as a disk read would give them.
        let chunks: Vec<Result<Bytes, TransportError>> =
            (0..rest.len()).step_by(256 * 1024).map(|i| Ok(rest.slice(i..(i + 256 * 1024).min(rest.len())))).collect();
        let size = bytes.len() as u64;
        if self.hanging.contains(&id) {
            let stuck = futures_util::stream::iter(chunks.into_iter().take(4)).chain(futures_util::stream::pending());
            return Ok(BlobBody { size, offset, stream: Box::pin(stuck) });
        }
        Ok(BlobBody { size, offset, stream: Box::pin(futures_util::stream::iter(chunks)) })
    }
}

fn random_bytes(len: usize) -> Bytes {
    let mut v = vec![0u8; len];
    for chunk in v.chunks_mut(8) {
        let r = rand::random::<u64>().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    Bytes::from(v)
}

fn id_of(key: &SigningKey) -> NodeId {
    NodeId::from_verifying_key(&key.verifying_key())
}

fn new_key() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

async fn hub() -> SignalServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    SignalServer::start(listener, ServerConfig::default(), axum::Router::new()).unwrap()
}

fn hub_url(server: &SignalServer) -> String {
    format!("ws://{}/v1/ws", server.local_addr())
}

async fn wait_connected(hub: &HubHandle) {
    for _ in 0..200 {
        if hub.is_connected() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the hub client did not connect");
}

/// A node: hub client, endpoint, and the dispatcher a real node would run.
struct Node {
    key: SigningKey,
    id: NodeId,
    peers: Arc<RwLock<HashSet<NodeId>>>,
    endpoint: WebRtcEndpoint,
    dispatcher: JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.dispatcher.abort();
    }
}

impl Node {
    fn pin(&self, peer: NodeId) {
        self.peers.write().unwrap().insert(peer);
    }
}

fn loopback(config: impl FnOnce(&mut WebRtcConfig)) -> WebRtcConfig {
    let mut c = WebRtcConfig::loopback();
    config(&mut c);
    c
}

/// `hub_key`: the key the hub client proves; `key`: the endpoint's node key (the same for an
/// honest node).
async fn node_with(
    server: &SignalServer,
    hub_key: SigningKey,
    key: SigningKey,
    blobs: Vec<Bytes>,
    config: WebRtcConfig,
) -> Node {
    let (hub, events) = HubClient::spawn(hub_url(server), Some(hub_key), json!({"name": "test"}));
    wait_connected(&hub).await;
    let id = id_of(&key);
    let peers: Arc<RwLock<HashSet<NodeId>>> = Arc::default();
    // Blobs of exactly 3 MiB + 1 byte hang after 1 MiB.
    let hanging = blobs.iter().filter(|b| b.len() == 3 * MIB + 1).map(|b| BlobId::of(b)).collect();
    let blobs = blobs.into_iter().map(|b| (BlobId::of(&b), b)).collect();
    let service = Arc::new(MemService { me: id, blobs, hanging });
    let guard = Arc::new(Mutex::new(ReplayGuard::new(id)));
    let pinned = peers.clone();
    let is_peer = Arc::new(move |n: NodeId| pinned.read().unwrap().contains(&n));
    let endpoint = WebRtcEndpoint::new(hub, key.clone(), service, guard, is_peer, config);
    let dispatcher = tokio::spawn(dispatch(endpoint.clone(), events));
    Node { key, id, peers, endpoint, dispatcher }
}

async fn node(server: &SignalServer, blobs: Vec<Bytes>, config: WebRtcConfig) -> Node {
    let key = new_key();
    node_with(server, key.clone(), key, blobs, config).await
}

/// What a node does with hub events: WebRTC signals with a proven sender go to the endpoint.
async fn dispatch(endpoint: WebRtcEndpoint, mut events: mpsc::Receiver<HubEvent>) {
    while let Some(event) = events.recv().await {
        if let HubEvent::Signal { from_id: Some(from_id), payload, .. } = event
            && is_rtc_signal(&payload)
            && let Ok(from) = from_id.parse::<NodeId>()
            && let Err(e) = endpoint.handle_signal(from, payload).await
        {
            eprintln!("signal from {} not acted on: {e}", from.short());
        }
    }
}

async fn pair(server: &SignalServer, a_blobs: Vec<Bytes>, b_blobs: Vec<Bytes>, config: WebRtcConfig) -> (Node, Node) {
    let a = node(server, a_blobs, config.clone()).await;
    let b = node(server, b_blobs, config).await;
    a.pin(b.id);
    b.pin(a.id);
    (a, b)
}

/// Reads a stream to its end or first error.
async fn drain(mut body: BlobBody, stop_after: Option<usize>) -> (Vec<u8>, Option<TransportError>) {
    let mut out = Vec::new();
    while let Some(item) = body.stream.next().await {
        match item {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(e) => return (out, Some(e)),
        }
        if stop_after.is_some_and(|n| out.len() >= n) {
            break;
        }
    }
    (out, None)
}

fn hello_node(response: PeerResponse) -> NodeId {
    match response {
        PeerResponse::Hello { node, .. } => node,
        other => panic!("expected hello, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_both_ways_and_a_20_mib_blob_over_a_host_path() {
    let server = hub().await;
    let small = random_bytes(MIB);
    let big = random_bytes(20 * MIB);
    let (a, b) = pair(&server, vec![], vec![small.clone(), big.clone()], WebRtcConfig::loopback()).await;

    let to_b = a.endpoint.connect(b.id).await.expect("connect");
    assert!(to_b.is_offerer());
    assert_eq!(hello_node(to_b.call(PeerRequest::Hello).await.unwrap()), b.id);

    // The answering side uses the same connection towards the offerer.
    let to_a = b.endpoint.transport(a.id).await.expect("B sees the connection A opened");
    assert!(!to_a.is_offerer());
    assert_eq!(to_a.session(), to_b.session());
    assert_eq!(hello_node(to_a.call(PeerRequest::Hello).await.unwrap()), a.id);
    assert_eq!(b.endpoint.connect(a.id).await.unwrap().session(), to_b.session(), "no second connection");

    assert_eq!(to_b.path(), Some(PathKind::Host));
    assert_eq!(to_a.path(), Some(PathKind::Host));

    for blob in [&small, &big] {
        let started = std::time::Instant::now();
        let body = to_b.get_blob(BlobId::of(blob), 0).await.unwrap();
        assert_eq!((body.size, body.offset), (blob.len() as u64, 0));
        let (bytes, error) = drain(body, None).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(bytes.len(), blob.len());
        assert_eq!(blake3::hash(&bytes), blake3::hash(blob));
        eprintln!("{} bytes in {:?}", blob.len(), started.elapsed());
    }

    // A blob the peer does not hold, and a read from the middle.
    let missing = to_b.get_blob(BlobId::of(b"nothing"), 0).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
    let body = to_b.get_blob(BlobId::of(&small), 1000).await.unwrap();
    let (bytes, _) = drain(body, None).await;
    assert_eq!(&bytes[..], &small[1000..]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_transfer_resumes_from_its_offset_on_a_new_connection() {
    let server = hub().await;
    let big = random_bytes(20 * MIB);
    let (a, b) = pair(&server, vec![], vec![big.clone()], WebRtcConfig::loopback()).await;
    let id = BlobId::of(&big);

    let first = a.endpoint.connect(b.id).await.unwrap();
    let body = first.get_blob(id, 0).await.unwrap();
    let mut stream = body.stream;
    let mut received = Vec::new();
    // Read 3 MiB, then the serving side drops the connection mid-transfer.
    while received.len() < 3 * MIB {
        received.extend_from_slice(&stream.next().await.unwrap().unwrap());
    }
    b.endpoint.disconnect(a.id).await;
    let error = loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.next()).await.expect("the stream must fail") {
            Some(Ok(bytes)) => received.extend_from_slice(&bytes),
            Some(Err(e)) => break e,
            None => panic!("the stream ended without an error after {} bytes", received.len()),
        }
    };
    assert_eq!(error.kind(), TransportErrorKind::Broken, "{error:?}");
    assert!(received.len() < big.len());
    assert_eq!(&received[..], &big[..received.len()]);

    // A new connection; the old one is gone on both sides.
    let second = a.endpoint.connect(b.id).await.unwrap();
    assert_ne!(second.session(), first.session());
    let body = second.get_blob(id, received.len() as u64).await.unwrap();
    assert_eq!(body.offset, received.len() as u64);
    let (rest, error) = drain(body, None).await;
    assert!(error.is_none(), "{error:?}");
    received.extend_from_slice(&rest);
    assert_eq!(blake3::hash(&received), blake3::hash(&big));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_transfers_fail_with_stalled() {
    let server = hub().await;
    let big = random_bytes(8 * MIB);
    let stuck = random_bytes(3 * MIB + 1);
    let config = loopback(|c| {
        // Short, so the test waits about two seconds in all; the stall rules themselves are
        // tested in virtual time (tests/mux.rs).
        c.stall = Duration::from_secs(1);
        c.window = MIB as u64;
    });
    let (a, b) = pair(&server, vec![], vec![big.clone(), stuck.clone()], config).await;
    let t = a.endpoint.connect(b.id).await.unwrap();

    // The sender's source stops after 1 MiB: no bytes for `stall`.
    let body = t.get_blob(BlobId::of(&stuck), 0).await.unwrap();
    let (bytes, error) = drain(body, None).await;
    assert_eq!(bytes.len(), MIB);
    assert!(matches!(error, Some(TransportError::Stalled { after }) if after == Duration::from_secs(1)), "{error:?}");

    // The reader stops reading: the window fills, the sender waits for acknowledgements, gives
    // up after `stall`, and the reader learns it once it reads again.
    let mut body = t.get_blob(BlobId::of(&big), 0).await.unwrap();
    assert!(!body.stream.next().await.unwrap().unwrap().is_empty());
    // Instead of sleeping past the stall timeout, wait until the sender has given up.
    let sender = b.endpoint.transport(a.id).await.unwrap();
    for _ in 0..100 {
        if sender.blobs_sending().await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sender.blobs_sending().await, 0, "the sender must give up after the stall timeout");
    let (bytes, error) = drain(body, None).await;
    assert!(bytes.len() <= 2 * MIB, "at most a window in flight, got {}", bytes.len());
    assert!(matches!(error, Some(TransportError::Stalled { .. })), "{error:?}");

    // The connection itself is fine.
    assert_eq!(hello_node(t.call(PeerRequest::Hello).await.unwrap()), b.id);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glare_ends_in_one_connection() {
    let server = hub().await;
    let (a, b) = pair(&server, vec![], vec![], WebRtcConfig::loopback()).await;
    let (ab, ba) = tokio::join!(a.endpoint.connect(b.id), b.endpoint.connect(a.id));
    let (ab, ba) = (ab.unwrap(), ba.unwrap());
    assert_eq!(ab.session(), ba.session());
    assert_ne!(ab.is_offerer(), ba.is_offerer());
    // When both offers crossed, the lower node id's won; when one arrived before the other node
    // made its own, that node simply answered it. Either way: one connection.
    assert_eq!(hello_node(ab.call(PeerRequest::Hello).await.unwrap()), b.id);
    assert_eq!(hello_node(ba.call(PeerRequest::Hello).await.unwrap()), a.id);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_and_misattributed_requests_are_refused_on_the_channel() {
    let server = hub().await;
    let (a, b) = pair(&server, vec![], vec![], WebRtcConfig::loopback()).await;
    let t = a.endpoint.connect(b.id).await.unwrap();

    let signed = sign_request(&a.key, b.id, now_ms(), &PeerRequest::Hello);
    assert_eq!(hello_node(t.call_signed(&signed).await.unwrap()), b.id);
    let replay = t.call_signed(&signed).await.unwrap_err();
    assert!(matches!(&replay, TransportError::Refused { code, .. } if code == "replayed"), "{replay:?}");

    // Validly signed by another node, but this connection is bound to A.
    let elm = new_key();
    let foreign = sign_request(&elm, b.id, now_ms(), &PeerRequest::Hello);
    let refused = t.call_signed(&foreign).await.unwrap_err();
    assert!(matches!(&refused, TransportError::Refused { code, .. } if code == "wrong_sender"), "{refused:?}");

    // A tampered signature.
    let mut forged = sign_request(&a.key, b.id, now_ms(), &PeerRequest::Hello);
    forged.body = r#"{"type":"records","since":0,"limit":5}"#.into();
    let refused = t.call_signed(&forged).await.unwrap_err();
    assert!(matches!(&refused, TransportError::Refused { code, .. } if code == "bad_signature"), "{refused:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpinned_nodes_are_ignored() {
    let server = hub().await;
    let config = loopback(|c| c.connect_timeout = Duration::from_secs(3));
    let a = node(&server, vec![], config.clone()).await;
    let b = node(&server, vec![], config).await;
    // B trusts A, A does not know B.
    b.pin(a.id);
    let refused = a.endpoint.connect(b.id).await.unwrap_err();
    assert!(matches!(&refused, TransportError::Refused { code, .. } if code == "not_a_peer"), "{refused:?}");
    // A ignores B's offer and says so (a refusal, not a connect timeout).
    let ignored = b.endpoint.connect(a.id).await.unwrap_err();
    assert!(matches!(&ignored, TransportError::Refused { code, .. } if code == "not_a_peer"), "{ignored:?}");
    assert!(a.endpoint.transport(b.id).await.is_none());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_certificate_is_not_bound_to_its_hub_identity_is_refused() {
    let server = hub().await;
    let config = loopback(|c| c.connect_timeout = Duration::from_secs(5));
    let a = node(&server, vec![], config.clone()).await;
    // Mallory proves identity M to the hub but signs its DTLS fingerprint with another key.
    let m_key = new_key();
    let mallory = node_with(&server, m_key.clone(), new_key(), vec![], config).await;
    let m = id_of(&m_key);
    a.pin(m);
    mallory.pin(a.id);
    let refused = mallory.endpoint.connect(a.id).await.unwrap_err();
    assert!(
        matches!(&refused, TransportError::Refused { code, .. } if code == "bad_fingerprint_signature"),
        "{refused:?}"
    );
    assert!(a.endpoint.transport(m).await.is_none());
    server.shutdown().await;
}

/// A raw hub client playing a peer that sends hand-made offers.
async fn raw_peer(server: &SignalServer, key: &SigningKey) -> (HubHandle, mpsc::Receiver<HubEvent>) {
    let (hub, events) = HubClient::spawn(hub_url(server), Some(key.clone()), Value::Null);
    wait_connected(&hub).await;
    (hub, events)
}

/// The next WebRTC signal of the given kind.
async fn next_signal(events: &mut mpsc::Receiver<HubEvent>, kind: &str) -> RtcSignal {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("no signal").unwrap();
        if let HubEvent::Signal { payload, .. } = event
            && payload["kind"] == kind
        {
            return RtcSignal::from_payload(&payload).unwrap().unwrap();
        }
    }
}

async fn next_close(events: &mut mpsc::Receiver<HubEvent>) -> (String, String) {
    match next_signal(events, "close").await {
        RtcSignal::Close { code, message, .. } => (code, message),
        other => panic!("expected close, got {other:?}"),
    }
}

const FP: &str =
    "sha-256 0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9";

fn fake_sdp(fp: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=fingerprint:{fp}\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    )
}

/// `from`'s binding signature for `to` over `fp`, made with `key` (which may not be `from`'s).
fn binding_sig(key: &SigningKey, from: NodeId, to: NodeId, fp: &str) -> String {
    let message = format!("p2pos-rtc-v1|{from}|{to}|{fp}");
    base64::engine::general_purpose::STANDARD.encode(key.sign(message.as_bytes()).to_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_with_a_wrong_signature_or_another_fingerprint_are_refused() {
    let server = hub().await;
    let a = node(&server, vec![], loopback(|c| c.connect_timeout = Duration::from_secs(5))).await;
    let m_key = new_key();
    let m = id_of(&m_key);
    a.pin(m);
    let (mallory, mut events) = raw_peer(&server, &m_key).await;
    let other_fp = FP.replace("0A:1B", "FF:EE");
    let cases = [
        (binding_sig(&new_key(), m, a.id, FP), fake_sdp(FP), "bad_fingerprint_signature"),
        (binding_sig(&m_key, m, a.id, FP), fake_sdp(&other_fp), "fingerprint_mismatch"),
    ];
    for (sig, sdp, expected) in cases {
        let endpoint = a.endpoint.clone();
        let connecting = tokio::spawn(async move { endpoint.connect(m).await });
        let RtcSignal::Offer { session, .. } = next_signal(&mut events, "offer").await else { unreachable!() };
        let answer = RtcSignal::Answer { session, sdp, fingerprint: FP.into(), sig };
        mallory.signal(&a.id.to_string(), answer.to_payload()).await.unwrap();
        let refused = connecting.await.unwrap().unwrap_err();
        assert!(matches!(&refused, TransportError::Refused { code, .. } if code == expected), "{refused:?}");
        // A tells the other side why.
        assert_eq!(next_close(&mut events).await.0, expected);
    }
    assert!(a.endpoint.transport(m).await.is_none());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_with_a_wrong_signature_or_another_fingerprint_are_refused() {
    let server = hub().await;
    let a = node(&server, vec![], WebRtcConfig::loopback()).await;
    let m_key = new_key();
    let m = id_of(&m_key);
    a.pin(m);
    let (mallory, mut events) = raw_peer(&server, &m_key).await;
    let other_fp = FP.replace("0A:1B", "FF:EE");

    // Signed with a key that is not M's.
    let sig = binding_sig(&new_key(), m, a.id, FP);
    let offer = RtcSignal::Offer { session: "s1".into(), sdp: fake_sdp(FP), fingerprint: FP.into(), sig };
    mallory.signal(&a.id.to_string(), offer.to_payload()).await.unwrap();
    assert_eq!(next_close(&mut events).await.0, "bad_fingerprint_signature");

    // Signed by M, but the SDP carries another certificate's fingerprint.
    let sig = binding_sig(&m_key, m, a.id, FP);
    let offer =
        RtcSignal::Offer { session: "s2".into(), sdp: fake_sdp(&other_fp), fingerprint: FP.into(), sig: sig.clone() };
    mallory.signal(&a.id.to_string(), offer.to_payload()).await.unwrap();
    assert_eq!(next_close(&mut events).await.0, "fingerprint_mismatch");

    // Properly bound, but not an SDP a WebRTC stack can use (no ICE credentials).
    let offer = RtcSignal::Offer { session: "s3".into(), sdp: fake_sdp(FP), fingerprint: FP.into(), sig };
    mallory.signal(&a.id.to_string(), offer.to_payload()).await.unwrap();
    assert_eq!(next_close(&mut events).await.0, "bad_offer");
    assert!(a.endpoint.transport(m).await.is_none());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_closing_is_noticed_without_the_hub() {
    let server = hub().await;
    let big = random_bytes(20 * MIB);
    let (a, b) = pair(&server, vec![], vec![big.clone()], WebRtcConfig::loopback()).await;
    let t = a.endpoint.connect(b.id).await.unwrap();
    let mut stream = t.get_blob(BlobId::of(&big), 0).await.unwrap().stream;
    let mut received = 0;
    while received < 3 * MIB {
        received += stream.next().await.unwrap().unwrap().len();
    }
    // No hub to carry a `close` signal: the data channels themselves say it.
    server.shutdown().await;
    b.endpoint.disconnect(a.id).await;
    let error = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.next().await {
                Some(Ok(bytes)) => received += bytes.len(),
                Some(Err(e)) => break e,
                None => panic!("the stream ended without an error"),
            }
        }
    })
    .await
    .expect("the stream must fail");
    assert_eq!(error.kind(), TransportErrorKind::Broken, "{error:?}");
    assert!(received < big.len());
    assert!(!t.is_open());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_task_outlives_the_endpoints() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let server = hub().await;
    let before = metrics.num_alive_tasks();
    {
        let blob = random_bytes(MIB);
        let (a, b) = pair(&server, vec![], vec![blob.clone()], WebRtcConfig::loopback()).await;
        let t = a.endpoint.connect(b.id).await.unwrap();
        assert_eq!(hello_node(t.call(PeerRequest::Hello).await.unwrap()), b.id);
        let back = b.endpoint.transport(a.id).await.unwrap();
        assert_eq!(hello_node(back.call(PeerRequest::Hello).await.unwrap()), a.id);
        let (bytes, _) = drain(t.get_blob(BlobId::of(&blob), 0).await.unwrap(), None).await;
        assert_eq!(bytes.len(), MIB);
        // A stream abandoned half-way, too.
        let mut half = t.get_blob(BlobId::of(&blob), 0).await.unwrap();
        half.stream.next().await.unwrap().unwrap();
        assert!(metrics.num_alive_tasks() > before);
        drop((half, back, t, a, b));
    }
    let mut alive = metrics.num_alive_tasks();
    for _ in 0..100 {
        if alive <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        alive = metrics.num_alive_tasks();
    }
    assert!(alive <= before, "{alive} tasks alive, {before} before the nodes started");
    server.shutdown().await;
}
