//! `p2pos record verify|sign`.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use p2pos_core::SignedRecord;

use crate::cli::{RecordCommand, RecordSignArgs, RecordVerifyArgs};
use crate::passphrase;

pub fn run(cmd: RecordCommand) -> Result<()> {
    match cmd {
        RecordCommand::Verify(args) => verify(args),
        RecordCommand::Sign(args) => sign(args),
    }
}

/// Reads a file, or standard input for `None` / `-`.
pub fn read_input(path: Option<&Path>) -> Result<Vec<u8>> {
    match path {
        Some(p) if p != Path::new("-") => std::fs::read(p).with_context(|| format!("reading {}", p.display())),
        _ => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
            Ok(buf)
        }
    }
}

fn verify(args: RecordVerifyArgs) -> Result<()> {
    let input = read_input(args.file.as_deref())?;
    let record: SignedRecord =
        serde_json::from_slice(&input).context("not a signed record (expected JSON {body, signer, sig})")?;
    let verified = record.verify().context("the record does not verify")?;
    let body: serde_json::Value = verified.parse()?;
    println!("signer: {}", verified.signer);
    println!("body:   {body}");
    Ok(())
}

fn sign(args: RecordSignArgs) -> Result<()> {
    let body = read_input(args.body.as_deref())?;
    let (_, identity) = passphrase::load_identity(args.identity.as_deref(), &args.passphrase)?;
    let trimmed = body.trim_ascii_end();
    let record = SignedRecord::sign_bytes(&identity, trimmed).context("cannot sign this body")?;
    println!("{}", serde_json::to_string(&record)?);
    Ok(())
}
