//! The hub client's sans-IO core: the connection's state (waiting → connecting → hello/welcome →
//! auth → up), the reconnection schedule ([`Backoff`]), the pacing of our messages ([`Pacer`]),
//! the requests waiting for the hub (by [`RequestId`], with deadlines) and the silence timeout.
//!
//! The driver ([`super`]) owns the socket and a timer and carries out what the machine asks:
//!
//! 1. after [`HubMachine::new`] and after every call below, [`HubMachine::poll_output`] until
//!    `None`: open a socket ([`Output::Connect`]), write a text frame ([`Output::Transmit`]), drop
//!    the socket ([`Output::Disconnect`]), hand out an event or a request's result;
//! 2. [`HubMachine::handle_connected`] once the WebSocket is open, [`HubMachine::handle_closed`]
//!    when it failed to open or is gone (for any reason, a failed write too);
//! 3. [`HubMachine::handle_text`] for each text frame, [`HubMachine::handle_frame`] for any other;
//! 4. [`HubMachine::request`] for each command of a handle ([`HubMachine::close`] to stop);
//! 5. [`HubMachine::handle_timeout`] once [`HubMachine::poll_timeout`] has passed.
//!
//! Nothing here reads a clock, touches a socket or spawns a task, so tests drive it in virtual
//! time. The wire is the one `docs/PROTOCOL.md` describes; request ids on the wire (`rid`) start
//! at 1 on each connection, while [`RequestId`]s are unique for the machine's lifetime.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey};
use p2pos_core::NodeId;
use p2pos_hub_proto::native::{Allow, AnnouncedLimits, ClientRequest, ServerMessage, VERSION};
use p2pos_hub_proto::{auth_message, hub_origin, to_text};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::{HubError, HubEvent};

/// Limits the hub announced in `welcome`.
type Announced = AnnouncedLimits;

/// A request's handle, unique for the machine's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RequestId(pub u64);

/// What a handle asks of the hub.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// A `signal`, confirmed by the `pong` of the barrier ping that follows it.
    Signal { to: String, payload: Value },
    /// `turn`: ICE servers.
    Turn,
    /// `join` of a namespace, with the fields `network` and `rv:` names take (a beacon token,
    /// network proofs, hidden); answered with `joined`.
    Join { ns: String, beacon: Option<String>, also: Vec<String>, hidden: bool },
    /// `contacts`: the identities that may signal this connection by its identity (with
    /// `allow: "contacts"`); answered with `contacts_set`.
    Contacts(Vec<String>),
    /// Any other request as a JSON object; a `rid` is added.
    Raw(Value),
}

/// What the machine asks its driver to do, or hands out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    /// Open a WebSocket to the hub, then call `handle_connected` or `handle_closed`.
    Connect,
    /// Write this text frame.
    Transmit(String),
    /// Drop the socket (or the attempt to open one); with `goodbye`, send a close frame first
    /// (on shutdown of a connection that was up).
    Disconnect { goodbye: bool },
    /// Something to report to the node.
    Event(HubEvent),
    /// The result of a [`HubMachine::request`].
    Reply { id: RequestId, result: Result<Value, HubError> },
}

/// Tunables of the machine (the timing part of [`super::HubClientConfig`]).
#[derive(Debug, Clone)]
pub(crate) struct MachineConfig {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Who may signal this client by its identity, when it has a key.
    pub allow: Allow,
}

/// Where the connection is.
enum State {
    /// Between connections; the next attempt starts at `until`.
    Waiting { until: Instant },
    /// The socket is being opened; the attempt fails at `deadline`.
    Connecting { deadline: Instant },
    /// `hello` sent; waiting for `welcome`.
    Hello { deadline: Instant },
    /// `auth` sent; waiting for `authed`.
    Auth { deadline: Instant, limits: Announced },
    /// Connected (and authenticated, with a key).
    Up(Box<Session>),
    /// Shut down.
    Stopped,
}

/// The hub client's state machine. See the module documentation.
pub(crate) struct HubMachine {
    config: MachineConfig,
    url: String,
    key: Option<SigningKey>,
    /// Sent in `hello`: a JSON object or nothing.
    profile: Option<Value>,
    state: State,
    backoff: Backoff,
    rng: StdRng,
    /// When the current attempt (connecting and, if it got that far, the connection) started.
    attempt_started: Instant,
    peer_id: Option<String>,
    next_id: u64,
    outputs: VecDeque<Output>,
}

/// A request waiting for the hub.
struct Pending {
    id: RequestId,
    deadline: Instant,
    /// For signals: the write sequence number once written (confirmed by a later pong).
    signal_written: Option<u64>,
    is_signal: bool,
}

/// A message waiting for a rate-limit token.
enum Out {
    Request {
        rid: u64,
        text: String,
    },
    /// A `ping` whose `pong` confirms every signal written before it.
    Barrier,
}

/// One live connection.
struct Session {
    limits: Announced,
    next_rid: u64,
    pending: HashMap<u64, Pending>,
    queue: VecDeque<Out>,
    pacer: Pacer,
    write_seq: u64,
    /// rid and write sequence of the barrier ping in flight.
    barrier: Option<(u64, u64)>,
    last_heard: Instant,
    silence: Duration,
}

impl HubMachine {
    /// A machine that connects at once (its first output is [`Output::Connect`]). `seed` seeds the
    /// backoff's jitter.
    pub(crate) fn new(
        config: MachineConfig,
        url: String,
        key: Option<SigningKey>,
        profile: Option<Value>,
        now: Instant,
        seed: u64,
    ) -> Self {
        let backoff = Backoff::new(config.backoff_min, config.backoff_max);
        let mut machine = Self {
            state: State::Stopped,
            config,
            url,
            key,
            profile,
            backoff,
            rng: StdRng::seed_from_u64(seed),
            attempt_started: now,
            peer_id: None,
            next_id: 1,
            outputs: VecDeque::new(),
        };
        machine.start_attempt(now);
        machine
    }

    /// The next thing to do, if any.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`HubMachine::handle_timeout`] is due, if anything waits for time.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Waiting { until } => Some(*until),
            State::Connecting { deadline } | State::Hello { deadline } | State::Auth { deadline, .. } => {
                Some(*deadline)
            }
            State::Up(s) => {
                let mut next = s.last_heard + s.silence;
                if let Some(d) = s.pending.values().map(|p| p.deadline).min() {
                    next = next.min(d);
                }
                if !s.queue.is_empty()
                    && let Some(wait) = s.pacer.next_token_in()
                {
                    next = next.min(s.pacer.refilled + wait);
                }
                Some(next)
            }
            State::Stopped => None,
        }
    }

    /// The hub-assigned peer id of the current connection, if up.
    pub(crate) fn peer_id(&self) -> Option<&str> {
        if self.is_up() { self.peer_id.as_deref() } else { None }
    }

    /// Whether the connection is up (and authenticated, with a key).
    pub(crate) fn is_up(&self) -> bool {
        matches!(self.state, State::Up(_))
    }

    /// Whether [`HubMachine::close`] was called.
    pub(crate) fn is_stopped(&self) -> bool {
        matches!(self.state, State::Stopped)
    }

    /// The socket asked for by [`Output::Connect`] is open: say hello.
    pub(crate) fn handle_connected(&mut self, _now: Instant) {
        if let State::Connecting { deadline } = self.state {
            let hello = ClientRequest::Hello { rid: None, v: VERSION, profile: self.profile.clone() };
            self.outputs.push_back(Output::Transmit(to_text(&hello)));
            self.state = State::Hello { deadline };
        }
    }

    /// The socket failed to open, or is gone: `reason` says why.
    pub(crate) fn handle_closed(&mut self, now: Instant, reason: String) {
        self.lost(now, reason);
    }

    /// A frame other than text arrived (a ping, a pong, binary): the hub is alive.
    pub(crate) fn handle_frame(&mut self, now: Instant) {
        if let State::Up(s) = &mut self.state {
            s.last_heard = now;
        }
    }

    /// A text frame arrived.
    pub(crate) fn handle_text(&mut self, now: Instant, text: &str) {
        match &mut self.state {
            State::Hello { deadline } => {
                let deadline = *deadline;
                match serde_json::from_str(text) {
                    Ok(ServerMessage::Welcome { peer, challenge, limits, .. }) => {
                        self.peer_id = Some(peer.into_owned());
                        self.authenticate(now, deadline, &challenge, limits);
                    }
                    _ => self.lost(now, format!("expected welcome, got {}", short(text))),
                }
            }
            State::Auth { limits, .. } => {
                let limits = *limits;
                match serde_json::from_str(text) {
                    Ok(ServerMessage::Authed { .. }) => self.up(now, limits),
                    Ok(ServerMessage::Error { code, message, .. }) => {
                        self.lost(now, format!("authentication refused: {code}: {message}"));
                    }
                    _ => self.lost(now, format!("expected authed, got {}", short(text))),
                }
            }
            State::Up(s) => {
                s.last_heard = now;
                s.incoming(text, &mut self.outputs);
                self.flush(now);
            }
            State::Waiting { .. } | State::Connecting { .. } | State::Stopped => {}
        }
    }

    /// Sends `request`; its result comes out as [`Output::Reply`] with the returned id (at once,
    /// when the connection is not up or the message is too large).
    pub(crate) fn request(&mut self, now: Instant, request: Request) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let State::Up(s) = &mut self.state else {
            let error = if self.is_stopped() { HubError::Closed } else { HubError::NotConnected };
            self.outputs.push_back(Output::Reply { id, result: Err(error) });
            return id;
        };
        let rid = s.next_rid;
        s.next_rid += 1;
        let (text, is_signal) = match request {
            Request::Signal { to, payload } => {
                (to_text(&ClientRequest::Signal { rid: Some(rid), to: to.into(), payload }), true)
            }
            Request::Turn => (to_text(&ClientRequest::Turn { rid: Some(rid) }), false),
            Request::Join { ns, beacon, also, hidden } => {
                let join = ClientRequest::Join {
                    rid: Some(rid),
                    ns: ns.into(),
                    beacon: beacon.map(Into::into),
                    also: also.into_iter().map(Into::into).collect(),
                    hidden,
                };
                (to_text(&join), false)
            }
            Request::Contacts(ids) => {
                let ids = ids.into_iter().map(Into::into).collect();
                (to_text(&ClientRequest::Contacts { rid: Some(rid), ids }), false)
            }
            Request::Raw(mut message) => {
                if let Value::Object(map) = &mut message {
                    map.insert("rid".into(), Value::from(rid));
                }
                (message.to_string(), false)
            }
        };
        if text.len() > s.limits.max_message_bytes {
            let error = HubError::TooLarge { size: text.len(), limit: s.limits.max_message_bytes };
            self.outputs.push_back(Output::Reply { id, result: Err(error) });
            return id;
        }
        let deadline = now + self.config.request_timeout;
        s.pending.insert(rid, Pending { id, deadline, signal_written: None, is_signal });
        s.queue.push_back(Out::Request { rid, text });
        self.flush(now);
        id
    }

    /// Time has passed: reconnect, give up on an attempt, a silent hub or a request, or send
    /// what waited for a rate-limit token.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        match &mut self.state {
            State::Waiting { until } => {
                if now >= *until {
                    self.start_attempt(now);
                }
            }
            State::Connecting { deadline } | State::Hello { deadline } | State::Auth { deadline, .. } => {
                if now >= *deadline {
                    let reason = format!("no welcome within {} s", self.config.connect_timeout.as_secs());
                    self.lost(now, reason);
                }
            }
            State::Up(s) => {
                if now.saturating_duration_since(s.last_heard) >= s.silence {
                    let reason = format!("nothing heard from the hub for {} s", s.silence.as_secs());
                    self.lost(now, reason);
                    return;
                }
                let expired: Vec<u64> =
                    s.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(rid, _)| *rid).collect();
                let ms = self.config.request_timeout.as_millis() as u64;
                for rid in expired {
                    if let Some(p) = s.pending.remove(&rid) {
                        self.outputs.push_back(Output::Reply { id: p.id, result: Err(HubError::Timeout(ms)) });
                    }
                }
                self.flush(now);
            }
            State::Stopped => {}
        }
    }

    /// Stops for good: pending requests fail with [`HubError::Closed`] and the socket closes.
    pub(crate) fn close(&mut self, _now: Instant) {
        let mut goodbye = false;
        if let State::Up(s) = std::mem::replace(&mut self.state, State::Stopped) {
            goodbye = true;
            for (_, p) in s.pending {
                self.outputs.push_back(Output::Reply { id: p.id, result: Err(HubError::Closed) });
            }
        }
        self.outputs.push_back(Output::Disconnect { goodbye });
    }

    fn start_attempt(&mut self, now: Instant) {
        self.attempt_started = now;
        self.peer_id = None;
        self.state = State::Connecting { deadline: now + self.config.connect_timeout };
        self.outputs.push_back(Output::Connect);
    }

    fn authenticate(&mut self, now: Instant, deadline: Instant, challenge: &str, limits: Announced) {
        let Some(key) = &self.key else {
            self.up(now, limits);
            return;
        };
        let Some(origin) = hub_origin(&self.url) else {
            let reason = format!("the hub URL {} has no origin to log in at", self.url);
            self.lost(now, reason);
            return;
        };
        let id = NodeId::from_verifying_key(&key.verifying_key()).to_string();
        let sig = B64.encode(key.sign(auth_message(&origin, challenge).as_bytes()).to_bytes());
        let auth = ClientRequest::Auth { rid: Some(0), id: id.into(), sig: sig.into(), allow: Some(self.config.allow) };
        self.outputs.push_back(Output::Transmit(to_text(&auth)));
        self.state = State::Auth { deadline, limits };
    }

    fn up(&mut self, now: Instant, limits: Announced) {
        let silence = Duration::from_secs(limits.idle_timeout_secs.max(limits.heartbeat_secs * 2) + 10);
        self.state = State::Up(Box::new(Session {
            limits,
            next_rid: 1,
            pending: HashMap::new(),
            queue: VecDeque::new(),
            pacer: Pacer::new(&limits, now),
            write_seq: 0,
            barrier: None,
            last_heard: now,
            silence,
        }));
        self.outputs.push_back(Output::Event(HubEvent::Connected));
    }

    /// The connection or the attempt ended: fail what waits, report it, schedule the next one.
    fn lost(&mut self, now: Instant, reason: String) {
        match std::mem::replace(&mut self.state, State::Stopped) {
            State::Stopped => return,
            State::Waiting { until } => {
                // No socket to lose.
                self.state = State::Waiting { until };
                return;
            }
            State::Up(s) => {
                tracing::info!(%reason, "hub connection lost");
                for (_, p) in s.pending {
                    let result = Err(HubError::Disconnected(reason.clone()));
                    self.outputs.push_back(Output::Reply { id: p.id, result });
                }
                self.outputs.push_back(Output::Disconnect { goodbye: false });
                self.outputs.push_back(Output::Event(HubEvent::Disconnected { reason }));
            }
            State::Connecting { .. } | State::Hello { .. } | State::Auth { .. } => {
                tracing::debug!(url = %self.url, %reason, "hub connection attempt failed");
                self.outputs.push_back(Output::Disconnect { goodbye: false });
            }
        }
        self.peer_id = None;
        let lasted = now.saturating_duration_since(self.attempt_started);
        let wait = self.backoff.after_attempt(lasted, self.rng.random::<f64>());
        self.state = State::Waiting { until: now + wait };
    }

    /// Writes queued messages while rate-limit tokens last.
    fn flush(&mut self, now: Instant) {
        let State::Up(s) = &mut self.state else { return };
        loop {
            if s.queue.is_empty() {
                // A burst of signals was written: follow it with one barrier ping.
                let unconfirmed = s.pending.values().any(|p| p.is_signal && p.signal_written.is_some());
                if unconfirmed && s.barrier.is_none() {
                    s.queue.push_back(Out::Barrier);
                } else {
                    break;
                }
            }
            if !s.pacer.take(now) {
                break;
            }
            let Some(out) = s.queue.pop_front() else { break };
            let text = match out {
                Out::Request { rid, text } => {
                    // Timed out while queued: nothing to send.
                    let Some(p) = s.pending.get_mut(&rid) else { continue };
                    if p.is_signal {
                        p.signal_written = Some(s.write_seq);
                    }
                    text
                }
                Out::Barrier => {
                    let rid = s.next_rid;
                    s.next_rid += 1;
                    s.barrier = Some((rid, s.write_seq));
                    to_text(&ClientRequest::Ping { rid: Some(rid) })
                }
            };
            s.write_seq += 1;
            self.outputs.push_back(Output::Transmit(text));
        }
    }
}

impl Session {
    fn incoming(&mut self, text: &str, outputs: &mut VecDeque<Output>) {
        let mut reply = |p: Pending, result| outputs.push_back(Output::Reply { id: p.id, result });
        match serde_json::from_str::<ServerMessage<'_>>(text) {
            Ok(ServerMessage::Signal { from, from_id, payload }) => {
                let payload = payload.into_value();
                outputs.push_back(Output::Event(HubEvent::Signal { from: from.into_owned(), from_id, payload }));
            }
            Ok(ServerMessage::Pong { rid }) => {
                if let (Some(rid), Some((barrier, seq))) = (rid, self.barrier)
                    && rid == barrier
                {
                    self.barrier = None;
                    let mut confirmed: Vec<u64> = self
                        .pending
                        .iter()
                        .filter(|(_, p)| p.signal_written.is_some_and(|w| w < seq))
                        .map(|(rid, _)| *rid)
                        .collect();
                    confirmed.sort_unstable();
                    for rid in confirmed {
                        if let Some(p) = self.pending.remove(&rid) {
                            reply(p, Ok(Value::Null));
                        }
                    }
                }
            }
            Ok(ServerMessage::IceServers { rid, ice_servers, .. }) => {
                if let Some(p) = rid.and_then(|rid| self.pending.remove(&rid)) {
                    reply(p, Ok(serde_json::to_value(ice_servers).unwrap_or(Value::Array(vec![]))));
                }
            }
            Ok(ServerMessage::Error { rid, code, message }) => match rid.and_then(|rid| self.pending.remove(&rid)) {
                Some(p) => reply(p, Err(HubError::Refused { code: code.into_owned(), message: message.into_owned() })),
                None => tracing::warn!(%code, %message, "hub error"),
            },
            // Anything else (and a type this client does not know) as it came: the reply to a
            // `request`, or an event.
            _ => {
                let msg: Value = match serde_json::from_str(text) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(error = %e, "hub sent invalid JSON");
                        return;
                    }
                };
                match msg["rid"].as_u64().and_then(|rid| self.pending.remove(&rid)) {
                    Some(p) => reply(p, Ok(msg)),
                    None => outputs.push_back(Output::Event(HubEvent::Message(msg))),
                }
            }
        }
    }
}

fn short(text: &str) -> String {
    let mut s = text.to_string();
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The reconnection schedule: exponential backoff with jitter. Sans-IO: the caller passes how
/// long the attempt lasted and a random number.
#[derive(Debug, Clone)]
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Self { min, max, next: min }
    }

    /// The wait before the next attempt, after one that lasted `lasted` (connecting and, if it
    /// got that far, the connection itself). `jitter` is uniform in [0, 1).
    fn after_attempt(&mut self, lasted: Duration, jitter: f64) -> Duration {
        // A connection that lasted a while resets the backoff.
        if lasted > self.max {
            self.next = self.min;
        }
        // Full jitter: anywhere in [backoff/2, backoff].
        let wait = self.next.mul_f64(0.5 + jitter.clamp(0.0, 1.0) * 0.5);
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

/// Paces our messages with a token bucket a little under the hub's announced limits, so its
/// bucket never runs dry. Sans-IO: the caller passes the time. A hub that announces no rate
/// (`rate_per_sec` 0) is not paced.
#[derive(Debug, Clone)]
struct Pacer {
    enabled: bool,
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl Pacer {
    fn new(limits: &Announced, now: Instant) -> Self {
        let burst = pacing_burst(limits);
        Self { enabled: limits.rate_per_sec > 0.0, rate: pacing_rate(limits), burst, tokens: burst, refilled: now }
    }

    /// Takes a token for one message at `now`; false when the message must wait.
    fn take(&mut self, now: Instant) -> bool {
        self.tokens =
            (self.tokens + now.saturating_duration_since(self.refilled).as_secs_f64() * self.rate).min(self.burst);
        self.refilled = now;
        if !self.enabled {
            return true;
        }
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// How long after the last [`Pacer::take`] the next token arrives, if there is none now.
    fn next_token_in(&self) -> Option<Duration> {
        if !self.enabled || self.tokens >= 1.0 {
            return None;
        }
        Some(Duration::from_secs_f64(((1.0 - self.tokens) / self.rate).max(0.001)))
    }
}

/// Our sustained rate: a little under the hub's, so its bucket never runs dry.
fn pacing_rate(limits: &Announced) -> f64 {
    (limits.rate_per_sec * 0.8).max(0.1)
}

fn pacing_burst(limits: &Announced) -> f64 {
    (limits.burst - 2.0).max(1.0)
}

#[cfg(test)]
mod tests;
