//! Messages of the PeerJS server protocol on `/peerjs` (docs/PROTOCOL.md, "PeerJS"), so that
//! existing PeerJS clients work unchanged. `type` is upper case (`OPEN`, `OFFER`, `HEARTBEAT`…);
//! unknown fields are ignored, as the PeerJS server does.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A message a PeerJS client sends.
#[derive(Debug, Deserialize)]
pub struct PeerJsMessage<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow)]
    pub dst: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub payload: Option<&'a RawValue>,
}

/// A message the hub sends on the PeerJS endpoint.
#[derive(Debug, Serialize)]
pub struct PeerJsOut<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<&'a RawValue>,
}

/// `{"type": T, "payload": {"msg": M}}`, the PeerJS server's shape for errors and ID-TAKEN.
pub fn peerjs_notice(kind: &str, msg: &str) -> String {
    serde_json::json!({"type": kind, "payload": {"msg": msg}}).to_string()
}
