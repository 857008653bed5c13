//! What the two ends of a drop say to each other, and what their state machines ask of a driver:
//! the `"p2pos": "drop"` signals that travel through the hub, the `meta` description, the unsealed
//! frames (`progress`, `cancel`, `viewed`), the [`Output`]s and the reasons a drop ends.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DropError, FRAME_CANCEL, FRAME_PROGRESS, FRAME_VIEWED};

/// The `cancel` reason of a stalled transfer: the other side then knows why.
pub const STALLED_REASON: &str = "stalled";

/// What `meta` says about the image (sealed, as JSON with these keys in this order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The sender's file name, as it came: unsafe to print or save as is.
    pub name: String,
    /// MIME type, `image/…`.
    #[serde(rename = "type")]
    pub mime: String,
    /// Bytes.
    pub size: u64,
    /// View time, 5–60 s.
    pub seconds: u32,
    /// Number of `chunk` frames.
    pub chunks: u64,
}

/// A `"p2pos": "drop"` signal, as it travels through the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    Hello {
        /// `"receiver"` or `"sender"`.
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
    /// `RTCIceCandidateInit`s, passed through as JSON: only the WebRTC driver reads them.
    Candidates {
        candidates: Vec<Value>,
    },
    Refused {
        reason: String,
    },
    Cancel {},
}

impl Signal {
    /// The hub payload: this signal's fields plus `"p2pos": "drop"`.
    pub fn payload(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("p2pos".into(), Value::from("drop"));
        }
        value
    }

    /// A hub payload as a drop signal; `None` for anything else (other protocols, malformed).
    pub fn parse(payload: &Value) -> Option<Self> {
        (payload.get("p2pos").and_then(Value::as_str) == Some("drop"))
            .then(|| serde_json::from_value(payload.clone()).ok())?
    }
}

/// A `progress` frame: u64 BE plaintext bytes received so far.
pub fn progress_frame(received: u64) -> Vec<u8> {
    [&[FRAME_PROGRESS][..], &received.to_be_bytes()].concat()
}

/// A `cancel` frame with its reason (UTF-8, not sealed).
pub fn cancel_frame(reason: &str) -> Vec<u8> {
    [&[FRAME_CANCEL][..], reason.as_bytes()].concat()
}

/// A `viewed` frame (empty).
pub fn viewed_frame() -> Vec<u8> {
    vec![FRAME_VIEWED]
}

/// WebRTC work only the driver can do; the state machine says when.
#[derive(Debug, Clone, PartialEq)]
pub enum Rtc {
    /// (Sender) create the peer connection with the `p2pos/drop` channel and make an offer; hand
    /// its SDP back with `local_description`.
    Offer,
    /// (Receiver) create the peer connection and answer this offer; hand the answer's SDP back
    /// with `local_description`.
    Answer { offer: String },
    /// (Sender) apply the receiver's answer.
    ApplyAnswer { answer: String },
    /// Add the other side's ICE candidates (`RTCIceCandidateInit` JSON).
    AddCandidates(Vec<Value>),
}

/// What a drop's state machine asks its driver to do, from `poll_output`.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<E> {
    /// Signal a peer through the hub.
    Signal {
        to: String,
        signal: Signal,
    },
    /// Send a frame on the data channel. A frame that fails to leave while the machine
    /// [`is_finished`](super::Sender::is_finished) does not matter: the drop is over anyway.
    Frame(Vec<u8>),
    Rtc(Rtc),
    /// Tell the person (the terminal, the page).
    Event(E),
}

/// How a drop ended without being viewed. The other side is "the sender" on the receiver's side
/// and "the receiver" on the sender's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ended {
    /// This side cancelled.
    Cancelled,
    /// Nothing from the other side for this long while it was due.
    Stalled { after: Duration },
    /// The hub connection was lost.
    HubLost { reason: String },
    /// Nobody opened the link within the room's lifetime (sender).
    Expired,
    /// The room closed before the data channel opened (receiver: the sender cancelled or left).
    RoomClosed,
    /// The other side's hello did not verify: someone swapped its key, or the link is wrong.
    /// This side refused it (`refused` `bad_mac`).
    NotVerified,
    /// The other side refused this side's key (`refused` `bad_mac`): a key was swapped.
    RefusedBadMac,
    /// Another receiver opened the drop first (`refused` `taken`).
    Taken,
    /// The other side refused for another reason (as it said it: print it escaped).
    Refused { reason: String },
    /// The other side cancelled: by signal (`None`) or with a `cancel` frame and its reason.
    PeerCancelled { reason: Option<String> },
    /// The data channel closed.
    ChannelClosed { reason: String },
    /// The other side broke the protocol, or a frame did not open.
    Broken(BrokenBy),
}

/// What broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokenBy {
    #[error(transparent)]
    Crypto(#[from] DropError),
    #[error("a channel opened before the keys were agreed")]
    ChannelBeforeKeys,
    #[error("the drop's description is malformed")]
    BadMeta,
    /// A sender announced more than a drop carries, or something that is not an image.
    #[error("the sender announced {size} bytes of {mime}: refused")]
    Announced { size: u64, mime: String },
    #[error("image bytes before the description")]
    ChunkBeforeMeta,
    #[error("the sender sent more bytes than it announced")]
    TooManyBytes,
    #[error("an unexpected frame from the sender")]
    UnexpectedFrame,
}

impl From<BrokenBy> for Ended {
    fn from(e: BrokenBy) -> Self {
        Self::Broken(e)
    }
}

impl From<DropError> for Ended {
    fn from(e: DropError) -> Self {
        Self::Broken(BrokenBy::Crypto(e))
    }
}

/// The timers of a drop. [`Timing::default`] is the protocol's (`docs/PROTOCOL.md`); tests and
/// test hooks shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// No frame for this long while bytes are moving fails the transfer. Default 15 s.
    pub stall: Duration,
    /// The receiver gives up if the channel has not opened this long after its hello. Default 25 s, every
    /// browser link's connect deadline (`CONNECT_TIMEOUT_MS` in `apps/web/src/lib/peerLink.ts`).
    pub first_contact: Duration,
    /// Once all bytes arrived, the sender waits the view time plus this for `viewed`. Default 30 s.
    pub view_grace: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            stall: Duration::from_secs(15),
            first_contact: Duration::from_secs(25),
            view_grace: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn signals_carry_the_drop_tag() {
        let payload = Signal::Refused { reason: "taken".into() }.payload();
        assert_eq!(payload["p2pos"], "drop");
        assert_eq!(payload["kind"], "refused");
        assert!(matches!(Signal::parse(&payload), Some(Signal::Refused { .. })));
        assert!(Signal::parse(&json!({"p2pos": "rtc", "kind": "offer"})).is_none());
        let hello = Signal::Hello { role: "sender".into(), public: "k".into(), name: None, mac: "m".into() };
        assert_eq!(
            hello.payload(),
            json!({"p2pos": "drop", "kind": "hello", "role": "sender", "pub": "k", "mac": "m"})
        );
    }

    #[test]
    fn meta_is_json_in_the_order_the_web_app_writes() {
        let meta = Meta { name: "a.jpg".into(), mime: "image/jpeg".into(), size: 5, seconds: 10, chunks: 1 };
        assert_eq!(
            serde_json::to_string(&meta).unwrap(),
            r#"{"name":"a.jpg","type":"image/jpeg","size":5,"seconds":10,"chunks":1}"#
        );
    }
}
