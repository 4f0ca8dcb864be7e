//! Validation of reference data in the changes feed, with the same types and rules the device applies.
//!
//! The server calls [`validate_change`] before it stores what an administrator publishes, so that
//! nothing enters the feed that devices would refuse; the device calls it again on every change it pulls
//! (see [`apply`](super::apply)) and skips, rather than stores, anything that fails. Both sides therefore
//! agree on one definition of "valid":
//!
//! - ids (site, employee, asset, schedule and every assigned site id): 1 to [`MAX_ID_BYTES`] bytes, not
//!   only whitespace, no control characters;
//! - names and asset categories: at most [`MAX_NAME_CHARS`] characters;
//! - a site's fence: JSON of [`crate::geo::Fence`] that passes [`crate::geo::Site::validate`] (the check
//!   the device's site index applies);
//! - an asset: finite latitude in [-90, 90], longitude in [-180, 180], radius in
//!   (0, [`MAX_ASSET_RADIUS_M`]] metres (the device's [`Reference::upsert_asset`] rule);
//! - an employee: at most [`MAX_EMPLOYEE_SITES`] assigned sites, each a valid id;
//! - a schedule body: nesting depth ([`json_depth`]) at most [`MAX_SCHEDULE_DEPTH`] and serialised size
//!   at most [`MAX_SCHEDULE_BYTES`]. A deeply nested body would otherwise push the whole changes page
//!   past serde_json's recursion limit (128) on the device, and every pull would fail.
//!
//! Permits are validated where they are made and verified by the device's permit cache, so
//! [`validate_change`] accepts them as they are.
//!
//! Errors are [`Error::InvalidInput`] naming the field and the rule, never the value.
//!
//! [`Reference::upsert_asset`]: crate::reference::Reference::upsert_asset

use std::io::Write;

use serde::Deserialize as _;

use super::protocol::Change;
use crate::geo::{Fence, LatLon, Site};
use crate::{Error, Result};

/// Longest id, in bytes (the device's site ids are limited in bytes too, see
/// [`crate::geo::MAX_SITE_ID_LEN`]).
pub const MAX_ID_BYTES: usize = 128;

/// Longest display name or asset category, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// Most sites one employee may be assigned to.
pub const MAX_EMPLOYEE_SITES: usize = 1000;

/// Largest asset proximity radius in metres (as [`Reference::upsert_asset`] requires).
///
/// [`Reference::upsert_asset`]: crate::reference::Reference::upsert_asset
pub const MAX_ASSET_RADIUS_M: f64 = 10_000.0;

/// Deepest nesting of arrays and objects accepted in a schedule body (see [`json_depth`]).
pub const MAX_SCHEDULE_DEPTH: usize = 16;

/// Largest serialised schedule body, in bytes.
pub const MAX_SCHEDULE_BYTES: usize = 64 * 1024;

/// Checks one change against the rules in the [module documentation](self).
pub fn validate_change(change: &Change) -> Result<()> {
    match change {
        Change::Site { id, name, fence } => site_from_change(id, name, fence).map(|_| ()),
        Change::Employee { id, name, site_ids } => {
            check_id("id", id)?;
            check_name("name", name)?;
            if site_ids.len() > MAX_EMPLOYEE_SITES {
                return Err(Error::invalid(
                    "site_ids",
                    format!("more than {MAX_EMPLOYEE_SITES} sites"),
                ));
            }
            site_ids.iter().try_for_each(|s| check_id("site_ids", s))
        }
        Change::Asset {
            id,
            name,
            category,
            lat,
            lon,
            radius_m,
        } => {
            check_id("id", id)?;
            check_name("name", name)?;
            check_name("category", category)?;
            LatLon::new(*lat, *lon)?;
            if !(radius_m.is_finite() && *radius_m > 0.0 && *radius_m <= MAX_ASSET_RADIUS_M) {
                return Err(Error::invalid(
                    "radius_m",
                    format!("must be in (0, {MAX_ASSET_RADIUS_M}] metres"),
                ));
            }
            Ok(())
        }
        Change::Schedule { id, body } => {
            check_id("id", id)?;
            if json_depth(body) > MAX_SCHEDULE_DEPTH {
                return Err(Error::invalid(
                    "body",
                    format!("nested deeper than {MAX_SCHEDULE_DEPTH} levels"),
                ));
            }
            let mut size = SizeLimit {
                written: 0,
                limit: MAX_SCHEDULE_BYTES,
            };
            if serde_json::to_writer(&mut size, body).is_err() || size.written > MAX_SCHEDULE_BYTES
            {
                return Err(Error::invalid(
                    "body",
                    format!("larger than {MAX_SCHEDULE_BYTES} bytes"),
                ));
            }
            Ok(())
        }
        Change::Permit { .. } | Change::FaceDecision { .. } => Ok(()),
    }
}

/// The nesting depth of a JSON value: 0 for a scalar (null, bool, number, string), 1 for an array or
/// object holding only scalars (or nothing), one more for each further level.
///
/// Iterative, so it cannot overflow the stack however deep `v` is (a `Value` built in memory has no
/// recursion limit).
pub fn json_depth(v: &serde_json::Value) -> usize {
    let mut max = 0;
    let mut stack: Vec<(&serde_json::Value, usize)> = vec![(v, 0)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            serde_json::Value::Array(items) => {
                let d = depth + 1;
                max = max.max(d);
                stack.extend(items.iter().map(|i| (i, d)));
            }
            serde_json::Value::Object(map) => {
                let d = depth + 1;
                max = max.max(d);
                stack.extend(map.values().map(|i| (i, d)));
            }
            _ => {}
        }
    }
    max
}

/// Parses and validates a site change into the device's [`Site`] (used by the device to store the
/// fence in its canonical form).
pub fn site_from_change(id: &str, name: &str, fence: &serde_json::Value) -> Result<Site> {
    check_id("id", id)?;
    check_name("name", name)?;
    // serde_json's own message could quote a value; keep only that the shape is wrong.
    let fence: Fence = Fence::deserialize(fence)
        .map_err(|_| Error::invalid("fence", "not a circle or polygon fence"))?;
    let site = Site {
        id: id.to_owned(),
        name: name.to_owned(),
        fence,
    };
    site.validate()?;
    Ok(site)
}

/// An id as the device accepts it: not blank, at most [`MAX_ID_BYTES`] bytes, no control characters
/// (the server checks every id an administrator gives with this same rule).
pub fn check_id(field: &'static str, id: &str) -> Result<()> {
    if id.trim().is_empty() {
        return Err(Error::invalid(field, "id is empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(Error::invalid(
            field,
            format!("id longer than {MAX_ID_BYTES} bytes"),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(Error::invalid(field, "id contains control characters"));
    }
    Ok(())
}

fn check_name(field: &'static str, name: &str) -> Result<()> {
    // Counting stops just past the limit: a huge string is not walked to its end.
    if name.chars().nth(MAX_NAME_CHARS).is_some() {
        return Err(Error::invalid(
            field,
            format!("longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Counts bytes written and fails once past `limit`, so measuring a huge value stops early.
struct SizeLimit {
    written: usize,
    limit: usize,
}

impl Write for SizeLimit {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written = self.written.saturating_add(buf.len());
        if self.written > self.limit {
            return Err(std::io::Error::other("size limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn site(id: &str, fence: serde_json::Value) -> Change {
        Change::Site {
            id: id.into(),
            name: "Balai Kota".into(),
            fence,
        }
    }

    fn circle() -> serde_json::Value {
        json!({"type": "circle", "center": {"lat": -6.9, "lon": 107.6}, "radius_m": 80.0})
    }

    fn asset(lat: f64, lon: f64, radius_m: f64) -> Change {
        Change::Asset {
            id: "a1".into(),
            name: "Jalan".into(),
            category: "road".into(),
            lat,
            lon,
            radius_m,
        }
    }

    fn field(r: Result<()>) -> &'static str {
        match r {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    fn nested(depth: usize) -> serde_json::Value {
        let mut v = json!(1);
        for i in 0..depth {
            v = if i % 2 == 0 {
                json!([v])
            } else {
                json!({ "k": v })
            };
        }
        v
    }

    #[test]
    fn ids() {
        let ok = |id: &str| validate_change(&site(id, circle()));
        assert!(ok("s1").is_ok());
        assert!(ok(&"x".repeat(MAX_ID_BYTES)).is_ok());
        assert_eq!(field(ok("")), "id");
        assert_eq!(field(ok("   ")), "id");
        assert_eq!(field(ok(&"x".repeat(MAX_ID_BYTES + 1))), "id");
        // 43 three-byte characters are 129 bytes: refused, as the device's byte limit would.
        assert_eq!(field(ok(&"€".repeat(43))), "id");
        assert_eq!(field(ok("a\nb")), "id");
        assert_eq!(field(ok("a\u{0}b")), "id");
        assert_eq!(field(ok("a\u{85}b")), "id");
        let sched = Change::Schedule {
            id: "\t".into(),
            body: json!({}),
        };
        assert_eq!(field(validate_change(&sched)), "id");
    }

    #[test]
    fn names() {
        let named = |n: String| Change::Site {
            id: "s1".into(),
            name: n,
            fence: circle(),
        };
        assert!(validate_change(&named("é".repeat(MAX_NAME_CHARS))).is_ok());
        assert_eq!(
            field(validate_change(&named("é".repeat(MAX_NAME_CHARS + 1)))),
            "name"
        );
        let mut a = asset(1.0, 2.0, 30.0);
        if let Change::Asset { category, .. } = &mut a {
            *category = "c".repeat(MAX_NAME_CHARS + 1);
        }
        assert_eq!(field(validate_change(&a)), "category");
    }

    #[test]
    fn site_fences_parse_and_validate_like_the_device() {
        assert!(validate_change(&site("s1", circle())).is_ok());
        let square = json!({"type": "polygon", "vertices": [
            {"lat": 0.0, "lon": 0.0}, {"lat": 0.0, "lon": 0.001},
            {"lat": 0.001, "lon": 0.001}, {"lat": 0.001, "lon": 0.0}]});
        assert!(validate_change(&site("s1", square)).is_ok());
        for bad in [
            json!(null),
            json!("circle"),
            json!({"type": "triangle"}),
            // The admin API's flat shape is not the core's fence.
            json!({"type": "circle", "lat": -6.9, "lon": 107.6, "radius_m": 80}),
            json!({"type": "circle", "center": {"lat": 95.0, "lon": 0.0}, "radius_m": 80.0}),
            json!({"type": "circle", "center": {"lat": 0.0, "lon": 0.0}, "radius_m": 0.0}),
            json!({"type": "circle", "center": {"lat": 0.0, "lon": 0.0}, "radius_m": -5.0}),
            json!({"type": "circle", "center": {"lat": 0.0, "lon": 0.0}, "radius_m": 1e9}),
            json!({"type": "polygon", "vertices": [{"lat": 0.0, "lon": 0.0}, {"lat": 0.0, "lon": 0.001}]}),
            // A bow-tie crosses itself.
            json!({"type": "polygon", "vertices": [
                {"lat": 0.0, "lon": 0.0}, {"lat": 0.001, "lon": 0.001},
                {"lat": 0.0, "lon": 0.001}, {"lat": 0.001, "lon": 0.0}]}),
        ] {
            let r = validate_change(&site("s1", bad.clone()));
            assert!(r.is_err(), "accepted {bad}");
        }
        // A fence error names the field, never the value.
        let msg = validate_change(&site("s1", json!({"type": "secret-shape"})))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("fence") && !msg.contains("secret"), "{msg}");
    }

    #[test]
    fn assets() {
        assert!(validate_change(&asset(-6.9, 107.6, 30.0)).is_ok());
        assert!(validate_change(&asset(90.0, -180.0, MAX_ASSET_RADIUS_M)).is_ok());
        for (lat, lon) in [
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
            (90.5, 0.0),
            (-91.0, 0.0),
            (0.0, 180.5),
        ] {
            assert!(validate_change(&asset(lat, lon, 30.0)).is_err());
        }
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_ASSET_RADIUS_M + 1.0] {
            assert_eq!(field(validate_change(&asset(0.0, 0.0, r))), "radius_m");
        }
    }

    #[test]
    fn employees() {
        let emp = |site_ids: Vec<String>| Change::Employee {
            id: "e1".into(),
            name: "Ani".into(),
            site_ids,
        };
        assert!(validate_change(&emp(vec![])).is_ok());
        assert!(validate_change(&emp(vec!["s1".into(), "s2".into()])).is_ok());
        assert!(validate_change(&emp(vec!["s".into(); MAX_EMPLOYEE_SITES])).is_ok());
        assert_eq!(
            field(validate_change(&emp(vec![
                "s".into();
                MAX_EMPLOYEE_SITES + 1
            ]))),
            "site_ids"
        );
        assert_eq!(
            field(validate_change(&emp(vec!["s1".into(), String::new()]))),
            "site_ids"
        );
        assert_eq!(
            field(validate_change(&emp(vec!["x".repeat(200)]))),
            "site_ids"
        );
        assert_eq!(
            field(validate_change(&emp(vec!["a\rb".into()]))),
            "site_ids"
        );
    }

    #[test]
    fn depth_is_counted_per_container() {
        assert_eq!(json_depth(&json!(null)), 0);
        assert_eq!(json_depth(&json!("x")), 0);
        assert_eq!(json_depth(&json!([])), 1);
        assert_eq!(json_depth(&json!({})), 1);
        assert_eq!(json_depth(&json!([1, [2, [3]], {"a": 1}])), 3);
        assert_eq!(json_depth(&json!({"a": {"b": [{"c": []}]}})), 5);
        for d in [0, 1, 5, 16, 17, 100] {
            assert_eq!(json_depth(&nested(d)), d);
        }
    }

    #[test]
    fn depth_of_a_value_deeper_than_any_parser_allows_does_not_overflow() {
        // Built in memory (no parser limit); dropping it recursively would overflow the stack, so it is
        // taken apart iteratively after the check.
        let mut v = json!(0);
        for _ in 0..100_000 {
            v = serde_json::Value::Array(vec![v]);
        }
        assert_eq!(json_depth(&v), 100_000);
        let mut cur = v;
        while let serde_json::Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(serde_json::Value::Null);
        }
    }

    #[test]
    fn schedules() {
        let sched = |body| Change::Schedule {
            id: "pemkot-2026".into(),
            body,
        };
        assert!(validate_change(&sched(json!({"mon": ["07:30", "16:00"]}))).is_ok());
        assert!(validate_change(&sched(nested(MAX_SCHEDULE_DEPTH))).is_ok());
        assert_eq!(
            field(validate_change(&sched(nested(MAX_SCHEDULE_DEPTH + 1)))),
            "body"
        );
        // 64 KiB is the limit on the serialised body ("" quotes included).
        let fits = json!("x".repeat(MAX_SCHEDULE_BYTES - 2));
        assert!(validate_change(&sched(fits)).is_ok());
        let too_big = json!("x".repeat(MAX_SCHEDULE_BYTES - 1));
        assert_eq!(field(validate_change(&sched(too_big))), "body");
        let many = serde_json::Value::Array((0..20_000).map(|i| json!(i)).collect());
        assert_eq!(field(validate_change(&sched(many))), "body");
    }

    #[test]
    fn permits_pass_through() {
        let p = Change::Permit {
            signed: crate::signed::SignedBlob {
                body: b"not even json".to_vec(),
                signature: vec![],
            },
        };
        assert!(validate_change(&p).is_ok());
    }
}
