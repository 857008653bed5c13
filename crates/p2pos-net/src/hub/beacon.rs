//! The hub's beacon token for a client that is not a page (`docs/PROTOCOL.md`, "Beacon"): joins of
//! `network` and `rv:` names need a current token and the WebSocket's `Origin` must be the origin
//! it was made for. A command-line client asks `GET /v1/beacon?origin=<hub origin>` and opens its
//! WebSocket with that origin ([`super::HubClientConfig::origin`]). The beacon is spam
//! mitigation, not DRM: the hub hands a token to whoever asks for one of its own origins.

use serde::Deserialize;

use super::HubError;

/// A beacon token and how long it lasts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Beacon {
    /// `b1.<slot>.<mac>`, for the `beacon` field of a `join`.
    pub token: String,
    /// Seconds until the token expires (the end of the next slot): fetch a new one before a
    /// rejoin after that.
    pub expires_in_secs: u64,
    /// The hub's other origins (its IPv6 origin for an IPv4 one, …), where a network proof of
    /// this client's other address can be fetched.
    #[serde(default)]
    pub alt_origins: Vec<String>,
}

/// The beacon URL of the hub at `hub_url` (`ws(s)://host[:port]/v1/ws`) and the origin its token
/// is for (the hub's own).
pub(crate) fn beacon_url(hub_url: &str) -> Result<(String, String), HubError> {
    let origin = super::hub_origin(hub_url)
        .ok_or_else(|| HubError::Protocol(format!("the hub URL {hub_url} has no origin (ws:// or wss://)")))?;
    let encoded: String = origin
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    Ok((format!("{origin}/v1/beacon?origin={encoded}"), origin))
}

/// Reads the hub's answer to `GET /v1/beacon`.
pub(crate) fn parse_beacon(status: u16, body: &str) -> Result<Beacon, HubError> {
    if status != 200 {
        let error: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let code = error["error"].as_str().unwrap_or("http_error").to_string();
        let message = error["message"].as_str().map_or_else(|| format!("HTTP {status}"), str::to_string);
        return Err(HubError::Refused { code, message });
    }
    let beacon: Beacon = serde_json::from_str(body).map_err(|e| HubError::Protocol(format!("beacon: {e}")))?;
    if !beacon.token.starts_with("b1.") {
        return Err(HubError::Protocol(format!("beacon: not a b1 token: {:?}", beacon.token)));
    }
    Ok(beacon)
}

/// Fetches a beacon token for the hub's own origin from the hub at `hub_url`. Open the WebSocket
/// with that origin ([`super::hub_origin`] of the same URL) to use it.
pub async fn fetch_beacon(hub_url: &str) -> Result<Beacon, HubError> {
    let (url, _) = beacon_url(hub_url)?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| HubError::Http(format!("HTTP client: {e}")))?;
    let response = client.get(&url).send().await.map_err(|e| HubError::Http(format!("GET {url}: {e}")))?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| HubError::Http(format!("GET {url}: {e}")))?;
    parse_beacon(status, &body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_beacon_is_asked_for_the_hub_s_own_origin() {
        let (url, origin) = beacon_url("ws://127.0.0.1:7800/v1/ws").unwrap();
        assert_eq!(origin, "http://127.0.0.1:7800");
        assert_eq!(url, "http://127.0.0.1:7800/v1/beacon?origin=http%3A%2F%2F127.0.0.1%3A7800");
        let (url, _) = beacon_url("wss://Hub.Example.org:443/v1/ws").unwrap();
        assert_eq!(url, "https://hub.example.org/v1/beacon?origin=https%3A%2F%2Fhub.example.org");
        assert!(beacon_url("hub.example.org").is_err());
    }

    #[test]
    fn a_beacon_answer_is_read_and_a_refusal_names_its_code() {
        let ok = r#"{"token":"b1.2945376.abc","slot_secs":600,"expires_in_secs":900,"alt_origins":[]}"#;
        let beacon = parse_beacon(200, ok).unwrap();
        assert_eq!((beacon.token.as_str(), beacon.expires_in_secs), ("b1.2945376.abc", 900));
        let refused = parse_beacon(403, r#"{"error":"foreign_origin","message":"not of x"}"#).unwrap_err();
        assert_eq!(refused.code(), Some("foreign_origin"));
        assert!(parse_beacon(200, r#"{"token":"x","expires_in_secs":1}"#).is_err());
        assert_eq!(parse_beacon(502, "bad gateway").unwrap_err().code(), Some("http_error"));
    }
}
