//! The terminal's saved contacts: `DIR/contacts.json`, `{"v": 1, "contacts": [{"id", "name",
//! "secret", "last_seen"}]}` (`secret` the 32-byte shared secret, b64u; `last_seen` unix ms).
//! Written whole to a temporary file in the same directory and renamed over the old one, so a
//! crash leaves either the old list or the new one; the file is readable by its owner only (it
//! holds secrets).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use p2pos_core::IdentityId;
use p2pos_core::chat::{Contact, ContactSecret};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1 {
    v: u32,
    contacts: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    name: String,
    secret: String,
    last_seen: u64,
}

/// One saved contact.
#[derive(Debug, Clone)]
pub struct Saved {
    pub contact: Contact,
    pub last_seen: u64,
}

/// The contacts of `DIR/contacts.json`.
#[derive(Debug)]
pub struct Contacts {
    path: PathBuf,
    list: Vec<Saved>,
}

impl Contacts {
    /// Reads `dir/contacts.json` (none yet: an empty list). A file that does not parse is an
    /// error, never silently replaced.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("contacts.json");
        let list = match std::fs::read(&path) {
            Ok(bytes) => parse(&bytes).with_context(|| format!("reading contacts from {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Self { path, list })
    }

    pub fn list(&self) -> &[Saved] {
        &self.list
    }

    pub fn by_id(&self, id: &IdentityId) -> Option<&Saved> {
        self.list.iter().find(|s| s.contact.id == *id)
    }

    /// A contact named by its id, or by its name (case-insensitive) when exactly one has it.
    pub fn find(&self, what: &str) -> Result<&Saved> {
        if let Ok(id) = what.parse::<IdentityId>() {
            return self.by_id(&id).with_context(|| format!("{id} is not a saved contact"));
        }
        let named: Vec<&Saved> =
            self.list.iter().filter(|s| s.contact.name.to_lowercase() == what.trim().to_lowercase()).collect();
        match named.as_slice() {
            [one] => Ok(one),
            [] => bail!("no saved contact is called {what:?} (/contacts lists them)"),
            _ => bail!("{} contacts are called {what:?}: call one by its id", named.len()),
        }
    }

    /// Saves a new contact, or updates a known one's name, secret (when given) and last seen.
    pub fn upsert(&mut self, id: IdentityId, name: &str, secret: Option<ContactSecret>, now: u64) -> Result<()> {
        match self.list.iter_mut().find(|s| s.contact.id == id) {
            Some(saved) => {
                saved.contact.name = name.to_string();
                if let Some(secret) = secret {
                    saved.contact.secret = secret;
                }
                saved.last_seen = now;
            }
            None => {
                let secret = secret.context("a new contact needs the secret of its proof")?;
                self.list.push(Saved { contact: Contact { id, name: name.to_string(), secret }, last_seen: now });
            }
        }
        self.save()
    }

    /// The ids, for the hub's contacts-only mode.
    pub fn ids(&self) -> Vec<String> {
        self.list.iter().map(|s| s.contact.id.to_string()).collect()
    }

    fn save(&self) -> Result<()> {
        let file = FileV1 {
            v: 1,
            contacts: self
                .list
                .iter()
                .map(|s| Entry {
                    id: s.contact.id.to_string(),
                    name: s.contact.name.clone(),
                    secret: s.contact.secret.encode(),
                    last_seen: s.last_seen,
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&file).context("encoding the contacts")?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        // NamedTempFile is created readable by its owner only, and the rename keeps that.
        let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing in {}", dir.display()))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).context("writing the contacts")?;
        tmp.as_file().sync_all().context("writing the contacts")?;
        tmp.persist(&self.path).with_context(|| format!("replacing {}", self.path.display()))?;
        Ok(())
    }
}

fn parse(bytes: &[u8]) -> Result<Vec<Saved>> {
    let file: FileV1 = serde_json::from_slice(bytes)?;
    if file.v != 1 {
        bail!("version {} (this p2pos reads version 1)", file.v);
    }
    file.contacts
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let id = e.id.parse().with_context(|| format!("contact {i}: bad id {:?}", e.id))?;
            let secret = ContactSecret::parse(&e.secret).with_context(|| format!("contact {i}: bad secret"))?;
            Ok(Saved { contact: Contact { id, name: e.name, secret }, last_seen: e.last_seen })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use p2pos_core::Identity;

    use super::*;

    #[test]
    fn contacts_survive_a_reopen_and_a_known_one_is_updated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let ben = Identity::generate().unwrap().id();
        let mut contacts = Contacts::open(dir.path()).unwrap();
        assert!(contacts.list().is_empty());
        assert!(contacts.upsert(ben, "Ben", None, 1).is_err(), "a new contact needs a secret");
        contacts.upsert(ben, "Ben", Some(ContactSecret::from_bytes([3; 32])), 5).unwrap();
        contacts.upsert(ben, "Benjamin", None, 9).unwrap();
        let again = Contacts::open(dir.path()).unwrap();
        assert_eq!(again.list().len(), 1);
        let saved = again.find("benjamin").unwrap();
        assert_eq!((saved.contact.id, saved.last_seen), (ben, 9));
        assert_eq!(saved.contact.secret.as_bytes(), &[3; 32]);
        assert_eq!(again.find(&ben.to_string()).unwrap().contact.name, "Benjamin");
        assert!(again.find("Cid").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("contacts.json")).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "only the owner reads the secrets");
        }
    }

    #[test]
    fn a_damaged_contacts_file_is_an_error_not_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("contacts.json"), b"{\"v\": 1, \"contacts\": [{\"id\": \"x\"}]}").unwrap();
        assert!(Contacts::open(dir.path()).is_err());
    }
}
