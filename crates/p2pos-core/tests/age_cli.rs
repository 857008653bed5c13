//! Files made by our age helpers open with the stock `age` CLI (Debian package `age`), and the
//! other way round. `make test` installs `age`; run `apt-get install age` to run this alone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::Command;

use p2pos_core::Identity;
use p2pos_core::agefile::{self, Armor};

fn age_cli() -> Command {
    let probe = Command::new("age").arg("--version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "the stock `age` CLI is required for this test: apt-get install age (make test does it)"
    );
    Command::new("age")
}

#[test]
fn stock_age_decrypts_what_we_encrypt_with_our_identity_file() {
    let dir = tempfile::tempdir().unwrap();
    let me = Identity::generate().unwrap();
    let key_path = dir.path().join("identity.txt");
    std::fs::write(&key_path, me.to_file_text().as_bytes()).unwrap();
    let photo: Vec<u8> = (0..180_000u32).map(|i| (i * 7 % 256) as u8).collect();
    for armor in [Armor::No, Armor::Yes] {
        let file = agefile::encrypt_to(&[me.recipient()], armor, &photo[..], Vec::new()).unwrap();
        let path = dir.path().join("photo.age");
        std::fs::write(&path, file).unwrap();
        let out = age_cli().arg("-d").arg("-i").arg(&key_path).arg(&path).output().unwrap();
        assert!(out.status.success(), "age -d failed: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, photo);
    }
}

#[test]
fn we_decrypt_what_stock_age_encrypts_to_our_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let me = Identity::generate().unwrap();
    let plain_path = dir.path().join("note.txt");
    std::fs::write(&plain_path, b"from the age CLI").unwrap();
    let out = age_cli().arg("-r").arg(me.recipient().to_string()).arg(&plain_path).output().unwrap();
    assert!(out.status.success(), "age -r failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut plain = Vec::new();
    agefile::decrypt_to(std::slice::from_ref(me.age_identity()), &out.stdout[..], &mut plain).unwrap();
    assert_eq!(plain, b"from the age CLI");
}
