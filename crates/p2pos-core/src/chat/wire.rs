//! What two chat peers say to each other (`docs/PROTOCOL.md`, "Chat"): the `"p2pos": "chat"`
//! signals that travel through the hub, the JSON text frames and the binary image frames of the
//! `p2pos/chat` data channel, with the checks every received one passes. Parsing is strict
//! (unknown fields are refused); an unknown frame type is not an error here but
//! [`Parsed::Unknown`], which the session ignores once `hello` is verified.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::crypto::decode_fixed;

/// The data channel's label.
pub const CHANNEL_LABEL: &str = "p2pos/chat";
/// The `v` of `hello`.
pub const VERSION: u64 = 1;
/// Longest name (Unicode scalar values, after trimming).
pub const MAX_NAME: usize = 64;
/// Longest message text (Unicode scalar values).
pub const MAX_TEXT: usize = 4096;
/// Longest image file name.
pub const MAX_FILE_NAME: usize = 255;
/// Largest image.
pub const MAX_IMAGE: u64 = 16 * 1024 * 1024;
/// Largest body of one binary image frame: with its kind byte a frame is at most 64 KiB, the
/// SCTP message size every peer takes without an SDP `max-message-size` (RFC 8841).
pub const MAX_CHUNK: usize = 64 * 1024 - 1;
/// Most candidates in one `ice` signal.
pub const MAX_CANDIDATES: usize = 64;
/// Binary frame kinds: a piece of the image announced last (Drop's `chunk` kind), and its end.
pub const FRAME_CHUNK: u8 = 2;
pub const FRAME_END: u8 = 3;
/// JSON numbers both implementations read exactly (JavaScript's safe integers).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a signal or frame was refused. [`WireError::kind`] names match `testvectors/chat.json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Not JSON, or not a JSON object.
    #[error("not a JSON object")]
    Json,
    /// No `t`, or `t` is not text.
    #[error("no type (\"t\") in the message")]
    Type,
    /// A field is missing, unknown or of the wrong JSON type.
    #[error("malformed {t}: {detail}")]
    Fields { t: String, detail: String },
    /// The fields are there but a value is not allowed (too long, wrong length, wrong version …).
    #[error("bad {t}: {detail}")]
    Value { t: String, detail: String },
    /// A binary frame that is empty, of an unknown kind or too big.
    #[error("bad binary frame: {0}")]
    Binary(String),
}

impl WireError {
    pub fn kind(&self) -> &'static str {
        match self {
            WireError::Json => "json",
            WireError::Type => "type",
            WireError::Fields { .. } => "fields",
            WireError::Value { .. } => "value",
            WireError::Binary(_) => "binary",
        }
    }
}

/// `{type, sdp}` of an `sdp` signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Description {
    #[serde(rename = "type")]
    pub kind: SdpKind,
    pub sdp: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpKind {
    Offer,
    Answer,
}

/// What a chat signal says (its `t` and fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignalKind {
    /// A nearby stranger asks to connect, with its name.
    Request {
        name: String,
    },
    Accept {},
    Decline {},
    Cancel {},
    /// A contact rings a contact (no accept step: the proof decides).
    Call {},
    Sdp {
        sdp: Description,
    },
    /// `RTCIceCandidateInit`s, passed through as JSON objects.
    Ice {
        c: Vec<Value>,
    },
}

const SIGNAL_TYPES: [&str; 7] = ["request", "accept", "decline", "cancel", "call", "sdp", "ice"];

/// A `"p2pos": "chat"` signal: what it says and the request id `rq` it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub rq: String,
    pub kind: SignalKind,
}

impl Signal {
    /// The hub payload: `{"p2pos": "chat", "t": …, "rq": …, …}`.
    pub fn payload(&self) -> Value {
        let mut map = Map::new();
        map.insert("p2pos".into(), Value::from("chat"));
        if let Ok(Value::Object(fields)) = serde_json::to_value(&self.kind) {
            map.extend(fields);
        }
        map.insert("rq".into(), Value::from(self.rq.clone()));
        Value::Object(map)
    }

    /// A hub payload as a chat signal: `Ok(None)` when it belongs to another protocol.
    pub fn parse(payload: &Value) -> Result<Option<Self>, WireError> {
        let Value::Object(map) = payload else { return Err(WireError::Json) };
        if map.get("p2pos").and_then(Value::as_str) != Some("chat") {
            return Ok(None);
        }
        let Some(Value::String(t)) = map.get("t") else { return Err(WireError::Type) };
        let t = t.clone();
        let mut rest = map.clone();
        rest.remove("p2pos");
        let rq = match rest.remove("rq") {
            Some(Value::String(rq)) => rq,
            _ => return Err(fields(&t, "no request id (\"rq\")")),
        };
        if !SIGNAL_TYPES.contains(&t.as_str()) {
            return Err(value_err(&t, "not a chat signal type"));
        }
        let kind: SignalKind = serde_json::from_value(Value::Object(rest)).map_err(|e| fields(&t, &e.to_string()))?;
        id16(&t, "rq", &rq)?;
        match &kind {
            SignalKind::Request { name } => check_name(&t, name)?,
            SignalKind::Ice { c } => {
                if c.len() > MAX_CANDIDATES {
                    return Err(value_err(&t, &format!("more than {MAX_CANDIDATES} candidates")));
                }
                if !c.iter().all(Value::is_object) {
                    return Err(fields(&t, "a candidate is not an object"));
                }
            }
            _ => {}
        }
        Ok(Some(Self { rq, kind }))
    }
}

/// The first frame each way: who this side is, proven for this channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    pub v: u64,
    /// The sender's readable identity id.
    pub id: String,
    pub name: String,
    /// b64u Ed25519 signature of the sender's binding.
    pub sig: String,
    /// A new contact's 32 random bytes (b64u) for the shared secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
    /// An existing contact's proof (b64u HMAC of the sender's binding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known: Option<String>,
}

/// A text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Msg {
    /// 16 bytes, b64u: receivers dedupe by it.
    pub id: String,
    /// The sender's wall clock, unix ms.
    pub at: u64,
    pub text: String,
    /// The id of the message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub re: Option<String>,
}

/// An image's description; its bytes follow as binary frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Img {
    pub id: String,
    pub at: u64,
    /// The sender's file name, as it came: unsafe to print or save as is.
    pub name: String,
    /// MIME type, `image/…`.
    #[serde(rename = "type")]
    pub mime: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub re: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckKind {
    Delivered,
    Read,
}

/// A receipt for a message or image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    pub id: String,
    pub k: AckKind,
}

/// A text frame of the `p2pos/chat` channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Frame {
    Hello(Hello),
    Msg(Msg),
    Img(Img),
    Ack(Ack),
    /// "typing…", shown for a few seconds.
    Typing(Empty),
    Bye(Empty),
}

/// The body of a frame without fields (`typing`, `bye`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

const FRAME_TYPES: [&str; 6] = ["hello", "msg", "img", "ack", "typing", "bye"];

impl Frame {
    /// The frame as it goes on the channel (JSON text, fields in a fixed order).
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn t(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::Msg(_) => "msg",
            Frame::Img(_) => "img",
            Frame::Ack(_) => "ack",
            Frame::Typing(_) => "typing",
            Frame::Bye(_) => "bye",
        }
    }
}

/// A text frame as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Frame(Frame),
    /// A well-formed frame of a type this version does not know.
    Unknown {
        t: String,
    },
}

/// Parses and checks one text frame.
pub fn parse_frame(text: &str) -> Result<Parsed, WireError> {
    let value: Value = serde_json::from_str(text).map_err(|_| WireError::Json)?;
    let Value::Object(map) = &value else { return Err(WireError::Json) };
    let Some(Value::String(t)) = map.get("t") else { return Err(WireError::Type) };
    if !FRAME_TYPES.contains(&t.as_str()) {
        return Ok(Parsed::Unknown { t: t.clone() });
    }
    let t = t.clone();
    let frame: Frame = serde_json::from_value(value).map_err(|e| fields(&t, &e.to_string()))?;
    match &frame {
        Frame::Hello(h) => {
            if h.v != VERSION {
                return Err(value_err(&t, &format!("version {} (this side speaks {VERSION})", h.v)));
            }
            h.id.parse::<crate::IdentityId>().map_err(|e| value_err(&t, &format!("id: {e}")))?;
            check_name(&t, &h.name)?;
            decode_fixed::<64>(&h.sig, "sig").map_err(|e| value_err(&t, &e.to_string()))?;
            if let Some(k) = &h.k {
                decode_fixed::<32>(k, "k").map_err(|e| value_err(&t, &e.to_string()))?;
            }
            if let Some(known) = &h.known {
                decode_fixed::<32>(known, "known").map_err(|e| value_err(&t, &e.to_string()))?;
            }
        }
        Frame::Msg(m) => {
            id16(&t, "id", &m.id)?;
            safe(&t, "at", m.at)?;
            let chars = m.text.chars().count();
            if chars == 0 || chars > MAX_TEXT {
                return Err(value_err(&t, &format!("the text has {chars} characters (1 to {MAX_TEXT})")));
            }
            if let Some(re) = &m.re {
                id16(&t, "re", re)?;
            }
        }
        Frame::Img(i) => {
            id16(&t, "id", &i.id)?;
            safe(&t, "at", i.at)?;
            safe(&t, "size", i.size)?;
            let chars = i.name.chars().count();
            if chars == 0 || chars > MAX_FILE_NAME {
                return Err(value_err(&t, &format!("the file name has {chars} characters (1 to {MAX_FILE_NAME})")));
            }
            if !i.mime.starts_with("image/") {
                return Err(value_err(&t, "not an image type"));
            }
            if i.size == 0 || i.size > MAX_IMAGE {
                return Err(value_err(&t, &format!("{} bytes (1 to {MAX_IMAGE})", i.size)));
            }
            if let Some(re) = &i.re {
                id16(&t, "re", re)?;
            }
        }
        Frame::Ack(a) => id16(&t, "id", &a.id)?,
        Frame::Typing(_) | Frame::Bye(_) => {}
    }
    Ok(Parsed::Frame(frame))
}

/// A binary frame: `kind u8 | body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binary {
    /// The next bytes of the image announced last.
    Chunk(Vec<u8>),
    /// The image announced last is complete.
    End,
}

impl Binary {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Binary::Chunk(bytes) => [&[FRAME_CHUNK][..], bytes].concat(),
            Binary::End => vec![FRAME_END],
        }
    }
}

pub fn parse_binary(frame: &[u8]) -> Result<Binary, WireError> {
    match frame.split_first() {
        None => Err(WireError::Binary("empty".into())),
        Some((&FRAME_CHUNK, [])) => Err(WireError::Binary("an empty chunk".into())),
        Some((&FRAME_CHUNK, body)) if body.len() > MAX_CHUNK => {
            Err(WireError::Binary(format!("a chunk of {} bytes (at most {MAX_CHUNK})", body.len())))
        }
        Some((&FRAME_CHUNK, body)) => Ok(Binary::Chunk(body.to_vec())),
        Some((&FRAME_END, [])) => Ok(Binary::End),
        Some((&FRAME_END, _)) => Err(WireError::Binary("an end frame with a body".into())),
        Some((kind, _)) => Err(WireError::Binary(format!("unknown kind {kind}"))),
    }
}

/// Whether a name is acceptable: trimmed, 1 to [`MAX_NAME`] characters, no control characters.
pub fn valid_name(name: &str) -> bool {
    let chars = name.chars().count();
    name.trim() == name && (1..=MAX_NAME).contains(&chars) && !name.chars().any(char::is_control)
}

fn check_name(t: &str, name: &str) -> Result<(), WireError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(value_err(t, &format!("the name must be trimmed, 1 to {MAX_NAME} characters, without control characters")))
    }
}

fn id16(t: &str, field: &str, text: &str) -> Result<(), WireError> {
    decode_fixed::<16>(text, field).map(|_| ()).map_err(|e| value_err(t, &e.to_string()))
}

fn safe(t: &str, field: &str, n: u64) -> Result<(), WireError> {
    if n > MAX_SAFE_INTEGER { Err(fields(t, &format!("{field} is not a safe integer"))) } else { Ok(()) }
}

fn fields(t: &str, detail: &str) -> WireError {
    WireError::Fields { t: t.to_string(), detail: detail.to_string() }
}

fn value_err(t: &str, detail: &str) -> WireError {
    WireError::Value { t: t.to_string(), detail: detail.to_string() }
}
