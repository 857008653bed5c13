//! One WebRTC peer connection with one data channel, for apps whose protocol is their own (Drop):
//! the caller moves SDP and ICE candidates through the hub and reads [`DataPeerEvent`]s.
//!
//! ```text
//! offerer:  DataPeer::new → offer(label) ─sdp→         answerer: DataPeer::new → answer(sdp)
//!           apply_answer(sdp) ←────────────────────────────────── sdp
//!           add_candidate(c) ⇄ DataPeerEvent::Candidate(c) both ways, then Open, Message…
//! ```

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription};

use super::conn::{Chan, Handler, PcEvent};
use super::{WebRtcConfig, build_peer_connection};
use crate::hub::IceServer;
use crate::{PathKind, TransportError};

/// What happened on a [`DataPeer`].
#[derive(Debug)]
pub enum DataPeerEvent {
    /// A local ICE candidate to send to the other side.
    Candidate(RTCIceCandidateInit),
    /// The data channel is open: messages can be sent.
    Open,
    /// A binary message from the other side.
    Message(Bytes),
    /// A text message from the other side (a protocol such as Chat tells text from binary
    /// frames, as a browser's `send(string)` does).
    Text(String),
    /// The connection or the channel ended.
    Closed(String),
}

/// A peer connection with one data channel.
pub struct DataPeer {
    pc: Arc<dyn PeerConnection>,
    events: mpsc::UnboundedReceiver<PcEvent>,
    chan: Option<Arc<Chan>>,
    config: WebRtcConfig,
    open: bool,
}

impl std::fmt::Debug for DataPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataPeer").field("open", &self.open).finish_non_exhaustive()
    }
}

fn rtc(e: webrtc::error::Error) -> TransportError {
    TransportError::unreachable_by("WebRTC", e)
}

impl DataPeer {
    pub async fn new(servers: &[IceServer], config: WebRtcConfig) -> Result<Self, TransportError> {
        let (tx, events) = mpsc::unbounded_channel();
        let pc = build_peer_connection(&config, servers, Handler { tx }).await?;
        Ok(Self { pc, events, chan: None, config, open: false })
    }

    /// Creates the data channel `label` and the offer; returns the offer's SDP.
    pub async fn offer(&mut self, label: &str) -> Result<String, TransportError> {
        let dc = self.pc.create_data_channel(label, Some(RTCDataChannelInit::default())).await.map_err(rtc)?;
        self.chan = Some(Chan::new(dc, &self.config).await?);
        let offer = self.pc.create_offer(None).await.map_err(rtc)?;
        self.pc.set_local_description(offer).await.map_err(rtc)?;
        self.local_sdp().await
    }

    /// Applies the other side's offer; returns the answer's SDP. The channel arrives with the
    /// connection ([`DataPeerEvent::Open`]).
    pub async fn answer(&mut self, offer: String) -> Result<String, TransportError> {
        self.pc.set_remote_description(RTCSessionDescription::offer(offer).map_err(rtc)?).await.map_err(rtc)?;
        let answer = self.pc.create_answer(None).await.map_err(rtc)?;
        self.pc.set_local_description(answer).await.map_err(rtc)?;
        self.local_sdp().await
    }

    pub async fn apply_answer(&self, answer: String) -> Result<(), TransportError> {
        self.pc.set_remote_description(RTCSessionDescription::answer(answer).map_err(rtc)?).await.map_err(rtc)
    }

    pub async fn add_candidate(&self, candidate: RTCIceCandidateInit) {
        if let Err(e) = self.pc.add_ice_candidate(candidate).await {
            tracing::debug!(error = %e, "a remote ICE candidate was refused");
        }
    }

    async fn local_sdp(&self) -> Result<String, TransportError> {
        let description = self.pc.local_description().await;
        description.map(|d| d.sdp).ok_or(TransportError::unreachable("no local description"))
    }

    /// The next event. Call it in a loop: it also drives the channel's flow control.
    pub async fn next_event(&mut self) -> DataPeerEvent {
        loop {
            let chan = self.chan.clone();
            let polled = async {
                match &chan {
                    Some(chan) => chan.dc().poll().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = self.events.recv() => match event {
                    None => return DataPeerEvent::Closed("the connection closed".into()),
                    Some(PcEvent::Candidate(c)) => return DataPeerEvent::Candidate(c),
                    Some(PcEvent::State(RTCPeerConnectionState::Failed)) => {
                        return DataPeerEvent::Closed("no network path (ICE failed)".into());
                    }
                    Some(PcEvent::State(RTCPeerConnectionState::Closed)) => {
                        return DataPeerEvent::Closed("the connection closed".into());
                    }
                    Some(PcEvent::DataChannel(dc)) if self.chan.is_none() => match Chan::new(dc, &self.config).await {
                        Ok(chan) => {
                            self.chan = Some(chan);
                            self.open = true;
                            return DataPeerEvent::Open;
                        }
                        Err(e) => return DataPeerEvent::Closed(e.to_string()),
                    },
                    Some(PcEvent::DataChannel(dc)) => {
                        let _ = dc.close().await;
                    }
                    Some(_) => {}
                },
                event = polled => match event {
                    Some(DataChannelEvent::OnOpen) if !self.open => {
                        self.open = true;
                        return DataPeerEvent::Open;
                    }
                    Some(DataChannelEvent::OnMessage(message)) if message.is_string => {
                        return DataPeerEvent::Text(String::from_utf8_lossy(&message.data).into_owned());
                    }
                    Some(DataChannelEvent::OnMessage(message)) => return DataPeerEvent::Message(message.data.freeze()),
                    Some(DataChannelEvent::OnBufferedAmountHigh) => {
                        if let Some(chan) = &chan { chan.on_buffered(true) }
                    }
                    Some(DataChannelEvent::OnBufferedAmountLow) => {
                        if let Some(chan) = &chan { chan.on_buffered(false) }
                    }
                    Some(DataChannelEvent::OnClose) | None => return DataPeerEvent::Closed("the data channel closed".into()),
                    Some(_) => {}
                },
            }
        }
    }

    /// Sends one message, first waiting while the channel holds more than its high mark of
    /// unsent bytes (until it drains below the low mark).
    pub async fn send(&self, message: &[u8]) -> Result<(), TransportError> {
        let chan = self.chan.as_ref().ok_or(TransportError::broken("no data channel yet"))?;
        let buffered = chan.dc().outstanding_bytes().await.map_err(|e| TransportError::broken_by("data channel", e))?;
        if buffered > self.config.buffered_high as usize {
            chan.on_buffered(true);
        }
        chan.writable(self.config.buffered_low, self.config.stall).await?;
        chan.send(BytesMut::from(message)).await
    }

    /// Sends one text message (a browser receives a string), with the same back-pressure as
    /// [`DataPeer::send`].
    pub async fn send_text(&self, text: &str) -> Result<(), TransportError> {
        let chan = self.chan.as_ref().ok_or(TransportError::broken("no data channel yet"))?;
        let buffered = chan.dc().outstanding_bytes().await.map_err(|e| TransportError::broken_by("data channel", e))?;
        if buffered > self.config.buffered_high as usize {
            chan.on_buffered(true);
        }
        chan.writable(self.config.buffered_low, self.config.stall).await?;
        chan.dc().send_text(text).await.map_err(|e| TransportError::broken_by("sending on a data channel", e))
    }

    /// The selected candidate pair's type, once connected.
    pub async fn path(&self) -> Option<PathKind> {
        super::conn::selected_path(&self.pc).await
    }

    pub async fn close(&self) {
        if let Some(chan) = &self.chan {
            let _ = chan.dc().close().await;
        }
        let _ = self.pc.close().await;
    }
}
