//! Frames on the data channels. Each data channel message is one frame:
//!
//! ```text
//! kind: u8 | id: u64 (big endian) | body
//! ```
//!
//! at most [`MAX_FRAME`] bytes in all. `id` is a request id chosen by the side that sent the
//! request; both sides send requests on the same channels, so the kind says whose id space it
//! is: `request`, `ack` and `cancel` come from the requester, the others from the responder.
//!
//! | kind | body |
//! |---|---|
//! | `request` (1) | a [`crate::auth::SignedRequest`] as JSON |
//! | `reply` (2) | `{"ok": PeerResponse}` or `{"err": {"error", "message"}}` (JSON) |
//! | `blob_head` (3) | `{"size", "offset"}`: the blob's size, where the bytes start |
//! | `blob_data` (4) | the next bytes of the blob |
//! | `blob_error` (5) | `{"error", "message"}`: the transfer ends early |
//! | `ack` (6) | u64 big endian: bytes of this blob received so far (cumulative) |
//! | `cancel` (7) | empty: the requester no longer wants the blob |
//! | `reply_part` (8) | a piece of a reply too large for one frame; the last piece is a `reply` |
//!
//! A blob ends when `size - offset` bytes have arrived. The responder keeps at most a window of
//! unacknowledged bytes in flight per blob.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::{PeerResponse, ServiceError};

/// Largest frame, header included: the SCTP message size every WebRTC stack accepts.
pub const MAX_FRAME: usize = 64 * 1024;
/// Bytes before the body.
pub const HEADER: usize = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Request = 1,
    Reply = 2,
    BlobHead = 3,
    BlobData = 4,
    BlobError = 5,
    Ack = 6,
    Cancel = 7,
    ReplyPart = 8,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Kind::Request,
            2 => Kind::Reply,
            3 => Kind::BlobHead,
            4 => Kind::BlobData,
            5 => Kind::BlobError,
            6 => Kind::Ack,
            7 => Kind::Cancel,
            8 => Kind::ReplyPart,
            _ => return None,
        })
    }
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub id: u64,
    pub body: Bytes,
}

/// Encodes a frame; the caller keeps bodies within `MAX_FRAME - HEADER`.
pub fn encode(kind: Kind, id: u64, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(HEADER + body.len());
    out.put_u8(kind as u8);
    out.put_u64(id);
    out.put_slice(body);
    out
}

pub use p2pos_peer::FrameError;

pub fn decode(mut data: Bytes) -> Result<Frame, FrameError> {
    if data.len() < HEADER {
        return Err(FrameError::Short(data.len()));
    }
    if data.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(data.len()));
    }
    let kind = Kind::from_u8(data[0]).ok_or(FrameError::UnknownKind(data[0]))?;
    let mut id = [0u8; 8];
    id.copy_from_slice(&data[1..HEADER]);
    let body = data.split_off(HEADER);
    Ok(Frame { kind, id: u64::from_be_bytes(id), body })
}

/// The body of a `reply` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyBody {
    Ok(PeerResponse),
    Err(ServiceError),
}

/// The body of a `blob_head` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobHead {
    pub size: u64,
    pub offset: u64,
}

pub fn ack_body(received: u64) -> [u8; 8] {
    received.to_be_bytes()
}

pub fn parse_ack(body: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(body).ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_ones_are_refused() {
        let frame = encode(Kind::BlobData, 0x0102_0304_0506_0708, b"bytes").freeze();
        assert_eq!(frame.len(), HEADER + 5);
        let decoded = decode(frame).unwrap();
        assert_eq!(
            decoded,
            Frame { kind: Kind::BlobData, id: 0x0102_0304_0506_0708, body: Bytes::from_static(b"bytes") }
        );
        assert!(decode(Bytes::from_static(b"\x01\x00")).is_err());
        assert!(decode(encode(Kind::Ack, 1, &[]).freeze()).is_ok());
        let mut unknown = encode(Kind::Ack, 1, &[]);
        unknown[0] = 99;
        assert!(decode(unknown.freeze()).is_err());
        assert!(decode(Bytes::from(vec![4u8; MAX_FRAME + 1])).is_err());
        assert_eq!(parse_ack(&ack_body(77)), Some(77));
    }

    #[test]
    fn reply_bodies_are_tagged() {
        let err = ReplyBody::Err(ServiceError::new("replayed", "seen before"));
        let text = serde_json::to_string(&err).unwrap();
        assert_eq!(text, r#"{"err":{"error":"replayed","message":"seen before"}}"#);
        assert_eq!(serde_json::from_str::<ReplyBody>(&text).unwrap(), err);
    }
}
