//! `p2pos send` and `p2pos receive`: Drop from the command line (docs/PROTOCOL.md, "Drop"). The
//! protocol is `p2pos_core::drop`'s sans-IO [`Sender`] and [`Receiver`]; this wires them to the
//! hub, a WebRTC data channel and the terminal, and interoperates with the web app both ways.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use p2pos_core::drop::{
    CHANNEL_LABEL, DropLink, DropSecret, Ended, EphemeralKey, Image, MAX_SIZE, Output, Receiver, ReceiverEvent, Rtc,
    Sender, SenderEvent, Signal, Timing,
};
use p2pos_net::hub::{HubClient, HubEvent, HubHandle};
use p2pos_net::webrtc::{DataPeer, DataPeerEvent, RTCIceCandidateInit, WebRtcConfig};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cli::{ReceiveArgs, SendArgs};

const SWAPPED: &str = "WARNING: the other side's key did not verify. Someone between you (the hub or a relay) \
                       swapped it, or the link was altered. Nothing was sent; the drop was refused.";

/// The hub connection and the data channel of one drop.
struct Wire {
    hub: HubHandle,
    events: mpsc::Receiver<HubEvent>,
    peer: Option<DataPeer>,
    rtc: WebRtcConfig,
}

/// What the loop saw next.
enum Next {
    Hub(HubEvent),
    Peer(DataPeerEvent),
    Interrupted,
    Timeout,
}

impl Wire {
    async fn connect(url: &str, rtc_bind: &[std::net::SocketAddr]) -> Result<Self> {
        let (hub, mut events) = HubClient::spawn(url.to_string(), None, json!({"kind": "drop"}));
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
            Ok(Err(e)) => bail!("could not reach the hub at {url}: {e}"),
            Err(_) => bail!("the hub at {url} did not answer within 15 s"),
        }
        let mut rtc = WebRtcConfig { stall: Timing::default().stall, ..WebRtcConfig::default() };
        if !rtc_bind.is_empty() {
            rtc.udp_addrs = rtc_bind.to_vec();
        }
        Ok(Self { hub, events, peer: None, rtc })
    }

    /// Waits for the next thing that happens, or the machine's timeout (`at`, std time).
    async fn next(&mut self, at: Option<std::time::Instant>) -> Next {
        let peer = self.peer.as_mut();
        let from_peer = async {
            match peer {
                Some(peer) => peer.next_event().await,
                None => std::future::pending().await,
            }
        };
        let deadline = at.map(Instant::from_std);
        tokio::select! {
            event = self.events.recv() => Next::Hub(event.unwrap_or(HubEvent::Disconnected { reason: "stopped".into() })),
            event = from_peer => Next::Peer(event),
            () = crate::node_cmd::shutdown_signal() => Next::Interrupted,
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => Next::Timeout,
        }
    }

    async fn new_peer(&mut self) -> Result<&mut DataPeer> {
        let servers = self.hub.ice_servers().await.context("ICE servers from the hub")?;
        let peer = DataPeer::new(&servers, self.rtc.clone()).await.context("setting up WebRTC")?;
        Ok(self.peer.insert(peer))
    }

    /// Sends a frame; `Ok` when there is no channel (a cancel before the connection).
    async fn send_frame(&self, frame: &[u8]) -> Result<()> {
        let peer = self.peer.as_ref().context("no data channel")?;
        peer.send(frame).await.context("sending on the data channel")
    }

    /// Sends a signal: the hellos, offer and answer must arrive; a lost candidate, refusal or
    /// cancel is only logged (the drop is ending, or ICE has others).
    async fn signal(&self, to: &str, signal: &Signal) -> Result<()> {
        let sent = self.hub.signal(to, signal.payload()).await;
        match (sent, signal) {
            (Ok(()), _) => Ok(()),
            (Err(e), Signal::Hello { .. } | Signal::Offer { .. } | Signal::Answer { .. }) => {
                Err(e).context("signaling through the hub")
            }
            (Err(e), _) => {
                tracing::debug!(error = %e, "could not send a signal");
                Ok(())
            }
        }
    }

    /// The WebRTC steps both machines ask for; returns a local description (SDP) to hand back.
    async fn rtc(&mut self, step: Rtc) -> Result<Option<String>> {
        match step {
            Rtc::Offer => Ok(Some(self.new_peer().await?.offer(CHANNEL_LABEL).await?)),
            Rtc::Answer { offer } => Ok(Some(self.new_peer().await?.answer(offer).await?)),
            Rtc::ApplyAnswer { answer } => {
                if let Some(peer) = &self.peer {
                    peer.apply_answer(answer).await?;
                }
                Ok(None)
            }
            Rtc::AddCandidates(candidates) => {
                if let Some(peer) = &self.peer {
                    for candidate in candidates {
                        match serde_json::from_value::<RTCIceCandidateInit>(candidate) {
                            Ok(candidate) => peer.add_candidate(candidate).await,
                            Err(e) => tracing::debug!(error = %e, "ignored a malformed ICE candidate"),
                        }
                    }
                }
                Ok(None)
            }
        }
    }

    async fn close(self) {
        if let Some(peer) = &self.peer {
            peer.close().await;
        }
        self.hub.shutdown();
    }
}

/// What a drop that ended says on the terminal (`other`: "sender" or "receiver").
fn ended(why: &Ended, other: &str) -> anyhow::Error {
    match why {
        Ended::Cancelled => anyhow::anyhow!("cancelled"),
        Ended::Stalled { after } => {
            anyhow::anyhow!("the transfer stalled: nothing from the {other} for {} s", after.as_secs())
        }
        Ended::HubLost { reason } if other == "receiver" => {
            anyhow::anyhow!("lost the hub ({}); the drop is void", printable(reason))
        }
        Ended::HubLost { reason } => anyhow::anyhow!("lost the hub ({})", printable(reason)),
        Ended::Expired => anyhow::anyhow!("nobody opened the link in time; the drop expired"),
        Ended::RoomClosed => anyhow::anyhow!("the sender cancelled this drop"),
        Ended::NotVerified => {
            eprintln!("{SWAPPED}");
            anyhow::anyhow!("refused: the {other}'s key did not verify")
        }
        Ended::RefusedBadMac => {
            eprintln!("{SWAPPED}");
            anyhow::anyhow!("refused by the {other}: this side's key did not verify there")
        }
        Ended::Taken => anyhow::anyhow!("someone else opened this drop first"),
        Ended::Refused { reason } => anyhow::anyhow!("the {other} refused the drop ({})", printable(reason)),
        Ended::PeerCancelled { reason: None } => anyhow::anyhow!("the {other} cancelled this drop"),
        Ended::PeerCancelled { reason: Some(reason) } => {
            anyhow::anyhow!("the {other} cancelled: {}", printable(reason))
        }
        Ended::ChannelClosed { reason } => anyhow::anyhow!("the connection to the {other} ended: {reason}"),
        Ended::Broken(broken) => anyhow::anyhow!("{broken}"),
        other => anyhow::anyhow!("the drop ended: {other:?}"),
    }
}

pub(crate) fn image_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', ..] => Some("image/png"),
        [b'G', b'I', b'F', b'8', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        _ => None,
    }
}

/// Characters a terminal must never get from the other side as they came: controls (escape
/// sequences, newlines, bells) and invisible formatting (bidi overrides, zero-width marks), with
/// which a name could rewrite the screen or pass for another.
fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// Text from the other side (a file name, a reason, a name) as it may be printed: unsafe
/// characters as `\u{…}` escapes (`\n`, `\t` for those), and `\` doubled so an escape is never
/// ambiguous.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe_char(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// Longest file name the receiver writes, in bytes (file systems allow 255).
const MAX_FILE_NAME: usize = 200;

/// The name to save the sender's file under, in the current directory: the last component of
/// `name` (split at `/` and `\`), with unsafe characters and those file systems refuse
/// (`<>:"|?*`) replaced by `_`, at most [`MAX_FILE_NAME`] bytes; `drop.img` when nothing is left,
/// or for a name that would be hidden or special (`.`, `..`, `.bashrc`).
pub(crate) fn safe_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut clean = String::with_capacity(last.len().min(MAX_FILE_NAME));
    for c in last.chars() {
        let c = if is_unsafe_char(c) || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') { '_' } else { c };
        if clean.len() + c.len_utf8() > MAX_FILE_NAME {
            break;
        }
        clean.push(c);
    }
    let clean = clean.trim();
    if clean.is_empty() || clean.starts_with('.') { "drop.img".to_string() } else { clean.to_string() }
}

/// The web app's address for a hub URL: `wss://h/v1/ws` → `https://h`.
fn web_origin(hub: &str) -> Result<String> {
    let (scheme, rest) = if let Some(rest) = hub.strip_prefix("wss://") {
        ("https", rest)
    } else if let Some(rest) = hub.strip_prefix("ws://") {
        ("http", rest)
    } else {
        bail!("the hub URL must start with ws:// or wss:// (got {hub})");
    };
    let base = rest.trim_end_matches('/').trim_end_matches("/v1/ws");
    Ok(format!("{scheme}://{base}"))
}

pub fn send(args: SendArgs) -> Result<()> {
    crate::node_cmd::install_tracing();
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    if bytes.len() as u64 > MAX_SIZE {
        bail!("{} is {} bytes; a drop carries at most {MAX_SIZE}", args.file.display(), bytes.len());
    }
    let mime =
        image_type(&bytes).with_context(|| format!("{} is not a JPEG, PNG, GIF or WebP image", args.file.display()))?;
    let name = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    let origin = match &args.web_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => web_origin(&args.hub)?,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(send_async(args, bytes, mime, name, origin))
}

async fn send_async(args: SendArgs, bytes: Vec<u8>, mime: &str, name: String, origin: String) -> Result<()> {
    let mut wire = Wire::connect(&args.hub, &args.rtc_bind).await?;
    let room = wire.hub.request(json!({"type": "create_room"})).await.context("creating the drop's room at the hub")?;
    let code = room["code"].as_str().context("the hub's room has no code")?.to_string();
    let minutes = room["expires_in_secs"].as_u64().unwrap_or(600) / 60;
    let secret = DropSecret::generate()?;
    let link = DropLink { origin, room: code.clone(), secret: secret.clone() };
    let image = Image { name, mime: mime.to_string(), bytes };
    let sender = Sender::new(secret, EphemeralKey::generate()?, image, args.seconds, Timing::default())?;
    println!("{link}");
    if !args.no_qr {
        let qr = qrcode::QrCode::new(link.to_string().as_bytes()).context("making the QR code")?;
        println!("\n{}", qr.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
    }
    eprintln!("Waiting for the receiver (the link works once, for {minutes} min). Ctrl-C cancels.");
    let result = send_loop(&mut wire, sender).await;
    // Whatever happened, the room goes: a viewed, cancelled or refused drop cannot be opened again.
    let _ = wire.hub.request(json!({"type": "delete_room", "code": code})).await;
    wire.close().await;
    result
}

/// Feeds the sender what the hub, the channel and the terminal do, and does what it asks.
async fn send_loop(wire: &mut Wire, mut sender: Sender) -> Result<()> {
    loop {
        while let Some(output) = sender.poll_output() {
            match output {
                Output::Signal { to, signal } => wire.signal(&to, &signal).await?,
                Output::Frame(frame) => {
                    let sent = wire.send_frame(&frame).await;
                    if sent.is_err() && sender.is_finished() {
                        continue; // a last cancel: the drop is over anyway
                    }
                    sent?;
                    sender.frame_sent(Instant::now().into_std());
                }
                Output::Rtc(step) => {
                    if let Some(sdp) = wire.rtc(step).await? {
                        sender.local_description(sdp);
                    }
                }
                Output::Event(SenderEvent::ReceiverArrived { name }) => eprintln!(
                    "{} opened the link; connecting…",
                    if name.is_empty() { "Someone".to_string() } else { printable(&name) }
                ),
                Output::Event(SenderEvent::Sending { size }) => eprintln!("Sending {size} bytes…"),
                Output::Event(SenderEvent::Progress { received, size }) => {
                    eprintln!("receiver has {received} of {size} bytes ({}%)", received * 100 / size.max(1));
                }
                Output::Event(SenderEvent::Viewed) => {
                    println!("Viewed. The drop is gone.");
                    return Ok(());
                }
                Output::Event(SenderEvent::Ended(why)) => return Err(ended(&why, "receiver")),
                Output::Event(other) => tracing::debug!(?other, "an event this terminal does not show"),
            }
        }
        let now = || Instant::now().into_std();
        match wire.next(sender.poll_timeout()).await {
            Next::Interrupted => sender.cancel(),
            Next::Timeout => sender.handle_timeout(now()),
            Next::Hub(HubEvent::Disconnected { reason }) => sender.hub_lost(reason),
            Next::Hub(HubEvent::Message(message)) => {
                if message["type"] == "room_closed" {
                    sender.room_closed(message["reason"].as_str().unwrap_or_default());
                }
            }
            Next::Hub(HubEvent::Signal { from, payload, .. }) => {
                if let Some(signal) = Signal::parse(&payload) {
                    sender.handle_signal(&from, signal);
                }
            }
            Next::Hub(_) => {}
            Next::Peer(DataPeerEvent::Candidate(candidate)) => sender.local_candidate(candidate_json(&candidate)),
            Next::Peer(DataPeerEvent::Open) => sender.channel_open(now()),
            Next::Peer(DataPeerEvent::Message(frame)) => sender.handle_frame(&frame, now()),
            Next::Peer(DataPeerEvent::Text(frame)) => sender.handle_frame(frame.as_bytes(), now()),
            Next::Peer(DataPeerEvent::Closed(reason)) => sender.channel_closed(reason.to_string()),
        }
    }
}

fn candidate_json(candidate: &RTCIceCandidateInit) -> serde_json::Value {
    serde_json::to_value(candidate).unwrap_or_default()
}

pub fn receive(args: ReceiveArgs) -> Result<()> {
    crate::node_cmd::install_tracing();
    let link = DropLink::parse(&args.link)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(receive_async(args, link))
}

async fn receive_async(args: ReceiveArgs, link: DropLink) -> Result<()> {
    let hub_url = args.hub.clone().unwrap_or_else(|| link.hub_url());
    let mut wire = Wire::connect(&hub_url, &args.rtc_bind).await?;
    let joined = match wire.hub.request(json!({"type": "join", "ns": format!("room:{}", link.room)})).await {
        Ok(joined) => joined,
        Err(e) if e.code() == Some("no_such_room") => {
            wire.close().await;
            bail!("this drop is gone: it was already viewed, cancelled, or it expired");
        }
        Err(e) => return Err(e).context("joining the drop's room at the hub"),
    };
    let sender = joined["peers"].as_array().and_then(|p| p.first()).and_then(|p| p["peer"].as_str());
    let Some(sender) = sender.map(str::to_string) else {
        wire.close().await;
        bail!("the sender has left; this drop is gone");
    };
    let own = EphemeralKey::generate()?;
    let receiver = Receiver::new(link.secret, own, &args.name, sender, Timing::default(), Instant::now().into_std());
    let result = receive_loop(&mut wire, &args, receiver).await;
    wire.close().await;
    result
}

/// Feeds the receiver what the hub, the channel and the terminal do, and does what it asks.
async fn receive_loop(wire: &mut Wire, args: &ReceiveArgs, mut receiver: Receiver) -> Result<()> {
    loop {
        while let Some(output) = receiver.poll_output() {
            match output {
                Output::Signal { to, signal } => wire.signal(&to, &signal).await?,
                Output::Frame(frame) => {
                    let sent = wire.send_frame(&frame).await;
                    if sent.is_err() && receiver.is_finished() {
                        continue; // a last cancel: the drop is over anyway
                    }
                    sent?;
                }
                Output::Rtc(step) => {
                    if let Some(sdp) = wire.rtc(step).await? {
                        receiver.local_description(sdp);
                    }
                }
                Output::Event(ReceiverEvent::Receiving { meta }) => {
                    eprintln!("Receiving {} ({} bytes)…", printable(&meta.name), meta.size);
                }
                Output::Event(ReceiverEvent::Complete { meta, image }) => {
                    let path = save(args.out.as_deref(), &meta.name, &image)?;
                    receiver.viewed();
                    while let Some(output) = receiver.poll_output() {
                        if let Output::Frame(frame) = output {
                            wire.send_frame(&frame).await?;
                        }
                    }
                    // The user's own --out, or the sender's name made safe: printable as is.
                    println!("Saved {} bytes to {}", image.len(), path.display());
                    // Give the frame a moment to leave before the connection closes.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    return Ok(());
                }
                Output::Event(ReceiverEvent::Ended(why)) => return Err(ended(&why, "sender")),
                Output::Event(other) => tracing::debug!(?other, "an event this terminal does not show"),
            }
        }
        let now = || Instant::now().into_std();
        match wire.next(receiver.poll_timeout()).await {
            Next::Interrupted => receiver.cancel(),
            Next::Timeout => receiver.handle_timeout(now()),
            Next::Hub(HubEvent::Disconnected { reason }) => receiver.hub_lost(reason),
            Next::Hub(HubEvent::Message(message)) => {
                if message["type"] == "room_closed" {
                    receiver.room_closed();
                }
            }
            Next::Hub(HubEvent::Signal { from, payload, .. }) => {
                if let Some(signal) = Signal::parse(&payload) {
                    receiver.handle_signal(&from, signal);
                }
            }
            Next::Hub(_) => {}
            Next::Peer(DataPeerEvent::Candidate(candidate)) => receiver.local_candidate(candidate_json(&candidate)),
            Next::Peer(DataPeerEvent::Open) => receiver.channel_open(now()),
            Next::Peer(DataPeerEvent::Message(frame)) => receiver.handle_frame(&frame, now()),
            Next::Peer(DataPeerEvent::Text(frame)) => receiver.handle_frame(frame.as_bytes(), now()),
            Next::Peer(DataPeerEvent::Closed(reason)) => receiver.channel_closed(reason.to_string()),
        }
    }
}

/// Writes the image to `out`, or to the sender's file name made safe ([`safe_file_name`]) in the
/// current directory; never over an existing file.
fn save(out: Option<&Path>, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let path = match out {
        Some(path) => path.to_path_buf(),
        None => PathBuf::from(safe_file_name(name)),
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    std::io::Write::write_all(&mut file, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(image_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(image_type(b"\x89PNG\r\n"), Some("image/png"));
        assert_eq!(image_type(b"RIFF0000WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"%PDF-1.7"), None);
    }

    #[test]
    fn the_web_origin_follows_the_hub() {
        assert_eq!(web_origin("wss://hub.example.org/v1/ws").unwrap(), "https://hub.example.org");
        assert_eq!(web_origin("ws://127.0.0.1:7800/v1/ws").unwrap(), "http://127.0.0.1:7800");
        assert!(web_origin("https://hub.example.org").is_err());
    }

    #[test]
    fn what_the_other_side_says_is_printed_escaped() {
        assert_eq!(printable("sunset.jpg"), "sunset.jpg");
        assert_eq!(printable("Zoë's café 🌅.png"), "Zoë's café 🌅.png", "ordinary text stays as it is");
        assert_eq!(printable("\u{1b}[2Jx\u{7}"), r"\u{1b}[2Jx\u{7}");
        assert_eq!(printable("a\nb\tc\rd"), r"a\nb\tc\rd");
        assert_eq!(printable("evil\u{202e}gpj.exe"), r"evil\u{202e}gpj.exe");
        assert_eq!(printable(r"C:\x"), r"C:\\x", "a backslash cannot fake an escape");
        assert!(!printable("\u{9b}31m\u{0}").chars().any(is_unsafe_char), "C1 controls and NUL too");
    }

    #[test]
    fn a_sender_s_file_name_is_saved_without_paths_controls_or_hidden_names() {
        let cases = [
            ("sunset.jpg", "sunset.jpg"),
            ("../../.ssh/authorized_keys", "authorized_keys"),
            ("/etc/passwd", "passwd"),
            (r"..\..\Windows\evil.dll", "evil.dll"),
            ("..", "drop.img"),
            (".", "drop.img"),
            (".bashrc", "drop.img"),
            ("photos/", "drop.img"),
            ("", "drop.img"),
            ("\u{1b}[2J\u{1b}]0;owned\u{7}sun\nset.jpg", "_[2J_]0;owned_sun_set.jpg"),
            ("evil\u{202e}gpj.exe", "evil_gpj.exe"),
            ("a<b>c:d\"e|f?g*.png", "a_b_c_d_e_f_g_.png"),
            ("  spaced.jpg  ", "spaced.jpg"),
        ];
        for (name, saved) in cases {
            assert_eq!(safe_file_name(name), saved, "{name:?}");
        }
        let long = safe_file_name(&"é".repeat(300));
        assert!(long.len() <= MAX_FILE_NAME && long.chars().all(|c| c == 'é'), "cut at a character: {long}");
    }
}
