//! `p2pos id new|show`.

use std::io::Write;

use anyhow::{Context, Result, bail};
use p2pos_core::Identity;
use p2pos_core::agefile::DEFAULT_SCRYPT_WORK_FACTOR;
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::cli::{IdCommand, IdNewArgs, IdShowArgs};
use crate::passphrase;
use p2pos_core::IdentityId;

pub fn run(cmd: IdCommand) -> Result<()> {
    match cmd {
        IdCommand::New(args) => new(args),
        IdCommand::Show(args) => show(args),
        IdCommand::Check(args) => check(&args.id.join(" ")),
    }
}

fn new(args: IdNewArgs) -> Result<()> {
    let path = match args.out {
        Some(p) => p,
        None => passphrase::default_identity_path()?,
    };
    if path.exists() && !args.force {
        bail!("{} already exists; pass --force to replace it (its keys would be lost)", path.display());
    }
    let identity = Identity::generate()?;
    let contents = if args.insecure_no_passphrase {
        identity.to_file_text().to_string()
    } else {
        let pass = passphrase::for_new(&args.passphrase)?;
        identity.to_protected_file(&pass, DEFAULT_SCRYPT_WORK_FACTOR)?
    };
    write_private(&path, contents.as_bytes())?;
    println!("Created identity {}", identity.id());
    println!("  recipient: {}", identity.recipient());
    println!("  file:      {}{}", path.display(), if args.insecure_no_passphrase { " (NOT encrypted)" } else { "" });
    Ok(())
}

/// Writes a secret file readable only by its owner, atomically (temp file + rename).
fn write_private(path: &std::path::Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing in {}", dir.display()))?;
    // NamedTempFile is created with mode 0600 on Unix.
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn show(args: IdShowArgs) -> Result<()> {
    let (_, identity) = passphrase::load_identity(args.file.as_deref(), &args.passphrase)?;
    let id = identity.id().to_string();
    if args.json {
        let json = serde_json::json!({"id": id, "recipient": identity.recipient().to_string()});
        println!("{json}");
        return Ok(());
    }
    // The member card (apps/web/src/lib/memberCard.ts): what an admin scans to add this identity.
    let card = format!("p2pos-member:{id}:{}", identity.recipient());
    println!("id:        {id}");
    println!("recipient: {}", identity.recipient());
    println!("card:      {card}");
    if !args.no_qr {
        let qr = QrCode::new(card.as_bytes()).context("making the QR code")?;
        println!("\n{}", qr.render::<Dense1x2>().quiet_zone(true).build());
    }
    Ok(())
}

fn check(text: &str) -> Result<()> {
    let id: IdentityId = text.parse().with_context(|| format!("'{}' is not a valid id", text.trim()))?;
    println!("{id}");
    Ok(())
}
