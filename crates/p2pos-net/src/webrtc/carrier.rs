//! The HTTP carrier: how a browser sends the node's own `/v1` requests over one data channel
//! (`p2pos/http`) when the node's HTTP origin is out of reach. Sans-IO: encoding and decoding only.
//!
//! Each data channel message is one frame of at most [`MAX_FRAME`] bytes:
//!
//! ```text
//! kind: u8 | id: u32 (big endian) | body
//! ```
//!
//! `id` is chosen by the browser, one per request (an *exchange*); the node's frames for that
//! request carry the same id.
//!
//! | kind | from the browser | from the node |
//! |---|---|---|
//! | `head` (1) | `{"method", "path", "headers": [[name, value], …]}` | `{"status", "headers"}` |
//! | `data` (2) | the next bytes of the request body | the next bytes of the response body |
//! | `end` (3) | the request body is complete | the response body is complete |
//! | `abort` (4) | the browser gave up (UTF-8 reason) | the node gave up mid-response (reason) |
//!
//! A request is `head`, any `data`, `end`; so is its response. Frames of different exchanges may
//! interleave. The channel is reliable and ordered, so there are no acknowledgements: back-pressure
//! is the channel's buffered amount on the sending side and SCTP's window on the receiving side.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// The label of the data channel that carries the exchanges.
pub const LABEL: &str = "p2pos/http";
/// Largest frame, header included.
pub const MAX_FRAME: usize = 64 * 1024;
/// Bytes before the body.
pub const HEADER: usize = 5;
/// Largest `head` body (the request line and headers): the API's requests are small.
pub const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Head = 1,
    Data = 2,
    End = 3,
    Abort = 4,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub id: u32,
    pub body: Bytes,
}

/// Why a message is not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("a frame is at least {HEADER} bytes, this one {0}")]
    Short(usize),
    #[error("a frame is at most {MAX_FRAME} bytes, this one {0}")]
    TooLarge(usize),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
}

/// The request line and headers of an exchange (`head` from the browser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestHead {
    pub method: String,
    /// Path and query, e.g. `/v1/albums?limit=5`.
    pub path: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

/// The status line and headers of a response (`head` from the node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// One frame as a data channel message.
pub fn encode(kind: Kind, id: u32, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(HEADER + body.len());
    out.put_u8(kind as u8);
    out.put_u32(id);
    out.put_slice(body);
    out
}

/// Parses one data channel message.
pub fn decode(mut data: Bytes) -> Result<Frame, FrameError> {
    if data.len() < HEADER {
        return Err(FrameError::Short(data.len()));
    }
    if data.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(data.len()));
    }
    let kind = match data[0] {
        1 => Kind::Head,
        2 => Kind::Data,
        3 => Kind::End,
        4 => Kind::Abort,
        other => return Err(FrameError::UnknownKind(other)),
    };
    let id = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
    let body = data.split_off(HEADER);
    Ok(Frame { kind, id, body })
}

/// Splits `bytes` into `data` frames' bodies of at most `MAX_FRAME - HEADER` bytes each.
pub fn chunks(bytes: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    (0..bytes.len())
        .step_by(MAX_FRAME - HEADER)
        .map(|start| bytes.slice(start..bytes.len().min(start + MAX_FRAME - HEADER)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_round_trip() {
        let head = RequestHead { method: "GET".into(), path: "/v1/albums".into(), headers: vec![] };
        let body = serde_json::to_vec(&head).unwrap();
        let frame = decode(encode(Kind::Head, 7, &body).freeze()).unwrap();
        assert_eq!((frame.kind, frame.id), (Kind::Head, 7));
        assert_eq!(serde_json::from_slice::<RequestHead>(&frame.body).unwrap(), head);
        let end = decode(encode(Kind::End, u32::MAX, b"").freeze()).unwrap();
        assert_eq!((end.kind, end.id, end.body.len()), (Kind::End, u32::MAX, 0));
    }

    #[test]
    fn malformed_frames_are_refused() {
        assert_eq!(decode(Bytes::from_static(&[1, 0, 0])), Err(FrameError::Short(3)));
        assert_eq!(decode(Bytes::from_static(&[9, 0, 0, 0, 1])), Err(FrameError::UnknownKind(9)));
        let big = encode(Kind::Data, 1, &vec![0; MAX_FRAME]).freeze();
        assert_eq!(decode(big), Err(FrameError::TooLarge(MAX_FRAME + HEADER)));
        let extra = br#"{"method":"GET","path":"/v1/x","headers":[],"cookie":"x"}"#;
        assert!(serde_json::from_slice::<RequestHead>(extra).is_err());
    }

    #[test]
    fn bodies_are_cut_into_full_frames() {
        let bytes = Bytes::from(vec![7u8; 2 * (MAX_FRAME - HEADER) + 10]);
        let sizes: Vec<usize> = chunks(&bytes).map(|c| c.len()).collect();
        assert_eq!(sizes, vec![MAX_FRAME - HEADER, MAX_FRAME - HEADER, 10]);
        assert_eq!(chunks(&Bytes::new()).count(), 0);
    }
}
