//! Client sessions: a family member's browser opens this node's `/v1` API over a WebRTC data
//! channel, through the hub, when the node's HTTP origin is out of its reach (DESIGN.md §7; the
//! frames are in [`carrier`]).
//!
//! The browser authenticates to the hub as its identity and signals the node by node id with
//! `"p2pos": "rtc", "app": "vault"` payloads ([`is_client_signal`]): `offer`, `candidates`,
//! `close`, the same messages nodes exchange ([`RtcSignal`]). Its DTLS fingerprint is bound to
//! its identity exactly as a node's is to its node key (`p2pos-rtc-v1|<identity>|<node>|<fp>`,
//! signed by the identity), and the node's answer binds the node's certificate to the node key,
//! so each side knows whom the channel ends at. The node asks its [`ClientService`] whether the
//! identity may open a session at all (a member of the family), then serves every request on the
//! channel *as that identity*: the channel is the session, there is no cookie.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use futures_util::StreamExt;
use p2pos_core::{IdentityId, NodeId};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription};

use super::carrier::{self, Kind, RequestHead, ResponseHead};
use super::conn::{Chan, Handler, PcEvent, lock};
use super::signal::{self, RtcSignal};
use super::{SignalError, WebRtcConfig, build_peer_connection};
use crate::hub::HubHandle;
use crate::{ByteStream, TransportError};

/// The `app` field value that marks a WebRTC signal as a client session (not node to node).
pub const CLIENT_APP: &str = "vault";

/// Client sessions open at once on one node; another offer is refused with `busy`.
pub const MAX_SESSIONS: usize = 64;
/// Sessions of strangers (admitted as [`Admitted::Stranger`], e.g. to ask to join) at once, on
/// top of the members' [`MAX_SESSIONS`]: keys cost nothing, so strangers never take members' room.
pub const MAX_STRANGER_SESSIONS: usize = 4;
/// How long a stranger's session stays open once connected if it makes no closing call
/// ([`ClientService::ends_stranger_session`]). A page that asks to join does so within seconds of
/// the channel opening (the name is typed before it connects); 30 s leaves room for a slow relay
/// and a slow phone, and a waiting page reconnects anyway to see whether it was approved.
pub const STRANGER_IDLE: Duration = Duration::from_secs(30);
/// Sessions of one identity at once (tabs, devices); a new one closes its oldest.
pub const MAX_SESSIONS_PER_CLIENT: usize = 8;
/// Exchanges in progress on one channel; another `head` is aborted with `busy`.
pub const MAX_EXCHANGES: usize = 32;
/// Request body frames buffered per exchange before the channel's reader waits for the handler.
const BODY_QUEUE: usize = 16;

/// Whether a hub signal's payload opens or belongs to a client session.
pub fn is_client_signal(payload: &Value) -> bool {
    signal::is_rtc_signal(payload) && payload.get("app").and_then(Value::as_str) == Some(CLIENT_APP)
}

/// One request as it came over the channel, from `client`.
pub struct CarriedRequest {
    pub client: IdentityId,
    pub head: RequestHead,
    /// The request body as it arrives; ends with an error if the browser aborts or the channel
    /// closes before the body is complete.
    pub body: ByteStream,
}

/// The node's answer to a [`CarriedRequest`].
pub struct CarriedResponse {
    pub head: ResponseHead,
    pub body: ByteStream,
}

/// Why a client may not open a session (sent back in a `close` signal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl std::fmt::Debug for CarriedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarriedRequest").field("client", &self.client).field("head", &self.head).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CarriedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarriedResponse").field("head", &self.head).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClientSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSessions").field("me", &self.inner.me).finish_non_exhaustive()
    }
}

/// How a client was admitted: its sessions count against [`MAX_SESSIONS`] or
/// [`MAX_STRANGER_SESSIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    Member,
    Stranger,
}

/// What a node serves to client sessions.
#[async_trait]
pub trait ClientService: Send + Sync + 'static {
    /// Whether `client` may open a session with this node, and as whom.
    fn admit(&self, client: &IdentityId) -> Result<Admitted, Refusal>;
    /// Whether a stranger's session ends once this request is answered (the one call a stranger
    /// comes for, e.g. asking to join): its channel is then closed with [`StrangerEnd::Asked`],
    /// so strangers do not keep the few sessions kept for them.
    fn ends_stranger_session(&self, head: &RequestHead) -> bool;
    /// Answers one request, as `request.client`.
    async fn serve(&self, request: CarriedRequest) -> CarriedResponse;
}

/// This node's client sessions. Cheap to clone.
#[derive(Clone)]
pub struct ClientSessions {
    inner: Arc<Inner>,
}

struct Inner {
    me: NodeId,
    key: SigningKey,
    hub: HubHandle,
    service: Arc<dyn ClientService>,
    config: WebRtcConfig,
    /// Open sessions by session id (chosen by the browser), in the order they opened.
    sessions: Mutex<Vec<Arc<Session>>>,
    /// [`STRANGER_IDLE`], or shorter in tests.
    stranger_idle: Duration,
}

struct Session {
    id: String,
    client: IdentityId,
    /// Admitted as a stranger (and not found a member since): counts against
    /// [`MAX_STRANGER_SESSIONS`] and lives by [`StrangerTerms`].
    stranger: AtomicBool,
    /// A stranger's terms, from the moment its connection is up.
    terms: Mutex<Option<StrangerTerms>>,
    /// Why the node ends the session, when it is not the connection failing (sent in `close`).
    ending: Mutex<Option<StrangerEnd>>,
    /// The hub peer id of the browser's connection: signals go back to exactly that tab.
    reply_to: String,
    pc: Arc<dyn PeerConnection>,
    closed: CancellationToken,
    /// Set when the browser closed the session itself (no `close` signal back).
    closed_by_client: AtomicBool,
}

impl ClientSessions {
    /// `hub`: the node's hub client (authenticated with `key`, `allow: "anyone"`).
    pub fn new(hub: HubHandle, key: SigningKey, service: Arc<dyn ClientService>, config: WebRtcConfig) -> Self {
        Self::with_stranger_idle(hub, key, service, config, STRANGER_IDLE)
    }

    /// As [`Self::new`], with another idle limit for strangers than [`STRANGER_IDLE`] (tests).
    pub fn with_stranger_idle(
        hub: HubHandle,
        key: SigningKey,
        service: Arc<dyn ClientService>,
        config: WebRtcConfig,
        stranger_idle: Duration,
    ) -> Self {
        let me = NodeId::from_verifying_key(&key.verifying_key());
        let sessions = Mutex::new(Vec::new());
        Self { inner: Arc::new(Inner { me, key, hub, service, config, sessions, stranger_idle }) }
    }

    /// Client sessions open now.
    pub fn open_sessions(&self) -> usize {
        lock(&self.inner.sessions).len()
    }

    /// Acts on a client signal from the hub connection `from` (a hub peer id) that proved
    /// `client`. Offers are answered (or refused with a `close` naming the reason), candidates
    /// applied, closed sessions ended.
    pub async fn handle_signal(&self, from: &str, client: IdentityId, payload: Value) -> Result<(), SignalError> {
        let signal = match RtcSignal::from_payload(&payload) {
            None => return Err(SignalError::NotRtc),
            Some(Err(e)) => return Err(SignalError::Malformed(e.to_string())),
            Some(Ok(s)) => s,
        };
        match signal {
            RtcSignal::Offer { session, sdp, fingerprint, sig } => {
                self.on_offer(from, client, session, sdp, &fingerprint, &sig).await
            }
            RtcSignal::Candidates { session, candidates } => {
                if let Some(s) = self.find(&session, &client) {
                    for candidate in candidates {
                        if let Err(e) = s.pc.add_ice_candidate(candidate).await {
                            tracing::debug!(error = %e, "a client's ICE candidate was refused");
                        }
                    }
                }
                Ok(())
            }
            RtcSignal::Close { session, .. } => {
                if let Some(s) = self.find(&session, &client) {
                    s.closed_by_client.store(true, Ordering::Release);
                    s.closed.cancel();
                }
                Ok(())
            }
            RtcSignal::Answer { .. } => Err(SignalError::Malformed("a client session is offered by the client".into())),
        }
    }

    fn find(&self, session: &str, client: &IdentityId) -> Option<Arc<Session>> {
        lock(&self.inner.sessions).iter().find(|s| s.id == session && s.client == *client).cloned()
    }

    /// A client signal from a hub connection that proved no identity: an offer is refused with
    /// `close` `no_identity` (only members open the vault); anything else is ignored.
    pub async fn refuse_anonymous(&self, from: &str, payload: &Value) {
        if let Some(Ok(RtcSignal::Offer { session, .. })) = RtcSignal::from_payload(payload) {
            let message = "the hub did not prove who you are: sign in to the hub as your identity".to_string();
            self.refuse(from, session, "no_identity", message).await;
        }
    }

    async fn refuse(&self, to: &str, session: String, code: &str, message: String) {
        let close = client_payload(&RtcSignal::Close { session, code: code.into(), message });
        if let Err(e) = self.inner.hub.signal(to, close).await {
            tracing::debug!(error = %e, "could not tell a client why its session was refused");
        }
    }

    async fn on_offer(
        &self,
        from: &str,
        client: IdentityId,
        session: String,
        sdp: String,
        fingerprint: &str,
        sig: &str,
    ) -> Result<(), SignalError> {
        let inner = &self.inner;
        let as_node = NodeId::from_bytes(*client.as_bytes()).map_err(|e| SignalError::Malformed(e.to_string()))?;
        let stranger = match inner.service.admit(&client) {
            Ok(admitted) => admitted == Admitted::Stranger,
            Err(refusal) => {
                tracing::info!(client = %client.short(), code = %refusal.code, "refused a client session");
                self.refuse(from, session, &refusal.code, refusal.message).await;
                return Err(SignalError::Refused(refusal.code));
            }
        };
        if let Err(error) = signal::verify_binding(&as_node, &inner.me, &sdp, fingerprint, sig) {
            tracing::warn!(client = %client.short(), %error, "refused a client offer");
            self.refuse(from, session, error.code(), error.to_string()).await;
            return Err(SignalError::Binding { peer: as_node, error });
        }
        if self.find(&session, &client).is_some() {
            return Ok(()); // a duplicate
        }
        let busy = {
            let mut sessions = lock(&inner.sessions);
            let of_client: Vec<_> = sessions.iter().filter(|s| s.client == client).cloned().collect();
            if of_client.len() >= MAX_SESSIONS_PER_CLIENT {
                of_client[0].closed.cancel();
                sessions.retain(|s| !Arc::ptr_eq(s, &of_client[0]));
            }
            let alike = sessions.iter().filter(|s| s.stranger.load(Ordering::Acquire) == stranger).count();
            alike >= if stranger { MAX_STRANGER_SESSIONS } else { MAX_SESSIONS }
        };
        if busy {
            let max = if stranger { MAX_STRANGER_SESSIONS } else { MAX_SESSIONS };
            let message = format!("this node serves {max} such sessions at once; try again soon");
            self.refuse(from, session, "busy", message).await;
            return Err(SignalError::Refused("busy".into()));
        }
        let servers = inner.hub.ice_servers().await.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "no ICE servers from the hub; answering with host candidates only");
            Vec::new()
        });
        let (events, events_rx) = mpsc::unbounded_channel();
        let rtc = |e: webrtc::error::Error| TransportError::unreachable_by("WebRTC", e);
        let answered = async {
            let pc = build_peer_connection(&inner.config, &servers, Handler { tx: events }).await?;
            let setup = async {
                pc.set_remote_description(RTCSessionDescription::offer(sdp).map_err(rtc)?).await.map_err(rtc)?;
                let answer = pc.create_answer(None).await.map_err(rtc)?;
                pc.set_local_description(answer).await.map_err(rtc)?;
                let local = pc.local_description().await.ok_or(TransportError::unreachable("no local description"))?;
                let (fingerprint, sig) = signal::sign_binding(&inner.key, &as_node, &local.sdp)
                    .map_err(|e| TransportError::unparsable("own SDP", e))?;
                Ok::<_, TransportError>(RtcSignal::Answer {
                    session: session.clone(),
                    sdp: local.sdp,
                    fingerprint,
                    sig,
                })
            };
            match setup.await {
                Ok(answer) => Ok((pc, answer)),
                Err(e) => {
                    let _ = pc.close().await;
                    Err(e)
                }
            }
        };
        let (pc, answer) = match answered.await {
            Ok(done) => done,
            Err(error) => {
                self.refuse(from, session, "bad_offer", error.to_string()).await;
                return Err(SignalError::Answer { peer: as_node, error });
            }
        };
        let s = Arc::new(Session {
            id: session,
            client,
            stranger: AtomicBool::new(stranger),
            terms: Mutex::new(None),
            ending: Mutex::new(None),
            reply_to: from.to_string(),
            pc,
            closed: CancellationToken::new(),
            closed_by_client: AtomicBool::new(false),
        });
        lock(&inner.sessions).push(s.clone());
        if let Err(e) = inner.hub.signal(from, client_payload(&answer)).await {
            tracing::debug!(error = %e, "could not answer a client");
            s.closed.cancel();
        }
        tracing::info!(client = %client.short(), "client session opening");
        tokio::spawn(self.clone().run(s, events_rx));
        Ok(())
    }

    /// Drives one session: sends its ICE candidates, serves its channel, and ends it when the
    /// connection fails, the channel closes, the client closes it, or it never comes up.
    async fn run(self, s: Arc<Session>, mut events: mpsc::UnboundedReceiver<PcEvent>) {
        let inner = &self.inner;
        let give_up = tokio::time::sleep(inner.config.connect_timeout + Duration::from_secs(5));
        tokio::pin!(give_up);
        let mut connected = false;
        let mut pending: Vec<RTCIceCandidateInit> = Vec::new();
        let mut flush_at: Option<Instant> = None;
        let mut reason = "closed";
        loop {
            let stranger_deadline = lock(&s.terms).as_ref().and_then(StrangerTerms::deadline);
            tokio::select! {
                () = s.closed.cancelled() => break,
                () = &mut give_up, if !connected => {
                    reason = "the connection did not come up";
                    break;
                }
                () = tokio::time::sleep_until(stranger_deadline.map_or_else(Instant::now, Instant::from_std)),
                    if stranger_deadline.is_some() =>
                {
                    let timed_out = lock(&s.terms).as_ref().and_then(|t| t.timed_out(Instant::now().into_std()));
                    if let Some(end) = timed_out {
                        if inner.service.admit(&s.client).ok() == Some(Admitted::Member) {
                            // Approved meanwhile: a member's session from now on.
                            s.stranger.store(false, Ordering::Release);
                            *lock(&s.terms) = None;
                        } else {
                            *lock(&s.ending) = Some(end);
                            break;
                        }
                    }
                }
                () = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                    flush_at = None;
                    let batch = RtcSignal::Candidates { session: s.id.clone(), candidates: std::mem::take(&mut pending) };
                    if let Err(e) = inner.hub.signal(&s.reply_to, client_payload(&batch)).await {
                        tracing::debug!(error = %e, "could not send ICE candidates to a client");
                    }
                }
                event = events.recv() => match event {
                    None => break,
                    Some(PcEvent::Candidate(c)) => {
                        // Candidates come in bursts: send them together (the hub limits messages).
                        pending.push(c);
                        flush_at.get_or_insert_with(|| Instant::now() + Duration::from_millis(30));
                    }
                    Some(PcEvent::State(RTCPeerConnectionState::Connected)) => {
                        if !connected && s.stranger.load(Ordering::Acquire) {
                            *lock(&s.terms) = Some(StrangerTerms::new(Instant::now().into_std(), inner.stranger_idle));
                        }
                        connected = true;
                    }
                    Some(PcEvent::State(RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed)) => {
                        reason = "the connection failed";
                        break;
                    }
                    Some(PcEvent::DataChannel(dc)) => self.accept_channel(&s, dc).await,
                    Some(_) => {}
                },
            }
        }
        s.closed.cancel();
        lock(&inner.sessions).retain(|other| !Arc::ptr_eq(other, &s));
        let ending = *lock(&s.ending);
        if !s.closed_by_client.load(Ordering::Acquire) {
            let (code, message) = match ending {
                Some(end) => (end.code(), end.message()),
                None => ("closed", reason.to_string()),
            };
            let close = RtcSignal::Close { session: s.id.clone(), code: code.into(), message };
            let _ = tokio::time::timeout(Duration::from_secs(2), inner.hub.signal(&s.reply_to, client_payload(&close)))
                .await;
        }
        if let Err(e) = s.pc.close().await {
            tracing::debug!(error = %e, "closing a client's peer connection");
        }
        let reason = ending.map_or(reason, StrangerEnd::code);
        tracing::info!(client = %s.client.short(), reason, "client session ended");
    }

    async fn accept_channel(&self, s: &Arc<Session>, dc: Arc<dyn DataChannel>) {
        match Chan::new(dc.clone(), &self.inner.config).await {
            Ok(chan) if chan.label() == carrier::LABEL => {
                tokio::spawn(serve_channel(self.inner.clone(), s.clone(), chan));
            }
            Ok(chan) => {
                tracing::debug!(label = %chan.label(), "a client opened an unknown data channel; closing it");
                let _ = dc.close().await;
            }
            Err(e) => tracing::debug!(error = %e, "could not set up a client's data channel"),
        }
    }
}

/// A client signal payload: the message plus `"p2pos": "rtc", "app": "vault"`.
fn client_payload(signal: &RtcSignal) -> Value {
    let mut payload = signal.to_payload();
    if let Value::Object(map) = &mut payload {
        map.insert("app".into(), Value::String(CLIENT_APP.into()));
    }
    payload
}

/// Reads the carrier channel of session `s`: starts an exchange per `head`, feeds request bodies
/// to them, and ends the session when the channel closes.
async fn serve_channel(inner: Arc<Inner>, s: Arc<Session>, chan: Arc<Chan>) {
    let mut bodies: HashMap<u32, mpsc::Sender<Result<Bytes, TransportError>>> = HashMap::new();
    // Each exchange's task, and whether it is a stranger's closing call.
    let mut exchanges: HashMap<u32, (AbortHandle, bool)> = HashMap::new();
    loop {
        let event = tokio::select! {
            () = s.closed.cancelled() => break,
            event = chan.dc().poll() => event,
        };
        let message = match event {
            Some(DataChannelEvent::OnMessage(message)) => message.data.freeze(),
            Some(DataChannelEvent::OnBufferedAmountHigh) => {
                chan.on_buffered(true);
                continue;
            }
            Some(DataChannelEvent::OnBufferedAmountLow) => {
                chan.on_buffered(false);
                continue;
            }
            Some(DataChannelEvent::OnClose) | None => break,
            Some(_) => continue,
        };
        let frame = match carrier::decode(message) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::info!(client = %s.client.short(), error = %e, "a client broke the carrier protocol; closing");
                break;
            }
        };
        let id = frame.id;
        match frame.kind {
            Kind::Head => {
                exchanges.retain(|_, (task, _)| !task.is_finished());
                let refused = if exchanges.len() >= MAX_EXCHANGES {
                    Some(format!("at most {MAX_EXCHANGES} requests at once on one channel"))
                } else if exchanges.contains_key(&id) {
                    Some(format!("request {id} is still in progress"))
                } else if frame.body.len() > carrier::MAX_HEAD {
                    Some(format!("a request head is at most {} bytes", carrier::MAX_HEAD))
                } else {
                    None
                };
                let head = match refused {
                    Some(reason) => Err(reason),
                    None => {
                        serde_json::from_slice::<RequestHead>(&frame.body).map_err(|e| format!("bad request head: {e}"))
                    }
                };
                match head {
                    Ok(head) => {
                        let closing = s.stranger.load(Ordering::Acquire) && inner.service.ends_stranger_session(&head);
                        let (tx, rx) = mpsc::channel(BODY_QUEUE);
                        bodies.insert(id, tx);
                        let task =
                            tokio::spawn(exchange(inner.clone(), s.clone(), chan.clone(), id, head, rx, closing));
                        exchanges.insert(id, (task.abort_handle(), closing));
                    }
                    Err(reason) => {
                        let _ = chan.send(carrier::encode(Kind::Abort, id, reason.as_bytes())).await;
                    }
                }
            }
            Kind::Data => {
                if let Some(tx) = bodies.get(&id) {
                    // Waits while the handler is behind: the channel's reader is the back-pressure.
                    if tx.send(Ok(frame.body)).await.is_err() {
                        bodies.remove(&id);
                    }
                }
            }
            Kind::End => {
                bodies.remove(&id);
            }
            Kind::Abort => {
                if let Some(tx) = bodies.remove(&id) {
                    let _ = tx.try_send(Err(TransportError::broken("the client aborted the request")));
                }
                if let Some((task, closing)) = exchanges.remove(&id) {
                    task.abort();
                    if closing {
                        // Its closing call is given up: the session ends (else, with the
                        // exchange's clean-up aborted, nothing would end it).
                        tracing::info!(client = %s.client.short(), "a stranger aborted its closing call; closing");
                        break;
                    }
                }
            }
        }
    }
    for (_, tx) in bodies.drain() {
        let _ = tx.try_send(Err(TransportError::broken("the channel closed")));
    }
    for (_, (task, _)) in exchanges.drain() {
        task.abort();
    }
    s.closed.cancel();
}

/// One request: hands it to the service and writes the response back as frames.
async fn exchange(
    inner: Arc<Inner>,
    s: Arc<Session>,
    chan: Arc<Chan>,
    id: u32,
    head: RequestHead,
    body: mpsc::Receiver<Result<Bytes, TransportError>>,
    closing: bool,
) {
    let body: ByteStream =
        Box::pin(futures_util::stream::unfold(body, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }));
    let response = inner.service.serve(CarriedRequest { client: s.client, head, body }).await;
    let config = &inner.config;
    let send = |kind: Kind, bytes: &[u8]| {
        let frame = carrier::encode(kind, id, bytes);
        let chan = chan.clone();
        async move {
            chan.writable(config.buffered_low, config.stall).await?;
            chan.send(frame).await
        }
    };
    let written = async {
        let head = serde_json::to_vec(&response.head).map_err(|e| TransportError::unparsable("response head", e))?;
        send(Kind::Head, &head).await?;
        let mut body = response.body;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => {
                    for piece in carrier::chunks(&bytes) {
                        send(Kind::Data, &piece).await?;
                    }
                }
                Err(e) => {
                    send(Kind::Abort, e.to_string().as_bytes()).await?;
                    return Ok(());
                }
            }
        }
        send(Kind::End, b"").await
    };
    if let Err(e) = written.await {
        tracing::debug!(client = %s.client.short(), error = %e, "could not write a response to a client");
    }
    if closing {
        // Answered: from now on the answer, not the idle limit, ends the session.
        if let Some(terms) = lock(&s.terms).as_mut() {
            terms.answered();
        }
        // The stranger's one call is answered: let the answer leave, then end the session.
        if let Err(e) = chan.drained(config.stall).await {
            tracing::debug!(client = %s.client.short(), error = %e, "a stranger's answer did not drain");
        }
        *lock(&s.ending) = Some(StrangerEnd::Asked);
        s.closed.cancel();
    }
}

/// Why the node ends a stranger's session (the `close` signal's `code` and `message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrangerEnd {
    /// Its closing call was answered (it asked to join): once approved it connects again, as a
    /// member.
    Asked,
    /// It made no closing call within [`STRANGER_IDLE`].
    Idle,
}

impl StrangerEnd {
    pub fn code(self) -> &'static str {
        match self {
            StrangerEnd::Asked => "asked",
            StrangerEnd::Idle => "stranger_idle",
        }
    }

    pub fn message(self) -> String {
        match self {
            StrangerEnd::Asked => {
                "your request was passed on; this connection closes until a family admin approves it".into()
            }
            StrangerEnd::Idle => {
                format!("a non-member's connection closes after {} s without asking to join", STRANGER_IDLE.as_secs())
            }
        }
    }
}

/// How long a stranger's session lasts (sans-IO: the caller passes the time). It ends when its
/// closing call is answered; until that answer is written, it ends `idle` after it connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrangerTerms {
    idle_until: std::time::Instant,
    asked: bool,
}

impl StrangerTerms {
    /// The session's connection came up at `now`.
    pub fn new(now: std::time::Instant, idle: Duration) -> Self {
        Self { idle_until: now + idle, asked: false }
    }

    /// The stranger's closing call was answered (its answer written): the session ends for that
    /// reason now, so the idle limit no longer applies. Until then it does, also while the closing
    /// call is under way: a call whose body never ends must not hold the session open.
    pub fn answered(&mut self) {
        self.asked = true;
    }

    /// When to look again ([`Self::timed_out`]); `None` once the closing call is answered.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        (!self.asked).then_some(self.idle_until)
    }

    /// Whether the session ends for idling, at `now`.
    pub fn timed_out(&self, now: std::time::Instant) -> Option<StrangerEnd> {
        (!self.asked && now >= self.idle_until).then_some(StrangerEnd::Idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stranger_ends_idle_until_its_closing_call_is_answered() {
        let t0 = std::time::Instant::now();
        let mut terms = StrangerTerms::new(t0, STRANGER_IDLE);
        assert_eq!(terms.deadline(), Some(t0 + STRANGER_IDLE));
        assert_eq!(terms.timed_out(t0 + Duration::from_secs(29)), None);
        assert_eq!(terms.timed_out(t0 + STRANGER_IDLE), Some(StrangerEnd::Idle));
        // Its closing call's answer ends the session instead: no idle limit after that.
        terms.answered();
        assert_eq!(terms.deadline(), None);
        assert_eq!(terms.timed_out(t0 + 10 * STRANGER_IDLE), None);
    }

    /// Starting the closing call (its head) does not hold the clock: a call whose body never ends,
    /// or that is aborted, would keep the session forever.
    #[test]
    fn a_started_closing_call_does_not_stop_the_idle_clock() {
        let t0 = std::time::Instant::now();
        let terms = StrangerTerms::new(t0, STRANGER_IDLE);
        // No method marks a started call: only `answered` stops the clock.
        assert_eq!(terms.deadline(), Some(t0 + STRANGER_IDLE));
        assert_eq!(terms.timed_out(t0 + STRANGER_IDLE - Duration::from_millis(1)), None);
        assert_eq!(terms.timed_out(t0 + STRANGER_IDLE), Some(StrangerEnd::Idle));
        assert_eq!(terms.timed_out(t0 + 10 * STRANGER_IDLE), Some(StrangerEnd::Idle));
    }
}
