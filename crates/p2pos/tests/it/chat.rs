//! `p2pos chat` against a real hub on loopback, driven through stdin and its `--json` events:
//! three people on one network see each other; a declined stranger learns no identity; an
//! accepted one proves identities, chats both ways with receipts and an image, and both save the
//! other as a contact; on a second run they ring each other by identity, and someone who is not a
//! contact cannot ring through the hub (contacts-only mode); two contacts ringing each other at
//! once open one session (glare); a stranger who claims a contact's
//! identity is refused as a squatter; a hidden watcher is not listed; a neighbour replaying a
//! contact's nearby tags is listed as the contact but cannot ring. No fixed sleeps: every step
//! waits for an event, with a timeout. (Browser ↔ CLI chats: apps/web/e2e/chat-cli.test.mjs.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::chatter::{Chatter, contacts, message, person};
use common::*;
use serde_json::Value;

#[test]
fn strangers_nearby_ask_decline_accept_prove_chat_and_meet_again_as_contacts() {
    let hub = start_hub();
    let root = tempfile::tempdir().unwrap();
    let (ann_p, ben_p, cid_p) = (person(root.path(), "ann"), person(root.path(), "ben"), person(root.path(), "cid"));
    let mut ann = Chatter::start(&hub, "Ann", &ann_p.identity, &ann_p.dir);
    let mut ben = Chatter::start(&hub, "Ben", &ben_p.identity, &ben_p.dir);
    let mut cid = Chatter::start(&hub, "Cid", &cid_p.identity, &cid_p.dir);

    // Nearby: one public address (loopback), so everyone sees everyone, by name only.
    let ben_for_cid = cid.nearby("Ben");
    let ben_for_ann = ann.nearby("Ben");
    assert!(ann.nearby("Cid") > 0);

    // Cid asks, Ben declines: Cid learns nothing about who Ben is, and nobody saves anyone.
    cid.say(&format!("/connect {ben_for_cid}"));
    cid.expect("requesting", |_| true);
    let asked = ben.expect("asked", |_| true);
    assert_eq!(asked["name"], "Cid");
    ben.say("/decline");
    cid.expect("declined", |_| true);
    let cid_saw = serde_json::to_string(&cid.seen).unwrap();
    assert!(!cid_saw.contains(&ben.id), "the declined stranger learned Ben's identity: {cid_saw}");
    assert!(!serde_json::to_string(&ben.seen).unwrap().contains(&cid.id), "Ben learned Cid's identity");
    assert!(contacts(&cid_p.dir).is_empty() && contacts(&ben_p.dir).is_empty());

    // Ann asks, Ben accepts: both prove their identities and save each other.
    ann.say(&format!("/connect {ben_for_ann}"));
    assert_eq!(ben.expect("asked", |_| true)["name"], "Ann");
    ben.say("/accept");
    ann.expect("accepted", |_| true);
    let ann_open = ann.expect("open", |_| true);
    let ben_open = ben.expect("open", |_| true);
    assert_eq!((ann_open["id"].as_str(), ann_open["name"].as_str()), (Some(ben.id.as_str()), Some("Ben")));
    assert_eq!((ben_open["id"].as_str(), ben_open["name"].as_str()), (Some(ann.id.as_str()), Some("Ann")));
    assert_eq!((ann_open["new_contact"].as_bool(), ben_open["new_contact"].as_bool()), (Some(true), Some(true)));
    assert_eq!(ann_open["path"], "direct", "loopback needs no relay");

    // Messages both ways, each delivered and read.
    message(&mut ann, &mut ben, "hello Ben");
    message(&mut ben, &mut ann, "/send hi Ann, ünïcödé 🌅");

    // An image, in chunks, saved on the other side.
    let picture = root.path().join("sunset.jpg");
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..200_000u32).map(|i| (i * 7 % 251) as u8));
    std::fs::write(&picture, &bytes).unwrap();
    ann.say(&format!("/image {}", picture.display()));
    let image_id = ann.expect("sent", |_| true)["id"].as_str().unwrap().to_string();
    let got = ben.expect("image", |e| e["id"] == image_id.as_str());
    assert_eq!((got["type"].as_str(), got["size"].as_u64()), (Some("image/jpeg"), Some(bytes.len() as u64)));
    assert_eq!(std::fs::read(got["path"].as_str().unwrap()).unwrap(), bytes);
    ann.expect("receipt", |e| e["id"] == image_id.as_str() && e["kind"] == "delivered");

    // Both saved the other, with the same shared secret.
    let (ann_list, ben_list) = (contacts(&ann_p.dir), contacts(&ben_p.dir));
    assert_eq!((ann_list.len(), ben_list.len()), (1, 1));
    assert_eq!(
        (ann_list[0]["id"].as_str(), ben_list[0]["id"].as_str()),
        (Some(ben.id.as_str()), Some(ann.id.as_str()))
    );
    assert_eq!(ann_list[0]["secret"], ben_list[0]["secret"]);
    assert_eq!(std::fs::read_to_string(ben_p.dir.join("history.jsonl")).unwrap().lines().count(), 3);

    // A reply names the message it answers.
    ben.say(&format!("/reply {image_id} what a sunset"));
    let reply = ben.expect("sent", |_| true)["id"].clone();
    let got = ann.expect("message", |e| e["id"] == reply);
    assert_eq!((got["text"].as_str(), got["re"].as_str()), (Some("what a sunset"), Some(image_id.as_str())));

    // Leaving closes both sides.
    ann.say("/leave");
    ann.expect("closed", |e| e["reason"] == "left");
    ben.expect("closed", |_| true);
    ann.quit();
    ben.quit();
    cid.quit();

    // A second run: they ring each other by identity as contacts, and prove the shared secret.
    let mut ann = Chatter::start(&hub, "Ann", &ann_p.identity, &ann_p.dir);
    let mut ben = Chatter::start(&hub, "Ben", &ben_p.identity, &ben_p.dir);
    ann.say("/contacts");
    assert_eq!(ann.expect("contacts", |_| true)["contacts"][0]["name"], "Ben");
    ann.say("/call ben");
    ann.expect("calling", |_| true);
    assert_eq!(ben.expect("called", |_| true)["id"], ann.id.as_str());
    let open = ann.expect("open", |_| true);
    assert_eq!((open["id"].as_str(), open["new_contact"].as_bool()), (Some(ben.id.as_str()), Some(false)));
    assert_eq!(ben.expect("open", |_| true)["new_contact"], false);
    message(&mut ben, &mut ann, "found you again");
    message(&mut ann, &mut ben, "by identity");
    ben.say("/typing");
    ann.expect("typing", |_| true);
    ben.say("/leave");
    ann.expect("closed", |_| true);

    // On this network Ben shows Ann the tag only she can compute: he is listed as her contact,
    // and connecting rings him by identity (no request to accept).
    let n = ann.nearby("Ben");
    let listed = ann.seen.iter().rev().find(|e| e["event"] == "nearby").unwrap()["peers"].clone();
    let entry = listed.as_array().unwrap().iter().find(|p| p["n"] == n).unwrap().clone();
    assert_eq!(entry["contact"], "Ben", "{listed}");
    ann.say(&format!("/connect {n}"));
    assert_eq!(ann.expect("calling", |_| true)["id"], ben.id.as_str());
    ben.expect("called", |_| true);
    ann.expect("open", |_| true);
    ben.expect("open", |_| true);
    assert!(!ben.seen.iter().any(|e| e["event"] == "asked"), "a contact is not asked again");

    // Someone who is not Ben's contact cannot ring him through the hub, even knowing his id, nor
    // learn that he is online: the refusal reads like absence.
    let mallory_p = person(root.path(), "mallory");
    std::fs::create_dir_all(&mallory_p.dir).unwrap();
    let forged = serde_json::json!({"v": 1, "contacts": [
        {"id": ben.id, "name": "Ben", "secret": "A".repeat(43), "last_seen": 0}]});
    std::fs::write(mallory_p.dir.join("contacts.json"), forged.to_string()).unwrap();
    let mut mallory = Chatter::start(&hub, "Mallory", &mallory_p.identity, &mallory_p.dir);
    mallory.say("/call Ben");
    let refused = mallory.expect("error", |_| true);
    assert!(refused["message"].as_str().unwrap().contains("is not online"), "{refused}");
    mallory.expect("closed", |_| true);
    assert!(!ben.seen.iter().any(|e| e["event"] == "called" && e["id"] == mallory.id.as_str()));

    ann.quit();
    ben.quit();
    mallory.quit();
}

/// `asker` asks `asked` (by its nearby number) and `asked` accepts: both open the chat.
fn connect(asker: &mut Chatter, asked: &mut Chatter, name: &str) -> (Value, Value) {
    let n = asker.nearby(name);
    asker.say(&format!("/connect {n}"));
    asked.expect("asked", |_| true);
    asked.say("/accept");
    (asker.expect("open", |_| true), asked.expect("open", |_| true))
}

#[test]
fn a_stranger_who_claims_a_contact_s_identity_without_its_key_is_refused_as_a_squatter() {
    let hub = start_hub();
    let root = tempfile::tempdir().unwrap();
    let (ann_p, ben_p, mallory_p) =
        (person(root.path(), "ann"), person(root.path(), "ben"), person(root.path(), "mallory"));
    let mut ann = Chatter::start(&hub, "Ann", &ann_p.identity, &ann_p.dir);
    let mut ben = Chatter::start(&hub, "Ben", &ben_p.identity, &ben_p.dir);
    connect(&mut ann, &mut ben, "Ben");
    let secret = contacts(&ann_p.dir)[0]["secret"].clone();
    let ben_id = ben.id.clone();
    ben.quit();

    // Mallory, nearby, calls herself Ben and claims Ben's identity in her proof.
    let claim = ["--test-claim-identity", ben_id.as_str()];
    let mut mallory = Chatter::start_with(&hub, "Ben", &mallory_p.identity, &mallory_p.dir, &claim);
    let n = mallory.nearby("Ann");
    mallory.say(&format!("/connect {n}"));
    let asked = ann.expect("asked", |_| true);
    assert_eq!(asked["name"], "Ben");
    ann.say("/accept");
    let squatter = ann.expect("squatter", |e| e["rq"] == asked["rq"]);
    assert_eq!(
        (squatter["claimed"].as_str(), squatter["reason"].as_str()),
        (Some(ben_id.as_str()), Some("bad_signature"))
    );
    mallory.expect("closed", |_| true);
    let opened = ann.seen.iter().any(|e| e["event"] == "open" && e["rq"] == asked["rq"]);
    assert!(!opened, "the squatter's chat opened: {:?}", ann.seen);
    let saved = contacts(&ann_p.dir);
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(
        (saved[0]["id"].as_str(), &saved[0]["secret"]),
        (Some(ben_id.as_str()), &secret),
        "Ben's entry is untouched"
    );
    ann.quit();
    mallory.quit();
}

#[test]
fn contacts_who_ring_each_other_at_once_open_one_session() {
    let hub = start_hub();
    let root = tempfile::tempdir().unwrap();
    let (ann_p, ben_p) = (person(root.path(), "ann"), person(root.path(), "ben"));
    let mut ann = Chatter::start(&hub, "Ann", &ann_p.identity, &ann_p.dir);
    let mut ben = Chatter::start(&hub, "Ben", &ben_p.identity, &ben_p.dir);
    connect(&mut ann, &mut ben, "Ben");
    ann.say("/leave");
    ann.expect("closed", |_| true);
    ben.expect("closed", |_| true);

    // Glare (PROTOCOL.md, "Driving sessions"): the smaller id keeps its call, the other cancels
    // its own and answers, so both sides open the same session (not one each).
    ann.say("/call Ben");
    ben.say("/call Ann");
    let (ann_open, ben_open) = (ann.expect("open", |_| true), ben.expect("open", |_| true));
    assert_eq!(ann_open["rq"], ben_open["rq"], "ann saw {:?}\nben saw {:?}", ann.seen, ben.seen);
    message(&mut ann, &mut ben, "only one of us got through");
    message(&mut ben, &mut ann, "as it should");
    // The calls left within a moment of each other, so by now each reached the other side.
    let smaller = if ann.id < ben.id { &ann } else { &ben };
    assert!(
        !smaller.seen.iter().any(|e| e["event"] == "called"),
        "{} has the smaller id and answered a call instead of keeping its own: {:?}",
        smaller.name,
        smaller.seen
    );
    ann.quit();
    ben.quit();
}

#[test]
fn a_hidden_watcher_sees_people_is_not_listed_and_can_still_ask() {
    let hub = start_hub();
    let root = tempfile::tempdir().unwrap();
    let (ann_p, eve_p) = (person(root.path(), "ann"), person(root.path(), "eve"));
    let mut ann = Chatter::start(&hub, "Ann", &ann_p.identity, &ann_p.dir);
    let mut eve = Chatter::start_with(&hub, "Eve", &eve_p.identity, &eve_p.dir, &["--hidden"]);
    let n = eve.nearby("Ann");
    eve.say(&format!("/connect {n}"));
    assert_eq!(ann.expect("asked", |_| true)["name"], "Eve");
    // The hub would have told Ann of Eve's arrival before relaying Eve's request.
    ann.say("/nearby");
    assert_eq!(ann.expect("nearby", |_| true)["peers"], serde_json::json!([]));
    assert!(!ann.seen.iter().any(|e| e["event"] == "arrived"), "{:?}", ann.seen);
    ann.say("/decline");
    eve.expect("declined", |_| true);
    ann.quit();
    eve.quit();
}

#[test]
fn a_neighbour_replaying_a_contact_s_nearby_tags_is_listed_as_the_contact_but_cannot_ring() {
    use p2pos_core::chat::{Signal, SignalKind, random_b64u16};
    use p2pos_net::hub::{HubClient, HubClientConfig, HubEvent, fetch_beacon, hub_origin};

    let hub = start_hub();
    let root = tempfile::tempdir().unwrap();
    let (ann_p, ben_p) = (person(root.path(), "ann"), person(root.path(), "ben"));
    let mut ann = Chatter::start(&hub, "Ann", &ann_p.identity, &ann_p.dir);
    let mut ben = Chatter::start(&hub, "Ben", &ben_p.identity, &ben_p.dir);
    connect(&mut ann, &mut ben, "Ben");
    ann.quit();
    // Ann again: her nearby profile now carries the tag of the secret she shares with Ben.
    let ann = Chatter::start(&hub, "Ann", &ann_p.identity, &ann_p.dir);
    ben.expect("arrived", |e| e["contact"] == "Ann");

    // A neighbour copies Ann's profile from presence, then rings Ben by his hub peer id.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = hub.url.as_str();
        let connect = |profile: Value, hidden: bool| async move {
            let config = HubClientConfig { origin: hub_origin(url), ..HubClientConfig::default() };
            let (client, mut events) = HubClient::spawn_with(config, url.to_string(), None, profile);
            while !matches!(events.recv().await, Some(HubEvent::Connected)) {}
            let beacon = fetch_beacon(url).await.unwrap();
            let joined = client.join("network", Some(&beacon.token), &[], hidden).await.unwrap();
            (client, events, joined["peers"].as_array().unwrap().clone())
        };
        let (_watcher, _, peers) = connect(Value::Null, true).await;
        let profile_of = |name: &str| peers.iter().find(|p| p["profile"]["name"] == name).unwrap().clone();
        let (ann_seen, ben_seen) = (profile_of("Ann"), profile_of("Ben"));
        let (mallory, _events, _) = connect(ann_seen["profile"].clone(), false).await;
        let to = ben_seen["peer"].as_str().unwrap();
        let call = Signal { rq: random_b64u16().unwrap(), kind: SignalKind::Call {} };
        mallory.signal(to, call.payload()).await.unwrap();
        // Signals reach Ben in order: once this request shows, the call was handled.
        let request = Signal { rq: random_b64u16().unwrap(), kind: SignalKind::Request { name: "Zed".into() } };
        mallory.signal(to, request.payload()).await.unwrap();
    });
    assert_eq!(ben.expect("asked", |_| true)["name"], "Zed");
    // Listed as Ann (a tag is a hint, only the proof decides), but its call was not answered.
    let as_ann = ben.seen.iter().filter(|e| e["event"] == "arrived" && e["contact"] == "Ann").count();
    assert_eq!(as_ann, 2, "{:?}", ben.seen);
    assert!(!ben.seen.iter().any(|e| e["event"] == "called"), "a replayed tag rang Ben: {:?}", ben.seen);
    assert_eq!(ben.seen.iter().filter(|e| e["event"] == "open").count(), 1, "{:?}", ben.seen);
    ann.quit();
    ben.quit();
}
