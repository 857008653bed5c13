//! `p2pos chat --json` driven as a person would: lines on its input, its events read back.
//! Used by the chat tests (a hub on loopback) and the network lab (`ip netns exec`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use p2pos_core::Identity;
use serde_json::Value;

use super::Hub;

pub const WAIT: Duration = Duration::from_secs(30);

/// One `p2pos chat --json` process.
pub struct Chatter {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::Receiver<Value>,
    /// Every event seen so far, for checks on what this side learned and for failure messages.
    pub seen: Vec<Value>,
    pub id: String,
}

impl Chatter {
    /// `p2pos chat --json` against `hub` on loopback, as `name`.
    pub fn start(hub: &Hub, name: &str, identity: &Path, dir: &Path) -> Self {
        Self::start_with(hub, name, identity, dir, &[])
    }

    pub fn start_with(hub: &Hub, name: &str, identity: &Path, dir: &Path, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_p2pos"));
        command
            .args(["chat", "--json", "--rtc-bind", "127.0.0.1:0", "--hub", &hub.url, "--name", name])
            .args(extra)
            .arg("--identity")
            .arg(identity)
            .arg("--dir")
            .arg(dir)
            .env("RUST_LOG", "error");
        Self::spawn(name, command)
    }

    /// Runs `command` (a `p2pos chat --json …`, wherever it runs; its stderr as the caller set it)
    /// and waits for its `ready`.
    pub fn spawn(name: &str, mut command: Command) -> Self {
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        let who = name.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{who}: not JSON ({e}): {line}"));
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut chatter = Self { name: name.into(), child, stdin, events, seen: Vec::new(), id: String::new() };
        let ready = chatter.expect("ready", |_| true);
        chatter.id = ready["id"].as_str().unwrap().to_string();
        chatter
    }

    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next event of kind `event` that satisfies `pred` (others are kept in `seen`).
    pub fn expect(&mut self, event: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(got) => {
                    self.seen.push(got.clone());
                    if got["event"] == event && pred(&got) {
                        return got;
                    }
                }
                Err(_) => panic!("{}: no {event} event within {WAIT:?}; saw {:#?}", self.name, self.seen),
            }
        }
    }

    /// The number under which `/nearby` lists `name`, waiting for it to arrive.
    pub fn nearby(&mut self, name: &str) -> u64 {
        loop {
            self.say("/nearby");
            let list = self.expect("nearby", |_| true);
            if let Some(peer) = list["peers"].as_array().unwrap().iter().find(|p| p["name"] == name) {
                return peer["n"].as_u64().unwrap();
            }
            self.expect("arrived", |_| true);
        }
    }

    /// Ends the process by closing its input, as a person's Ctrl-D does.
    pub fn quit(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "{} did not exit after its input closed", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(self.child.wait().unwrap().success(), "{} failed", self.name);
    }
}

impl Drop for Chatter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A person: an identity file (the format the web app downloads) and a chat directory.
pub struct Person {
    pub identity: PathBuf,
    pub dir: PathBuf,
}

pub fn person(root: &Path, name: &str) -> Person {
    let identity = root.join(format!("{name}.identity"));
    std::fs::write(&identity, Identity::generate().unwrap().to_file_text().as_bytes()).unwrap();
    let dir = root.join(name);
    Person { identity, dir }
}

pub fn contacts(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("contacts.json")).unwrap_or_else(|_| r#"{"contacts": []}"#.into());
    serde_json::from_str::<Value>(&text).unwrap()["contacts"].as_array().unwrap().clone()
}

/// `from` types `line` in its open chat (a plain line or `/send …`); `to` shows the text; `from`
/// hears it was delivered and read.
pub fn message(from: &mut Chatter, to: &mut Chatter, line: &str) {
    from.say(line);
    let text = line.strip_prefix("/send ").unwrap_or(line);
    let id = from.expect("sent", |_| true)["id"].as_str().unwrap().to_string();
    let got = to.expect("message", |e| e["id"] == id.as_str());
    assert_eq!(got["text"], text);
    from.expect("receipt", |e| e["id"] == id.as_str() && e["kind"] == "delivered");
    from.expect("receipt", |e| e["id"] == id.as_str() && e["kind"] == "read");
}
