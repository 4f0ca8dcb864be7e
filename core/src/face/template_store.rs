//! Face templates at rest: sealed (AES-256-GCM, see [`crate::sealed`]) in the store's `face_templates`
//! table, one per employee, deletable on request (the employee's right to erasure).
//!
//! The associated data binds each sealed blob to its employee id, so copying a blob onto another row makes
//! it fail to open instead of letting one person check in as another.

use rusqlite::OptionalExtension;

use super::template::Template;
use crate::sealed::{MasterKey, SealingKey};
use crate::store::Store;
use crate::{Error, Result};

/// HKDF purpose of the template sealing key.
pub const PURPOSE: &str = "face-template";

/// The sealing key for face templates, derived from the app's master key.
pub fn sealing_key(master: &MasterKey) -> SealingKey {
    master.sealing_key(PURPOSE)
}

fn aad(employee_id: &str) -> Vec<u8> {
    [b"siap/face-template/".as_slice(), employee_id.as_bytes()].concat()
}

fn check_id(employee_id: &str) -> Result<()> {
    if employee_id.is_empty() || employee_id.len() > 128 {
        return Err(Error::invalid("employee_id", "must be 1 to 128 bytes"));
    }
    Ok(())
}

/// Saves (or replaces) an employee's template, sealed.
pub fn save(
    store: &Store,
    key: &SealingKey,
    employee_id: &str,
    template: &Template,
    now_ms: i64,
) -> Result<()> {
    store.with_tx(|tx| save_in(tx, key, employee_id, template, now_ms))
}

/// [`save`] inside the caller's transaction (an enrollment saves its template with its record).
pub fn save_in(
    tx: &rusqlite::Transaction<'_>,
    key: &SealingKey,
    employee_id: &str,
    template: &Template,
    now_ms: i64,
) -> Result<()> {
    check_id(employee_id)?;
    let plain = zeroize::Zeroizing::new(template.to_bytes());
    let sealed = key.seal(&aad(employee_id), &plain)?;
    tx.execute(
        "INSERT INTO face_templates (employee_id, sealed, model_sha256, created_at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(employee_id) DO UPDATE SET sealed = ?2, model_sha256 = ?3, created_at_ms = ?4",
        rusqlite::params![employee_id, sealed, template.model_sha256, now_ms],
    )?;
    Ok(())
}

/// Loads and opens an employee's template; `None` if there is none.
pub fn load(store: &Store, key: &SealingKey, employee_id: &str) -> Result<Option<Template>> {
    check_id(employee_id)?;
    let sealed: Option<Vec<u8>> = store.with_conn(|c| {
        Ok(c.query_row(
            "SELECT sealed FROM face_templates WHERE employee_id = ?1",
            [employee_id],
            |r| r.get(0),
        )
        .optional()?)
    })?;
    sealed
        .map(|s| Template::from_bytes(&key.open(&aad(employee_id), &s)?))
        .transpose()
}

/// Deletes an employee's template; true if one existed.
pub fn delete(store: &Store, employee_id: &str) -> Result<bool> {
    store.with_tx(|tx| delete_in(tx, employee_id))
}

/// [`delete`] inside the caller's transaction (an erasure deletes with its record).
pub fn delete_in(tx: &rusqlite::Transaction<'_>, employee_id: &str) -> Result<bool> {
    check_id(employee_id)?;
    Ok(tx.execute(
        "DELETE FROM face_templates WHERE employee_id = ?1",
        [employee_id],
    )? > 0)
}

/// Ids of every employee with a template, sorted.
pub fn list(store: &Store) -> Result<Vec<String>> {
    store.with_conn(|c| {
        let mut st = c.prepare("SELECT employee_id FROM face_templates ORDER BY employee_id")?;
        let ids = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    })
}

/// Every template, opened: the gallery for 1:N identification.
pub fn load_all(store: &Store, key: &SealingKey) -> Result<Vec<(String, Template)>> {
    let mut out = Vec::new();
    for id in list(store)? {
        if let Some(t) = load(store, key, &id)? {
            out.push((id, t));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::DIM;

    #[test]
    fn save_load_delete_and_blobs_bound_to_their_employee() {
        let store = Store::open_in_memory().expect("store");
        let key = sealing_key(&MasterKey::generate().expect("key"));
        let mut e = vec![0f32; DIM];
        e[3] = 1.0;
        let t = Template::from_embeddings(&"cd".repeat(32), vec![e]).expect("template");
        save(&store, &key, "e1", &t, 1).expect("save");
        save(&store, &key, "e2", &t, 2).expect("save");
        assert_eq!(load(&store, &key, "e1").expect("load"), Some(t.clone()));
        assert_eq!(
            list(&store).expect("list"),
            vec!["e1".to_string(), "e2".to_string()]
        );
        // A blob moved to another employee's row does not open.
        store
            .with_conn(|c| {
                c.execute(
                    "UPDATE face_templates SET sealed = (SELECT sealed FROM face_templates WHERE employee_id = 'e1') WHERE employee_id = 'e2'",
                    [],
                )?;
                Ok(())
            })
            .expect("swap");
        assert!(matches!(load(&store, &key, "e2"), Err(Error::Crypto(_))));
        assert!(delete(&store, "e1").expect("delete"));
        assert_eq!(load(&store, &key, "e1").expect("load"), None);
        assert!(!delete(&store, "e1").expect("delete again"));
    }
}
