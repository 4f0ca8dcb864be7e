//! Devices: one-time enrollment codes, registration, and authentication of device requests.
//!
//! An administrator issues a code bound to an employee or to a permit application; a device redeems it
//! once with its public key and a signature by that key ([`siap_core::sync::protocol::registration_message`])
//! and receives a bearer token (stored only as a SHA-256). Device ids are derived from the key, so the
//! server recomputes the id instead of trusting it.
//!
//! - **Possession**: a public key alone registers nothing; the request must be signed by its private key
//!   over the code and this server's key.
//! - **Single use under concurrency**: a code is redeemed by one conditional `UPDATE … WHERE used_by IS
//!   NULL … RETURNING`, so of any number of parallel requests exactly one wins, on both databases.
//! - **No re-binding by code**: a device that is already registered keeps its binding and token; only a
//!   code an administrator issued *for that device* ([`issue_code`] with `rebind_device`) re-binds it.

use ring::rand::{SecureRandom, SystemRandom};
use siap_core::ledger::{GENESIS_PREV_HASH, device_id_for};
use siap_core::sync::protocol::Binding;

use crate::db::{Db, Sql, V};
use crate::error::ServerError;

/// Characters of enrollment codes: no 0/O, 1/I/L confusion.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Length of enrollment codes (about 50 bits; they are one-time and expire).
pub const CODE_LEN: usize = 10;

/// SHA-256, as used for codes and tokens at rest.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// Random bytes.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], ServerError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ServerError::Internal("no randomness".into()))?;
    Ok(b)
}

pub use siap_core::sync::protocol::normalise_code;

/// A new random enrollment code.
pub fn new_code() -> Result<String, ServerError> {
    let bytes = random_bytes::<CODE_LEN>()?;
    Ok(bytes
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char)
        .collect())
}

pub(crate) fn binding_parts(b: &Binding) -> (&'static str, &str) {
    match b {
        Binding::Employee(id) => ("employee", id),
        Binding::Permit(id) => ("permit", id),
    }
}

pub(crate) fn binding_from(ty: &str, id: String) -> Result<Binding, ServerError> {
    match ty {
        "employee" => Ok(Binding::Employee(id)),
        "permit" => Ok(Binding::Permit(id)),
        _ => Err(ServerError::Internal("unknown binding type".into())),
    }
}

/// Checks an id an administrator gives (employee, permit, device) with the device's own rule
/// ([`siap_core::sync::validate::check_id`]).
pub fn check_binding_id(id: &str) -> Result<(), ServerError> {
    siap_core::sync::validate::check_id("id", id)
        .map_err(|e| ServerError::BadRequest(e.to_string()))
}

/// Stores a new enrollment code; returns the code (shown once to the administrator). With
/// `rebind_device`, the code can only be redeemed by that already-registered device, and re-binds it.
pub async fn issue_code(
    db: &Db,
    binding: Binding,
    rebind_device: Option<String>,
    ttl_ms: i64,
    now: i64,
) -> Result<String, ServerError> {
    let (_, id) = binding_parts(&binding);
    check_binding_id(id)?;
    if let Some(d) = &rebind_device {
        check_binding_id(d)?;
    }
    let code = new_code()?;
    let hash = sha256(code.as_bytes());
    db.tx(move |tx| {
        if let Some(d) = &rebind_device
            && tx.one("SELECT 1 FROM devices WHERE device_id = $1", &[V::T(d.clone())])?.is_none()
        {
            return Err(ServerError::NotFound("device"));
        }
        let (ty, id) = binding_parts(&binding);
        tx.exec(
            "INSERT INTO enrollments (code_hash, binding_type, binding_id, created_at_ms, expires_at_ms, rebind_device) VALUES ($1, $2, $3, $4, $5, $6)",
            &[V::B(hash), V::T(ty.into()), V::T(id.into()), V::I(now), V::I(now.saturating_add(ttl_ms)), V::opt_text(rebind_device.as_deref())],
        )?;
        Ok(())
    })
    .await?;
    Ok(code)
}

/// Outcome of a registration.
#[derive(Debug)]
pub struct Registered {
    /// Derived device id.
    pub device_id: String,
    /// The fresh bearer token.
    pub token: String,
    /// What the device is bound to.
    pub binding: Binding,
}

/// Why a registration was refused, without saying which part of a guess was right.
const BAD_CODE: &str = "unknown, used or expired enrollment code";

/// Redeems a one-time code for `public_key`, after checking `proof` (the device's signature over the
/// registration message for this server's `server_public_key`).
pub async fn register(
    db: &Db,
    code: &str,
    public_key: Vec<u8>,
    proof: &[u8],
    server_public_key: &[u8],
    now: i64,
) -> Result<Registered, ServerError> {
    siap_core::ledger::signer::check_public_key(&public_key).map_err(|_| {
        ServerError::BadRequest("public_key must be a 65-byte uncompressed P-256 point".into())
    })?;
    let message =
        siap_core::sync::protocol::registration_message(code, &public_key, server_public_key);
    if !siap_core::ledger::verify_signature(&public_key, &message, proof) {
        return Err(ServerError::Forbidden(
            "the registration proof is not a signature by this key over this code and server",
        ));
    }
    let code_hash = sha256(normalise_code(code).as_bytes());
    let device_id = device_id_for(&public_key);
    let token = hex::encode(random_bytes::<32>()?);
    let token_hash = sha256(token.as_bytes());
    let dev = device_id.clone();
    let binding = db
        .tx(move |tx| {
            // Redeem atomically: of concurrent requests with one code, exactly one updates the row.
            let Some(row) = tx.one(
                "UPDATE enrollments SET used_by = $1, used_at_ms = $2
                 WHERE code_hash = $3 AND used_by IS NULL AND expires_at_ms >= $2
                 RETURNING binding_type, binding_id, rebind_device",
                &[V::T(dev.clone()), V::I(now), V::B(code_hash.clone())],
            )?
            else {
                return redeem_again(tx, &dev, &code_hash, &token_hash, now);
            };
            let (ty, id, rebind) = (row[0].t()?, row[1].t()?, row[2].opt_t()?);
            let exists = tx
                .one("SELECT 1 FROM devices WHERE device_id = $1", &[V::T(dev.clone())])?
                .is_some();
            match (exists, rebind) {
                // A re-bind code: only for the device it names, which must exist. It keeps its chain;
                // token and binding change.
                (true, Some(target)) if target == dev => {
                    tx.exec(
                        "UPDATE devices SET token_hash = $1, binding_type = $2, binding_id = $3, last_seen_ms = $4 WHERE device_id = $5",
                        &[V::B(token_hash.clone()), V::T(ty.clone()), V::T(id.clone()), V::I(now), V::T(dev.clone())],
                    )?;
                    let reason = format!("re-bound by an administrator's code to {ty}");
                    record_review(tx, &dev, &reason, now, false)?;
                }
                (_, Some(_)) => return Err(ServerError::Forbidden(BAD_CODE)),
                // The transaction rolls back: the code stays unused for its rightful device.
                (true, None) => {
                    return Err(ServerError::Conflict(
                        "this device is already registered; re-binding it needs a re-bind code from an administrator".into(),
                    ));
                }
                (false, None) => {
                    tx.exec(
                        "INSERT INTO devices (device_id, public_key, token_hash, binding_type, binding_id, registered_at_ms, last_seen_ms, acked_seq, head_hash)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)",
                        &[V::T(dev), V::B(public_key), V::B(token_hash), V::T(ty.clone()), V::T(id.clone()), V::I(now), V::I(now), V::B(GENESIS_PREV_HASH.to_vec())],
                    )?;
                }
            }
            binding_from(&ty, id)
        })
        .await?;
    Ok(Registered {
        device_id,
        token,
        binding,
    })
}

/// The same device presenting the code it already redeemed (its answer was lost on the way: the
/// retry must not leave a registered device without a token). Possession of the key is proven by the
/// request's signature, so the key holder gets a fresh token, as long as the code has not expired and
/// the device's binding is still the one the code gave. Anything else is the usual refusal.
fn redeem_again(
    tx: &mut dyn Sql,
    dev: &str,
    code_hash: &[u8],
    token_hash: &[u8],
    now: i64,
) -> Result<Binding, ServerError> {
    let row = tx
        .one(
            "SELECT e.binding_type, e.binding_id FROM enrollments e JOIN devices d ON d.device_id = e.used_by
             WHERE e.code_hash = $1 AND e.used_by = $2 AND e.expires_at_ms >= $3
               AND d.binding_type = e.binding_type AND d.binding_id = e.binding_id",
            &[V::B(code_hash.to_vec()), V::T(dev.to_owned()), V::I(now)],
        )?
        .ok_or(ServerError::Forbidden(BAD_CODE))?;
    tx.exec(
        "UPDATE devices SET token_hash = $1, last_seen_ms = $2 WHERE device_id = $3",
        &[V::B(token_hash.to_vec()), V::I(now), V::T(dev.to_owned())],
    )?;
    binding_from(&row[0].t()?, row[1].t()?)
}

/// A registered device as the request handlers need it.
#[derive(Debug, Clone)]
pub struct Device {
    /// Device id.
    pub device_id: String,
    /// Its public key.
    pub public_key: Vec<u8>,
    /// Binding.
    pub binding: Binding,
    /// Highest contiguous seq stored.
    pub acked_seq: u64,
    /// Hash of that record.
    pub head_hash: [u8; 32],
}

pub(crate) fn load_device(
    tx: &mut dyn Sql,
    device_id: &str,
) -> Result<Option<(Device, Vec<u8>)>, ServerError> {
    let Some(r) = tx.one(
        "SELECT public_key, token_hash, binding_type, binding_id, acked_seq, head_hash FROM devices WHERE device_id = $1",
        &[V::T(device_id.to_owned())],
    )?
    else {
        return Ok(None);
    };
    let head: [u8; 32] = r[5]
        .b()?
        .try_into()
        .map_err(|_| ServerError::Internal("head hash is not 32 bytes".into()))?;
    Ok(Some((
        Device {
            device_id: device_id.to_owned(),
            public_key: r[0].b()?,
            binding: binding_from(&r[2].t()?, r[3].t()?)?,
            acked_seq: r[4].i()?.max(0) as u64,
            head_hash: head,
        },
        r[1].b()?,
    )))
}

/// Authenticates a device request (device id header + bearer token) and returns the device.
pub async fn authenticate(db: &Db, device_id: &str, token: &str) -> Result<Device, ServerError> {
    let id = device_id.to_owned();
    let (dev, token_hash) = db
        .tx(move |tx| load_device(tx, &id))
        .await?
        .ok_or(ServerError::Unauthorized)?;
    // Compare digests of the secret: timing reveals nothing useful about the token.
    if sha256(token.as_bytes()) != token_hash {
        return Err(ServerError::Unauthorized);
    }
    Ok(dev)
}

/// Marks a device for review (fork, tampered data) and records `reason`. Every distinct reason is kept
/// with its first and last time and a count; `review_reason` keeps the first one for the device list.
pub(crate) fn flag_device(
    tx: &mut dyn Sql,
    device_id: &str,
    reason: &str,
    now: i64,
) -> Result<(), ServerError> {
    record_review(tx, device_id, reason, now, true)
}

/// Records a review reason (and, with `flag`, marks the device for review).
pub(crate) fn record_review(
    tx: &mut dyn Sql,
    device_id: &str,
    reason: &str,
    now: i64,
    flag: bool,
) -> Result<(), ServerError> {
    if flag {
        tx.exec(
            "UPDATE devices SET review = 1, review_reason = COALESCE(review_reason, $1) WHERE device_id = $2",
            &[V::T(reason.to_owned()), V::T(device_id.to_owned())],
        )?;
    }
    tx.exec(
        "INSERT INTO device_reviews (device_id, reason, first_at_ms, last_at_ms, count) VALUES ($1, $2, $3, $3, 1)
         ON CONFLICT (device_id, reason) DO UPDATE SET last_at_ms = excluded.last_at_ms, count = device_reviews.count + 1",
        &[V::T(device_id.to_owned()), V::T(reason.to_owned()), V::I(now)],
    )?;
    Ok(())
}
