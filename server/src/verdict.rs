//! The server's own verdict on an attendance record, stored beside the device's.
//!
//! A phone decides offline so that the employee sees the result at once, but a phone can be modified:
//! its `accepted` is a claim. What counts in reports is what the server can re-check itself. Today the
//! server re-checks, for every check-in and check-out:
//!
//! - **binding**: the device that signed the record is bound to that employee (a citizen's permit
//!   device, or employee A's phone recording for B, gets `not_bound`);
//! - **place**: the fix in the record against the server's own fences of the sites the server assigns
//!   to that employee, with the device's accuracy-aware geo code (`outside_fence`,
//!   `location_undecidable`, `no_assigned_site`), and the platform's mock flag in the fix
//!   (`mock_location`): a modified client cannot move the fence or claim "inside" for a fix outside;
//! - **time**: the event time against the server's own receipt clock (`event_time_implausible`,
//!   `event_time_in_future`, see [`crate::report::flag_event_time`]);
//! - **the device's own decision**: a record the device rejected is never upgraded (`device_rejected`);
//! - **the face evidence, for what it claims**: the city's policy (`require_face`, `require_liveness`
//!   in the signed device configuration) against what the record carries (`face_missing`,
//!   `liveness_missing`), and the evidence against the decision (`face_quality`, `face_mismatch`,
//!   `liveness_failed`: a client that flips only its verdict is caught);
//! - **replay**: a liveness challenge nonce is used by one record only; a second record answering the
//!   same challenge (a recorded attempt pasted into a later check-in) gets `replayed_challenge`;
//! - **whose face**: the template the face was matched against must be one the city approved for
//!   that employee on that device (see [`crate::faces`]); otherwise `enrollment_pending`. A face a
//!   colleague enrolled under someone else's id is never approved, so it never counts.
//!
//! With the face models, the face and the liveness decision are re-computed: a check-in that passes
//! every rule above is `pending` until [`crate::recheck`] has embedded its crop and re-run the
//! liveness check on its transcript (`face_crop_missing`, `liveness_observations_missing` when it names
//! none). Without them, a server `accepted` trusts the liveness evidence the device signed, held to the
//! city's policy, its decision and one use per nonce. The fences are the server's current ones: a fence moved after a check-in judges that check-in by the new fence. A record the device
//! accepted and the server did not is flagged `verdict_disputed`, with both verdicts kept.

use std::collections::{BTreeSet, HashMap};

use siap_core::attendance::{AttendancePayload, FaceEvidence, KIND_CHECK_IN, KIND_CHECK_OUT};
use siap_core::enrollment::{EnrollmentPayload, KIND_ENROLLMENT};
use siap_core::geo::{Containment, FixContext, GeoPolicy, Site, SiteIndex, evaluate};
use siap_core::ledger::Record;
use siap_core::sync::protocol::{Binding, Change, DeviceConfig};

use crate::db::{Sql, V};
use crate::error::ServerError;
use crate::report::Extracted;

/// The server's reference data a batch of records is judged against: each employee's assigned sites
/// with their fences, as last published in the changes feed.
#[derive(Debug, Default)]
pub struct Reference {
    /// Assigned sites per employee; an employee the server does not know is absent.
    assigned: HashMap<String, Vec<Site>>,
    /// The spatial index of each employee's sites, built once per batch.
    indexes: HashMap<String, Option<SiteIndex>>,
    /// The city's policy.
    policy: DeviceConfig,
    /// Liveness nonces already used, by (device, seq): stored ones and those of this batch.
    nonces: HashMap<String, (String, u64)>,
    /// Nonces first used in this batch, to store.
    fresh: Vec<(String, String, u64)>,
    /// Approved face templates per employee, with the devices each holds for (`None`: any).
    approved: crate::faces::Approved,
    /// The server re-checks faces itself (it has the face models): a check-in otherwise accepted
    /// waits for that (`pending`).
    face_recheck: bool,
    /// Check-ins judged `pending` in this batch, to queue for the worker.
    queued: Vec<Queued>,
    /// The verdicts of this batch, decision and reasons (counted in the metrics once committed).
    pub judged: Vec<(String, Vec<String>)>,
}

impl Reference {
    /// Loads what `records` need: the latest published version of each employee they name and of
    /// each site those employees are assigned to.
    pub fn load(
        tx: &mut dyn Sql,
        records: &[Record],
        policy: &DeviceConfig,
        face_recheck: bool,
    ) -> Result<Reference, ServerError> {
        let judged: Vec<(&Record, AttendancePayload)> = records
            .iter()
            .filter(|r| is_attendance(&r.kind))
            .filter_map(|r| Some((r, serde_json::from_slice(&r.payload).ok()?)))
            .collect();
        // Each nonce is claimed for the first record of the batch that answers it, before anything is
        // judged: the claim is an insert, so of two uploads racing with the same nonce (two devices,
        // two connections) PostgreSQL makes the second wait for the first and then keep its row; the
        // lookup below then names the real first user to both.
        // Enrollments answer challenges too: a nonce is one answer, whether to a check-in or to an
        // enrollment (a check-in's recorded answer reused for an enrollment, or the other way round,
        // is a replay).
        let enrolled: Vec<(&Record, String)> = records
            .iter()
            .filter(|r| r.kind == KIND_ENROLLMENT)
            .filter_map(|r| {
                let p: EnrollmentPayload = serde_json::from_slice(&r.payload).ok()?;
                Some((r, p.liveness?.nonce))
            })
            .collect();
        let mut answers: Vec<(&Record, &str)> = judged
            .iter()
            .filter_map(|(r, p)| Some((*r, nonce_of(p)?)))
            .chain(enrolled.iter().map(|(r, n)| (*r, n.as_str())))
            .collect();
        answers.sort_by_key(|(r, _)| r.seq);
        let mut claims: Vec<(String, String, u64)> = Vec::new();
        for (r, n) in answers {
            if plausible_nonce(n) && !claims.iter().any(|(c, _, _)| c == n) {
                claims.push((n.to_owned(), r.device_id.clone(), r.seq));
            }
        }
        insert_nonces(tx, &claims)?;
        let payloads: Vec<AttendancePayload> = judged.into_iter().map(|(_, p)| p).collect();
        // Owners of the nonces, looked up NONCE_CHUNK at a time (one round trip each on PostgreSQL).
        let wanted: Vec<&str> = claims.iter().map(|(n, _, _)| n.as_str()).collect();
        let mut nonces = HashMap::new();
        for chunk in wanted.chunks(NONCE_CHUNK) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let params: Vec<V> = chunk.iter().map(|n| V::T((*n).to_owned())).collect();
            for row in tx.query(
                &format!(
                    "SELECT nonce, device_id, seq FROM liveness_nonces WHERE nonce IN ({})",
                    marks.join(", ")
                ),
                &params,
            )? {
                nonces.insert(row[0].t()?, (row[1].t()?, row[2].i()?.max(0) as u64));
            }
        }
        let employees: BTreeSet<String> = payloads
            .into_iter()
            .map(|p| p.employee_id)
            // An id that could never have been published (a NUL, which PostgreSQL's text refuses, or
            // an over-long one) is not looked up: that employee is simply unknown to the server.
            .filter(|e| siap_core::sync::validate::check_id("employee_id", e).is_ok())
            .collect();
        let approved = crate::faces::approved(tx, &employees)?;
        let mut sites: HashMap<String, Option<Site>> = HashMap::new();
        let mut assigned = HashMap::new();
        for e in employees {
            let Some(Change::Employee { site_ids, .. }) = latest(tx, "employee", &e)? else {
                continue;
            };
            let mut list = Vec::new();
            for id in site_ids {
                if !sites.contains_key(&id) {
                    let site = match latest(tx, "site", &id)? {
                        Some(Change::Site { id, name, fence }) => {
                            siap_core::sync::validate::site_from_change(&id, &name, &fence).ok()
                        }
                        _ => None,
                    };
                    sites.insert(id.clone(), site);
                }
                if let Some(Some(site)) = sites.get(&id) {
                    list.push(site.clone());
                }
            }
            assigned.insert(e, list);
        }
        Ok(Reference {
            indexes: HashMap::new(),
            assigned,
            policy: policy.clone(),
            nonces,
            fresh: Vec::new(),
            approved,
            face_recheck,
            queued: Vec::new(),
            judged: Vec::new(),
        })
    }

    /// Stores the nonces first used by the records judged since [`Reference::load`], and queues the
    /// check-ins judged `pending` for the face re-check.
    pub fn remember(&mut self, tx: &mut dyn Sql, now: i64) -> Result<(), ServerError> {
        let fresh: Vec<_> = self.fresh.drain(..).collect();
        insert_nonces(tx, &fresh)?;
        for q in self.queued.drain(..) {
            tx.exec(
                "INSERT INTO face_rechecks (device_id, seq, employee_id, template_sha256, crop_sha256, status, queued_at_ms, observations_sha256)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) ON CONFLICT (device_id, seq) DO NOTHING",
                &[
                    V::T(q.device_id),
                    V::I(q.seq as i64),
                    V::T(q.employee_id),
                    V::T(q.template_sha256),
                    V::T(q.crop_sha256),
                    V::I(now),
                    q.observations_sha256.map_or(V::NullT, V::T),
                ],
            )?;
        }
        Ok(())
    }

    /// Whether the template `face` was matched against is approved by the city for `device`.
    fn template_approved(&self, p: &AttendancePayload, face: &FaceEvidence, device: &str) -> bool {
        let Some(t) = &face.template else {
            return false;
        };
        self.approved
            .get(&p.employee_id)
            .is_some_and(|list| list.iter().any(|a| a.allows(&t.sha256, device)))
    }

    /// The city's policy the records are judged by.
    pub fn policy(&self) -> &DeviceConfig {
        &self.policy
    }

    /// Whether the server re-checks faces and liveness itself (it has the face models).
    pub fn rechecks(&self) -> bool {
        self.face_recheck
    }

    /// Marks `nonce` used by (`device`, `seq`); whether another record had used it first.
    pub fn replayed(&mut self, nonce: &str, device: &str, seq: u64) -> bool {
        if !plausible_nonce(nonce) {
            // Not a nonce the core draws (32 hex digits): nothing to remember, and not an answer.
            return true;
        }
        if let Some((d, s)) = self.nonces.get(nonce) {
            return !(d == device && *s == seq);
        }
        self.nonces
            .insert(nonce.to_owned(), (device.to_owned(), seq));
        self.fresh.push((nonce.to_owned(), device.to_owned(), seq));
        false
    }
}

/// Claims `nonces` (nonce, device, seq), NONCE_CHUNK / 3 rows per statement; a nonce already claimed
/// keeps its first owner.
fn insert_nonces(tx: &mut dyn Sql, nonces: &[(String, String, u64)]) -> Result<(), ServerError> {
    for chunk in nonces.chunks(NONCE_CHUNK / 3) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
            .collect();
        let params: Vec<V> = chunk
            .iter()
            .flat_map(|(n, d, s)| [V::T(n.clone()), V::T(d.clone()), V::I(*s as i64)])
            .collect();
        tx.exec(
                &format!(
                    "INSERT INTO liveness_nonces (nonce, device_id, seq) VALUES {} ON CONFLICT (nonce) DO NOTHING",
                    rows.join(", ")
                ),
                &params,
            )?;
    }
    Ok(())
}

/// The liveness nonce a check-in answered, if any.
fn nonce_of(p: &AttendancePayload) -> Option<&str> {
    p.face.as_ref()?.liveness.as_ref().map(|l| l.nonce.as_str())
}

/// Nonces per lookup statement (parameters per statement stay far below both backends' limits).
const NONCE_CHUNK: usize = 300;

/// The core draws 128-bit nonces as 32 lowercase hex digits.
fn plausible_nonce(n: &str) -> bool {
    n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the face evidence the device signed says, against the city's policy and the decision.
fn face_reasons(p: &AttendancePayload, r: &Record, reference: &mut Reference) -> Vec<String> {
    let mut reasons = Vec::new();
    let Some(face) = &p.face else {
        if reference.policy.require_face {
            reasons.push("face_missing".into());
        }
        return reasons;
    };
    if !reference.template_approved(p, face, &r.device_id) {
        reasons.push("enrollment_pending".into());
    }
    if reference.face_recheck
        && !face
            .crop_sha256
            .as_deref()
            .is_some_and(siap_core::enrollment::is_sha256_hex)
    {
        reasons.push("face_crop_missing".into());
    }
    if !face.quality_passed {
        reasons.push("face_quality".into());
    } else if !face.matched || face.similarity < face.threshold {
        reasons.push("face_mismatch".into());
    }
    match &face.liveness {
        None if reference.policy.require_liveness => reasons.push("liveness_missing".into()),
        None => {}
        Some(l) => {
            if !l.passed {
                reasons.push("liveness_failed".into());
            }
            // The server re-runs the check on the attempt's transcript: a passed answer without one
            // would be a claim it cannot check.
            if reference.face_recheck
                && l.passed
                && !l
                    .observations_sha256
                    .as_deref()
                    .is_some_and(siap_core::enrollment::is_sha256_hex)
            {
                reasons.push("liveness_observations_missing".into());
            }
            if reference.replayed(&l.nonce, &r.device_id, r.seq) {
                reasons.push("replayed_challenge".into());
            }
        }
    }
    reasons
}

/// The latest published change of one entity, if any (and if it still parses).
fn latest(tx: &mut dyn Sql, entity: &str, id: &str) -> Result<Option<Change>, ServerError> {
    Ok(tx
        .one(
            "SELECT body FROM changes WHERE entity = $1 AND entity_id = $2 ORDER BY cursor DESC LIMIT 1",
            &[V::T(entity.into()), V::T(id.into())],
        )?
        .map(|r| r[0].b())
        .transpose()?
        .and_then(|body| serde_json::from_slice(&body).ok()))
}

fn is_attendance(kind: &str) -> bool {
    kind == KIND_CHECK_IN || kind == KIND_CHECK_OUT
}

/// Where the fix of `p` is, by the server's fences of the employee's assigned sites.
fn place_reasons(p: &AttendancePayload, reference: &mut Reference, reasons: &mut Vec<String>) {
    if p.fix.is_mock {
        reasons.push("mock_location".into());
    }
    let Reference {
        assigned, indexes, ..
    } = reference;
    let index = indexes.entry(p.employee_id.clone()).or_insert_with(|| {
        assigned
            .get(&p.employee_id)
            .filter(|sites| !sites.is_empty())
            .and_then(|sites| SiteIndex::new(sites.clone()).ok())
    });
    let Some(index) = index else {
        reasons.push("no_assigned_site".into());
        return;
    };
    let ctx = FixContext {
        previous: None,
        seen_before: false,
        now_ms: p.fix.time_ms,
    };
    match evaluate(&p.fix, &ctx, index, &GeoPolicy::default()) {
        Ok(v) => match v.containment {
            Containment::Inside => {}
            Containment::Outside => reasons.push("outside_fence".into()),
            Containment::Undecidable => reasons.push("location_undecidable".into()),
        },
        // A fix the geo code refuses (NaN, out of range) was never a valid place.
        Err(_) => reasons.push("location_undecidable".into()),
    }
}

/// The server's verdict on one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVerdict {
    /// `accepted`, `rejected`, or `pending` (waiting for the server's own face check, see
    /// [`crate::recheck`]).
    pub decision: &'static str,
    /// Why rejected (empty when accepted), snake_case codes.
    pub reasons: Vec<String>,
}

/// Judges an attendance record `r` (its extracted columns `x`, with the server's time flags already
/// added) signed by a device with `binding`, against the server's `reference`. `None` for records
/// that are not attendance. Adds `verdict_disputed` to the record's flags when the device accepted and
/// the server does not.
pub fn judge(
    r: &Record,
    binding: &Binding,
    x: &mut Extracted,
    reference: &mut Reference,
) -> Option<ServerVerdict> {
    if !is_attendance(&r.kind) {
        return None;
    }
    let mut reasons = Vec::new();
    let bound =
        matches!(binding, Binding::Employee(e) if x.employee_id.as_deref() == Some(e.as_str()));
    if !bound {
        reasons.push("not_bound".to_owned());
    }
    let mut recheck = None;
    match serde_json::from_slice::<AttendancePayload>(&r.payload) {
        Ok(p) => {
            place_reasons(&p, reference, &mut reasons);
            reasons.extend(face_reasons(&p, r, reference));
            recheck = reference.face_recheck.then(|| recheck_of(&p)).flatten();
        }
        Err(_) => reasons.push("unreadable".to_owned()),
    }
    for f in ["event_time_implausible", "event_time_in_future"] {
        if x.flags.iter().any(|g| g == f) {
            reasons.push(f.to_owned());
        }
    }
    let device_accepted = x.decision.as_deref() == Some("accepted");
    if !device_accepted {
        reasons.push("device_rejected".to_owned());
    }
    if device_accepted && !reasons.is_empty() {
        x.flags.push("verdict_disputed".to_owned());
        x.flags.sort();
        x.flags.dedup();
        x.flagged = true;
    }
    let decision = match recheck {
        _ if !reasons.is_empty() => "rejected",
        // Everything else holds: the face is confirmed by the recheck worker, not by the phone.
        Some((template, crop, observations)) => {
            reference.queued.push(Queued {
                device_id: r.device_id.clone(),
                seq: r.seq,
                employee_id: x.employee_id.clone().unwrap_or_default(),
                template_sha256: template,
                crop_sha256: crop,
                observations_sha256: observations,
            });
            "pending"
        }
        None => "accepted",
    };
    reference
        .judged
        .push((decision.to_owned(), reasons.clone()));
    Some(ServerVerdict { decision, reasons })
}

/// A check-in waiting for the server's face check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Its device.
    pub device_id: String,
    /// Its seq.
    pub seq: u64,
    /// Whose face it claims.
    pub employee_id: String,
    /// The template it names.
    pub template_sha256: String,
    /// The crop it names.
    pub crop_sha256: String,
    /// The liveness transcript it names, when it answered a challenge.
    pub observations_sha256: Option<String>,
}

/// The (template, crop, liveness transcript) of a check-in's face evidence, when it has a template
/// and a crop (a face is required to be re-checked only when the record carries one: `face_missing`
/// covers the rest; a passed liveness answer without its transcript is
/// `liveness_observations_missing`).
fn recheck_of(p: &AttendancePayload) -> Option<(String, String, Option<String>)> {
    let f = p.face.as_ref()?;
    let observations = f
        .liveness
        .as_ref()
        .and_then(|l| l.observations_sha256.clone());
    Some((
        f.template.as_ref()?.sha256.clone(),
        f.crop_sha256.clone()?,
        observations,
    ))
}

#[cfg(test)]
mod tests {
    use siap_core::attendance::{Decision, Direction, FaceEvidence};
    use siap_core::clock::{MonotonicReading, TimeEvidence, TrustedTime};
    use siap_core::geo::{Fence, Fix, GeoVerdict, LatLon};
    use siap_core::liveness::LivenessEvidence;

    use super::*;
    use siap_core::enrollment::TemplateRef;

    fn record(kind: &str, employee: &str, lat: f64, mock: bool) -> Record {
        let p = AttendancePayload {
            v: 1,
            employee_id: employee.into(),
            direction: Direction::In,
            decision: Decision::Accepted,
            reasons: vec![],
            geo: GeoVerdict {
                site_id: Some("s1".into()),
                containment: Containment::Inside,
                distance_to_edge_m: Some(-10.0),
                accuracy_m: Some(8.0),
                flags: vec![],
            },
            fix: Fix {
                lat,
                lon: 123.5895,
                accuracy_m: Some(8.0),
                time_ms: 1_762_304_400_000,
                provider: "fused".into(),
                is_mock: mock,
            },
            time: TimeEvidence {
                device_wall_ms: 1_762_304_400_000,
                monotonic: MonotonicReading {
                    monotonic_ms: 1,
                    boot_id: "b".into(),
                },
                trusted: TrustedTime::Anchored {
                    estimate_ms: 1_762_304_400_000,
                    uncertainty_ms: 10,
                    anchor_age_ms: 1,
                },
                skew_ms: Some(0),
                clock_skew: false,
            },
            face: None,
        };
        Record {
            device_id: "d".into(),
            seq: 1,
            prev_hash: [0; 32],
            kind: kind.into(),
            payload: serde_json::to_vec(&p).unwrap(),
            hash: [0; 32],
            signature: vec![],
        }
    }

    fn reference() -> Reference {
        let office = Site {
            id: "s1".into(),
            name: "Office".into(),
            fence: Fence::Circle {
                center: LatLon {
                    lat: -10.1635,
                    lon: 123.5895,
                },
                radius_m: 100.0,
            },
        };
        Reference {
            assigned: HashMap::from([
                ("e1".to_owned(), vec![office.clone()]),
                ("e2".to_owned(), vec![office]),
            ]),
            // The face rules are tested on their own below.
            policy: DeviceConfig {
                require_face: false,
                require_liveness: false,
                ..DeviceConfig::default()
            },
            nonces: HashMap::new(),
            fresh: Vec::new(),
            indexes: HashMap::new(),
            face_recheck: false,
            queued: Vec::new(),
            judged: Vec::new(),
            approved: HashMap::from([(
                "e1".to_owned(),
                vec![
                    crate::faces::Approval {
                        template_sha256: APPROVED.to_owned(),
                        device_ids: None,
                    },
                    crate::faces::Approval {
                        template_sha256: ONE_PHONE.to_owned(),
                        device_ids: Some(vec!["d1".to_owned()]),
                    },
                ],
            )]),
        }
    }

    /// A template approved for any of e1's devices, and one approved for device `d1` only.
    const APPROVED: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const ONE_PHONE: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn judged(r: &Record, binding: &Binding, decision: &str) -> (ServerVerdict, Extracted) {
        let mut x = Extracted {
            employee_id: serde_json::from_slice::<AttendancePayload>(&r.payload)
                .ok()
                .map(|p| p.employee_id),
            decision: Some(decision.into()),
            ..Extracted::default()
        };
        let v = judge(r, binding, &mut x, &mut reference()).unwrap();
        (v, x)
    }

    #[test]
    fn only_a_bound_device_inside_the_servers_fence_in_time_is_accepted() {
        let own = Binding::Employee("e1".into());
        let inside = record("attendance.check_in", "e1", -10.1636, false);
        let (v, x) = judged(&inside, &own, "accepted");
        assert_eq!((v.decision, v.reasons.len()), ("accepted", 0));
        assert!(!x.flagged);

        // Employee e1's phone recording e2, and a citizen's permit phone: not bound, and disputed.
        let other = record("attendance.check_out", "e2", -10.1636, false);
        for binding in [own.clone(), Binding::Permit("PBG-1".into())] {
            let (v, x) = judged(&other, &binding, "accepted");
            assert_eq!(v.decision, "rejected");
            assert_eq!(v.reasons, vec!["not_bound"]);
            assert!(x.flagged && x.flags.contains(&"verdict_disputed".to_owned()));
        }

        // The record claims "inside" (the payload says so), the fix is 4 km away from the server's
        // fence; a mock provider; an employee the server assigns to no site.
        let far = record("attendance.check_in", "e1", -10.20, false);
        assert_eq!(
            judged(&far, &own, "accepted").0.reasons,
            vec!["outside_fence"]
        );
        let mock = record("attendance.check_in", "e1", -10.1636, true);
        assert_eq!(
            judged(&mock, &own, "accepted").0.reasons,
            vec!["mock_location"]
        );
        let unknown = record("attendance.check_in", "e9", -10.1636, false);
        let (v, _) = judged(&unknown, &Binding::Employee("e9".into()), "accepted");
        assert_eq!(v.reasons, vec!["no_assigned_site"]);

        // A clock set forward, seen by the server's own clock.
        let mut x = Extracted {
            employee_id: Some("e1".into()),
            decision: Some("accepted".into()),
            flags: vec!["event_time_in_future".into()],
            ..Extracted::default()
        };
        let v = judge(&inside, &own, &mut x, &mut reference()).unwrap();
        assert_eq!(v.reasons, vec!["event_time_in_future"]);

        // A rejection stays a rejection, and is no dispute.
        let (v, x) = judged(&inside, &own, "rejected");
        assert_eq!(v.reasons, vec!["device_rejected"]);
        assert!(!x.flags.contains(&"verdict_disputed".to_owned()));

        let mut x = Extracted::default();
        let inspection = record("inspection.recorded", "e1", -10.1636, false);
        assert!(judge(&inspection, &own, &mut x, &mut reference()).is_none());
    }

    fn with_face(seq: u64, matched: bool, liveness: Option<(bool, &str)>) -> Record {
        let mut r = record("attendance.check_in", "e1", -10.1636, false);
        let mut p: AttendancePayload = serde_json::from_slice(&r.payload).unwrap();
        p.face = Some(FaceEvidence {
            similarity: if matched { 0.9 } else { 0.2 },
            threshold: 0.45,
            matched,
            quality_passed: true,
            quality_reasons: vec![],
            model_sha256: vec![],
            crop_sha256: None,
            template: Some(TemplateRef {
                sha256: APPROVED.into(),
                approved: true,
            }),
            liveness: liveness.map(|(passed, nonce)| LivenessEvidence {
                passed,
                nonce: nonce.into(),
                challenge: vec!["turn_left".into()],
                passive_score: None,
                details: serde_json::from_str("{}").unwrap(),
                observations_sha256: None,
            }),
        });
        r.payload = serde_json::to_vec(&p).unwrap();
        r.seq = seq;
        r
    }

    #[test]
    fn face_evidence_is_held_to_the_citys_policy_and_a_challenge_answers_one_record() {
        let own = Binding::Employee("e1".into());
        let mut strict = reference();
        strict.policy = DeviceConfig::default();
        let verdict = |r: &Record, reference: &mut Reference| {
            let mut x = Extracted {
                employee_id: Some("e1".into()),
                decision: Some("accepted".into()),
                ..Extracted::default()
            };
            judge(r, &own, &mut x, reference).unwrap().reasons
        };
        let nonce = "0123456789abcdef0123456789abcdef";
        // A modified client that says "accepted" with no face, a still photo, a mismatch, a failed
        // liveness: each is caught from its own evidence.
        let no_face = record("attendance.check_in", "e1", -10.1636, false);
        assert_eq!(verdict(&no_face, &mut strict), vec!["face_missing"]);
        assert_eq!(
            verdict(&with_face(2, true, None), &mut strict),
            vec!["liveness_missing"]
        );
        assert_eq!(
            verdict(
                &with_face(3, false, Some((true, "a".repeat(32).as_str()))),
                &mut strict
            ),
            vec!["face_mismatch"]
        );
        assert_eq!(
            verdict(
                &with_face(4, true, Some((false, "b".repeat(32).as_str()))),
                &mut strict
            ),
            vec!["liveness_failed"]
        );
        // One challenge, one record: the same record judged again is no replay, another one is.
        let first = with_face(5, true, Some((true, nonce)));
        assert!(verdict(&first, &mut strict).is_empty());
        assert!(verdict(&first, &mut strict).is_empty());
        assert_eq!(
            verdict(&with_face(6, true, Some((true, nonce))), &mut strict),
            vec!["replayed_challenge"]
        );
        // Not a nonce the core draws.
        assert_eq!(
            verdict(&with_face(7, true, Some((true, "x"))), &mut strict),
            vec!["replayed_challenge"]
        );
        assert_eq!(strict.fresh.len(), 3);
    }

    #[test]
    fn only_a_template_the_city_approved_for_that_device_counts() {
        let own = Binding::Employee("e1".into());
        let with_template = |seq: u64, template: Option<&str>, device: &str| {
            let mut r = with_face(seq, true, None);
            let mut p: AttendancePayload = serde_json::from_slice(&r.payload).unwrap();
            if let Some(f) = p.face.as_mut() {
                // The device says "approved" every time: only the server's list counts.
                f.template = template.map(|t| TemplateRef {
                    sha256: t.into(),
                    approved: true,
                });
            }
            r.payload = serde_json::to_vec(&p).unwrap();
            r.device_id = device.into();
            r
        };
        let verdict = |r: &Record| {
            let mut x = Extracted {
                employee_id: Some("e1".into()),
                decision: Some("accepted".into()),
                ..Extracted::default()
            };
            judge(r, &own, &mut x, &mut reference()).unwrap().reasons
        };
        assert!(verdict(&with_template(1, Some(APPROVED), "d2")).is_empty());
        assert!(verdict(&with_template(2, Some(ONE_PHONE), "d1")).is_empty());
        // A colleague's face enrolled under e1's id (never approved), a template approved for another
        // phone, and a face with no template named.
        let pending = "c".repeat(64);
        for r in [
            with_template(3, Some(&pending), "d1"),
            with_template(4, Some(ONE_PHONE), "d2"),
            with_template(5, None, "d1"),
        ] {
            assert_eq!(verdict(&r), vec!["enrollment_pending"]);
        }
    }
}
