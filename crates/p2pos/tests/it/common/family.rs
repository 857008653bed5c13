//! A family of real node processes around a real hub, for the replication tests: start, kill and
//! restart nodes, enrol them with the CLI, and upload photos as a member would (signed records,
//! age-encrypted blobs).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use p2pos_core::age::secrecy::ExposeSecret;
use p2pos_core::agefile::{self, Armor};
use p2pos_core::{BlobId, Identity, SignedRecord};
use serde_json::{Value, json};

use super::*;

pub const FAMILY: &str = "crashfamilyaaaaaaaaaaaaaaa";
pub const ALBUM: &str = "summeraaaaaaaaaaaaaaaaaaaa";

/// A node of the test family: its process, data dir and flags (to restart it the same way).
pub struct Member {
    pub node: Node,
    pub dir: tempfile::TempDir,
    pub args: Vec<String>,
}

impl Member {
    pub fn start(name: &str, hub: &Hub, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut args: Vec<String> = vec![
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--public-url".into(),
            format!("http://127.0.0.1:{port}"),
            "--name".into(),
            name.into(),
            "--hub".into(),
            hub.url.clone(),
            "--rtc-bind".into(),
            "127.0.0.1:0".into(),
            "--sync-interval-secs".into(),
            "1".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let node = start_with(dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
        Self { node, dir, args }
    }

    pub fn kill(&mut self) {
        let _ = self.node.child.kill();
        let _ = self.node.child.wait();
    }

    pub fn restart(&mut self) {
        self.kill();
        self.node = start_with(self.dir.path(), &self.args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    pub fn metric(&self, name: &str) -> u64 {
        let (_, _, raw) = http(&self.node.addr, "GET", "/metrics", None, "text/plain", b"").unwrap();
        let text = String::from_utf8(raw).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_default()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn p2pos(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_p2pos")).args(args).arg("--data-dir").arg(data).output().unwrap()
}

pub fn enroll(issuer: &Member, joiner: &Member) {
    let out = p2pos(&["enroll", "--no-qr"], issuer.dir.path());
    assert!(out.status.success(), "enroll: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("P2POS-ENROLL-"), "{token}");
    let out = p2pos(&["peer", "add", &token], joiner.dir.path());
    assert!(out.status.success(), "peer add: {}", String::from_utf8_lossy(&out.stderr));
    // The same token again is refused by the issuer.
    let again = p2pos(&["peer", "add", &token], joiner.dir.path());
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already used"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// The founder's records and `count` photos (random bytes, encrypted to the album) at `member`.
pub struct Family {
    pub me: Identity,
    pub album_recipient: p2pos_core::age::x25519::Recipient,
    pub hlc: u64,
}

impl Family {
    pub fn found(at: &Member) -> (Self, String) {
        let me = Identity::generate().unwrap();
        let cookie = claim_and_login(&at.node, &me);
        let album_key = p2pos_core::age::x25519::Identity::generate();
        let mut family = Self { me, album_recipient: album_key.to_public(), hlc: super::now_ms() - 30_000 };
        let meta = family.armored(b"{\"title\":\"Summer 2026\"}");
        let grant_key = String::from_utf8(
            agefile::encrypt_to(
                std::slice::from_ref(&family.me.recipient()),
                Armor::Yes,
                album_key.to_string().expose_secret().as_bytes(),
                Vec::new(),
            )
            .unwrap(),
        )
        .unwrap();
        let album = json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": family.album_recipient.to_string(), "meta": meta, "deleted": false});
        let grant = json!({"type": "grant", "album": ALBUM, "member": family.me.id(), "epoch": 1, "key": grant_key, "revoked": false});
        for body in [album, grant] {
            assert_eq!(json_post(&at.node.addr, "/v1/records", Some(&cookie), family.record(body)).0, 200);
        }
        (family, cookie)
    }

    pub fn armored(&self, plain: &[u8]) -> String {
        String::from_utf8(
            agefile::encrypt_to(std::slice::from_ref(&self.album_recipient), Armor::Yes, plain, Vec::new()).unwrap(),
        )
        .unwrap()
    }

    /// Signs `body` with a hybrid clock: past every earlier record, and at the wall clock.
    pub fn record(&mut self, mut body: Value) -> Value {
        self.hlc = (self.hlc + 1).max(super::now_ms());
        body["v"] = json!(1);
        body["family"] = json!(FAMILY);
        body["hlc"] = json!({"wall_ms": self.hlc, "counter": 0});
        serde_json::to_value(SignedRecord::sign(&self.me, &body).unwrap()).unwrap()
    }

    /// Upload a photo of `size` random bytes; returns its blob id.
    pub fn upload(&mut self, at: &Member, cookie: &str, n: usize, size: usize) -> BlobId {
        self.try_upload(&at.node.addr, cookie, n, size).unwrap()
    }

    /// The same, reporting failures (a node killed mid-request) instead of panicking. `Ok` means
    /// the node acknowledged both the blob and the record.
    pub fn try_upload(&mut self, addr: &str, cookie: &str, n: usize, size: usize) -> Result<BlobId, String> {
        let plain: Vec<u8> = (0..size).map(|_| rand::random::<u8>()).collect();
        let ciphertext =
            agefile::encrypt_to(std::slice::from_ref(&self.album_recipient), Armor::No, &plain[..], Vec::new())
                .unwrap();
        let blob = BlobId::of(&ciphertext);
        let path = format!("/v1/blobs/{blob}");
        let (status, _, _) = http(addr, "PUT", &path, Some(cookie), "application/octet-stream", &ciphertext)
            .map_err(|e| e.to_string())?;
        if status != 201 && status != 200 {
            return Err(format!("PUT blob: {status}"));
        }
        let meta = self.armored(format!("{{\"name\":\"photo-{n}.jpg\"}}").as_bytes());
        let body = json!({"type": "photo", "photo": photo_id(n), "album": ALBUM, "epoch": 1, "blob": blob,
                          "size": ciphertext.len(), "thumb": null, "thumb_size": null, "meta": meta, "deleted": false});
        let record = self.record(body);
        let (status, _, raw) =
            http(addr, "POST", "/v1/records", Some(cookie), "application/json", record.to_string().as_bytes())
                .map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("POST record: {status} {}", String::from_utf8_lossy(&raw)));
        }
        Ok(blob)
    }
}

/// A photo's object id (26 characters of a-z2-7) for photo number `n`.
pub fn photo_id(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut id = String::from("photo");
    let mut rest = n;
    for _ in 0..21 {
        id.push(ALPHABET[rest % 32] as char);
        rest /= 32;
    }
    id
}

pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
