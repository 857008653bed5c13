//! Fills a fresh data dir with one album of many photos, for the large-vault benchmark
//! (`bench/large-vault.mjs`, docs/BENCHMARKS.md).
//!
//! `seed_vault <data dir> <member id> <member age recipient> <photos>`
//!
//! A "Seeder" identity founds the family, adds the given identity (a browser's) as an admin, creates
//! the album "Large" with a real album key granted to both (age-encrypted to each recipient), and
//! signs one photo record per photo with its own encrypted meta (file name, type, size, date, pixel
//! size, and for most a date taken and camera, varied), as the web app writes them. Originals and
//! thumbnails are 200 encrypted 1×1 PNGs of 100 colours shared by the photos. Every record is
//! signed, verified and admitted by the vault's rules through `p2pos_node::bulk::import` (one
//! transaction, no fsync per record), so the node reads the result like any data dir.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use p2pos_core::age::secrecy::ExposeSecret;
use p2pos_core::agefile::{self, Armor};
use p2pos_core::{BlobId, Identity, SignedRecord};
use serde_json::{Value, json};

const FAMILY: &str = "largefamilyaaaaaaaaaaaaaaa";
const ALBUM: &str = "largealbumaaaaaaaaaaaaaaaa";
/// Bytes of each seeded picture: a 1×1 PNG (the smallest image a browser shows).
const PIXEL_LEN: usize = 72;

/// A 1×1 PNG of one colour (RGB): IHDR, one stored (uncompressed) zlib block, IEND.
fn pixel(rgb: [u8; 3]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let raw = [0, rgb[0], rgb[1], rgb[2]];
    let (mut a, mut b) = (1u32, 0u32);
    for byte in raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    let mut zlib = vec![0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff];
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Colour `i` of 100: hues around the wheel, in soft tones.
fn colour(i: usize) -> [u8; 3] {
    let hue = (i * 37 % 100) as f64 / 100.0 * 6.0;
    let x = 1.0 - ((hue % 2.0) - 1.0).abs();
    let (r, g, b) = match hue as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    let tone = |v: f64| (70.0 + v * 130.0) as u8;
    [tone(r), tone(g), tone(b)]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, member, recipient, photos] = args.as_slice() else {
        bail!("usage: seed_vault <data dir> <member id> <member age recipient> <photos>");
    };
    let photos: usize = photos.parse().context("photos: a number")?;
    let member_recipient: p2pos_core::age::x25519::Recipient =
        recipient.parse().map_err(|e| anyhow::anyhow!("member recipient: {e}"))?;
    let seeder = Identity::generate()?;
    let album_key = p2pos_core::age::x25519::Identity::generate();
    let album_recipient = album_key.to_public();
    let seal = |to: &p2pos_core::age::x25519::Recipient, plain: &[u8]| -> anyhow::Result<String> {
        Ok(String::from_utf8(agefile::encrypt_to(std::slice::from_ref(to), Armor::Yes, plain, Vec::new())?)?)
    };
    let secret = album_key.to_string();
    let key_for = |to: &p2pos_core::age::x25519::Recipient| seal(to, secret.expose_secret().as_bytes());

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    // Stamped in the past, one ms apart, the newest a little before now.
    let mut wall = now - photos as u64 - 10_000;
    let mut sign = |mut body: Value| -> anyhow::Result<SignedRecord> {
        wall += 1;
        body["v"] = json!(1);
        body["family"] = json!(FAMILY);
        body["hlc"] = json!({"wall_ms": wall, "counter": 0});
        Ok(SignedRecord::sign(&seeder, &body)?)
    };
    let seeder_recipient: p2pos_core::age::x25519::Recipient =
        seeder.recipient().to_string().parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut records = vec![
        sign(json!({"type": "family"}))?,
        sign(json!({"type": "member", "member": seeder.id(), "role": "admin",
            "recipient": seeder.recipient().to_string(), "removed": false}))?,
        sign(json!({"type": "member", "member": member, "role": "admin", "recipient": recipient, "removed": false}))?,
        sign(json!({"type": "album", "album": ALBUM, "epoch": 0, "recipient": album_recipient.to_string(),
            "meta": seal(&album_recipient, br#"{"title":"Large"}"#)?, "deleted": false}))?,
        sign(json!({"type": "grant", "album": ALBUM, "member": seeder.id(), "epoch": 0,
            "key": key_for(&seeder_recipient)?, "revoked": false}))?,
        sign(json!({"type": "grant", "album": ALBUM, "member": member, "epoch": 0,
            "key": key_for(&member_recipient)?, "revoked": false}))?,
    ];
    // 100 originals and 100 thumbnails, each an encrypted 1×1 PNG of one of 100 colours (the
    // original and the thumbnail of a photo alike), shared by the photos (a blob may back several
    // photos of one album), so the data dir stays small and every photo is "here".
    let mut blobs = Vec::new();
    for i in 0..200 {
        let png = pixel(colour(i % 100));
        let bytes = agefile::encrypt_to(std::slice::from_ref(&album_recipient), Armor::No, png.as_slice(), Vec::new())?;
        blobs.push((BlobId::of(&bytes), bytes));
    }
    for n in 0..photos {
        // The colour changes along a day's photos (n, n + span…) as well as from day to day.
        let c = (n + n / 7) % 100;
        let (original, original_bytes) = &blobs[c];
        let (thumb, thumb_bytes) = &blobs[100 + c];
        let meta = photo_meta(n, photos, now);
        records.push(sign(json!({"type": "photo", "photo": photo_id(n), "album": ALBUM, "epoch": 0,
            "blob": original, "size": original_bytes.len(), "thumb": thumb, "thumb_size": thumb_bytes.len(),
            "meta": seal(&album_recipient, meta.to_string().as_bytes())?, "deleted": false}))?);
    }
    p2pos_node::bulk::import(std::path::Path::new(dir), &records, &blobs)?;
    println!("seeded {photos} photos in album {ALBUM} of family {FAMILY} at {dir}");
    Ok(())
}

/// Shapes (width, height) the seeded photos take turns with, so justified rows are real.
const SHAPES: [(u32, u32); 5] = [(4000, 3000), (3000, 4000), (4000, 2250), (3000, 3000), (6000, 2000)];
/// Cameras (make, model) the seeded photos take turns with.
const CAMERAS: [(&str, &str); 3] = [("Canon", "Canon EOS R6"), ("FUJIFILM", "X-T4"), ("Apple", "iPhone 15 Pro")];

/// Photo `n`'s meta as the web app writes it: a name, a size, a file date, and (all but every 10th
/// photo) when and with which camera it was taken. The dates spread over about `photos / 8` days
/// before 2026-11-30, 8 photos a day on average, in an order unrelated to the records' (so the
/// timeline must sort by date taken). Photo 0 has a caption with accents, for the timeline's search test.
fn photo_meta(n: usize, photos: usize, now: u64) -> Value {
    let span = (photos / 8).max(1) as u64;
    // A day's photos are n, n + span, n + 2 span…: the shape changes along them.
    let (width, height) = SHAPES[(n + n / span as usize) % SHAPES.len()];
    let day = (n as u64 * 7919) % span;
    // The file's date: noon UTC that day (what the timeline falls back on without EXIF), never
    // after `now`.
    let modified = ((20_787 - day) * 86_400_000 + 43_200_000).min(now);
    let mut meta = json!({"name": format!("IMG_{n:06}.png"), "type": "image/png", "size": PIXEL_LEN,
        "lastModified": modified, "width": width, "height": height});
    if n % 10 != 9 {
        // 2026-11-30 is day 20_787 since the Unix epoch.
        let (year, month, date) = civil_from_days(20_787 - day);
        let hour = 7 + (n * 37) % 14;
        let minute = (n * 13) % 60;
        meta["taken"] = json!(format!("{year:04}-{month:02}-{date:02}T{hour:02}:{minute:02}:00"));
        let (make, model) = CAMERAS[n % CAMERAS.len()];
        meta["make"] = json!(make);
        meta["model"] = json!(model);
    }
    if n == 0 {
        meta["caption"] = json!("Crème brûlée at Grandma's lake house");
    }
    meta
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01): H. Hinnant's algorithm.
fn civil_from_days(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let date = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, date)
}

/// 26 characters of a-z: "q" then `n` in base 26.
fn photo_id(n: usize) -> String {
    let mut id = String::from("q");
    let mut rest = n;
    for _ in 0..25 {
        id.push((b'a' + (rest % 26) as u8) as char);
        rest /= 26;
    }
    id
}

#[cfg(test)]
mod tests {
    #[test]
    fn pixels_are_pngs_of_the_stated_length() {
        let png = super::pixel([1, 2, 3]);
        assert_eq!(png.len(), super::PIXEL_LEN);
        // The CRC of IEND (no data) is the well-known ae426082.
        assert_eq!(&png[png.len() - 4..], &[0xae, 0x42, 0x60, 0x82]);
        assert_eq!(super::crc32(b"123456789"), 0xcbf4_3926);
    }
}
