//! `p2pos encrypt|decrypt`: age files, compatible with the stock `age` CLI.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use p2pos_core::age::x25519;
use p2pos_core::agefile::{self, Armor};

use crate::cli::{DecryptArgs, EncryptArgs};
use crate::passphrase;

fn open_input(path: Option<&Path>) -> Result<Box<dyn std::io::Read>> {
    Ok(match path {
        Some(p) if p != Path::new("-") => {
            Box::new(std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?)
        }
        _ => Box::new(std::io::stdin().lock()),
    })
}

/// Writes to a temp file beside `out` and renames it into place only when `write` succeeds, so a
/// failed decryption never leaves a partial plaintext behind.
fn write_output(out: Option<&Path>, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            write(&mut stdout)?;
            stdout.flush()?;
        }
        Some(path) => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing in {}", dir.display()))?;
            let mut writer = BufWriter::new(tmp);
            write(&mut writer)?;
            let tmp = writer.into_inner().map_err(|e| e.into_error())?;
            tmp.as_file().sync_all()?;
            tmp.persist(path).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

pub fn encrypt(args: EncryptArgs) -> Result<()> {
    let recipients = args
        .recipient
        .iter()
        .map(|r| r.parse::<x25519::Recipient>().map_err(|e| anyhow::anyhow!("bad recipient {r}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let armor = if args.armor { Armor::Yes } else { Armor::No };
    let input = open_input(args.input.as_deref())?;
    write_output(args.out.as_deref(), |out| {
        agefile::encrypt_to(&recipients, armor, input, out)?;
        Ok(())
    })
}

pub fn decrypt(args: DecryptArgs) -> Result<()> {
    let (_, identity) = passphrase::load_identity(args.identity.as_deref(), &args.passphrase)?;
    let input = open_input(args.input.as_deref())?;
    write_output(args.out.as_deref(), |out| {
        agefile::decrypt_to(std::slice::from_ref(identity.age_identity()), input, out).context("cannot decrypt")?;
        Ok(())
    })
}
