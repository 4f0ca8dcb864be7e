//! Named administrators: who may do what in the admin API, signed in by password (a session) or by
//! an API token for scripts, each action attributed in the audit log ([`crate::audit`]).
//!
//! Roles ([`Role`]), each a fixed set of admin routes:
//!
//! - `city_admin`: everything, including administrators and their tokens;
//! - `hr` (an OPD's supervisor or HR): employees, enrollment codes for devices, face enrollments
//!   (approve, reject, revoke, erase, official photos), reports, devices, blobs;
//! - `permit_officer`: permits, and reading blobs and reports;
//! - `auditor`: read-only, city-wide, including the audit log.
//!
//! Passwords are hashed with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes), in a blocking
//! task. A session lasts [`SESSION_TTL_MS`]; an API token until its own expiry or revocation. Tokens
//! are random 192-bit values, stored as SHA-256 only. The shared token of `--admin-token` /
//! `SIAP_ADMIN_TOKEN` / `<data-dir>/admin-token` still works as a city administrator named
//! `shared-token`, for bootstrapping and scripts written before named accounts; a city that has named
//! its administrators should stop using it.
//!
//! An `hr` or `permit_officer` account can be scoped to one agency (OPD, [`crate::opd`]): it then
//! reads and acts on that agency's employees only; without an agency it acts city-wide.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};

use crate::db::{Db, V};
use crate::error::ServerError;

/// How long a password session lasts (a working day and a half).
pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;

/// Longest life of an API token.
pub const MAX_TOKEN_DAYS: i64 = 366;

/// The name the shared bootstrap token acts under.
pub const SHARED_TOKEN_NAME: &str = "shared-token";

/// What an administrator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    CityAdmin,
    /// An OPD's supervisor or HR: employees, device codes, face enrollments, reports.
    Hr,
    /// Permits.
    PermitOfficer,
    /// Read-only, city-wide.
    Auditor,
}

impl Role {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CityAdmin => "city_admin",
            Role::Hr => "hr",
            Role::PermitOfficer => "permit_officer",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::CityAdmin,
            Role::Hr,
            Role::PermitOfficer,
            Role::Auditor,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// Whether this role may call `method` on the admin route template `route`.
    pub fn allows(self, method: &str, route: &str) -> bool {
        let read = method == "GET" || method == "HEAD";
        // Every signed-in administrator may manage their own API tokens and read the agencies.
        if route == "/v1/admin/tokens"
            || route == "/v1/admin/tokens/revoke"
            || (read && route == "/v1/admin/opds")
        {
            return true;
        }
        match self {
            Role::CityAdmin => true,
            Role::Auditor => read,
            Role::Hr => {
                route.starts_with("/v1/admin/faces")
                    || route.starts_with("/v1/admin/employees/")
                    || route == "/v1/admin/enrollments"
                    || (read
                        && (route.starts_with("/v1/admin/reports/")
                            || route.starts_with("/v1/admin/devices")
                            || route.starts_with("/v1/admin/blobs/")))
            }
            Role::PermitOfficer => {
                route.starts_with("/v1/admin/permits/")
                    || (read
                        && (route.starts_with("/v1/admin/reports/")
                            || route.starts_with("/v1/admin/blobs/")))
            }
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The administrator's name.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// The agency they are scoped to (`None`: the whole city), see [`crate::opd`].
    pub opd: Option<String>,
}

impl Principal {
    /// The approver a signed decision names: the signed-in administrator, whatever the request says;
    /// the request's `claimed` name only under the shared token (which names nobody).
    pub fn approver(&self, claimed: &str) -> String {
        if self.name == SHARED_TOKEN_NAME {
            claimed.to_owned()
        } else {
            self.name.clone()
        }
    }
}

/// A token as handed out (shown once).
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    /// The bearer token.
    pub token: String,
    /// Its owner.
    pub name: String,
    /// Its owner's role.
    pub role: Role,
    /// When it stops working.
    pub expires_at_ms: i64,
}

/// One administrator, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminRow {
    /// Name (sign-in name).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Disabled accounts cannot sign in, and their sessions and tokens stop working.
    pub disabled: bool,
    /// When created.
    pub created_at_ms: i64,
    /// The agency the account is scoped to (`None`: the whole city).
    pub opd: Option<String>,
}

/// What a city administrator sends to create or change an account.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminBody {
    /// Role.
    pub role: Role,
    /// A new password (at least [`MIN_PASSWORD`] characters); absent keeps the current one.
    #[serde(default)]
    pub password: Option<String>,
    /// Disable (or re-enable) the account.
    #[serde(default)]
    pub disabled: bool,
    /// Scope an `hr` or `permit_officer` account to one agency ([`crate::opd`]); absent: the whole
    /// city.
    #[serde(default)]
    pub opd: Option<String>,
}

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

fn check_name(name: &str) -> Result<(), ServerError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
        && name != SHARED_TOKEN_NAME;
    if ok {
        Ok(())
    } else {
        Err(ServerError::BadRequest(
            "an administrator's name is 1-64 letters, digits or . _ - @".into(),
        ))
    }
}

fn check_password(p: &str) -> Result<(), ServerError> {
    if p.chars().count() < MIN_PASSWORD || p.len() > 1024 {
        return Err(ServerError::BadRequest(format!(
            "a password needs {MIN_PASSWORD} to 1024 characters"
        )));
    }
    Ok(())
}

/// Argon2id hash of `password` (PHC string), off the async threads.
async fn hash_password(password: String) -> Result<String, ServerError> {
    tokio::task::spawn_blocking(move || {
        let salt_bytes = crate::devices::random_bytes::<16>()
            .map_err(|_| ServerError::Internal("no randomness".into()))?;
        let salt = SaltString::encode_b64(&salt_bytes)
            .map_err(|_| ServerError::Internal("salt".into()))?;
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| ServerError::Internal("password hashing failed".into()))
    })
    .await
    .map_err(|_| ServerError::Internal("password task failed".into()))?
}

/// Whether `password` matches the PHC string `hash`, off the async threads.
async fn password_matches(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// Creates or changes the account `name` (a new account needs a password).
pub async fn put(
    db: &Db,
    name: String,
    body: AdminBody,
    now: i64,
) -> Result<AdminRow, ServerError> {
    check_name(&name)?;
    if body.opd.is_some() && !matches!(body.role, Role::Hr | Role::PermitOfficer) {
        return Err(ServerError::BadRequest(
            "only hr and permit_officer accounts are scoped to an agency".into(),
        ));
    }
    let hash = match &body.password {
        Some(p) => {
            check_password(p)?;
            Some(hash_password(p.clone()).await?)
        }
        None => None,
    };
    db.tx(move |tx| {
        if let Some(o) = &body.opd
            && !crate::opd::exists(tx, o)?
        {
            return Err(ServerError::BadRequest("no such agency".into()));
        }
        let exists = tx
            .one("SELECT created_at_ms FROM admins WHERE name = $1", &[V::T(name.clone())])?;
        let created_at_ms = if let Some(r) = exists {
            tx.exec(
                "UPDATE admins SET role = $1, disabled = $2, password_hash = COALESCE($3, password_hash), opd = $4
                 WHERE name = $5",
                &[
                    V::T(body.role.as_str().into()),
                    V::I(i64::from(body.disabled)),
                    V::opt_text(hash.as_deref()),
                    V::opt_text(body.opd.as_deref()),
                    V::T(name.clone()),
                ],
            )?;
            r[0].i()?
        } else {
            let hash = hash.ok_or_else(|| {
                ServerError::BadRequest("a new administrator needs a password".into())
            })?;
            tx.exec(
                "INSERT INTO admins (name, role, password_hash, disabled, created_at_ms, opd) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    V::T(name.clone()),
                    V::T(body.role.as_str().into()),
                    V::T(hash),
                    V::I(i64::from(body.disabled)),
                    V::I(now),
                    V::opt_text(body.opd.as_deref()),
                ],
            )?;
            now
        };
        Ok(AdminRow {
            name,
            role: body.role,
            disabled: body.disabled,
            created_at_ms,
            opd: body.opd,
        })
    })
    .await
}

/// Every administrator.
pub async fn list(db: &Db) -> Result<Vec<AdminRow>, ServerError> {
    db.tx(|tx| {
        tx.query(
            "SELECT name, role, disabled, created_at_ms, opd FROM admins ORDER BY name",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(AdminRow {
                name: r[0].t()?,
                role: Role::parse(&r[1].t()?)
                    .ok_or_else(|| ServerError::Internal("unknown role stored".into()))?,
                disabled: r[2].i()? != 0,
                created_at_ms: r[3].i()?,
                opd: r[4].opt_t()?,
            })
        })
        .collect()
    })
    .await
}

/// Stores a new token for `name` of `kind` (`session` or `api`) until `expires_at_ms`.
async fn issue(
    db: &Db,
    name: String,
    role: Role,
    kind: &'static str,
    label: String,
    now: i64,
    expires_at_ms: i64,
) -> Result<Issued, ServerError> {
    let token = hex::encode(
        crate::devices::random_bytes::<24>()
            .map_err(|_| ServerError::Internal("no randomness".into()))?,
    );
    let hash = crate::devices::sha256(token.as_bytes());
    let owner = name.clone();
    db.tx(move |tx| {
        tx.exec(
            "INSERT INTO admin_tokens (token_hash, admin, kind, label, created_at_ms, expires_at_ms, revoked)
             VALUES ($1, $2, $3, $4, $5, $6, 0)",
            &[
                V::B(hash),
                V::T(owner),
                V::T(kind.into()),
                V::T(label),
                V::I(now),
                V::I(expires_at_ms),
            ],
        )?;
        Ok(())
    })
    .await?;
    Ok(Issued {
        token,
        name,
        role,
        expires_at_ms,
    })
}

/// A hash to verify against when the account does not exist.
static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// Signs `name` in with `password`: a session token. A wrong name, a wrong password and a disabled
/// account are the same `401` (no account enumeration).
pub async fn login(
    db: &Db,
    name: String,
    password: String,
    now: i64,
) -> Result<Issued, ServerError> {
    let n = name.clone();
    let row = db
        .tx(move |tx| {
            tx.one(
                "SELECT role, password_hash, disabled FROM admins WHERE name = $1",
                &[V::T(n)],
            )
        })
        .await?;
    // A missing account still costs one hash, so that timing does not tell which names exist.
    let (role, hash, disabled) = match row {
        Some(r) => (Role::parse(&r[0].t()?), r[1].opt_t()?, r[2].i()? != 0),
        None => (None, None, true),
    };
    let hash = match hash {
        Some(h) => h,
        None => DUMMY
            .get_or_try_init(|| hash_password("not a password of anyone".into()))
            .await?
            .clone(),
    };
    let matches = password_matches(password, hash).await;
    match role {
        Some(role) if matches && !disabled => {
            issue(
                db,
                name,
                role,
                "session",
                "session".into(),
                now,
                now + SESSION_TTL_MS,
            )
            .await
        }
        _ => Err(ServerError::Unauthorized),
    }
}

/// An API token for `who` (the same role), valid `days` days.
pub async fn api_token(
    db: &Db,
    who: &Principal,
    label: String,
    days: i64,
    now: i64,
) -> Result<Issued, ServerError> {
    if who.name == SHARED_TOKEN_NAME {
        return Err(ServerError::BadRequest(
            "the shared token cannot issue tokens: sign in as a named administrator".into(),
        ));
    }
    if !(1..=MAX_TOKEN_DAYS).contains(&days) || label.len() > 200 {
        return Err(ServerError::BadRequest(format!(
            "a token lives 1 to {MAX_TOKEN_DAYS} days, its label at most 200 bytes"
        )));
    }
    issue(
        db,
        who.name.clone(),
        who.role,
        "api",
        label,
        now,
        now + days * 86_400_000,
    )
    .await
}

/// Revokes `token` if it belongs to `who` (a city administrator may revoke anyone's). Whether one was
/// revoked.
pub async fn revoke(db: &Db, who: &Principal, token: &str) -> Result<bool, ServerError> {
    let hash = crate::devices::sha256(token.as_bytes());
    let (name, any) = (who.name.clone(), who.role == Role::CityAdmin);
    db.tx(move |tx| {
        let n = if any {
            tx.exec(
                "UPDATE admin_tokens SET revoked = 1 WHERE token_hash = $1 AND revoked = 0",
                &[V::B(hash)],
            )?
        } else {
            tx.exec(
                "UPDATE admin_tokens SET revoked = 1 WHERE token_hash = $1 AND revoked = 0 AND admin = $2",
                &[V::B(hash), V::T(name)],
            )?
        };
        Ok(n > 0)
    })
    .await
}

/// Who holds `token`: the shared token (hash `shared_hash`), or a live session or API token of an
/// enabled account.
pub async fn authenticate(
    db: &Db,
    shared_hash: &[u8],
    token: &str,
    now: i64,
) -> Result<Principal, ServerError> {
    let hash = crate::devices::sha256(token.as_bytes());
    if hash == shared_hash {
        return Ok(Principal {
            name: SHARED_TOKEN_NAME.into(),
            role: Role::CityAdmin,
            opd: None,
        });
    }
    let row = db
        .tx(move |tx| {
            tx.one(
                "SELECT a.name, a.role, a.opd FROM admin_tokens t JOIN admins a ON a.name = t.admin
                 WHERE t.token_hash = $1 AND t.revoked = 0 AND t.expires_at_ms > $2 AND a.disabled = 0",
                &[V::B(hash), V::I(now)],
            )
        })
        .await?
        .ok_or(ServerError::Unauthorized)?;
    Ok(Principal {
        name: row[0].t()?,
        role: Role::parse(&row[1].t()?).ok_or(ServerError::Unauthorized)?,
        opd: row[2].opt_t()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_reach_only_their_routes() {
        let decision = "/v1/admin/faces/{employee}/{template}/decision";
        assert!(Role::Hr.allows("POST", decision));
        assert!(!Role::PermitOfficer.allows("POST", decision));
        assert!(!Role::Auditor.allows("POST", decision));
        assert!(Role::Auditor.allows("GET", "/v1/admin/audit"));
        assert!(!Role::Hr.allows("GET", "/v1/admin/audit"));
        assert!(Role::PermitOfficer.allows("PUT", "/v1/admin/permits/{id}"));
        assert!(!Role::Hr.allows("PUT", "/v1/admin/permits/{id}"));
        assert!(!Role::Hr.allows("PUT", "/v1/admin/sites/{id}"));
        assert!(!Role::Hr.allows("PUT", "/v1/admin/admins/{name}"));
        assert!(Role::CityAdmin.allows("PUT", "/v1/admin/admins/{name}"));
        assert!(Role::Auditor.allows("POST", "/v1/admin/tokens"));
        for r in [
            Role::CityAdmin,
            Role::Hr,
            Role::PermitOfficer,
            Role::Auditor,
        ] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_name("hr.maria@kupang").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name(SHARED_TOKEN_NAME).is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("twelve chars").is_ok());
    }
}
