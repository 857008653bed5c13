//! `p2pos send` and `p2pos receive`: Drop from the command line (docs/PROTOCOL.md, "Drop"). The
//! crypto is `p2pos_core::drop`; this moves it through the hub and a WebRTC data channel, and
//! interoperates with the web app in both directions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use p2pos_core::drop::{
    self, CHANNEL_LABEL, CHUNK_PLAINTEXT, DropLink, DropSecret, EphemeralKey, FRAME_CANCEL, FRAME_CHUNK, FRAME_META,
    FRAME_PROGRESS, FRAME_VIEWED, MAX_SIZE, Opener, Role, Sealer,
};
use p2pos_net::hub::{HubClient, HubEvent, HubHandle};
use p2pos_net::webrtc::{DataPeer, DataPeerEvent, RTCIceCandidateInit, WebRtcConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cli::{ReceiveArgs, SendArgs};

/// No frame for this long while bytes are moving fails the transfer.
const STALL: Duration = Duration::from_secs(15);
/// The receiver reports progress at least this often (bytes).
const PROGRESS_EVERY: u64 = 256 * 1024;

/// What `meta` says about the image.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    name: String,
    #[serde(rename = "type")]
    mime: String,
    size: u64,
    seconds: u32,
    chunks: u64,
}

/// A `"p2pos": "drop"` signal, as it travels through the hub.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Signal {
    Hello {
        role: String,
        #[serde(rename = "pub")]
        public: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        mac: String,
    },
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Candidates {
        candidates: Vec<RTCIceCandidateInit>,
    },
    Refused {
        reason: String,
    },
    Cancel {},
}

impl Signal {
    fn payload(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("p2pos".into(), json!("drop"));
        }
        value
    }

    fn parse(payload: &Value) -> Option<Self> {
        (payload.get("p2pos").and_then(Value::as_str) == Some("drop"))
            .then(|| serde_json::from_value(payload.clone()).ok())?
    }
}

const SWAPPED: &str = "WARNING: the other side's key did not verify. Someone between you (the hub or a relay) \
                       swapped it, or the link was altered. Nothing was sent; the drop was refused.";

/// The hub connection and the data channel of one drop.
struct Wire {
    hub: HubHandle,
    events: mpsc::Receiver<HubEvent>,
    peer: Option<DataPeer>,
    /// The other side's hub peer id, once known.
    other: Option<String>,
    rtc: WebRtcConfig,
}

/// What the loop saw next.
enum Next {
    Hub(HubEvent),
    Peer(DataPeerEvent),
    Interrupted,
    Stalled,
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
        let mut rtc = WebRtcConfig { stall: STALL, ..WebRtcConfig::default() };
        if !rtc_bind.is_empty() {
            rtc.udp_addrs = rtc_bind.to_vec();
        }
        Ok(Self { hub, events, peer: None, other: None, rtc })
    }

    async fn signal(&self, signal: &Signal) -> Result<()> {
        let to = self.other.as_deref().context("no other side yet")?;
        self.hub.signal(to, signal.payload()).await.context("signaling through the hub")
    }

    async fn next(&mut self, stall_at: Option<Instant>) -> Next {
        let peer = self.peer.as_mut();
        let from_peer = async {
            match peer {
                Some(peer) => peer.next_event().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = self.events.recv() => Next::Hub(event.unwrap_or(HubEvent::Disconnected { reason: "stopped".into() })),
            event = from_peer => Next::Peer(event),
            () = crate::node_cmd::shutdown_signal() => Next::Interrupted,
            () = tokio::time::sleep_until(stall_at.unwrap_or_else(Instant::now)), if stall_at.is_some() => Next::Stalled,
        }
    }

    async fn new_peer(&mut self) -> Result<&mut DataPeer> {
        let servers = self.hub.ice_servers().await.context("ICE servers from the hub")?;
        let peer = DataPeer::new(&servers, self.rtc.clone()).await.context("setting up WebRTC")?;
        Ok(self.peer.insert(peer))
    }

    async fn send_frame(&self, frame: &[u8]) -> Result<()> {
        let peer = self.peer.as_ref().context("no data channel")?;
        peer.send(frame).await.context("sending on the data channel")
    }

    async fn on_candidate(&self, candidate: RTCIceCandidateInit) {
        if let Err(e) = self.signal(&Signal::Candidates { candidates: vec![candidate] }).await {
            tracing::debug!(error = %e, "could not send an ICE candidate");
        }
    }

    /// The signals both sides treat alike: ICE candidates, refusals, a cancel (`who`: the other
    /// side, for the messages). Signals of no interest here are ignored.
    async fn on_shared_signal(&self, signal: Signal, who: &str) -> Result<()> {
        match signal {
            Signal::Candidates { candidates } => {
                if let Some(peer) = &self.peer {
                    for candidate in candidates {
                        peer.add_candidate(candidate).await;
                    }
                }
                Ok(())
            }
            Signal::Refused { reason } if reason == "bad_mac" => {
                eprintln!("{SWAPPED}");
                bail!("refused by the {who}: this side's key did not verify there")
            }
            Signal::Refused { reason } if reason == "taken" => bail!("someone else opened this drop first"),
            Signal::Refused { reason } => bail!("the {who} refused the drop ({})", printable(&reason)),
            Signal::Cancel {} => bail!("the {who} cancelled this drop"),
            _ => Ok(()),
        }
    }

    async fn close(self) {
        if let Some(peer) = &self.peer {
            peer.close().await;
        }
        self.hub.shutdown();
    }
}

fn image_type(bytes: &[u8]) -> Option<&'static str> {
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
fn printable(text: &str) -> String {
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
fn safe_file_name(name: &str) -> String {
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
    println!("{link}");
    if !args.no_qr {
        let qr = qrcode::QrCode::new(link.to_string().as_bytes()).context("making the QR code")?;
        println!("\n{}", qr.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
    }
    eprintln!("Waiting for the receiver (the link works once, for {minutes} min). Ctrl-C cancels.");
    let result = send_loop(&mut wire, &args, &bytes, mime, &name, &secret).await;
    // Whatever happened, the room goes: a viewed, cancelled or refused drop cannot be opened again.
    let _ = wire.hub.request(json!({"type": "delete_room", "code": code})).await;
    wire.close().await;
    result
}

async fn send_loop(
    wire: &mut Wire,
    args: &SendArgs,
    bytes: &[u8],
    mime: &str,
    name: &str,
    secret: &DropSecret,
) -> Result<()> {
    let own = EphemeralKey::generate()?;
    let mut key: Option<zeroize::Zeroizing<[u8; 32]>> = None;
    let mut stall_at: Option<Instant> = None;
    let size = bytes.len() as u64;
    loop {
        match wire.next(stall_at).await {
            Next::Interrupted => {
                if wire.peer.is_some() {
                    let _ = wire.send_frame(&[&[FRAME_CANCEL][..], b"the sender cancelled"].concat()).await;
                } else if wire.other.is_some() {
                    let _ = wire.signal(&Signal::Cancel {}).await;
                }
                bail!("cancelled");
            }
            Next::Stalled => {
                let _ = wire.send_frame(&[&[FRAME_CANCEL][..], b"stalled"].concat()).await;
                bail!("the transfer stalled: nothing from the receiver for {} s", STALL.as_secs());
            }
            Next::Hub(HubEvent::Disconnected { reason }) => {
                bail!("lost the hub ({}); the drop is void", printable(&reason))
            }
            Next::Hub(HubEvent::Message(message)) => {
                if message["type"] == "room_closed" && message["reason"] == "expired" {
                    bail!("nobody opened the link in time; the drop expired");
                }
            }
            Next::Hub(HubEvent::Signal { from, payload, .. }) => match Signal::parse(&payload) {
                Some(Signal::Hello { role, public, name: receiver_name, mac }) if role == "receiver" => {
                    if key.is_some() {
                        let refused = Signal::Refused { reason: "taken".into() }.payload();
                        let _ = wire.hub.signal(&from, refused).await;
                        continue;
                    }
                    wire.other = Some(from);
                    let receiver_name = receiver_name.unwrap_or_default();
                    if !secret.verify_hello(Role::Receiver, &public, &receiver_name, None, &mac) {
                        let _ = wire.signal(&Signal::Refused { reason: "bad_mac".into() }).await;
                        eprintln!("{SWAPPED}");
                        bail!("refused: the receiver's key did not verify");
                    }
                    let their = drop::parse_public(&public)?;
                    let mine = own.public_b64();
                    key = Some(own.session_key(&their, secret, &mine, &public)?);
                    let mac = secret.hello_mac(Role::Sender, &mine, "", Some(&public));
                    wire.signal(&Signal::Hello { role: "sender".into(), public: mine, name: None, mac }).await?;
                    eprintln!(
                        "{} opened the link; connecting…",
                        if receiver_name.is_empty() { "Someone".to_string() } else { printable(&receiver_name) }
                    );
                    let sdp = wire.new_peer().await?.offer(CHANNEL_LABEL).await?;
                    wire.signal(&Signal::Offer { sdp }).await?;
                }
                Some(Signal::Answer { sdp }) => {
                    if let Some(peer) = &wire.peer {
                        peer.apply_answer(sdp).await?;
                    }
                }
                Some(other) => wire.on_shared_signal(other, "receiver").await?,
                None => {}
            },
            Next::Hub(_) => {}
            Next::Peer(DataPeerEvent::Candidate(candidate)) => wire.on_candidate(candidate).await,
            Next::Peer(DataPeerEvent::Open) => {
                let key = key.as_ref().context("a channel opened before the keys were agreed")?;
                let mut sealer = Sealer::new(key);
                let chunks = bytes.chunks(CHUNK_PLAINTEXT).count() as u64;
                let meta = Meta { name: name.to_string(), mime: mime.to_string(), size, seconds: args.seconds, chunks };
                wire.send_frame(&sealer.seal(FRAME_META, &serde_json::to_vec(&meta)?)?).await?;
                for chunk in bytes.chunks(CHUNK_PLAINTEXT) {
                    wire.send_frame(&sealer.seal(FRAME_CHUNK, chunk)?).await?;
                }
                eprintln!("Sending {size} bytes…");
                stall_at = Some(Instant::now() + STALL);
            }
            Next::Peer(DataPeerEvent::Message(frame)) => match frame.first() {
                Some(&FRAME_PROGRESS) if frame.len() == 9 => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(&frame[1..9]);
                    let received = u64::from_be_bytes(be);
                    eprintln!("receiver has {received} of {size} bytes ({}%)", received * 100 / size.max(1));
                    // All there: the receiver now shows it for up to `seconds`.
                    let wait = if received >= size { Duration::from_secs(u64::from(args.seconds) + 30) } else { STALL };
                    stall_at = Some(Instant::now() + wait);
                }
                Some(&FRAME_VIEWED) => {
                    println!("Viewed. The drop is gone.");
                    return Ok(());
                }
                Some(&FRAME_CANCEL) => {
                    bail!("the receiver cancelled: {}", printable(&String::from_utf8_lossy(&frame[1..])))
                }
                _ => tracing::debug!("ignored an unexpected frame"),
            },
            Next::Peer(DataPeerEvent::Closed(reason)) => bail!("the connection to the receiver ended: {reason}"),
        }
    }
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
    wire.other =
        joined["peers"].as_array().and_then(|p| p.first()).and_then(|p| p["peer"].as_str()).map(str::to_string);
    if wire.other.is_none() {
        wire.close().await;
        bail!("the sender has left; this drop is gone");
    }
    let result = receive_loop(&mut wire, &args, &link.secret).await;
    wire.close().await;
    result
}

async fn receive_loop(wire: &mut Wire, args: &ReceiveArgs, secret: &DropSecret) -> Result<()> {
    let own = EphemeralKey::generate()?;
    let mine = own.public_b64();
    let mac = secret.hello_mac(Role::Receiver, &mine, &args.name, None);
    wire.signal(&Signal::Hello { role: "receiver".into(), public: mine.clone(), name: Some(args.name.clone()), mac })
        .await?;
    let mut key: Option<zeroize::Zeroizing<[u8; 32]>> = None;
    let mut opener: Option<Opener> = None;
    let mut meta: Option<Meta> = None;
    let mut image: Vec<u8> = Vec::new();
    let mut reported = 0u64;
    let mut stall_at = Some(Instant::now() + Duration::from_secs(30));
    loop {
        match wire.next(stall_at).await {
            Next::Interrupted => {
                let _ = wire.send_frame(&[&[FRAME_CANCEL][..], b"the receiver cancelled"].concat()).await;
                bail!("cancelled");
            }
            Next::Stalled => {
                let _ = wire.send_frame(&[&[FRAME_CANCEL][..], b"stalled"].concat()).await;
                bail!("the transfer stalled: nothing from the sender for {} s", STALL.as_secs());
            }
            Next::Hub(HubEvent::Disconnected { reason }) => bail!("lost the hub ({})", printable(&reason)),
            Next::Hub(HubEvent::Message(message)) => {
                if message["type"] == "room_closed" && opener.is_none() {
                    bail!("the sender cancelled this drop");
                }
            }
            Next::Hub(HubEvent::Signal { payload, .. }) => match Signal::parse(&payload) {
                Some(Signal::Hello { role, public, mac, .. }) if role == "sender" && key.is_none() => {
                    if !secret.verify_hello(Role::Sender, &public, "", Some(&mine), &mac) {
                        let _ = wire.signal(&Signal::Refused { reason: "bad_mac".into() }).await;
                        eprintln!("{SWAPPED}");
                        bail!("refused: the sender's key did not verify");
                    }
                    key = Some(own.session_key(&drop::parse_public(&public)?, secret, &public, &mine)?);
                }
                Some(Signal::Offer { sdp }) if key.is_some() => {
                    let answer = wire.new_peer().await?.answer(sdp).await?;
                    wire.signal(&Signal::Answer { sdp: answer }).await?;
                }
                Some(other) => wire.on_shared_signal(other, "sender").await?,
                None => {}
            },
            Next::Hub(_) => {}
            Next::Peer(DataPeerEvent::Candidate(candidate)) => wire.on_candidate(candidate).await,
            Next::Peer(DataPeerEvent::Open) => {
                opener = Some(Opener::new(key.as_ref().context("a channel opened before the keys were agreed")?));
                stall_at = Some(Instant::now() + STALL);
            }
            Next::Peer(DataPeerEvent::Message(frame)) => {
                stall_at = Some(Instant::now() + STALL);
                let (Some(&kind), Some(opener)) = (frame.first(), opener.as_mut()) else { continue };
                match kind {
                    FRAME_META if meta.is_none() => {
                        let plain = opener.open(kind, &frame[1..])?;
                        let m: Meta = serde_json::from_slice(&plain).context("the drop's description is malformed")?;
                        if m.size > MAX_SIZE || !m.mime.starts_with("image/") {
                            bail!("the sender announced {} bytes of {}: refused", m.size, printable(&m.mime));
                        }
                        image.reserve(m.size as usize);
                        eprintln!("Receiving {} ({} bytes)…", printable(&m.name), m.size);
                        meta = Some(m);
                    }
                    FRAME_CHUNK => {
                        let m = meta.as_ref().context("image bytes before the description")?;
                        image.extend_from_slice(&opener.open(kind, &frame[1..])?);
                        if image.len() as u64 > m.size {
                            bail!("the sender sent more bytes than it announced");
                        }
                        let done = image.len() as u64 == m.size;
                        if done || image.len() as u64 >= reported + PROGRESS_EVERY {
                            reported = image.len() as u64;
                            wire.send_frame(&[&[FRAME_PROGRESS][..], &reported.to_be_bytes()].concat()).await?;
                        }
                        if done {
                            let path = save(args.out.as_deref(), &m.name, &image)?;
                            wire.send_frame(&[FRAME_VIEWED]).await?;
                            // The user's own --out, or the sender's name made safe: printable as is.
                            println!("Saved {} bytes to {}", image.len(), path.display());
                            // Give the frame a moment to leave before the connection closes.
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            return Ok(());
                        }
                    }
                    FRAME_CANCEL => {
                        bail!("the sender cancelled: {}", printable(&String::from_utf8_lossy(&frame[1..])))
                    }
                    _ => bail!("an unexpected frame from the sender"),
                }
            }
            Next::Peer(DataPeerEvent::Closed(reason)) => bail!("the connection to the sender ended: {reason}"),
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

    #[test]
    fn signals_carry_the_drop_tag() {
        let payload = Signal::Refused { reason: "taken".into() }.payload();
        assert_eq!(payload["p2pos"], "drop");
        assert_eq!(payload["kind"], "refused");
        assert!(matches!(Signal::parse(&payload), Some(Signal::Refused { .. })));
        assert!(Signal::parse(&json!({"p2pos": "rtc", "kind": "offer"})).is_none());
    }
}
