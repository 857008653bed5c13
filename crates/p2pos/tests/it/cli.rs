//! The `p2pos` command line, run as a user would: exit codes and one-line errors, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::process::{Command, Output};

fn p2pos(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p2pos"))
        .args(args)
        .current_dir(dir)
        .env_remove("P2POS_PASSPHRASE")
        .env("P2POS_IDENTITY", dir.join("default-identity.age"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Fails with exit code 1 and exactly one line on stderr that starts with `error:` and says `what`.
fn assert_one_line_error(o: &Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "expected one line, got: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(what), "expected '{what}' in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn new_identity(dir: &Path, pass: &str) -> (String, String) {
    std::fs::write(dir.join("pass"), format!("{pass}\n")).unwrap();
    let out = p2pos(&["id", "new", "--out", "me.age", "--passphrase-file", "pass"], dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let show = p2pos(&["id", "show", "me.age", "--json", "--passphrase-file", "pass"], dir);
    assert!(show.status.success());
    let json: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    (json["id"].as_str().unwrap().to_string(), json["recipient"].as_str().unwrap().to_string())
}

#[test]
fn new_then_show_prints_the_same_id_and_a_qr_code() {
    let dir = tempfile::tempdir().unwrap();
    let (id, recipient) = new_identity(dir.path(), "correct horse battery staple");
    assert!(recipient.starts_with("age1"));
    let text = p2pos(&["id", "show", "me.age", "--passphrase-file", "pass"], dir.path());
    assert!(text.status.success());
    assert!(stdout(&text).contains(&id));
    assert!(stdout(&text).contains('█'), "a QR code is drawn");
    let file = std::fs::read_to_string(dir.path().join("me.age")).unwrap();
    assert!(file.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "the file is passphrase-protected");
    assert!(!file.contains("AGE-SECRET-KEY"));
}

#[test]
fn wrong_passphrase_is_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    new_identity(dir.path(), "correct horse battery staple");
    std::fs::write(dir.path().join("wrong"), "correct horse battery stable\n").unwrap();
    let out = p2pos(&["id", "show", "me.age", "--passphrase-file", "wrong"], dir.path());
    assert_one_line_error(&out, "wrong passphrase");
}

#[test]
fn corrupt_identity_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    new_identity(dir.path(), "correct horse battery staple");
    let mut damaged = std::fs::read_to_string(dir.path().join("me.age")).unwrap();
    damaged.insert_str(200, "Zz");
    std::fs::write(dir.path().join("damaged.age"), damaged).unwrap();
    let out = p2pos(&["id", "show", "damaged.age", "--passphrase-file", "pass"], dir.path());
    assert_one_line_error(&out, "not a usable identity file");

    std::fs::write(dir.path().join("junk"), [0u8, 159, 146, 150]).unwrap();
    assert_one_line_error(&p2pos(&["id", "show", "junk"], dir.path()), "not a usable identity file");
    assert_one_line_error(&p2pos(&["id", "show", "missing"], dir.path()), "reading identity file");
}

#[test]
fn encrypted_identity_without_passphrase_source_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    new_identity(dir.path(), "correct horse battery staple");
    assert_one_line_error(&p2pos(&["id", "show", "me.age"], dir.path()), "--passphrase-file");
}

#[test]
fn typo_in_an_id_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let (id, _) = new_identity(dir.path(), "correct horse battery staple");
    let ok = p2pos(&["id", "check", &id.to_lowercase()], dir.path());
    assert!(ok.status.success());
    assert_eq!(stdout(&ok).trim(), id);

    let mut chars: Vec<char> = id.chars().collect();
    chars[50] = if chars[50] == 'A' { 'B' } else { 'A' }; // inside the 4th quarter
    let typo: String = chars.into_iter().collect();
    assert_one_line_error(&p2pos(&["id", "check", &typo], dir.path()), "4th quarter");
    assert_one_line_error(&p2pos(&["id", "check", "ABCDEF"], dir.path()), "56 letters");
}

#[test]
fn new_refuses_to_overwrite_and_short_passphrases() {
    let dir = tempfile::tempdir().unwrap();
    new_identity(dir.path(), "correct horse battery staple");
    let again = p2pos(&["id", "new", "--out", "me.age", "--insecure-no-passphrase"], dir.path());
    assert_one_line_error(&again, "already exists");
    std::fs::write(dir.path().join("short"), "short\n").unwrap();
    let short = p2pos(&["id", "new", "--out", "x.age", "--passphrase-file", "short"], dir.path());
    assert_one_line_error(&short, "at least 10");
    assert!(!dir.path().join("x.age").exists());
}

#[test]
fn records_signed_by_the_cli_verify_and_tampering_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (id, _) = new_identity(dir.path(), "correct horse battery staple");
    std::fs::write(dir.path().join("body.json"), r#"{"type":"album","id":"a1"}"#).unwrap();
    let signed = p2pos(&["record", "sign", "-i", "me.age", "--passphrase-file", "pass", "body.json"], dir.path());
    assert!(signed.status.success());
    std::fs::write(dir.path().join("rec.json"), &signed.stdout).unwrap();
    let ok = p2pos(&["record", "verify", "rec.json"], dir.path());
    assert!(ok.status.success());
    assert!(stdout(&ok).contains(&id));

    let tampered = stdout(&signed).replace("\"body\":\"ey", "\"body\":\"eZ");
    std::fs::write(dir.path().join("bad.json"), tampered).unwrap();
    assert_one_line_error(&p2pos(&["record", "verify", "bad.json"], dir.path()), "does not verify");
}

#[test]
fn decrypt_with_the_wrong_identity_leaves_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, recipient) = new_identity(dir.path(), "correct horse battery staple");
    std::fs::write(dir.path().join("photo.jpg"), vec![7u8; 100_000]).unwrap();
    let enc = p2pos(&["encrypt", "-r", &recipient, "-o", "photo.age", "photo.jpg"], dir.path());
    assert!(enc.status.success());
    let dec =
        p2pos(&["decrypt", "-i", "me.age", "--passphrase-file", "pass", "-o", "out.jpg", "photo.age"], dir.path());
    assert!(dec.status.success());
    assert_eq!(std::fs::read(dir.path().join("out.jpg")).unwrap(), vec![7u8; 100_000]);

    let other = p2pos(&["id", "new", "--out", "other.txt", "--insecure-no-passphrase"], dir.path());
    assert!(other.status.success());
    let wrong = p2pos(&["decrypt", "-i", "other.txt", "-o", "nope.jpg", "photo.age"], dir.path());
    assert_one_line_error(&wrong, "none of the given identities");
    assert!(!dir.path().join("nope.jpg").exists());
}

#[test]
fn the_hub_refuses_turn_with_a_short_or_missing_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_p2pos"))
        .args(["signal", "--listen", "127.0.0.1:0", "--turn-url", "turn:127.0.0.1:3478"])
        .env("P2POS_TURN_SECRET", "too-short")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(&out, "at least 32");
    assert!(String::from_utf8_lossy(&out.stderr).contains("P2POS_TURN_SECRET"), "names the setting");
    let out = Command::new(env!("CARGO_BIN_EXE_p2pos"))
        .args(["signal", "--listen", "127.0.0.1:0", "--turn-url", "turn:127.0.0.1:3478"])
        .env_remove("P2POS_TURN_SECRET")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(&out, "needs a secret");
}

#[test]
fn the_hub_refuses_a_short_beacon_secret_and_an_alt_origin_without_a_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_p2pos"))
        .args(["signal", "--listen", "127.0.0.1:0"])
        .env("P2POS_BEACON_SECRET", "too-short")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(&out, "at least 32 bytes");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--beacon-secret"), "names the setting");
    let out = Command::new(env!("CARGO_BIN_EXE_p2pos"))
        .args(["signal", "--listen", "127.0.0.1:0", "--alt-origin", "[::1]:7800"])
        .env_remove("P2POS_BEACON_SECRET")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(&out, "alternative origin \"[::1]:7800\"");
}

/// Starts `p2pos node` with `args`, returns the URL it listens on, and stops it.
fn node_url(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_p2pos"))
        .arg("node")
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.map_while(Result::ok).find_map(|l| l.split("listening on ").nth(1).map(str::to_string));
    child.kill().unwrap();
    child.wait().unwrap();
    url.expect("the node did not start")
}

#[test]
fn node_settings_come_from_flags_then_env_then_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    std::fs::write(data.join("p2pos.toml"), format!("listen = \"127.0.0.1:{file_port}\"\nsession_hours = 2\n"))
        .unwrap();
    let data_arg = data.to_str().unwrap();
    assert_eq!(node_url(dir.path(), &["--data-dir", data_arg], &[]), format!("http://127.0.0.1:{file_port}"));
    let env_listen = format!("127.0.0.1:{env_port}");
    assert_eq!(
        node_url(dir.path(), &["--data-dir", data_arg], &[("P2POS_LISTEN", &env_listen)]),
        format!("http://{env_listen}")
    );
    let flag_listen = format!("127.0.0.1:{flag_port}");
    let url =
        node_url(dir.path(), &["--data-dir", data_arg, "--listen", &flag_listen], &[("P2POS_LISTEN", &env_listen)]);
    assert_eq!(url, format!("http://{flag_listen}"));

    std::fs::write(data.join("p2pos.toml"), "listen = \"127.0.0.1:1\"\nmystery = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_p2pos")).args(["node", "--data-dir", data_arg]).output().unwrap();
    assert_one_line_error(&out, "unknown field `mystery`");
}
