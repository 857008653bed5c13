//! `probe`: does this server speak enough of the PeerJS protocol for the other scenarios?
//!
//! Waits (up to `wait`) for the server to accept a client, then checks, in order: `OPEN` for
//! two clients; OFFER, ANSWER and CANDIDATE relayed with `src` set and the payload intact;
//! a HEARTBEAT accepted without closing; `ID-TAKEN` for a taken id with another token.
//! An unknown key answered with `ERROR` is reported but not required.

use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use super::Common;
use crate::conn::{self, OpenFailure, Ws};
use crate::peerjs::{HEARTBEAT, PeerId};

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub required: bool,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct ProbeResult {
    pub scenario: &'static str,
    pub ok: bool,
    pub checks: Vec<Check>,
}

const STEP_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn run(common: Common, wait: Duration) -> anyhow::Result<ProbeResult> {
    let mut checks = Vec::new();
    let mut check = |name, required, result: anyhow::Result<String>| {
        let ok = result.is_ok();
        checks.push(Check { name, ok, required, detail: result.unwrap_or_else(|e| format!("{e:#}")) });
        ok
    };
    let (a_id, b_id) = (common.id("pa", 0), common.id("pb", 0));
    let a = wait_open(&common, &a_id, wait).await;
    let a_ok = check("open", true, a.as_ref().map(|_| format!("{a_id} got OPEN")).map_err(clone_err));
    let b = open(&common, &b_id, "tok-b").await;
    let b_ok = check("open-second", true, b.as_ref().map(|_| format!("{b_id} got OPEN")).map_err(clone_err));
    if let (true, true, Ok(mut a), Ok(mut b)) = (a_ok, b_ok, a, b) {
        check("relay-offer", true, relay_once(&mut a, &mut b, "OFFER", &a_id, &b_id).await);
        check("relay-answer", true, relay_once(&mut b, &mut a, "ANSWER", &b_id, &a_id).await);
        check("relay-candidate", true, relay_once(&mut b, &mut a, "CANDIDATE", &b_id, &a_id).await);
        let hb = async {
            a.send(Message::text(HEARTBEAT)).await?;
            relay_once(&mut a, &mut b, "OFFER", &a_id, &b_id).await?;
            Ok("HEARTBEAT accepted; relaying still works after it".to_owned())
        };
        check("heartbeat", true, hb.await);
        let taken = match open(&common, &a_id, "another-token").await {
            Err(e) if e.kind == OpenFailure::IdTaken => Ok(format!("ID-TAKEN: {}", e.detail)),
            Err(e) => Err(anyhow::anyhow!("expected ID-TAKEN, got {e}")),
            Ok(_) => Err(anyhow::anyhow!("a second client took {a_id} with another token")),
        };
        check("id-taken", true, taken);
        let bad_key = common.endpoint.with_key("not-the-key");
        let bad = conn::open(&bad_key, &common.id("pk", 0), "tok", None, conn::ws_config(4096), STEP_TIMEOUT).await;
        let bad = match bad {
            Err(e) if e.kind == OpenFailure::ServerError => Ok(format!("ERROR: {}", e.detail)),
            Err(e) => Err(anyhow::anyhow!("refused, but not with ERROR: {e}")),
            Ok(_) => Err(anyhow::anyhow!("accepted an unknown key")),
        };
        check("bad-key-error", false, bad);
        let _ = a.close(None).await;
        let _ = b.close(None).await;
    }
    let ok = checks.iter().all(|c| c.ok || !c.required);
    Ok(ProbeResult { scenario: "probe", ok, checks })
}

fn clone_err(e: &conn::OpenError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn open(common: &Common, id: &PeerId, token: &str) -> Result<Ws, conn::OpenError> {
    conn::open(&common.endpoint, id, token, None, conn::ws_config(16 * 1024), STEP_TIMEOUT).await
}

async fn wait_open(common: &Common, id: &PeerId, wait: Duration) -> Result<Ws, conn::OpenError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match open(common, id, "tok-a").await {
            Err(e) if e.kind == OpenFailure::Tcp && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

async fn relay_once(
    from: &mut Ws,
    to: &mut Ws,
    kind: &str,
    from_id: &PeerId,
    to_id: &PeerId,
) -> anyhow::Result<String> {
    let payload = serde_json::json!({"sdp": {"type": "offer", "sdp": "v=0\r\n"}, "connectionId": "dc_probe", "n": 42});
    let text = serde_json::json!({"type": kind, "dst": to_id.as_str(), "payload": payload}).to_string();
    from.send(Message::text(text)).await?;
    let got = tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            match to.next().await {
                Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(anyhow::Error::from(e)),
                None => anyhow::bail!("closed"),
            }
        }
    })
    .await
    .with_context(|| format!("{kind} not delivered within {STEP_TIMEOUT:?}"))??;
    let v: serde_json::Value = serde_json::from_str(&got).with_context(|| format!("not JSON: {got}"))?;
    anyhow::ensure!(v["type"] == kind, "expected type {kind}, got {got}");
    anyhow::ensure!(v["src"] == from_id.as_str(), "expected src {from_id}, got {got}");
    anyhow::ensure!(v["payload"] == payload, "payload changed in transit: {got}");
    Ok(format!("{kind} {from_id} -> {to_id} relayed with src"))
}
