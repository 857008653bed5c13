#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly by design

//! Throughput of blob transfers over one WebRTC connection on loopback, without the node's disk
//! and database: two endpoints, each on its own tokio runtime (as two node processes would be),
//! the sender reading 4 MiB blobs from files in 64 KiB reads like the node's blob store, the
//! receiver fetching four at a time like the replication engine and hashing what it gets.
//! Prints MB/s and the CPU time of each side's threads.
//!
//! Ignored by `cargo test`; run it in release:
//! `cargo test --release -p p2pos-net --test webrtc_throughput -- --ignored --nocapture`
//! (`P2POS_NET_BENCH_MIB`: how much, default 512; `P2POS_NET_BENCH_ROUNDS`: how often, default 3).

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
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

const MIB: usize = 1024 * 1024;
const BLOB: usize = 4 * MIB;
/// What the node's blob store reads at a time (`ReaderStream::with_capacity(_, 64 KiB)`).
const READ: usize = 64 * 1024;

/// Serves blobs from files, one blocking read of 64 KiB at a time (as `tokio::fs` does).
struct FileService {
    files: HashMap<BlobId, (PathBuf, u64)>,
}

#[async_trait]
impl PeerService for FileService {
    async fn call(&self, _from: NodeId, _request: PeerRequest) -> Result<PeerResponse, ServiceError> {
        Err(ServiceError::new("bad_request", "only blobs here"))
    }

    async fn get_blob(&self, _from: NodeId, id: BlobId, offset: u64) -> Result<BlobBody, ServiceError> {
        let (path, size) = self.files.get(&id).cloned().ok_or_else(|| ServiceError::new("not_found", "no blob"))?;
        let file = Arc::new(std::fs::File::open(&path).map_err(|e| ServiceError::new("internal", e.to_string()))?);
        let stream = futures_util::stream::unfold(offset, move |at| {
            let file = file.clone();
            async move {
                if at >= size {
                    return None;
                }
                let len = READ.min((size - at) as usize);
                let read = tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0u8; len];
                    file.read_exact_at(&mut buf, at).map(|()| Bytes::from(buf))
                })
                .await
                .unwrap()
                .map_err(|e| TransportError::broken_by("reading the blob", e));
                Some((read, at + len as u64))
            }
        });
        Ok(BlobBody { size, offset, stream: Box::pin(stream) })
    }
}

fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name(name).enable_all().build().unwrap()
}

/// CPU time (user + system) of this process's threads named `name`, in seconds.
fn cpu_of(name: &str) -> f64 {
    let ticks = 100.0; // USER_HZ
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if &stat[open + 1..close] != name {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        total += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    total as f64 / ticks
}

async fn wait_connected(hub: &HubHandle) {
    for _ in 0..200 {
        if hub.is_connected() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the hub client did not connect");
}

async fn dispatch(endpoint: WebRtcEndpoint, mut events: mpsc::Receiver<HubEvent>) {
    while let Some(event) = events.recv().await {
        if let HubEvent::Signal { from_id: Some(from_id), payload, .. } = event
            && is_rtc_signal(&payload)
            && let Ok(from) = from_id.parse::<NodeId>()
        {
            let _ = endpoint.handle_signal(from, payload).await;
        }
    }
}

/// Starts a node on the current runtime; `peers` may connect to it.
async fn node(
    hub_url: &str,
    service: Arc<dyn PeerService>,
    peers: Arc<RwLock<HashSet<NodeId>>>,
) -> (NodeId, WebRtcEndpoint) {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let (hub, events) = HubClient::spawn(hub_url.to_string(), Some(key.clone()), json!({"name": "bench"}));
    wait_connected(&hub).await;
    let id = NodeId::from_verifying_key(&key.verifying_key());
    let guard = Arc::new(Mutex::new(ReplayGuard::new(id)));
    let is_peer = Arc::new(move |n: NodeId| peers.read().unwrap().contains(&n));
    let endpoint = WebRtcEndpoint::new(hub, key, service, guard, is_peer, WebRtcConfig::loopback());
    tokio::spawn(dispatch(endpoint.clone(), events));
    (id, endpoint)
}

#[test]
#[ignore = "benchmark: cargo test --release -p p2pos-net --test webrtc_throughput -- --ignored --nocapture"]
fn webrtc_blob_throughput() {
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let mib = env("P2POS_NET_BENCH_MIB", 512);
    let rounds = env("P2POS_NET_BENCH_ROUNDS", 3);
    let count = (mib * MIB / BLOB).max(1);

    let dir = std::env::temp_dir().join(format!("p2pos-net-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = HashMap::new();
    let mut blob = vec![0u8; BLOB];
    for n in 0..count {
        for chunk in blob.chunks_mut(8) {
            chunk.copy_from_slice(&rand::random::<u64>().to_le_bytes());
        }
        let id = BlobId::of(&blob);
        let path = dir.join(format!("{n}"));
        std::fs::write(&path, &blob).unwrap();
        files.insert(id, (path, BLOB as u64));
    }
    let ids: Vec<BlobId> = files.keys().copied().collect();

    let (sender_rt, receiver_rt) = (runtime("sender"), runtime("receiver"));
    let server = sender_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        SignalServer::start(listener, ServerConfig::default(), axum::Router::new()).unwrap()
    });
    let url = format!("ws://{}/v1/ws", server.local_addr());
    let (sender_peers, receiver_peers) = (Arc::default(), Arc::<RwLock<HashSet<NodeId>>>::default());
    let (sender_id, _sender) =
        sender_rt.block_on(node(&url, Arc::new(FileService { files }), Arc::clone(&sender_peers)));
    let (receiver_id, receiver) =
        receiver_rt.block_on(node(&url, Arc::new(FileService { files: HashMap::new() }), receiver_peers.clone()));
    sender_peers.write().unwrap().insert(receiver_id);
    receiver_peers.write().unwrap().insert(sender_id);

    println!("WebRTC blob throughput: {count} blobs of 4 MiB, 4 at a time, loopback, two runtimes of 2 threads");
    receiver_rt.block_on(async {
        let transport = receiver.connect(sender_id).await.expect("connect");
        for round in 0..rounds {
            let (sender_cpu, receiver_cpu) = (cpu_of("sender"), cpu_of("receiver"));
            let start = Instant::now();
            let fetched: Vec<usize> = futures_util::stream::iter(ids.clone())
                .map(|id| {
                    let transport = transport.clone();
                    async move {
                        let mut body = transport.get_blob(id, 0).await.unwrap();
                        let mut hasher = blake3::Hasher::new();
                        let mut n = 0;
                        while let Some(bytes) = body.stream.next().await {
                            let bytes = bytes.unwrap();
                            hasher.update(&bytes);
                            n += bytes.len();
                        }
                        assert_eq!(BlobId::from_hash(hasher.finalize()), id);
                        n
                    }
                })
                .buffer_unordered(4)
                .collect()
                .await;
            let elapsed = start.elapsed().as_secs_f64();
            let bytes: usize = fetched.iter().sum();
            let (sender_cpu, receiver_cpu) = (cpu_of("sender") - sender_cpu, cpu_of("receiver") - receiver_cpu);
            println!(
                "  round {round}: {:7.1} MB/s  {elapsed:5.2} s  CPU s/GB: sender {:5.2}  receiver {:5.2}",
                bytes as f64 / 1e6 / elapsed,
                sender_cpu / (bytes as f64 / 1e9),
                receiver_cpu / (bytes as f64 / 1e9),
            );
        }
    });
    drop(receiver);
    let _ = std::fs::remove_dir_all(&dir);
}
