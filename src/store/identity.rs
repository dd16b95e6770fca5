//! Team identities, stored as keyed hashes.
//!
//! A user name or e-mail is never written to the database unless
//! `--store-identities` is given: what is stored is HMAC-SHA256 keyed with a
//! random salt created once per database (in `meta`), so the same person has
//! the same key within one database (sessions can be grouped and filtered
//! by user) while the key cannot be matched against a list of names without
//! the database's salt, nor across databases.

use hmac::{Hmac, Mac};
use rand::RngCore;
use rusqlite::Connection;
use sha2::Sha256;

use super::StoreError;

const SALT_KEY: &str = "identity_salt";

/// Turns identities into the keys stored in `session_users`.
#[derive(Debug, Clone)]
pub struct Identities {
    salt: Vec<u8>,
    /// `--store-identities`: keep the identity itself.
    clear: bool,
}

impl Identities {
    /// The database's salt, created (32 random bytes from the OS) on first use.
    pub fn open(conn: &Connection, clear: bool) -> Result<Identities, StoreError> {
        let existing: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [SALT_KEY], |r| {
                r.get(0)
            })
            .ok();
        let hex = match existing {
            Some(hex) => hex,
            None => {
                let mut salt = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut salt);
                let hex = to_hex(&salt);
                // OR IGNORE: a concurrent ingest may have created it first.
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES (?1, ?2)",
                    [SALT_KEY, hex.as_str()],
                )?;
                conn.query_row("SELECT value FROM meta WHERE key = ?1", [SALT_KEY], |r| {
                    r.get(0)
                })?
            }
        };
        Ok(Identities {
            salt: from_hex(&hex),
            clear,
        })
    }

    /// The stored key of an identity.
    pub fn key(&self, identity: &str) -> String {
        let identity = normalise(identity);
        if self.clear {
            identity
        } else {
            self.hash(&identity)
        }
    }

    /// Every key a `--user NAME` may be stored under (hashed, or in clear by
    /// an ingest run with `--store-identities`).
    pub fn lookup_keys(&self, identity: &str) -> Vec<String> {
        let identity = normalise(identity);
        vec![self.hash(&identity), identity]
    }

    fn hash(&self, identity: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.salt).expect("HMAC takes a key of any length");
        mac.update(identity.as_bytes());
        to_hex(&mac.finalize().into_bytes())
    }
}

/// Surrounding spaces never matter, and neither does the case of an e-mail.
fn normalise(identity: &str) -> String {
    let trimmed = identity.trim();
    if trimmed.contains('@') {
        trimmed.to_lowercase()
    } else {
        trimmed.to_owned()
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// `--user-from-path` pattern to a regex: `{user}` captures one path
/// component, `**` any number of components, `*` part of one component. The
/// pattern may match anywhere in the canonical path, starting at a component.
pub fn path_pattern(pattern: &str) -> Result<regex::Regex, String> {
    if !pattern.contains("{user}") {
        return Err(format!(
            "--user-from-path {pattern}: the pattern has no {{user}}"
        ));
    }
    let mut re = String::from("(?:^|/)");
    let mut rest = pattern.trim_start_matches('/');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("{user}") {
            re.push_str("(?P<user>[^/]+)");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("**") {
            re.push_str(".*");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('*') {
            re.push_str("[^/]*");
            rest = r;
        } else {
            let c = rest.chars().next().expect("not empty");
            re.push_str(&regex::escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    regex::Regex::new(&re).map_err(|e| format!("--user-from-path {pattern}: {e}"))
}

/// The user a path names under `pattern`, if it matches.
pub fn user_from_path(pattern: &regex::Regex, path: &str) -> Option<String> {
    pattern
        .captures(path)
        .and_then(|c| c.name("user"))
        .map(|m| m.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_salted_and_lookup_finds_both_forms() {
        let store = super::super::Store::open_in_memory().unwrap();
        let a = Identities::open(&store.conn, false).unwrap();
        let again = Identities::open(&store.conn, false).unwrap();
        assert_eq!(a.key("alice"), again.key(" alice "));
        assert_eq!(a.key("alice").len(), 64);
        assert_ne!(a.key("alice"), a.key("bob"));
        assert_eq!(a.key("A@X.org"), a.key("a@x.org"));
        let other = super::super::Store::open_in_memory().unwrap();
        assert_ne!(
            Identities::open(&other.conn, false).unwrap().key("alice"),
            a.key("alice")
        );
        let clear = Identities::open(&store.conn, true).unwrap();
        assert_eq!(clear.key("alice"), "alice");
        assert_eq!(a.lookup_keys("alice"), vec![a.key("alice"), "alice".into()]);
    }

    #[test]
    fn user_from_path_patterns() {
        let re = path_pattern("team/{user}/projects/**").unwrap();
        assert_eq!(
            user_from_path(&re, "/srv/logs/team/alice/projects/-w/s.jsonl").as_deref(),
            Some("alice")
        );
        assert_eq!(user_from_path(&re, "/srv/logs/other/alice/x.jsonl"), None);
        assert!(path_pattern("team/*/x").is_err());
    }
}
