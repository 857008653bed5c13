//! `p2pos send` → `p2pos receive` through a real hub on loopback: the image arrives intact and
//! the sender hears it was viewed; the link then finds nothing; damaged links and a second
//! receiver are refused with clear messages; a hub that swaps the keys is caught by both sides. (Browser ↔ CLI drops: apps/web/e2e/drop.test.mjs.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;

fn p2pos() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_p2pos"));
    command.env("RUST_LOG", "error");
    command
}

/// A JPEG-looking file of `len` bytes (the CLI checks the magic bytes only).
fn image(dir: &std::path::Path, len: usize) -> std::path::PathBuf {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..len - 4).map(|i| (i * 7 % 251) as u8));
    let path = dir.join("sunset.jpg");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Starts `p2pos send` and returns it with the link it printed.
fn send(hub: &Hub, file: &std::path::Path) -> (Child, String) {
    let mut child = p2pos()
        .args(["send", "--no-qr", "--seconds", "5", "--rtc-bind", "127.0.0.1:0", "--hub", &hub.url])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let link = lines.next().expect("send printed a link").unwrap();
    std::thread::spawn(move || {
        for line in lines {
            println!("send: {}", line.unwrap_or_default());
        }
    });
    (child, link)
}

fn receive(link: &str, out: &std::path::Path) -> Output {
    p2pos().args(["receive", link, "--name", "Ben", "--rtc-bind", "127.0.0.1:0", "--out"]).arg(out).output().unwrap()
}

fn wait(mut child: Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "send did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_drop_goes_from_send_to_receive_once() {
    let hub = start_hub();
    let dir = tempfile::tempdir().unwrap();
    let file = image(dir.path(), 1_000_000);
    let (sender, link) = send(&hub, &file);
    assert!(link.starts_with("http://127.0.0.1:"), "{link}");
    assert!(link.contains("/drop/") && link.contains('#'), "{link}");

    let out = dir.path().join("got.jpg");
    let received = receive(&link, &out);
    assert!(received.status.success(), "{}", String::from_utf8_lossy(&received.stderr));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&file).unwrap());
    assert!(wait(sender).success(), "the sender heard it was viewed");

    // Opened again: the room is gone.
    let again = receive(&link, &dir.path().join("again.jpg"));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already viewed"), "{again:?}");
}

#[test]
fn damaged_links_say_why_and_a_wrong_secret_is_refused() {
    let hub = start_hub();
    let dir = tempfile::tempdir().unwrap();
    let (mut sender, link) = send(&hub, &image(dir.path(), 10_000));
    let (base, secret) = link.split_once('#').unwrap();

    let cut = receive(&format!("{base}#{}", &secret[..10]), &dir.path().join("a"));
    assert!(String::from_utf8_lossy(&cut.stderr).contains("cut short"), "{cut:?}");
    let none = receive(base, &dir.path().join("b"));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no secret"), "{none:?}");

    // A well-formed but wrong secret: the MACs fail, and nothing is sent.
    let wrong = format!("{base}#{}", "A".repeat(21) + "w");
    let refused = receive(&wrong, &dir.path().join("c"));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("did not verify"), "{refused:?}");
    assert!(!dir.path().join("c").exists());
    let _ = sender.kill();
    let _ = sender.wait();
}

#[test]
fn a_hub_that_swaps_the_keys_is_caught_by_both_sides() {
    let hub = start_hub_with(&["--test-swap-drop-keys"]);
    let dir = tempfile::tempdir().unwrap();
    let mut sender = p2pos()
        .args(["send", "--no-qr", "--seconds", "5", "--rtc-bind", "127.0.0.1:0", "--hub", &hub.url])
        .arg(image(dir.path(), 10_000))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let link = BufReader::new(sender.stdout.take().unwrap()).lines().next().unwrap().unwrap();

    let out = dir.path().join("got.jpg");
    let received = receive(&link, &out);
    let receiver_said = String::from_utf8_lossy(&received.stderr);
    assert!(!received.status.success(), "{receiver_said}");
    assert!(receiver_said.contains("WARNING"), "{receiver_said}");
    assert!(!out.exists(), "nothing was saved");
    let sent = wait_with_output(sender);
    let sender_said = String::from_utf8_lossy(&sent.stderr);
    assert!(!sent.status.success(), "{sender_said}");
    assert!(sender_said.contains("WARNING") && sender_said.contains("did not verify"), "{sender_said}");
}

#[test]
fn a_file_name_with_terminal_escapes_is_shown_escaped_and_saved_under_a_safe_name() {
    let hub = start_hub();
    let dir = tempfile::tempdir().unwrap();
    // The sender names the file; the receiver's terminal must not obey it: this name clears the
    // screen, sets the window title, rings the bell, starts a new line and reverses the text.
    let hostile = "\u{1b}[2J\u{1b}]0;owned\u{7}sunset\nDone.\u{202e}gpj.exe";
    let file = dir.path().join(hostile);
    std::fs::rename(image(dir.path(), 10_000), &file).unwrap();
    let (sender, link) = send(&hub, &file);

    // No --out: the receiver saves under the sender's name, in its current directory.
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let received = p2pos()
        .args(["receive", &link, "--name", "Ben", "--rtc-bind", "127.0.0.1:0"])
        .current_dir(&inbox)
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&received.stdout), String::from_utf8_lossy(&received.stderr));
    assert!(received.status.success(), "{said}");
    assert!(wait(sender).success());
    for raw in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!said.contains(raw), "the receiver printed {raw:?} as it came: {said:?}");
    }
    assert!(said.lines().all(|line| !line.starts_with("Done.")), "the name started a line of its own: {said:?}");
    assert!(said.contains(r"\u{1b}[2J"), "the name is shown, escaped: {said:?}");

    let saved: Vec<String> =
        std::fs::read_dir(&inbox).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(!saved[0].chars().any(|c| c.is_control() || c == '\u{202e}'), "saved as {:?}", saved[0]);
    assert_eq!(std::fs::read(inbox.join(&saved[0])).unwrap(), std::fs::read(&file).unwrap());
}

/// Waits (at most 30 s) for a child whose stdout was taken, then reads its stderr.
fn wait_with_output(child: Child) -> Output {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    rx.recv_timeout(Duration::from_secs(30)).expect("send did not finish").unwrap()
}
