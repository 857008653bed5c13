//! `p2pos chat`: Chat from the terminal (docs/PROTOCOL.md, "Chat"). The protocol is
//! `p2pos_core::chat`'s sans-IO [`Session`], one per conversation; this wires the sessions to one
//! hub connection, one WebRTC data channel each, stdin (commands) and stdout (events), and keeps
//! the contacts ([`contacts`]), the history and received images in a directory.
//!
//! The hub connection proves this identity with `allow: "contacts"` (only saved contacts may ring
//! it by identity) and, with a beacon token fetched like a page of the hub would, joins the
//! anonymous `network` namespace with the nearby profile (a name, a session nonce and the
//! contacts' tags), so the web app and this terminal find each other on one network. Strangers
//! are asked by their hub peer id (`request`), contacts are rung by their identity (`call`), and
//! only the identity proof on the data channel decides who is on the other end.

mod contacts;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use p2pos_core::IdentityId;
use p2pos_core::chat::{
    AckKind, CHANNEL_LABEL, CloseReason, Contact, ContactSecret, Event, MAX_IMAGE, Me, Output, Phase, Rtc, Session,
    Signal, SquatterReason, Timing, nearby_tag, nearby_tags, random_b64u16, random_bytes, valid_name,
};
use p2pos_net::PathKind;
use p2pos_net::hub::{Allow, HubClient, HubClientConfig, HubEvent, HubHandle, fetch_beacon, hub_origin};
use p2pos_net::webrtc::{DataPeer, DataPeerEvent, RTCIceCandidateInit, WebRtcConfig};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::cli::ChatArgs;
use crate::drop_cmd::{image_type, printable, safe_file_name};
use contacts::Contacts;

/// Most connection requests waiting for an answer at once; more are declined unseen.
const MAX_ASKED: usize = 16;

pub fn run(args: ChatArgs) -> Result<()> {
    crate::node_cmd::install_tracing();
    let name = args.name.trim().to_string();
    if !valid_name(&name) {
        bail!("--name must be 1-64 characters without control characters (got {:?})", args.name);
    }
    let (_, identity) = crate::passphrase::load_identity(args.identity.as_deref(), &args.passphrase)?;
    std::fs::create_dir_all(args.dir.join("images"))
        .with_context(|| format!("creating {}", args.dir.join("images").display()))?;
    let contacts = Contacts::open(&args.dir)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut chat = Chat::start(args, Me { identity, name }, contacts).await?;
        let result = chat.run().await;
        chat.close().await;
        result
    })
}

/// The wall clock in unix ms: the chat protocol's time.
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One conversation and its connection.
struct Slot {
    session: Session,
    peer: Option<DataPeer>,
    /// Set in a contact session: both sides signal each other by identity, and a signal is
    /// recognised by the `from_id` the hub proved (it comes from a hub peer id).
    by_identity: Option<IdentityId>,
    /// In a contact session: the hub peer that first answered without a `from_id`.
    answered_by: Option<String>,
    /// This side rang (`/call`): the call that glare may cancel.
    calling: bool,
    /// Who the person thinks this is (a nearby name or a contact's), for the terminal.
    label: String,
}

/// Someone on this network.
struct Nearby {
    n: usize,
    peer: String,
    name: String,
    /// The saved contact whose tag this peer showed (only the proof on connect decides).
    contact: Option<IdentityId>,
}

/// What woke the loop.
enum Next {
    Hub(HubEvent),
    Peer(String, DataPeerEvent),
    Line(Option<String>),
    Timeout,
    Interrupted,
}

/// Writes events: one JSON object a line, or a line of text for a person.
struct Printer {
    json: bool,
}

impl Printer {
    fn emit(&self, event: &str, fields: Value, human: impl FnOnce() -> String) {
        let line = if self.json {
            let mut object = json!({ "event": event });
            if let (Value::Object(out), Value::Object(fields)) = (&mut object, fields) {
                out.extend(fields);
            }
            object.to_string()
        } else {
            human()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    /// An error; its text may quote the hub or the other side, so the terminal gets it escaped.
    fn error(&self, message: &str) {
        self.emit("error", json!({ "message": message }), || format!("! {}", printable(message)));
    }
}

struct Chat {
    me: Me,
    hub_url: String,
    hidden: bool,
    dir: PathBuf,
    out: Printer,
    hub: HubHandle,
    events: mpsc::Receiver<HubEvent>,
    lines: mpsc::UnboundedReceiver<String>,
    rtc: WebRtcConfig,
    contacts: Contacts,
    slots: HashMap<String, Slot>,
    /// Requests waiting for /accept or /decline, oldest first.
    asked: VecDeque<String>,
    /// The chat that /send, /image, /typing and /leave go to: the last one opened.
    current: Option<String>,
    nearby: Vec<Nearby>,
    next_n: usize,
    quitting: bool,
    /// `--test-claim-identity`: the id this side lies about in its hello.
    claim: Option<String>,
}

impl Chat {
    async fn start(args: ChatArgs, me: Me, contacts: Contacts) -> Result<Self> {
        let origin = hub_origin(&args.hub).with_context(|| format!("{} is not a ws:// or wss:// URL", args.hub))?;
        let nonce = random_b64u16()?;
        let secrets = recent_secrets(&contacts);
        let profile = json!({
            "app": "chat", "v": 1, "name": me.name, "s": nonce, "t": nearby_tags(&secrets, &nonce)?,
        });
        let config = HubClientConfig { allow: Allow::Contacts, origin: Some(origin), ..HubClientConfig::default() };
        let key = me.identity.signing_key().clone();
        let (hub, mut events) = HubClient::spawn_with(config, args.hub.clone(), Some(key), profile);
        let connected = tokio::time::timeout(Duration::from_secs(15), async {
            while let Some(event) = events.recv().await {
                match event {
                    HubEvent::Connected => return Ok(()),
                    HubEvent::Disconnected { reason } => return Err(anyhow::anyhow!("{reason}")),
                    _ => {}
                }
            }
            Err(anyhow::anyhow!("the hub client stopped"))
        })
        .await;
        match connected {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("could not reach the hub at {}: {e}", args.hub),
            Err(_) => bail!("the hub at {} did not answer within 15 s", args.hub),
        }
        // 256 KiB, as browsers: an image chunk frame is 64 KiB and a kind byte, one byte over the
        // 64 KiB webrtc-rs takes by default.
        let mut rtc = WebRtcConfig { sctp_max_message_size: Some(256 * 1024), ..WebRtcConfig::default() };
        if !args.rtc_bind.is_empty() {
            rtc.udp_addrs = args.rtc_bind.clone();
        }
        let (line_tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut chat = Self {
            me,
            hub_url: args.hub,
            hidden: args.hidden,
            dir: args.dir,
            out: Printer { json: args.json },
            hub,
            events,
            lines,
            rtc,
            contacts,
            slots: HashMap::new(),
            asked: VecDeque::new(),
            current: None,
            nearby: Vec::new(),
            next_n: 1,
            quitting: false,
            claim: args.test_claim_identity,
        };
        chat.join().await?;
        let (id, peer, name) = (chat.me.identity.id(), chat.hub.peer_id().unwrap_or_default(), chat.me.name.clone());
        chat.out.emit("ready", json!({"id": id.to_string(), "peer": peer, "name": name}), || {
            format!("Ready as {} ({id}). /nearby, /contacts, /call NAME; /help for more.", printable(&name))
        });
        Ok(chat)
    }

    /// Joins this network (with a fresh beacon token) and tells the hub who may ring this
    /// identity; on every (re)connection, since both belong to one connection.
    async fn join(&mut self) -> Result<()> {
        self.sync_contacts().await?;
        let beacon = fetch_beacon(&self.hub_url).await.context("a beacon token from the hub")?;
        let joined =
            self.hub.join("network", Some(&beacon.token), &[], self.hidden).await.context("joining this network")?;
        self.nearby.clear();
        for peer in joined["peers"].as_array().into_iter().flatten() {
            self.arrived(peer, false);
        }
        Ok(())
    }

    async fn sync_contacts(&self) -> Result<()> {
        self.hub.set_contacts(&self.contacts.ids()).await.context("giving the hub the contact list")?;
        Ok(())
    }

    async fn run(&mut self) -> Result<()> {
        loop {
            self.drive().await;
            self.reap();
            if self.quitting && self.slots.is_empty() {
                return Ok(());
            }
            let deadline = self.slots.values().filter_map(|s| s.session.poll_timeout()).min();
            match self.next(deadline).await {
                Next::Interrupted | Next::Line(None) => self.quit(),
                Next::Line(Some(line)) => self.command(line.trim()).await,
                Next::Timeout => {
                    let now = now_ms();
                    for slot in self.slots.values_mut() {
                        slot.session.handle_timeout(now);
                    }
                }
                Next::Hub(event) => self.hub_event(event).await,
                Next::Peer(rq, event) => self.peer_event(&rq, event).await,
            }
        }
    }

    async fn next(&mut self, deadline: Option<u64>) -> Next {
        let wait = deadline.map(|at| Duration::from_millis(at.saturating_sub(now_ms())));
        let peers = next_peer_event(&mut self.slots);
        tokio::select! {
            event = self.events.recv() => Next::Hub(event.unwrap_or(HubEvent::Disconnected { reason: "stopped".into() })),
            (rq, event) = peers => Next::Peer(rq, event),
            line = self.lines.recv() => Next::Line(line),
            () = crate::node_cmd::shutdown_signal() => Next::Interrupted,
            () = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => Next::Timeout,
        }
    }

    fn quit(&mut self) {
        self.quitting = true;
        for slot in self.slots.values_mut() {
            slot.session.leave();
        }
    }

    /// Sessions that ended and whose connection is gone.
    fn reap(&mut self) {
        self.slots.retain(|_, slot| !slot.session.phase().is_final() || slot.peer.is_some());
        let slots = &self.slots;
        self.asked.retain(|rq| slots.get(rq).is_some_and(|s| *s.session.phase() == Phase::Asked));
        if self.current.as_ref().is_some_and(|rq| !self.slots.contains_key(rq)) {
            self.current = None;
        }
    }

    async fn close(&mut self) {
        for slot in self.slots.values() {
            if let Some(peer) = &slot.peer {
                peer.close().await;
            }
        }
        self.hub.shutdown();
    }

    /// Carries out what every session asks until none asks anything more.
    async fn drive(&mut self) {
        loop {
            let mut work = Vec::new();
            for (rq, slot) in &mut self.slots {
                while let Some(output) = slot.session.poll_output() {
                    work.push((rq.clone(), output));
                }
            }
            if work.is_empty() {
                return;
            }
            for (rq, output) in work {
                self.output(&rq, output).await;
            }
        }
    }

    async fn output(&mut self, rq: &str, output: Output) {
        match output {
            Output::Signal { to, signal } => self.signal(rq, &to, &signal).await,
            Output::Text(text) => {
                let text = match &self.claim {
                    Some(claim) => claim_identity(text, claim),
                    None => text,
                };
                let Some(peer) = self.slots.get(rq).and_then(|s| s.peer.as_ref()) else { return };
                if let Err(e) = peer.send_text(&text).await {
                    tracing::debug!(error = %e, "could not send a frame");
                }
            }
            Output::Binary(frame) => {
                let Some(peer) = self.slots.get(rq).and_then(|s| s.peer.as_ref()) else { return };
                if let Err(e) = peer.send(&frame).await {
                    tracing::debug!(error = %e, "could not send a frame");
                }
            }
            Output::Rtc(step) => {
                if let Err(e) = self.rtc(rq, step).await {
                    self.out.error(&format!("WebRTC: {e:#}"));
                    if let Some(slot) = self.slots.get_mut(rq) {
                        slot.session.cancel();
                    }
                }
            }
            Output::Event(event) => self.event(rq, event).await,
        }
    }

    /// Sends a signal. A request, call, answer or description that cannot reach the other side
    /// ends the attempt; a lost candidate or cancel is only logged.
    async fn signal(&mut self, rq: &str, to: &str, signal: &Signal) {
        let Err(e) = self.hub.signal(to, signal.payload()).await else { return };
        tracing::debug!(error = %e, "a chat signal was not delivered");
        use p2pos_core::chat::SignalKind as K;
        if matches!(signal.kind, K::Ice { .. } | K::Cancel {} | K::Decline {}) {
            return;
        }
        let Some(slot) = self.slots.get_mut(rq) else { return };
        let who = printable(&slot.label);
        let message = match e.code() {
            // By identity the hub says the same when the contact does not take calls from this
            // identity: it never tells who is online to someone it may not ring.
            Some("peer_unavailable") => format!("{who} is not online (or not taking calls from you)"),
            Some("not_allowed") => format!("{who} is no longer on this network"),
            _ => format!("could not reach {who}: {e}"),
        };
        self.out.error(&message);
        if !slot.session.phase().is_final() {
            slot.session.cancel();
        }
    }

    async fn rtc(&mut self, rq: &str, step: Rtc) -> Result<()> {
        let Some(slot) = self.slots.get_mut(rq) else { return Ok(()) };
        match step {
            Rtc::Offer | Rtc::Answer { .. } => {
                let servers = self.hub.ice_servers().await.context("ICE servers from the hub")?;
                let mut peer = DataPeer::new(&servers, self.rtc.clone()).await.context("setting up WebRTC")?;
                let sdp = match step {
                    Rtc::Answer { offer } => peer.answer(offer).await?,
                    _ => peer.offer(CHANNEL_LABEL).await?,
                };
                slot.peer = Some(peer);
                slot.session.local_description(sdp);
            }
            Rtc::ApplyAnswer { answer } => {
                if let Some(peer) = &slot.peer {
                    peer.apply_answer(answer).await?;
                }
            }
            Rtc::AddCandidates(candidates) => {
                let Some(peer) = &slot.peer else { return Ok(()) };
                for candidate in candidates {
                    match serde_json::from_value::<RTCIceCandidateInit>(candidate) {
                        Ok(candidate) => peer.add_candidate(candidate).await,
                        Err(e) => tracing::debug!(error = %e, "ignored a malformed ICE candidate"),
                    }
                }
            }
            Rtc::Close => {
                if let Some(peer) = slot.peer.take() {
                    // A last frame (bye) was queued just before: let it leave.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    peer.close().await;
                }
            }
        }
        Ok(())
    }

    async fn event(&mut self, rq: &str, event: Event) {
        let label = self.slots.get(rq).map(|s| printable(&s.label)).unwrap_or_default();
        match event {
            Event::Asked { name } => {
                if self.asked.len() >= MAX_ASKED {
                    if let Some(slot) = self.slots.get_mut(rq) {
                        let _ = slot.session.decline();
                    }
                    return;
                }
                self.asked.push_back(rq.to_string());
                let shown = printable(&name);
                self.out.emit("asked", json!({"rq": rq, "name": name}), || {
                    format!("{shown} asks to connect: /accept or /decline")
                });
            }
            Event::Accepted => {
                self.out.emit("accepted", json!({"rq": rq}), || format!("{label} accepted; connecting…"));
            }
            Event::Declined => self.out.emit("declined", json!({"rq": rq}), || format!("{label} declined")),
            Event::Open { id, name, secret } => self.opened(rq, id, name, secret).await,
            Event::Message { id, at, text, re } => {
                self.history(rq, "in", json!({"id": id, "at": at, "text": text, "re": re}));
                let shown = printable(&text);
                self.out.emit("message", json!({"rq": rq, "id": id, "at": at, "text": text, "re": re}), || {
                    format!("<{label}> {shown}")
                });
                // Shown on the terminal is read.
                if let Some(slot) = self.slots.get_mut(rq) {
                    let _ = slot.session.mark_read(&id);
                }
            }
            Event::Image { img, bytes } => {
                let path = self.dir.join("images").join(format!("{}-{}", img.id, safe_file_name(&img.name)));
                if let Err(e) = save_new(&path, &bytes) {
                    self.out.error(&format!("could not save an image: {e:#}"));
                    return;
                }
                self.history(rq, "in", json!({"id": img.id, "at": img.at, "image": path, "re": img.re}));
                let shown = path.display().to_string();
                let fields = json!({"rq": rq, "id": img.id, "name": img.name, "type": img.mime, "size": img.size,
                                    "path": path});
                self.out.emit("image", fields, || format!("<{label}> sent an image, saved as {shown}"));
                if let Some(slot) = self.slots.get_mut(rq) {
                    let _ = slot.session.mark_read(&img.id);
                }
            }
            Event::Receipt { id, kind } => {
                let kind = match kind {
                    AckKind::Delivered => "delivered",
                    AckKind::Read => "read",
                };
                self.out.emit("receipt", json!({"rq": rq, "id": id, "kind": kind}), || format!("  ✓ {kind} ({id})"));
            }
            Event::Typing => self.out.emit("typing", json!({"rq": rq}), || format!("{label} is typing…")),
            Event::Squatter { claimed, reason } => {
                let reason = match reason {
                    SquatterReason::BadSignature => "bad_signature",
                    SquatterReason::WrongIdentity { .. } => "wrong_identity",
                    SquatterReason::BadKnownProof => "bad_known_proof",
                    _ => "squatter",
                };
                let claimed = claimed.map(|id| id.to_string());
                let fields = json!({"rq": rq, "claimed": claimed, "reason": reason});
                self.out.emit("squatter", fields, || {
                    format!("WARNING: the peer answering for {label} failed the identity proof ({reason}): refused")
                });
            }
            Event::Closed(reason) => {
                let why = close_reason(&reason);
                // A violation's text may quote what the other side sent.
                let shown = printable(&why);
                self.out
                    .emit("closed", json!({"rq": rq, "reason": why}), || format!("chat with {label} ended: {shown}"));
            }
            other => tracing::debug!(?other, "an event this terminal does not show"),
        }
    }

    async fn opened(&mut self, rq: &str, id: IdentityId, name: String, secret: Option<ContactSecret>) {
        let new_contact = secret.is_some();
        if let Err(e) = self.contacts.upsert(id, &name, secret, now_ms()) {
            self.out.error(&format!("could not save the contact: {e:#}"));
        }
        if new_contact && let Err(e) = self.sync_contacts().await {
            self.out.error(&format!("{e:#}"));
        }
        let path = match self.slots.get(rq).and_then(|s| s.peer.as_ref()) {
            Some(peer) => peer.path().await,
            None => None,
        };
        // `path` says what a person needs to know; `candidate` is the ICE candidate pair's type
        // (host, srflx, prflx or relay), for the network lab and the curious.
        let candidate = path.map_or("unknown", PathKind::as_str);
        let path = match path {
            Some(PathKind::Relay) => "relay",
            Some(_) => "direct",
            None => "unknown",
        };
        if let Some(slot) = self.slots.get_mut(rq) {
            slot.label = name.clone();
        }
        self.current = Some(rq.to_string());
        let shown = printable(&name);
        let fields = json!({"rq": rq, "id": id.to_string(), "name": name, "new_contact": new_contact, "path": path,
            "candidate": candidate});
        self.out.emit("open", fields, || {
            let saved = if new_contact { ", saved as a contact" } else { "" };
            format!("Chat open with {shown} ({id}), {path}{saved}. Type to send.")
        });
    }

    /// Appends one line to `DIR/history.jsonl`.
    fn history(&self, rq: &str, direction: &str, entry: Value) {
        let with = self.slots.get(rq).and_then(|s| s.session.their_id()).map(|id| id.to_string());
        let mut line = json!({"with": with, "dir": direction});
        if let (Value::Object(out), Value::Object(entry)) = (&mut line, entry) {
            out.extend(entry);
        }
        let path = self.dir.join("history.jsonl");
        let written =
            std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            self.out.error(&format!("could not write {}: {e}", path.display()));
        }
    }

    async fn hub_event(&mut self, event: HubEvent) {
        match event {
            HubEvent::Signal { from, from_id, payload } => match Signal::parse(&payload) {
                Ok(Some(signal)) => self.chat_signal(from, from_id, signal),
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "a malformed chat signal"),
            },
            HubEvent::Message(message) if message["type"] == "presence" && message["ns"] == "network" => {
                match message["event"].as_str() {
                    Some("join") => self.arrived(&message["peer"], true),
                    Some("leave") => self.left(message["peer"]["peer"].as_str().unwrap_or_default()),
                    _ => {}
                }
            }
            HubEvent::Connected => {
                self.out.emit("hub", json!({"state": "connected"}), || "(hub connection back)".into());
                if let Err(e) = self.join().await {
                    self.out.error(&format!("{e:#}"));
                }
            }
            HubEvent::Disconnected { reason } => {
                self.nearby.clear();
                let shown = printable(&reason);
                self.out.emit("hub", json!({"state": "lost", "reason": reason}), || {
                    format!("(lost the hub: {shown}; reconnecting)")
                });
            }
            _ => {}
        }
    }

    fn chat_signal(&mut self, from: String, from_id: Option<String>, signal: Signal) {
        let now = now_ms();
        let from_id = from_id.and_then(|id| id.parse::<IdentityId>().ok());
        if let Some(slot) = self.slots.get_mut(&signal.rq) {
            // A contact rung by identity answers from a hub peer id. The hub's `from_id` says
            // who; a neighbour's answer by peer id comes without one (anonymity in `network`),
            // so the first peer to answer this request's id is bound to it. Either way only the
            // proof on the channel decides who it is.
            let from = match slot.by_identity {
                Some(id) if from_id == Some(id) => slot.session.peer().to_string(),
                Some(_) if from_id.is_none() && slot.answered_by.get_or_insert_with(|| from.clone()) == &from => {
                    slot.session.peer().to_string()
                }
                _ => from,
            };
            slot.session.handle_signal(&from, signal, now);
            return;
        }
        use p2pos_core::chat::SignalKind as K;
        let rq = signal.rq.clone();
        let timing = Timing::default();
        match signal.kind {
            K::Request { name } => {
                let Ok(k) = random_bytes::<32>() else { return };
                let session = Session::asked(self.me.clone(), &from, &rq, &name, k, timing, now);
                self.slots.insert(
                    rq,
                    Slot { session, peer: None, by_identity: None, answered_by: None, calling: false, label: name },
                );
            }
            K::Call {} => {
                // Only a contact the hub proved may ring. Not one that merely shows a contact's
                // nearby tag (a call by peer id between neighbours carries no `from_id`): tags
                // are public in presence, and answering would send this side's hello, with its
                // identity, to whoever replayed them.
                let Some(saved) = from_id.and_then(|id| self.contacts.by_id(&id)) else {
                    tracing::debug!("a call from someone who is not a proven contact was ignored");
                    return;
                };
                let contact = saved.contact.clone();
                let label = contact.name.clone();
                let shown = printable(&label);
                let id = contact.id;
                // Glare (docs/PROTOCOL.md, "Driving sessions"): both rang at once. The side whose
                // canonical id is smaller keeps its own call and ignores this one; the other
                // cancels its own and answers, so exactly one session opens, as the web page does.
                let own = self.slots.values_mut().find(|s| {
                    s.calling
                        && s.by_identity == Some(id)
                        && !s.session.phase().is_final()
                        && *s.session.phase() != Phase::Open
                });
                if let Some(own) = own {
                    if self.me.identity.id().to_string() < id.to_string() {
                        tracing::debug!("glare: kept this side's call and ignored the contact's");
                        return;
                    }
                    own.session.cancel();
                }
                self.out.emit("called", json!({"rq": rq, "id": contact.id.to_string(), "name": label}), || {
                    format!("{shown} is calling; connecting…")
                });
                // Answered by identity too: a reply by peer id between neighbours would reach the
                // caller without `from_id` (anonymity in `network`).
                let session = Session::called(self.me.clone(), &id.to_string(), &rq, contact, timing, now);
                self.slots.insert(
                    rq,
                    Slot { session, peer: None, by_identity: Some(id), answered_by: None, calling: false, label },
                );
            }
            _ => tracing::debug!("a chat signal for no session was ignored"),
        }
    }

    fn arrived(&mut self, peer: &Value, announce: bool) {
        let Some(id) = peer["peer"].as_str() else { return };
        let profile = &peer["profile"];
        if Some(id) == self.hub.peer_id().as_deref() || profile["app"] != "chat" {
            return;
        }
        let (Some(name), Some(s)) = (profile["name"].as_str(), profile["s"].as_str()) else { return };
        if !valid_name(name) || self.nearby.iter().any(|n| n.peer == id) {
            return;
        }
        let tags: Vec<&str> = profile["t"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let contact = self
            .contacts
            .list()
            .iter()
            .find(|saved| tags.contains(&nearby_tag(&saved.contact.secret, s).as_str()))
            .map(|saved| saved.contact.id);
        let n = self.next_n;
        self.next_n += 1;
        self.nearby.push(Nearby { n, peer: id.to_string(), name: name.to_string(), contact });
        if announce {
            let entry = self.nearby_json(self.nearby.last());
            let human = self.nearby_line(self.nearby.last());
            self.out.emit("arrived", entry, || format!("on this network: {human}"));
        }
    }

    fn left(&mut self, peer: &str) {
        let Some(at) = self.nearby.iter().position(|n| n.peer == peer) else { return };
        let gone = self.nearby.remove(at);
        let shown = printable(&gone.name);
        self.out.emit("gone", json!({"n": gone.n}), || format!("left this network: {} {shown}", gone.n));
    }

    fn nearby_json(&self, nearby: Option<&Nearby>) -> Value {
        let Some(n) = nearby else { return Value::Null };
        let contact = n.contact.and_then(|id| self.contacts.by_id(&id)).map(|s| s.contact.name.clone());
        json!({"n": n.n, "name": n.name, "contact": contact})
    }

    fn nearby_line(&self, nearby: Option<&Nearby>) -> String {
        let Some(n) = nearby else { return String::new() };
        match n.contact.and_then(|id| self.contacts.by_id(&id)) {
            Some(saved) => format!("{} ● {} (contact)", n.n, printable(&saved.contact.name)),
            None => format!("{} {}", n.n, printable(&n.name)),
        }
    }

    async fn peer_event(&mut self, rq: &str, event: DataPeerEvent) {
        let now = now_ms();
        let Some(slot) = self.slots.get_mut(rq) else { return };
        match event {
            DataPeerEvent::Candidate(candidate) => {
                slot.session.local_candidates(vec![serde_json::to_value(&candidate).unwrap_or_default()]);
            }
            DataPeerEvent::Open => slot.session.channel_open(now),
            DataPeerEvent::Text(text) => slot.session.handle_text(&text),
            DataPeerEvent::Message(frame) => slot.session.handle_binary(&frame),
            DataPeerEvent::Closed(reason) => {
                if let Some(peer) = slot.peer.take() {
                    peer.close().await;
                }
                slot.session.channel_closed(reason);
            }
        }
    }

    async fn command(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        let (verb, rest) = match line.strip_prefix('/') {
            Some(command) => command.split_once(' ').map_or((command, ""), |(v, r)| (v, r.trim())),
            None => ("send", line),
        };
        let done = match verb {
            "help" => {
                self.out.emit("help", json!({}), || HELP.into());
                Ok(())
            }
            "nearby" => {
                let peers: Vec<Value> = self.nearby.iter().map(|n| self.nearby_json(Some(n))).collect();
                let lines: Vec<String> = self.nearby.iter().map(|n| self.nearby_line(Some(n))).collect();
                self.out.emit("nearby", json!({"peers": peers}), || {
                    if lines.is_empty() { "nobody else on this network".into() } else { lines.join("\n") }
                });
                Ok(())
            }
            "contacts" => {
                let list: Vec<Value> = self
                    .contacts
                    .list()
                    .iter()
                    .map(|s| json!({"id": s.contact.id.to_string(), "name": s.contact.name, "last_seen": s.last_seen}))
                    .collect();
                let lines: Vec<String> = self
                    .contacts
                    .list()
                    .iter()
                    .map(|s| format!("{} {}", printable(&s.contact.name), s.contact.id))
                    .collect();
                self.out.emit("contacts", json!({"contacts": list}), || {
                    if lines.is_empty() { "no contacts yet".into() } else { lines.join("\n") }
                });
                Ok(())
            }
            "connect" => self.connect(rest),
            "call" => self.contacts.find(rest).map(|s| s.contact.clone()).and_then(|c| self.call(c)),
            "accept" | "decline" => self.answer(verb == "accept"),
            "send" => self.send_text(rest, None),
            "reply" => match rest.split_once(' ') {
                Some((id, text)) => self.send_text(text.trim(), Some(id)),
                None => Err(anyhow::anyhow!("/reply takes a message id and the text")),
            },
            "image" => self.send_image(rest),
            "typing" => self.with_current(|s| s.typing().map_err(Into::into)),
            "leave" => self.with_current(|s| {
                s.leave();
                Ok(())
            }),
            "quit" => {
                self.quit();
                Ok(())
            }
            other => Err(anyhow::anyhow!("unknown command /{other} (/help lists them)")),
        };
        if let Err(e) = done {
            self.out.error(&format!("{e:#}"));
        }
    }

    fn connect(&mut self, which: &str) -> Result<()> {
        let n: usize = which.parse().context("/connect takes the number /nearby shows")?;
        let nearby = self.nearby.iter().find(|p| p.n == n).with_context(|| format!("nobody numbered {n} is nearby"))?;
        // A saved contact is rung by its identity: the hub proves who answers, and the proof
        // checks the secret.
        if let Some(contact) = nearby.contact.and_then(|id| self.contacts.by_id(&id)).map(|s| s.contact.clone()) {
            return self.call(contact);
        }
        let (peer, label) = (nearby.peer.clone(), nearby.name.clone());
        let rq = random_b64u16()?;
        let session = Session::request(self.me.clone(), &peer, &rq, random_bytes::<32>()?, Timing::default(), now_ms());
        let shown = printable(&label);
        self.out.emit("requesting", json!({"rq": rq, "n": n, "name": label}), || {
            format!("asked {shown} to connect; waiting…")
        });
        self.slots
            .insert(rq, Slot { session, peer: None, by_identity: None, answered_by: None, calling: false, label });
        Ok(())
    }

    fn call(&mut self, contact: Contact) -> Result<()> {
        let rq = random_b64u16()?;
        let (id, label) = (contact.id, contact.name.clone());
        let session = Session::call(self.me.clone(), &id.to_string(), &rq, contact, Timing::default(), now_ms());
        let shown = printable(&label);
        self.out
            .emit("calling", json!({"rq": rq, "id": id.to_string(), "name": label}), || format!("calling {shown}…"));
        self.slots
            .insert(rq, Slot { session, peer: None, by_identity: Some(id), answered_by: None, calling: true, label });
        Ok(())
    }

    fn answer(&mut self, accept: bool) -> Result<()> {
        let rq = self.asked.pop_front().context("no connection request is waiting")?;
        let slot = self.slots.get_mut(&rq).context("the request is gone")?;
        if accept { slot.session.accept(now_ms()) } else { slot.session.decline() }.map_err(Into::into)
    }

    fn send_text(&mut self, text: &str, re: Option<&str>) -> Result<()> {
        let id = random_b64u16()?;
        let rq = self.current.clone().context("no chat is open (/connect, /call, or /accept first)")?;
        let slot = self.slots.get_mut(&rq).context("the chat is gone")?;
        slot.session.send_text(&id, text, re, now_ms())?;
        self.history(&rq, "out", json!({"id": id, "text": text, "re": re}));
        self.out.emit("sent", json!({"rq": rq, "id": id}), || format!("  → sent ({id})"));
        Ok(())
    }

    fn send_image(&mut self, path: &str) -> Result<()> {
        let path = Path::new(path);
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if bytes.is_empty() || bytes.len() as u64 > MAX_IMAGE {
            bail!("{} is {} bytes; an image is 1 byte to {MAX_IMAGE}", path.display(), bytes.len());
        }
        let mime =
            image_type(&bytes).with_context(|| format!("{} is not a JPEG, PNG, GIF or WebP image", path.display()))?;
        let name = path.file_name().map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned());
        let id = random_b64u16()?;
        let rq = self.current.clone().context("no chat is open (/connect, /call, or /accept first)")?;
        let slot = self.slots.get_mut(&rq).context("the chat is gone")?;
        slot.session.send_image(&id, &name, mime, &bytes, None, now_ms())?;
        self.history(&rq, "out", json!({"id": id, "image": path}));
        self.out.emit("sent", json!({"rq": rq, "id": id}), || format!("  → image sent ({id})"));
        Ok(())
    }

    fn with_current(&mut self, f: impl FnOnce(&mut Session) -> Result<()>) -> Result<()> {
        let rq = self.current.clone().context("no chat is open")?;
        f(&mut self.slots.get_mut(&rq).context("the chat is gone")?.session)
    }
}

const HELP: &str = "/nearby  /connect N  /accept  /decline  /contacts  /call NAME|ID  /send TEXT (or just type)  /reply ID TEXT  \
                    /image PATH  /typing  /leave  /quit";

/// The secrets of the 32 contacts seen most recently, for the nearby tags.
fn recent_secrets(contacts: &Contacts) -> Vec<ContactSecret> {
    let mut saved: Vec<_> = contacts.list().iter().collect();
    saved.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
    saved.into_iter().take(p2pos_core::chat::NEARBY_TAGS).map(|s| s.contact.secret.clone()).collect()
}

/// The next event of any open connection.
async fn next_peer_event(slots: &mut HashMap<String, Slot>) -> (String, DataPeerEvent) {
    type Next<'a> = Pin<Box<dyn Future<Output = DataPeerEvent> + 'a>>;
    let mut waiting: Vec<(String, Next<'_>)> = slots
        .iter_mut()
        .filter_map(|(rq, slot)| slot.peer.as_mut().map(|peer| (rq.clone(), Box::pin(peer.next_event()) as Next<'_>)))
        .collect();
    std::future::poll_fn(move |cx| {
        for (rq, next) in &mut waiting {
            if let Poll::Ready(event) = next.as_mut().poll(cx) {
                return Poll::Ready((rq.clone(), event));
            }
        }
        Poll::Pending
    })
    .await
}

fn close_reason(reason: &CloseReason) -> String {
    match reason {
        CloseReason::Cancelled => "cancelled".into(),
        CloseReason::PeerCancelled => "peer_cancelled".into(),
        CloseReason::Left => "left".into(),
        CloseReason::PeerLeft => "peer_left".into(),
        CloseReason::Timeout { phase } => format!("timeout ({phase})"),
        CloseReason::ChannelClosed { reason } => format!("channel_closed ({reason})"),
        CloseReason::Violation(v) => format!("violation ({v})"),
        other => format!("{other:?}"),
    }
}

/// `--test-claim-identity`: a hello that names `claim` instead of this side's id, with the
/// signature of this side's key: what a squatter sends.
fn claim_identity(text: String, claim: &str) -> String {
    match serde_json::from_str::<Value>(&text) {
        Ok(mut frame) if frame["t"] == "hello" => {
            frame["id"] = Value::from(claim);
            frame.to_string()
        }
        _ => text,
    }
}

/// Writes a received file; never over an existing one.
fn save_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_claimed_identity_replaces_the_id_of_the_hello_only() {
        let hello = r#"{"t":"hello","v":1,"id":"MINE","name":"M","sig":"s","k":"k"}"#.to_string();
        let lied: Value = serde_json::from_str(&claim_identity(hello, "BEN")).unwrap();
        assert_eq!((lied["id"].as_str(), lied["sig"].as_str()), (Some("BEN"), Some("s")));
        let msg = r#"{"t":"msg","id":"x","at":1,"text":"hi"}"#.to_string();
        assert_eq!(claim_identity(msg.clone(), "BEN"), msg);
    }

    #[test]
    fn close_reasons_are_named_as_the_protocol_names_them() {
        assert_eq!(close_reason(&CloseReason::PeerLeft), "peer_left");
        assert_eq!(close_reason(&CloseReason::Timeout { phase: "proving" }), "timeout (proving)");
        let channel = CloseReason::ChannelClosed { reason: "ICE failed".into() };
        assert_eq!(close_reason(&channel), "channel_closed (ICE failed)");
    }
}
