//! Every parser of untrusted input in p2pos-core: ids, signed records, identity files, age files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pos_core::{Identity, IdentityId, SignedRecord, agefile};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(id) = text.parse::<IdentityId>() {
        // Whatever parses must print and parse back to itself.
        assert_eq!(id.to_string().parse::<IdentityId>().ok(), Some(id));
    }
    if let Ok(record) = serde_json::from_slice::<SignedRecord>(data) {
        let _ = record.verify();
    }
    let _ = Identity::from_file_text(&text);
    let stranger = p2pos_core::age::x25519::Identity::generate();
    let _ = agefile::decrypt_to(&[stranger], data, std::io::sink());
});
