//! Chat across the lab's NAT pairs: two `p2pos chat` processes, one in each home's host, who are
//! each other's contacts. Ann rings Ben by identity through the hub; they prove identities, chat
//! both ways with receipts, and each reports the path its data channel took (direct through the
//! NATs, or relayed by coturn).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64U;
use p2pos_core::Identity;
use serde_json::json;

use super::lab::Host;
use super::procs::{in_ns, log_file, p2pos_bin};
use crate::common::chatter::{Chatter, message};

/// What one chat across a pair showed.
#[derive(Debug)]
pub struct ChatRun {
    /// The candidate pair type each side reported when the chat opened (host, srflx, prflx, relay).
    pub paths: (String, String),
    /// From `/call` to both sides open (ICE, DTLS and the identity proofs).
    pub open_after: std::time::Duration,
}

/// A person in `host`: an identity file and a chat directory under `dir`, with `contact` saved.
fn person(dir: &Path, name: &str, identity: &Identity, contact: (&Identity, &str), secret: &str) -> std::path::PathBuf {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("identity"), identity.to_file_text().as_bytes()).unwrap();
    let contacts = json!({"v": 1, "contacts": [
        {"id": contact.0.id().to_string(), "name": contact.1, "secret": secret, "last_seen": 0}]});
    std::fs::write(home.join("contacts.json"), contacts.to_string()).unwrap();
    home
}

fn start(host: &Host, hub: &str, name: &str, home: &Path, log: &Path) -> Chatter {
    let mut command = in_ns(&host.ns, p2pos_bin());
    command
        .args(["chat", "--json", "--hub", hub, "--name", name, "--rtc-bind", &format!("{}:0", host.addr)])
        .arg("--identity")
        .arg(home.join("identity"))
        .arg("--dir")
        .arg(home)
        .env("RUST_LOG", "warn")
        .stderr(log_file(log));
    Chatter::spawn(name, command)
}

/// Ann in `hosts.0` rings Ben in `hosts.1`; they exchange a message each way and leave.
pub fn chat_across(label: &str, hosts: (&Host, &Host), hub: &str, dir: &Path) -> ChatRun {
    let tag = label.replace([' ', '×'], "");
    let dir = dir.join(format!("chat-{tag}"));
    let (ann_id, ben_id) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let secret = B64U.encode(rand::random::<[u8; 32]>());
    let ann_home = person(&dir, "ann", &ann_id, (&ben_id, "Ben"), &secret);
    let ben_home = person(&dir, "ben", &ben_id, (&ann_id, "Ann"), &secret);
    let mut ben = start(hosts.1, hub, "Ben", &ben_home, &dir.join("ben.log"));
    let mut ann = start(hosts.0, hub, "Ann", &ann_home, &dir.join("ann.log"));
    let asked = std::time::Instant::now();
    ann.say("/call Ben");
    let (ann_open, ben_open) = (ann.expect("open", |_| true), ben.expect("open", |_| true));
    let open_after = asked.elapsed();
    assert_eq!(ann_open["id"], ben.id.as_str(), "{label}: Ann's chat is with Ben's proven identity");
    assert_eq!(ben_open["id"], ann.id.as_str(), "{label}: Ben's chat is with Ann's proven identity");
    message(&mut ann, &mut ben, &format!("hello across {label}"));
    message(&mut ben, &mut ann, "and back");
    let path = |open: &serde_json::Value| open["candidate"].as_str().unwrap_or("?").to_string();
    let paths = (path(&ann_open), path(&ben_open));
    ann.quit();
    ben.quit();
    ChatRun { paths, open_after }
}
