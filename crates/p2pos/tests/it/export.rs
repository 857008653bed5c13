//! A photo exported by `p2pos export` decrypts with Debian's `age` to the original bytes: album key
//! first (with the member's identity file), then the photo (with the album key).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::process::Command;

use common::{claim_and_login, http, json_post, start};
use p2pos_core::age::secrecy::ExposeSecret;
use p2pos_core::agefile::{self, Armor};
use p2pos_core::{BlobId, Identity, SignedRecord};
use serde_json::{Value, json};

const FAMILY: &str = "crashfamilyaaaaaaaaaaaaaaa";
const ALBUM: &str = "summeraaaaaaaaaaaaaaaaaaaa";
const PHOTO: &str = "photoaaaaaaaaaaaaaaaaaaaaa";

fn armored_to(recipient: &p2pos_core::age::x25519::Recipient, plain: &[u8]) -> String {
    String::from_utf8(agefile::encrypt_to(std::slice::from_ref(recipient), Armor::Yes, plain, Vec::new()).unwrap())
        .unwrap()
}

#[test]
fn an_exported_photo_decrypts_with_the_stock_age_cli() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let me = Identity::generate().unwrap();
    let mut node = start(data.path());
    let cookie = claim_and_login(&node, &me);

    let album_key = p2pos_core::age::x25519::Identity::generate();
    let album_recipient = album_key.to_public();
    let original: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let ciphertext =
        agefile::encrypt_to(std::slice::from_ref(&album_recipient), Armor::No, &original[..], Vec::new()).unwrap();
    let blob = BlobId::of(&ciphertext);
    let (status, _, _) =
        http(&node.addr, "PUT", &format!("/v1/blobs/{blob}"), Some(&cookie), "application/octet-stream", &ciphertext)
            .unwrap();
    assert_eq!(status, 201);

    let meta = armored_to(&album_recipient, br#"{"name":"beach.jpg","type":"image/jpeg"}"#);
    let grant_key = armored_to(&me.recipient(), album_key.to_string().expose_secret().as_bytes());
    let bodies = [
        json!({"type": "album", "album": ALBUM, "epoch": 1, "recipient": album_recipient.to_string(), "meta": meta, "deleted": false}),
        json!({"type": "grant", "album": ALBUM, "member": me.id(), "epoch": 1, "key": grant_key, "revoked": false}),
        json!({"type": "photo", "photo": PHOTO, "album": ALBUM, "epoch": 1, "blob": blob, "size": ciphertext.len(),
               "thumb": null, "thumb_size": null, "meta": meta, "deleted": false}),
    ];
    for (n, mut body) in bodies.into_iter().enumerate() {
        body["v"] = json!(1);
        body["family"] = json!(FAMILY);
        body["hlc"] = json!({"wall_ms": common::now_ms() + n as u64, "counter": 0});
        let record: Value = serde_json::to_value(SignedRecord::sign(&me, &body).unwrap()).unwrap();
        assert_eq!(json_post(&node.addr, "/v1/records", Some(&cookie), record).0, 200);
    }

    // Exported while the node runs.
    let out = work.path().join("export");
    let run = Command::new(env!("CARGO_BIN_EXE_p2pos"))
        .args(["export", "--data-dir"])
        .arg(data.path())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains("1 album(s), 1 photo(s)"));
    node.child.kill().unwrap();
    let _ = node.child.wait();

    let manifest: Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["albums"][0]["photos"][0]["present"], true);
    assert!(
        !String::from_utf8_lossy(&std::fs::read(out.join("manifest.json")).unwrap()).contains("beach"),
        "no plaintext in the manifest"
    );

    let identity_file = work.path().join("me.txt");
    std::fs::write(&identity_file, me.to_file_text().as_bytes()).unwrap();
    let age = |args: &[&std::path::Path]| {
        let out = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(args[0])
            .arg(args[1])
            .output()
            .expect("the stock `age` CLI (apt-get install age; make test does it)");
        assert!(out.status.success(), "age -d failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let key_file = out.join(ALBUM).join("keys").join(format!("{}-epoch1.age", me.id()));
    let album_key_text = age(&[&identity_file, &key_file]);
    let album_key_path = work.path().join("album-key.txt");
    std::fs::write(&album_key_path, &album_key_text).unwrap();
    assert_eq!(age(&[&album_key_path, &out.join(ALBUM).join(format!("{PHOTO}.age"))]), original);
    let meta_plain = age(&[&album_key_path, &out.join(ALBUM).join(format!("{PHOTO}.meta.age"))]);
    assert!(String::from_utf8_lossy(&meta_plain).contains("beach.jpg"));

    let again = Command::new(env!("CARGO_BIN_EXE_p2pos"))
        .args(["export", "--data-dir"])
        .arg(data.path())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "exporting into a non-empty folder is refused");
}
