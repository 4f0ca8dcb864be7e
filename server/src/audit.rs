//! The audit log: every administrator action (and every sign-in attempt), who, what, when and with
//! which request, append-only and hash-chained like a device's records, so that an auditor can tell
//! that nothing was edited or removed.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's own fields (as JSON, in
//! field order); the chain's head is kept in `meta` (`audit_head`) and moved with a conditional update
//! in the same transaction as the insert, so two servers appending at once on one PostgreSQL cannot
//! fork it (the second retries on the new head). The export ([`page`]) carries the head signed with the
//! server key ([`AUDIT_HEAD_DOMAIN`]): a copy of the log and its signed head can be checked offline
//! with [`verify`].
//!
//! What is recorded of a request: the method, the route template and the concrete path (the entity
//! acted on), the answer's status, and the body: JSON bodies as sent, with password fields replaced
//! by `"[redacted]"`; other bodies (photos) by their SHA-256 only. What an entity looked like before
//! the change is in the changes feed (every version of a site, employee, asset or permit is kept);
//! the log does not copy it.

use serde::{Deserialize, Serialize};
use siap_core::ledger::Signer;
use siap_core::signed::SignedBlob;

use crate::db::{Db, Sql, V};
use crate::error::ServerError;

/// Domain of the signed audit head.
pub const AUDIT_HEAD_DOMAIN: &str = "SIAP-AUDIT-HEAD-v1";

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Largest JSON body copied into an entry; a larger one is recorded by its hash only.
pub const MAX_RECORDED_BODY: usize = 64 * 1024;

/// One administrator action as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log, from 1.
    pub id: i64,
    /// When (server time, ms).
    pub at_ms: i64,
    /// Who: the administrator's name (`shared-token` for the bootstrap token).
    pub actor: String,
    /// Their role at the time.
    pub role: String,
    /// HTTP method, or `login` for a sign-in attempt.
    pub method: String,
    /// The route template (`/v1/admin/faces/{employee}/{template}/decision`).
    pub route: String,
    /// The concrete path: which entity.
    pub path: String,
    /// The answer's status.
    pub status: u16,
    /// SHA-256 (hex) of the request body when there was one (of the redacted JSON for a JSON body).
    pub body_sha256: Option<String>,
    /// The JSON body, passwords redacted (absent for other bodies and for JSON above
    /// [`MAX_RECORDED_BODY`]).
    pub body: Option<serde_json::Value>,
    /// The previous entry's hash (hex; [`GENESIS`] for the first).
    pub prev_hash: String,
    /// This entry's hash (hex).
    pub hash: String,
}

/// An entry before it is chained.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// Who.
    pub actor: String,
    /// Their role.
    pub role: String,
    /// Method (or `login`).
    pub method: String,
    /// Route template.
    pub route: String,
    /// Concrete path.
    pub path: String,
    /// Answer status.
    pub status: u16,
    /// The request body, if any.
    pub body: Option<Vec<u8>>,
}

/// The fields an entry's hash covers (everything but the hash itself), in this order.
#[derive(Serialize)]
struct Hashed<'a> {
    id: i64,
    at_ms: i64,
    actor: &'a str,
    role: &'a str,
    method: &'a str,
    route: &'a str,
    path: &'a str,
    status: u16,
    body_sha256: &'a Option<String>,
    body: &'a Option<serde_json::Value>,
    prev_hash: &'a str,
}

/// The hash of `e` (over its previous hash and fields).
pub fn entry_hash(e: &Entry) -> String {
    let hashed = Hashed {
        id: e.id,
        at_ms: e.at_ms,
        actor: &e.actor,
        role: &e.role,
        method: &e.method,
        route: &e.route,
        path: &e.path,
        status: e.status,
        body_sha256: &e.body_sha256,
        body: &e.body,
        prev_hash: &e.prev_hash,
    };
    let json = serde_json::to_vec(&hashed).unwrap_or_default();
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &json))
}

/// A JSON body with every `password` field (at any depth) replaced.
fn redacted(mut v: serde_json::Value) -> serde_json::Value {
    match &mut v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k.to_ascii_lowercase().contains("password") {
                    *val = serde_json::Value::String("[redacted]".into());
                } else {
                    *val = redacted(val.take());
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items.iter_mut() {
                *item = redacted(item.take());
            }
        }
        _ => {}
    }
    v
}

/// How many times an append retries when another server moved the head first.
const APPEND_TRIES: usize = 8;

/// Appends `action` at `now`. Returns the entry as stored.
pub async fn append(db: &Db, action: Action, now: i64) -> Result<Entry, ServerError> {
    let sha = |b: &[u8]| hex::encode(ring::digest::digest(&ring::digest::SHA256, b));
    // A JSON body is hashed *after* redaction: a hash of the raw body would let anyone holding the log
    // test password guesses against it.
    let (body_sha256, body) = match &action.body {
        Some(b) if !b.is_empty() => match serde_json::from_slice::<serde_json::Value>(b) {
            Ok(v) => {
                let v = redacted(v);
                let text = v.to_string();
                (
                    Some(sha(text.as_bytes())),
                    (text.len() <= MAX_RECORDED_BODY).then_some(v),
                )
            }
            Err(_) => (Some(sha(b)), None),
        },
        _ => (None, None),
    };
    for _ in 0..APPEND_TRIES {
        let (action, body_sha256, body) = (action.clone(), body_sha256.clone(), body.clone());
        let appended = db
            .tx(move |tx| {
                let head = tx
                    .one("SELECT value FROM meta WHERE key = 'audit_head'", &[])?
                    .map(|r| r[0].t())
                    .transpose()?
                    .unwrap_or_else(|| GENESIS.to_owned());
                let last = tx
                    .one("SELECT MAX(id) FROM audit_log", &[])?
                    .and_then(|r| r[0].opt_i().ok().flatten())
                    .unwrap_or(0);
                let mut e = Entry {
                    id: last + 1,
                    at_ms: now,
                    actor: action.actor,
                    role: action.role,
                    method: action.method,
                    route: action.route,
                    path: action.path,
                    status: action.status,
                    body_sha256,
                    body,
                    prev_hash: head.clone(),
                    hash: String::new(),
                };
                e.hash = entry_hash(&e);
                // The head moves only from the value read: a concurrent append (another server on the
                // same PostgreSQL) makes this one start again from the new head.
                let moved = tx.exec(
                    "UPDATE meta SET value = $1 WHERE key = 'audit_head' AND value = $2",
                    &[V::T(e.hash.clone()), V::T(head)],
                )?;
                if moved != 1 {
                    return Ok(None);
                }
                insert(tx, &e)?;
                Ok(Some(e))
            })
            .await?;
        if let Some(e) = appended {
            return Ok(e);
        }
    }
    Err(ServerError::Busy)
}

fn insert(tx: &mut dyn Sql, e: &Entry) -> Result<(), ServerError> {
    tx.exec(
        "INSERT INTO audit_log (id, at_ms, actor, role, method, route, path, status, body_sha256, body, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            V::I(e.id),
            V::I(e.at_ms),
            V::T(e.actor.clone()),
            V::T(e.role.clone()),
            V::T(e.method.clone()),
            V::T(e.route.clone()),
            V::T(e.path.clone()),
            V::I(i64::from(e.status)),
            V::opt_text(e.body_sha256.as_deref()),
            V::opt_text(
                e.body
                    .as_ref()
                    .map(serde_json::Value::to_string)
                    .as_deref(),
            ),
            V::T(e.prev_hash.clone()),
            V::T(e.hash.clone()),
        ],
    )?;
    Ok(())
}

/// The signed head of the log: its last entry's id and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Entries in the log.
    pub id: i64,
    /// The last entry's hash ([`GENESIS`] when empty).
    pub hash: String,
    /// When it was signed.
    pub at_ms: i64,
}

/// A page of the log with the signed head.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// Entries with `id > after`, in order.
    pub entries: Vec<Entry>,
    /// The head at the time of the export, signed by the server key ([`AUDIT_HEAD_DOMAIN`]).
    pub head: SignedBlob,
}

/// Entries after `after` (at most `limit`), with the signed head.
pub async fn page(
    db: &Db,
    signer: std::sync::Arc<dyn Signer>,
    after: i64,
    limit: i64,
    now: i64,
) -> Result<Page, ServerError> {
    let (entries, head) = db
        .tx(move |tx| {
            let rows = tx.query(
                "SELECT id, at_ms, actor, role, method, route, path, status, body_sha256, body, prev_hash, hash
                 FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
                &[V::I(after), V::I(limit)],
            )?;
            let entries = rows
                .iter()
                .map(|r| {
                    Ok(Entry {
                        id: r[0].i()?,
                        at_ms: r[1].i()?,
                        actor: r[2].t()?,
                        role: r[3].t()?,
                        method: r[4].t()?,
                        route: r[5].t()?,
                        path: r[6].t()?,
                        status: u16::try_from(r[7].i()?).unwrap_or(0),
                        body_sha256: r[8].opt_t()?,
                        body: r[9].opt_t()?.and_then(|b| serde_json::from_str(&b).ok()),
                        prev_hash: r[10].t()?,
                        hash: r[11].t()?,
                    })
                })
                .collect::<Result<Vec<_>, ServerError>>()?;
            let last = tx
                .one("SELECT MAX(id) FROM audit_log", &[])?
                .and_then(|r| r[0].opt_i().ok().flatten())
                .unwrap_or(0);
            let hash = tx
                .one("SELECT value FROM meta WHERE key = 'audit_head'", &[])?
                .map(|r| r[0].t())
                .transpose()?
                .unwrap_or_else(|| GENESIS.to_owned());
            Ok((entries, Head { id: last, hash, at_ms: now }))
        })
        .await?;
    let head = SignedBlob::sign_json(signer.as_ref(), AUDIT_HEAD_DOMAIN, &head)?;
    Ok(Page { entries, head })
}

/// Why a copy of the log does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    /// Entry `id` does not follow the one before it (a gap, a reorder, or a changed previous hash).
    #[error("entry {0} does not follow the one before it")]
    Sequence(i64),
    /// Entry `id` was changed after it was written.
    #[error("entry {0} was changed")]
    Changed(i64),
    /// The log does not end at the signed head.
    #[error("the log does not end at the signed head")]
    Head,
}

/// Checks a whole log from its first entry: every entry's hash, the chain, and that it ends at `head`.
pub fn verify(entries: &[Entry], head: &Head) -> Result<(), Broken> {
    let mut prev = GENESIS.to_owned();
    for (i, e) in entries.iter().enumerate() {
        if e.id != i as i64 + 1 || e.prev_hash != prev {
            return Err(Broken::Sequence(e.id));
        }
        if entry_hash(e) != e.hash {
            return Err(Broken::Changed(e.id));
        }
        prev.clone_from(&e.hash);
    }
    if head.id != entries.len() as i64 || head.hash != prev {
        return Err(Broken::Head);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> (Vec<Entry>, Head) {
        let mut prev = GENESIS.to_owned();
        let mut out = Vec::new();
        for i in 0..n {
            let mut e = Entry {
                id: i as i64 + 1,
                at_ms: 1_000 + i as i64,
                actor: "hr-maria".into(),
                role: "hr".into(),
                method: "POST".into(),
                route: "/v1/admin/faces/{employee}/{template}/decision".into(),
                path: format!("/v1/admin/faces/e{i}/t/decision"),
                status: 200,
                body_sha256: None,
                body: Some(serde_json::json!({"decision": "approved"})),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            e.hash = entry_hash(&e);
            prev.clone_from(&e.hash);
            out.push(e);
        }
        let head = Head {
            id: n as i64,
            hash: prev,
            at_ms: 9,
        };
        (out, head)
    }

    #[test]
    fn an_edited_removed_or_reordered_entry_is_found() {
        let (log, head) = chain(4);
        assert_eq!(verify(&log, &head), Ok(()));
        let mut edited = log.clone();
        edited[1].body = Some(serde_json::json!({"decision": "rejected"}));
        assert_eq!(verify(&edited, &head), Err(Broken::Changed(2)));
        let mut removed = log.clone();
        removed.remove(2);
        assert_eq!(verify(&removed, &head), Err(Broken::Sequence(4)));
        let truncated = &log[..3];
        assert_eq!(verify(truncated, &head), Err(Broken::Head));
        let mut swapped = log.clone();
        swapped.swap(0, 1);
        assert!(verify(&swapped, &head).is_err());
    }

    #[test]
    fn passwords_never_reach_the_log() {
        let v = redacted(serde_json::json!({
            "name": "maria",
            "password": "hunter2",
            "nested": [{"new_password": "x", "keep": 1}]
        }));
        let s = v.to_string();
        assert!(!s.contains("hunter2") && !s.contains("\"x\""), "{s}");
        assert_eq!(v["nested"][0]["keep"], 1);
    }
}
