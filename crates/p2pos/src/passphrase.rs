//! Where passphrases come from: a file, the environment, or the terminal (never the command line,
//! where other users could read it in the process list).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use p2pos_core::Identity;
use p2pos_core::age::secrecy::{ExposeSecret, SecretString};

use crate::cli::PassphraseArgs;

/// Environment variable holding a passphrase, for scripts.
pub const PASSPHRASE_ENV: &str = "P2POS_PASSPHRASE";
/// Environment variable naming the default identity file.
pub const IDENTITY_ENV: &str = "P2POS_IDENTITY";
/// Shorter passphrases are refused for new identities.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

/// `$P2POS_IDENTITY`, else `$XDG_CONFIG_HOME/p2pos/identity.age`, else `~/.config/p2pos/identity.age`.
pub fn default_identity_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(IDENTITY_ENV) {
        return Ok(PathBuf::from(path));
    }
    let config = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").context("neither HOME nor P2POS_IDENTITY is set")?).join(".config")
        }
    };
    Ok(config.join("p2pos").join("identity.age"))
}

fn from_args(args: &PassphraseArgs) -> Result<Option<SecretString>> {
    if let Some(path) = &args.passphrase_file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading passphrase file {}", path.display()))?,
        );
        let first = text.lines().next().unwrap_or_default();
        return Ok(Some(SecretString::from(first.to_string())));
    }
    Ok(std::env::var(PASSPHRASE_ENV).ok().map(SecretString::from))
}

fn prompt(label: &str) -> Result<SecretString> {
    let answer = rpassword::prompt_password(label).map_err(|_| {
        anyhow::anyhow!("no terminal to ask for the passphrase: use --passphrase-file or set {PASSPHRASE_ENV}")
    })?;
    Ok(SecretString::from(answer))
}

/// A passphrase for a new identity: long enough, and typed twice when asked for.
pub fn for_new(args: &PassphraseArgs) -> Result<SecretString> {
    let pass = match from_args(args)? {
        Some(pass) => pass,
        None => {
            let first = prompt("New passphrase: ")?;
            let again = prompt("Same passphrase again: ")?;
            if first.expose_secret() != again.expose_secret() {
                bail!("the two passphrases differ");
            }
            first
        }
    };
    let chars = pass.expose_secret().chars().count();
    if chars < MIN_PASSPHRASE_CHARS {
        bail!(
            "the passphrase has {chars} characters; use at least {MIN_PASSPHRASE_CHARS} (a few random words work well)"
        );
    }
    Ok(pass)
}

/// Reads an identity file, asking for its passphrase if it is encrypted.
pub fn load_identity(path: Option<&Path>, args: &PassphraseArgs) -> Result<(PathBuf, Identity)> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => default_identity_path()?,
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading identity file {}", path.display()))?;
    let identity = if Identity::file_is_protected(&bytes) {
        let pass = match from_args(args)? {
            Some(pass) => pass,
            None => prompt(&format!("Passphrase for {}: ", path.display()))?,
        };
        Identity::from_protected_file(&bytes, &pass)
    } else {
        Identity::from_file_text(&String::from_utf8_lossy(&bytes))
    };
    let identity = identity.map_err(|e| match e.kind() {
        "passphrase" => anyhow::anyhow!("wrong passphrase for {}", path.display()),
        _ => anyhow::anyhow!("{} is not a usable identity file: {e}", path.display()),
    })?;
    Ok((path, identity))
}
