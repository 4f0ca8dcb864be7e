//! Agencies (OPD, *organisasi perangkat daerah*): the city's departments, each the owner of its
//! employees and sites. One server holds every agency's data; an administrator either sees the whole
//! city (city administrators, auditors, and any account without an agency) or is scoped to one agency
//! (an agency's HR or supervisor), and then reads and acts on that agency's employees only.
//!
//! Which agency an employee or site belongs to is the server's own record (`opd_of`), written in the
//! same transaction as the published change; phones do not need it and the signed changes feed does
//! not carry it. The attendance report names each row's agency, so the city-wide view integrates them
//! and can be filtered to one.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::admins::Principal;
use crate::db::{Db, Sql, V};
use crate::error::ServerError;

/// One agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opd {
    /// Short code (`dinkes`, `disdukcapil`): 1-32 lowercase letters, digits, `-` or `_`.
    pub code: String,
    /// Full name.
    pub name: String,
}

/// Refuses a code that is not 1-32 lowercase letters, digits, `-` or `_`.
pub fn check_code(code: &str) -> Result<(), ServerError> {
    let ok = (1..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ServerError::BadRequest(
            "an agency code is 1-32 lowercase letters, digits, - or _".into(),
        ))
    }
}

/// Creates or renames agency `code`.
pub async fn put(db: &Db, code: String, name: String) -> Result<Opd, ServerError> {
    check_code(&code)?;
    let name = name.trim().to_owned();
    if name.is_empty() || name.len() > 200 {
        return Err(ServerError::BadRequest(
            "an agency's name is 1-200 bytes".into(),
        ));
    }
    db.tx(move |tx| {
        tx.exec(
            "INSERT INTO opds (code, name) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET name = $2",
            &[V::T(code.clone()), V::T(name.clone())],
        )?;
        Ok(Opd { code, name })
    })
    .await
}

/// Every agency.
pub async fn list(db: &Db) -> Result<Vec<Opd>, ServerError> {
    db.tx(|tx| {
        tx.query("SELECT code, name FROM opds ORDER BY code", &[])?
            .iter()
            .map(|r| {
                Ok(Opd {
                    code: r[0].t()?,
                    name: r[1].t()?,
                })
            })
            .collect()
    })
    .await
}

/// Whether agency `code` exists.
pub fn exists(tx: &mut dyn Sql, code: &str) -> Result<bool, ServerError> {
    Ok(tx
        .one("SELECT 1 FROM opds WHERE code = $1", &[V::T(code.into())])?
        .is_some())
}

/// The agency of `entity` (`employee`, `site`) `id`, if any.
pub fn of(tx: &mut dyn Sql, entity: &str, id: &str) -> Result<Option<String>, ServerError> {
    tx.one(
        "SELECT opd FROM opd_of WHERE entity = $1 AND entity_id = $2",
        &[V::T(entity.into()), V::T(id.into())],
    )?
    .map(|r| r[0].t())
    .transpose()
}

/// Records the agency of `entity` `id` as an administrator scoped to `scope` (`None`: city-wide) asks
/// (`requested`; `None` keeps the current one, or for a scoped administrator sets theirs). A scoped
/// administrator can neither take over another agency's entity nor give one to another agency.
pub fn assign(
    tx: &mut dyn Sql,
    scope: Option<&str>,
    entity: &str,
    id: &str,
    requested: Option<&str>,
) -> Result<(), ServerError> {
    let current = of(tx, entity, id)?;
    let target = match scope {
        None => requested.map(str::to_owned).or(current),
        Some(mine) => {
            let other = |o: &Option<String>| o.as_deref().is_some_and(|o| o != mine);
            if other(&current) || other(&requested.map(str::to_owned)) {
                return Err(ServerError::Forbidden("this belongs to another agency"));
            }
            Some(mine.to_owned())
        }
    };
    let Some(target) = target else {
        return Ok(());
    };
    if !exists(tx, &target)? {
        return Err(ServerError::BadRequest("no such agency".into()));
    }
    tx.exec(
        "INSERT INTO opd_of (entity, entity_id, opd) VALUES ($1, $2, $3)
         ON CONFLICT (entity, entity_id) DO UPDATE SET opd = $3",
        &[V::T(entity.into()), V::T(id.into()), V::T(target)],
    )?;
    Ok(())
}

/// The employees of agency `code`.
pub async fn employees_of(db: &Db, code: String) -> Result<BTreeSet<String>, ServerError> {
    db.tx(move |tx| {
        tx.query(
            "SELECT entity_id FROM opd_of WHERE entity = 'employee' AND opd = $1",
            &[V::T(code)],
        )?
        .iter()
        .map(|r| r[0].t())
        .collect()
    })
    .await
}

/// The agency of every employee that has one.
pub async fn employee_agencies(
    db: &Db,
) -> Result<std::collections::HashMap<String, String>, ServerError> {
    db.tx(|tx| {
        tx.query(
            "SELECT entity_id, opd FROM opd_of WHERE entity = 'employee'",
            &[],
        )?
        .iter()
        .map(|r| Ok((r[0].t()?, r[1].t()?)))
        .collect()
    })
    .await
}

/// Refuses (403) an administrator scoped to an agency acting on an employee of another agency, or of
/// none.
pub async fn require_employee(db: &Db, who: &Principal, employee: &str) -> Result<(), ServerError> {
    let Some(mine) = who.opd.clone() else {
        return Ok(());
    };
    let e = employee.to_owned();
    let theirs = db.tx(move |tx| of(tx, "employee", &e)).await?;
    if theirs.as_deref() == Some(mine.as_str()) {
        Ok(())
    } else {
        Err(ServerError::Forbidden(
            "this employee belongs to another agency",
        ))
    }
}

/// Whether `who` may see `employee`'s data, given the employees of their agency (`None`: city-wide).
pub fn visible(scope: Option<&BTreeSet<String>>, employee: Option<&str>) -> bool {
    scope.is_none_or(|s| employee.is_some_and(|e| s.contains(e)))
}

/// The employees `who` may see: `None` when city-wide.
pub async fn scope_of(db: &Db, who: &Principal) -> Result<Option<BTreeSet<String>>, ServerError> {
    match &who.opd {
        None => Ok(None),
        Some(code) => Ok(Some(employees_of(db, code.clone()).await?)),
    }
}
