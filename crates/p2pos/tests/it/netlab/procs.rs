//! The lab's processes: the hub and coturn in the public namespace, `p2pos node`s in host
//! namespaces, and HTTP to a node from the test.
//!
//! A node listens on its own namespace's loopback (`127.0.0.1`), which the test (in the root
//! namespace) cannot reach, and the lab has no link to the root namespace on purpose. So the test
//! speaks HTTP to a node with `ip netns exec <host> curl …`: one short process per request, no
//! forwarder to keep alive, and the request really comes from inside the host (the node sees
//! `Origin: http://127.0.0.1` from loopback, as a browser on that machine would send).

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p2pos_core::age::secrecy::ExposeSecret as _;
use p2pos_core::agefile::{self, Armor};
use p2pos_core::{BlobId, Identity};
use serde_json::{Value, json};

use super::lab::{Host, PUBLIC_IP};
use crate::common::ORIGIN;
use crate::common::family::{ALBUM, Family, photo_id};

/// The `p2pos` binary: `P2POS_LAB_BIN` if set (e.g. a release build), else the one cargo built.
pub fn p2pos_bin() -> PathBuf {
    std::env::var_os("P2POS_LAB_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_p2pos")), PathBuf::from)
}

/// `ip netns exec <ns> <program>`.
pub fn in_ns(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).arg(program);
    command
}

pub fn log_file(path: &Path) -> Stdio {
    Stdio::from(std::fs::File::create(path).unwrap())
}

/// The last `lines` lines of a log, for failure messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// UDP datagrams a namespace's kernel dropped for want of socket buffer space (`RcvbufErrors`
/// in `/proc/net/snmp`, which is per namespace).
pub fn udp_receive_drops(ns: &str) -> u64 {
    let out = in_ns(ns, "cat").arg("/proc/net/snmp").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next().unwrap_or_default(), udp.next().unwrap_or_default());
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_default()
}

/// Kills and reaps its child when dropped.
#[derive(Debug)]
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The hub (`p2pos signal`) in the public namespace, handing out coturn's URLs.
#[derive(Debug)]
pub struct HubProcess {
    _daemon: Daemon,
    /// `ws://203.0.113.1:7800/v1/ws`
    pub url: String,
}

pub const TURN_PORT: u16 = 3478;
/// The title of every pair's album (encrypted in its record; the browser case reads it).
pub const ALBUM_TITLE: &str = "Lab";
pub const RELAY_PORTS: (u16, u16) = (49152, 49252);
pub const MAX_ALLOCATE_LIFETIME_SECS: u64 = 20;

pub fn start_hub(public: &str, dir: &Path, secret: &str, ttl_secs: u64) -> HubProcess {
    let mut child = in_ns(public, p2pos_bin())
        .args(["signal", "--listen", &format!("{PUBLIC_IP}:7800"), "--turn-secret", secret])
        .args(["--turn-url", &format!("turn:{PUBLIC_IP}:{TURN_PORT}?transport=udp")])
        .args(["--stun-url", &format!("stun:{PUBLIC_IP}:{TURN_PORT}")])
        .args(["--turn-ttl-secs", &ttl_secs.to_string()])
        // The web app, for the browser case (the vault from anywhere).
        .arg("--web-dir")
        .arg(super::browser::dist())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log_file(&dir.join("hub.log")))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let daemon = Daemon(child);
    loop {
        let line = lines.next().expect("the hub exited before listening").unwrap();
        if let Some(rest) = line.split("native: ").nth(1) {
            let url = rest.split(',').next().unwrap().trim().to_string();
            std::thread::spawn(move || for _ in lines {});
            return HubProcess { _daemon: daemon, url };
        }
    }
}

/// The coturn configuration operators deploy (`deploy/coturn.conf`).
pub fn deploy_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/coturn.conf")
}

/// coturn (Debian's `turnserver`) in the public namespace: REST credentials with the hub's
/// secret, UDP only, a small relay port range. Can be stopped and started again.
#[derive(Debug)]
pub struct Coturn {
    ns: String,
    dir: PathBuf,
    secret: String,
    daemon: Option<Daemon>,
    starts: u32,
}

impl Coturn {
    pub fn start(ns: &str, dir: &Path, secret: &str) -> Self {
        let mut coturn = Self { ns: ns.into(), dir: dir.into(), secret: secret.into(), daemon: None, starts: 0 };
        coturn.resume();
        coturn
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join(format!("coturn-{}.log", self.starts))
    }

    pub fn stop(&mut self) {
        self.daemon = None;
    }

    /// Starts it again (same address, port and secret); returns once it listens.
    pub fn resume(&mut self) {
        assert!(self.daemon.is_none());
        self.starts += 1;
        let log = self.log();
        let child = in_ns(&self.ns, "turnserver")
            // The production settings (peer restrictions, quotas, bandwidth), then the lab's own.
            .arg("-c")
            .arg(deploy_config())
            .args(["--no-cli", "--no-tls", "--no-dtls", "--no-tcp-relay", "--fingerprint"])
            .arg(format!("--listening-ip={PUBLIC_IP}"))
            .arg(format!("--relay-ip={PUBLIC_IP}"))
            .arg(format!("--listening-port={TURN_PORT}"))
            .arg(format!("--min-port={}", RELAY_PORTS.0))
            .arg(format!("--max-port={}", RELAY_PORTS.1))
            .args(["--use-auth-secret", &format!("--static-auth-secret={}", self.secret)])
            // Allocations live 20 s instead of up to an hour, so the nodes refresh theirs every
            // 10 s: with the hub's 10-s credentials, every refresh comes after they expired.
            .arg(format!("--max-allocate-lifetime={MAX_ALLOCATE_LIFETIME_SECS}"))
            .arg("--realm=lab.p2pos.test")
            // P2POS_NETLAB_TURN_ARGS="--max-bps=3000000" adds (or overrides) coturn options: a
            // per-session cap makes large relayed blobs crawl (docs/NETWORKING.md).
            .args(std::env::var("P2POS_NETLAB_TURN_ARGS").unwrap_or_default().split_whitespace())
            .arg(format!("--userdb={}", self.dir.join("turndb").display()))
            .arg(format!("--pidfile={}", self.dir.join("turnserver.pid").display()))
            .args(["--log-file=stdout", "--simple-log", "--verbose"])
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.daemon = Some(Daemon(child));
        let start = Instant::now();
        while !std::fs::read_to_string(&log).unwrap_or_default().contains("Total General servers") {
            assert!(start.elapsed() < Duration::from_secs(10), "coturn did not start:\n{}", tail(&log, 20));
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its listeners open right after that line.
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A `p2pos node` in a host namespace: WebRTC through the hub only (`--no-http`, no public URL),
/// its API on the namespace's loopback.
#[derive(Debug)]
pub struct LabNode {
    pub name: String,
    pub host: Host,
    pub dir: PathBuf,
    pub log: PathBuf,
    port: u16,
    setup_code: Option<String>,
    _daemon: Daemon,
}

impl LabNode {
    pub fn start(name: &str, host: &Host, hub: &str, lab_dir: &Path) -> Self {
        let dir = lab_dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let log = lab_dir.join(format!("{name}.log"));
        let mut child = in_ns(&host.ns, p2pos_bin())
            .args(["node", "--web-dir", "/nonexistent", "--data-dir"])
            .arg(&dir)
            .args(["--listen", "127.0.0.1:0", "--name", name, "--hub", hub, "--no-http"])
            .args(["--rtc-bind", &format!("{}:0", host.addr), "--sync-interval-secs", "1"])
            // The connection log lines ("WebRTC connection ready", with the path) are debug.
            .env("RUST_LOG", "warn,p2pos_net::webrtc=debug")
            .stdout(Stdio::piped())
            .stderr(log_file(&log))
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let daemon = Daemon(child);
        let mut setup_code = None;
        loop {
            let line = lines.next().unwrap_or_else(|| panic!("{name} exited:\n{}", tail(&log, 20))).unwrap();
            if let Some(code) = line.split("Setup code: ").nth(1) {
                setup_code = Some(code.trim().to_string());
            }
            if let Some(addr) = line.split("listening on http://").nth(1) {
                let port = addr.trim().rsplit(':').next().unwrap().parse().unwrap();
                std::thread::spawn(move || for _ in lines {});
                return Self { name: name.into(), host: host.clone(), dir, log, port, setup_code, _daemon: daemon };
            }
        }
    }

    /// One HTTP request to the node, made inside its namespace: status, Set-Cookie, body.
    pub fn http(&self, method: &str, path: &str, cookie: Option<&str>, ctype: &str, body: &[u8]) -> HttpReply {
        let mut command = in_ns(&self.host.ns, "curl");
        command.args(["-sS", "-i", "--max-time", "120", "-X", method]).args([
            "-H",
            &format!("Origin: {ORIGIN}"),
            "-H",
            &format!("Content-Type: {ctype}"),
            "-H",
            "Expect:",
        ]);
        if let Some(cookie) = cookie {
            command.args(["-H", &format!("Cookie: {cookie}")]);
        }
        if !body.is_empty() {
            command.args(["--data-binary", "@-"]);
        }
        let mut child = command
            .arg(format!("http://127.0.0.1:{}{path}", self.port))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let body = body.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&body));
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        assert!(
            out.status.success(),
            "curl {method} {path} at {}: {}\n{}",
            self.name,
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log, 20)
        );
        HttpReply::parse(&out.stdout)
    }

    pub fn get_json(&self, path: &str, cookie: Option<&str>) -> (u16, Value) {
        let reply = self.http("GET", path, cookie, "application/json", b"");
        (reply.status, reply.json())
    }

    pub fn post_json(&self, path: &str, cookie: Option<&str>, body: &Value) -> HttpReply {
        self.http("POST", path, cookie, "application/json", body.to_string().as_bytes())
    }

    /// A gauge or counter from `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let reply = self.http("GET", "/metrics", None, "text/plain", b"");
        String::from_utf8_lossy(&reply.body)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_default()
    }

    pub fn records(&self) -> u64 {
        self.metric("p2pos_node_records")
    }

    /// Records and blobs held, from one `/metrics` request.
    pub fn counts(&self) -> (u64, u64) {
        let reply = self.http("GET", "/metrics", None, "text/plain", b"");
        let text = String::from_utf8_lossy(&reply.body);
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_default()
        };
        (value("p2pos_node_records"), value("p2pos_node_blobs"))
    }

    /// Sign in as `me` (a member of the node's family).
    pub fn login(&self, me: &Identity) -> String {
        let challenge = self.post_json("/v1/auth/challenge", None, &json!({"identity": me.id()})).json();
        let nonce = challenge["nonce"].as_str().unwrap();
        let message = p2pos_node::login_message(ORIGIN, nonce, challenge["expires_ms"].as_u64().unwrap());
        let sig = B64.encode(me.sign(message.as_bytes()).to_bytes());
        let reply = self.post_json("/v1/auth/verify", None, &json!({"identity": me.id(), "nonce": nonce, "sig": sig}));
        assert_eq!(reply.status, 200, "login at {}: {}", self.name, String::from_utf8_lossy(&reply.body));
        reply.cookie.unwrap()
    }

    /// This node's view of its only peer (`peers[0]` of `/v1/replication/status`).
    pub fn peer_status(&self, cookie: &str) -> Value {
        let (status, body) = self.get_json("/v1/replication/status?photos=false", Some(cookie));
        assert_eq!(status, 200, "{body}");
        body["peers"][0].clone()
    }

    /// WebRTC connections this node has brought up so far (from its log).
    pub fn connections(&self) -> usize {
        std::fs::read_to_string(&self.log).unwrap_or_default().matches("WebRTC connection ready").count()
    }

    /// How long this node's first WebRTC connection took to set up (its log's `setup_ms`).
    pub fn first_connection_setup(&self) -> Option<Duration> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let line = log.lines().find(|l| l.contains("WebRTC connection ready"))?;
        let ms = line.split("setup_ms=").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
        Some(Duration::from_millis(ms))
    }
}

#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub cookie: Option<String>,
    pub body: Vec<u8>,
}

impl HttpReply {
    fn parse(raw: &[u8]) -> Self {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP reply");
        let head = String::from_utf8_lossy(&raw[..split]);
        let status = head.get(9..12).and_then(|s| s.parse().ok()).expect("an HTTP status line");
        let cookie = head
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
            .map(|c| c.split(';').next().unwrap_or_default().to_string());
        Self { status, cookie, body: raw[split + 4..].to_vec() }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// `p2pos enroll` on the issuer's data dir, then `p2pos peer add` inside the joiner's namespace
/// (it reaches the hub from there, through the joiner's NAT).
pub fn enroll(issuer: &LabNode, joiner: &LabNode) {
    let out = Command::new(p2pos_bin()).args(["enroll", "--no-qr", "--data-dir"]).arg(&issuer.dir).output().unwrap();
    assert!(out.status.success(), "enroll: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let out = in_ns(&joiner.host.ns, p2pos_bin())
        .args(["peer", "add", &token, "--data-dir"])
        .arg(&joiner.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "peer add at {}: {}\n{}",
        joiner.name,
        String::from_utf8_lossy(&out.stderr),
        tail(&issuer.log, 20)
    );
}

/// Claims `at` for a new family (founder = a fresh identity), creates the album and the
/// founder's grant; returns the family and a session at `at`.
pub fn found_family(at: &LabNode) -> (Family, String) {
    let me = Identity::generate().unwrap();
    let album_key = p2pos_core::age::x25519::Identity::generate();
    let mut family = Family { me, album_recipient: album_key.to_public(), hlc: 1000 };
    let member = json!({"type": "member", "member": family.me.id(), "role": "admin",
                        "recipient": family.me.recipient().to_string(), "removed": false});
    let setup = json!({"code": at.setup_code.clone().unwrap(),
                       "records": [family.record(json!({"type": "family"})), family.record(member)]});
    let reply = at.post_json("/v1/setup", None, &setup);
    assert_eq!(reply.status, 201, "setup: {}", String::from_utf8_lossy(&reply.body));
    let cookie = at.login(&family.me);
    let grant_key = agefile::encrypt_to(
        std::slice::from_ref(&family.me.recipient()),
        Armor::Yes,
        album_key.to_string().expose_secret().as_bytes(),
        Vec::new(),
    )
    .unwrap();
    let meta = family.armored(format!("{{\"title\":\"{ALBUM_TITLE}\"}}").as_bytes());
    let album = json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": family.album_recipient.to_string(),
                       "meta": meta, "deleted": false});
    let grant = json!({"type": "grant", "album": ALBUM, "member": family.me.id(), "epoch": 1,
                       "key": String::from_utf8(grant_key).unwrap(), "revoked": false});
    for body in [album, grant] {
        let record = family.record(body);
        let reply = at.post_json("/v1/records", Some(&cookie), &record);
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    }
    (family, cookie)
}

/// Uploads photo `n` (`size` random bytes, encrypted to the album) at `at` as the founder:
/// the blob, then its signed record. Returns the blob id and its size.
pub fn upload(family: &mut Family, at: &LabNode, cookie: &str, n: usize, size: usize) -> (BlobId, usize) {
    let mut plain = vec![0; size];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut plain);
    let ciphertext =
        agefile::encrypt_to(std::slice::from_ref(&family.album_recipient), Armor::No, &plain[..], Vec::new()).unwrap();
    let blob = BlobId::of(&ciphertext);
    let reply = at.http("PUT", &format!("/v1/blobs/{blob}"), Some(cookie), "application/octet-stream", &ciphertext);
    assert!(matches!(reply.status, 200 | 201), "PUT blob at {}: {}", at.name, reply.status);
    let meta = family.armored(format!("{{\"name\":\"photo-{n}.jpg\"}}").as_bytes());
    let body = json!({"type": "photo", "photo": photo_id(n), "album": ALBUM, "epoch": 1, "blob": blob,
                      "size": ciphertext.len(), "thumb": null, "thumb_size": null, "meta": meta, "deleted": false});
    let record = family.record(body);
    let reply = at.post_json("/v1/records", Some(cookie), &record);
    assert_eq!(reply.status, 200, "POST record at {}: {}", at.name, String::from_utf8_lossy(&reply.body));
    (blob, ciphertext.len())
}
