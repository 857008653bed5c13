//! The lab's browser case: Chromium inside a home's host namespace (a wrapper execs it under
//! `ip netns exec`) opens the vault of a node in another home through the hub, as a family member,
//! directly or through the relay only. The page is `apps/web/e2e/netlab-browser.mjs`; it prints
//! the path the data channel took and whether the album's photos were listed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use p2pos_core::Identity;
use p2pos_core::age::secrecy::SecretString;
use serde_json::Value;

const PASSPHRASE: &str = "netlab member passphrase";
const CHROMIUM: &str = "/usr/bin/chromium";

pub fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../apps/web")
}

/// The built web app the hub serves (`make test` builds it before the Rust tests).
pub fn dist() -> PathBuf {
    web_dir().join("dist")
}

/// Whether the browser case can run: Chromium, Node and the built web app.
pub fn unavailable() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is missing"));
    }
    if !dist().join("index.html").exists() {
        return Some("the web app is not built (make web)".into());
    }
    if !web_dir().join("node_modules/playwright-core").exists() {
        return Some("apps/web/node_modules is missing (npm ci)".into());
    }
    None
}

/// What the page saw.
#[derive(Debug)]
pub struct Seen {
    /// The selected candidate pair, as the page reports it: host, srflx, prflx or relay.
    pub path: String,
    pub seconds: f64,
    /// The Nodes page's row of the peer asked for: its label, detail and last error.
    pub peer: Value,
}

/// Opens `url` (the hub's page with `?node=…`) from namespace `ns` as `member`, and waits until
/// the album titled `title` lists `photos` photos; with `peer` (a peer node's name and a status
/// label), then until the Nodes page shows that peer with that label.
pub fn open_vault(
    dir: &Path,
    ns: &str,
    url: &str,
    member: &Identity,
    (title, photos): (&str, usize),
    peer: Option<(&str, &str)>,
) -> Result<Seen, String> {
    let wrapper = dir.join(format!("chromium-in-{ns}"));
    std::fs::write(&wrapper, format!("#!/bin/sh\nexec ip netns exec {ns} {CHROMIUM} \"$@\"\n")).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    // One backup per identity (each pair's family has its own member).
    let backup = dir.join(format!("member-{}.age", member.id().short()));
    if !backup.exists() {
        // A low work factor: the browser runs scrypt to restore it.
        let file = member.to_protected_file(&SecretString::from(PASSPHRASE.to_string()), 12).unwrap();
        std::fs::write(&backup, file).unwrap();
    }
    let output = Command::new("node")
        .current_dir(web_dir())
        .arg("e2e/netlab-browser.mjs")
        .arg(&wrapper)
        .arg(url)
        .arg(&backup)
        .arg(PASSPHRASE)
        .arg(title)
        .arg(photos.to_string())
        .args(peer.map(|(name, label)| [name, label]).into_iter().flatten())
        .output()
        .map_err(|e| format!("running node: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_default();
    let result: Value = serde_json::from_str(line)
        .map_err(|_| format!("the page printed no result: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)))?;
    if result["ok"] != true {
        return Err(format!("{}", result["error"]));
    }
    Ok(Seen {
        path: result["path"].as_str().unwrap_or_default().to_string(),
        seconds: result["seconds"].as_f64().unwrap_or_default(),
        peer: result["peer"].clone(),
    })
}
