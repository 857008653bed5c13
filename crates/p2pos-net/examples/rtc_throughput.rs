//! Moves 1 GiB in 4 MiB blobs between two nodes over loopback WebRTC (with a real hub started
//! in-process for signaling) and prints the throughput.
//!
//! ```text
//! cargo run --release -p p2pos-net --example rtc_throughput -- [--channels N] [--parallel P]
//!     [--total-mib M] [--frame-kib K] [--verify]
//!     [--high-kib K] [--low-kib K] [--window-mib M] [--rcvbuf-kib K] [--udp-buffer-kib K]
//! ```
//!
//! `--channels`: data channels per connection (1 = calls and blobs share one; default 2).
//! `--parallel`: blobs fetched at once (default 3). While blobs move, a `hello` call every
//! 100 ms measures how long calls wait behind blob bytes. `--verify`: BLAKE3 every
//! blob on arrival (costs CPU on the same two cores). The others override [`WebRtcConfig`]
//! fields (buffered-amount thresholds, ack window, SCTP receive window, UDP socket buffers; 0 = the
//! system default). Nothing leaves 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: fail loudly

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use futures_util::StreamExt;
use p2pos_core::{BlobId, NodeId};
use p2pos_net::auth::ReplayGuard;
use p2pos_net::hub::{HubClient, HubEvent, HubHandle};
use p2pos_net::webrtc::{WebRtcConfig, WebRtcEndpoint, is_rtc_signal};
use p2pos_net::{BlobBody, PeerRequest, PeerResponse, PeerService, PeerTransport, ServiceError, TransportError};
use p2pos_signal::server::{ServerConfig, SignalServer};
use serde_json::json;
use tokio::sync::mpsc;

const BLOB: usize = 4 * 1024 * 1024;
/// Distinct blobs held in memory; the 1 GiB is these, fetched over and over.
const DISTINCT: usize = 16;

struct Blobs {
    me: NodeId,
    blobs: HashMap<BlobId, Bytes>,
}

#[async_trait]
impl PeerService for Blobs {
    async fn call(&self, _from: NodeId, _request: PeerRequest) -> Result<PeerResponse, ServiceError> {
        Ok(PeerResponse::Hello { node: self.me, family: None, records_head: 0, blobs_head: 0 })
    }

    async fn get_blob(&self, _from: NodeId, id: BlobId, offset: u64) -> Result<BlobBody, ServiceError> {
        let bytes = self.blobs.get(&id).ok_or_else(|| ServiceError::new("not_found", "no such blob"))?;
        let rest = bytes.slice(offset as usize..);
        let chunks: Vec<Result<Bytes, TransportError>> =
            (0..rest.len()).step_by(256 * 1024).map(|i| Ok(rest.slice(i..(i + 256 * 1024).min(rest.len())))).collect();
        Ok(BlobBody { size: bytes.len() as u64, offset, stream: Box::pin(futures_util::stream::iter(chunks)) })
    }
}

fn arg(args: &[String], name: &str) -> Option<usize> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

async fn dispatch(endpoint: WebRtcEndpoint, mut events: mpsc::Receiver<HubEvent>) {
    while let Some(event) = events.recv().await {
        if let HubEvent::Signal { from_id: Some(from), payload, .. } = event
            && is_rtc_signal(&payload)
            && let Ok(from) = from.parse::<NodeId>()
        {
            let _ = endpoint.handle_signal(from, payload).await;
        }
    }
}

async fn start_node(
    url: &str,
    key: SigningKey,
    peer: NodeId,
    blobs: HashMap<BlobId, Bytes>,
    config: WebRtcConfig,
) -> (WebRtcEndpoint, HubHandle) {
    let (hub, events) = HubClient::spawn(url.to_string(), Some(key.clone()), json!({}));
    while !hub.is_connected() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let me = NodeId::from_verifying_key(&key.verifying_key());
    let service = Arc::new(Blobs { me, blobs });
    let guard = Arc::new(Mutex::new(ReplayGuard::new(me)));
    let peers: HashSet<NodeId> = [peer].into();
    let endpoint = WebRtcEndpoint::new(hub.clone(), key, service, guard, Arc::new(move |n| peers.contains(&n)), config);
    tokio::spawn(dispatch(endpoint.clone(), events));
    (endpoint, hub)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let channels = arg(&args, "--channels").unwrap_or(2).max(1);
    let parallel = arg(&args, "--parallel").unwrap_or(3).max(1);
    let total = arg(&args, "--total-mib").unwrap_or(1024) * 1024 * 1024;
    let frame = arg(&args, "--frame-kib").map(|k| k * 1024);
    let verify = args.iter().any(|a| a == "--verify");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = SignalServer::start(listener, ServerConfig::default(), axum::Router::new()).unwrap();
    let url = format!("ws://{}/v1/ws", server.local_addr());

    let mut config = WebRtcConfig::loopback();
    config.channels = channels;
    if let Some(frame) = frame {
        config.frame_size = frame;
    }
    if let Some(k) = arg(&args, "--high-kib") {
        config.buffered_high = (k * 1024) as u32;
    }
    if let Some(k) = arg(&args, "--low-kib") {
        config.buffered_low = (k * 1024) as u32;
    }
    if let Some(m) = arg(&args, "--window-mib") {
        config.window = (m * 1024 * 1024) as u64;
    }
    if let Some(k) = arg(&args, "--rcvbuf-kib") {
        config.sctp_receive_buffer = Some((k * 1024) as u32);
    }
    if let Some(k) = arg(&args, "--udp-buffer-kib") {
        config.udp_socket_buffer = if k == 0 { None } else { Some(k * 1024) };
    }
    let (a_key, b_key) = (SigningKey::from_bytes(&rand::random()), SigningKey::from_bytes(&rand::random()));
    let (a_id, b_id) =
        (NodeId::from_verifying_key(&a_key.verifying_key()), NodeId::from_verifying_key(&b_key.verifying_key()));

    let mut blobs = HashMap::new();
    let mut ids = Vec::new();
    for _ in 0..DISTINCT {
        let bytes: Vec<u8> = (0..BLOB / 8).flat_map(|_| rand::random::<u64>().to_le_bytes()).collect();
        let id = BlobId::of(&bytes);
        ids.push(id);
        blobs.insert(id, Bytes::from(bytes));
    }
    let (_server_side, _b_hub) = start_node(&url, b_key, a_id, blobs, config.clone()).await;
    let (client, _a_hub) = start_node(&url, a_key, b_id, HashMap::new(), config).await;

    let started = Instant::now();
    let transport = client.connect(b_id).await.expect("connect");
    println!("connected in {:?}, path {:?}", started.elapsed(), transport.path());

    // Meanwhile, one `hello` call every 100 ms: how long calls wait behind blob bytes.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pinger = {
        let (transport, stop) = (transport.clone(), stop.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                transport.call(PeerRequest::Hello).await.expect("hello");
                latencies.push(t.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            latencies.sort();
            latencies
        })
    };

    let count = total.div_ceil(BLOB);
    let started = Instant::now();
    let retries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let moved: u64 = futures_util::stream::iter(0..count)
        .map(|i| {
            let (client, retries) = (client.clone(), retries.clone());
            let id = ids[i % DISTINCT];
            async move {
                // What replication does: a broken or stalled read resumes from its offset.
                let mut hasher = BlobId::hasher();
                let mut n = 0u64;
                while n < BLOB as u64 {
                    let transport = client.connect(b_id).await.expect("connect");
                    let mut body = match transport.get_blob(id, n).await {
                        Ok(body) => body,
                        Err(e) => {
                            eprintln!("blob {i}: {e}; retrying");
                            retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            continue;
                        }
                    };
                    while let Some(chunk) = body.stream.next().await {
                        match chunk {
                            Ok(chunk) => {
                                if verify {
                                    hasher.update(&chunk);
                                }
                                n += chunk.len() as u64;
                            }
                            Err(e) => {
                                eprintln!("blob {i} after {n} bytes: {e}; resuming");
                                retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                }
                assert_eq!(n, BLOB as u64);
                if verify {
                    assert_eq!(hasher.finish(), id, "blob {i} arrived damaged");
                }
                n
            }
        })
        .buffer_unordered(parallel)
        .fold(0u64, |acc, n| async move { acc + n })
        .await;
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let latencies = pinger.await.unwrap();
    println!(
        "moved {} MiB in {count} blobs of 4 MiB: {secs:.2} s, {:.1} MB/s ({:.1} MiB/s); channels {channels}, parallel {parallel}{}",
        moved / (1024 * 1024),
        moved as f64 / secs / 1e6,
        moved as f64 / secs / (1024.0 * 1024.0),
        if verify { ", BLAKE3 verified" } else { "" }
    );
    let retries = retries.load(std::sync::atomic::Ordering::Relaxed);
    if retries > 0 {
        println!("{retries} reads failed and were resumed");
    }
    if !latencies.is_empty() {
        println!(
            "hello calls during the transfer: {} calls, median {:?}, max {:?}",
            latencies.len(),
            latencies[latencies.len() / 2],
            latencies[latencies.len() - 1]
        );
    }
    drop(transport);
    server.shutdown().await;
}
