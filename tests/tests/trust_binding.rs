//! The server's own verdict on attendance, tried the way a cheating employee would (a modified client
//! signs whatever it likes): a phone bound to one employee recording another, a citizen's permit phone
//! recording an employee, a clock set forward, "inside" signed for a fix outside the fence, a
//! recorded liveness answer replayed into a later check-in, a colleague's face enrolled under the
//! employee's id, and an enrollment whose liveness challenge the app skipped, failed or answered with
//! a recording. The report must not count any of them, must keep the device's claim beside the
//! server's verdict, and must flag the disagreement. Both databases.

use reqwest::Method;
use siap_tests::sync_support::{
    Backend, Scene, TestDevice, TestServer, backends, live_answer, scene,
};

/// 2025-11-05 08:00 WIB, in the past of any test run.
const AT: i64 = 1_762_304_400_000;

fn row<'a>(report: &'a serde_json::Value, device: &str, seq: u64) -> &'a serde_json::Value {
    report
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["device_id"] == device && r["seq"] == seq)
        })
        .unwrap_or_else(|| panic!("no row for {device} #{seq} in {report}"))
}

async fn binding_place_and_time_are_rechecked(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("server"))
        .await
        .unwrap();
    let admin = server.admin();
    admin.put_site("s1", (-6.2, 106.8), 100.0).await.unwrap();
    for e in ["e1", "e2"] {
        admin.put_employee(e, &["s1"]).await.unwrap();
    }
    admin
        .json(
            Method::PUT,
            "/v1/admin/permits/PBG-1",
            Some(serde_json::json!({"permit_type": "PBG", "status": "submitted", "official_fee_idr": 1000, "deadline_ms": siap_core::time::wall_now_ms() + 14 * 86_400_000, "office": "DPMPTSP"})),
        )
        .await
        .unwrap();

    // Employee e1's phone: its own check-in, then one "for" e2 (buddy punching from a colleague's phone).
    let phone = TestDevice::open(&tmp.path().join("e1"), &server.url, &server.public_key).unwrap();
    let code = admin.code_for_employee("e1").await.unwrap();
    phone.device.register(&code).await.unwrap();
    // The honest start: e1's face enrolled on the phone (record #1) and approved by HR.
    phone.enroll_approved(&admin, "e1").await.unwrap();
    phone.check_in("e1", "s1", AT, true, &[]).unwrap();
    phone.check_in("e2", "s1", AT + 60_000, true, &[]).unwrap();
    // The same phone with its clock set a year forward, anchored to nothing the server said.
    phone
        .check_in(
            "e1",
            "s1",
            siap_core::time::wall_now_ms() + 365 * 86_400_000,
            true,
            &[],
        )
        .unwrap();
    // A record the phone itself rejected stays rejected, and is no dispute.
    phone
        .check_in("e1", "s1", AT + 120_000, false, &["mock_location"])
        .unwrap();
    // The phone signs "accepted, inside s1" for a fix 5.5 km from the server's fence of s1.
    phone
        .check_in_at("e1", "s1", AT + 150_000, true, &[], (-6.25, 106.8), None)
        .unwrap();
    // A recorded liveness answer pasted into a later check-in: the first use counts, the second not.
    let nonce = "00112233445566778899aabbccddeeff";
    phone
        .check_in_at(
            "e1",
            "s1",
            AT + 200_000,
            true,
            &[],
            (-6.2, 106.8),
            Some(nonce),
        )
        .unwrap();
    phone
        .check_in_at(
            "e1",
            "s1",
            AT + 260_000,
            true,
            &[],
            (-6.2, 106.8),
            Some(nonce),
        )
        .unwrap();
    assert!(phone.device.sync().await.unwrap().is_complete());

    // A citizen's permit phone records a check-in for e1.
    let citizen = TestDevice::open(&tmp.path().join("c"), &server.url, &server.public_key).unwrap();
    let code = admin.code_for_permit("PBG-1").await.unwrap();
    citizen.device.register(&code).await.unwrap();
    citizen
        .check_in("e1", "s1", AT + 180_000, true, &[])
        .unwrap();
    assert!(citizen.device.sync().await.unwrap().is_complete());

    let report = admin
        .json(
            Method::GET,
            "/v1/admin/reports/attendance?date=2025-11-05&utc_offset_min=420",
            None,
        )
        .await
        .unwrap();
    let (p, c) = (phone.ledger.device_id(), citizen.ledger.device_id());
    let own = row(&report, p, 2);
    assert_eq!(own["decision"], "accepted", "{own}");
    assert_eq!(own["server_reasons"], serde_json::json!([]));
    // Neither phone holds a face the city approved for that employee either.
    for (dev, seq) in [(p, 3), (c, 1)] {
        let r = row(&report, dev, seq);
        assert_eq!(r["device_decision"], "accepted", "{r}");
        assert_eq!(r["decision"], "rejected", "{r}");
        assert_eq!(
            r["server_reasons"],
            serde_json::json!(["not_bound", "enrollment_pending"]),
            "{r}"
        );
        assert!(
            r["flags"]
                .as_array()
                .unwrap()
                .contains(&"verdict_disputed".into()),
            "{r}"
        );
    }
    let first = row(&report, p, 7);
    assert_eq!(first["decision"], "accepted", "{first}");
    let replay = row(&report, p, 8);
    assert_eq!(replay["decision"], "rejected", "{replay}");
    assert_eq!(
        replay["server_reasons"],
        serde_json::json!(["replayed_challenge"])
    );
    let outside = row(&report, p, 6);
    assert_eq!(outside["decision"], "rejected", "{outside}");
    assert_eq!(
        outside["server_reasons"],
        serde_json::json!(["outside_fence"])
    );
    let rejected = row(&report, p, 5);
    assert_eq!(rejected["decision"], "rejected");
    assert_eq!(
        rejected["server_reasons"],
        serde_json::json!(["device_rejected"])
    );
    assert!(
        !rejected["flags"]
            .as_array()
            .unwrap()
            .contains(&"verdict_disputed".into())
    );
    // Exactly two check-ins of the day count: the first one and the first use of the recorded answer.
    let counted = report
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["decision"] == "accepted")
        .count();
    assert_eq!(counted, 2, "{report}");

    // The flagged report shows the disputed ones and the clock set forward, with the server's reasons.
    let flagged = admin
        .json(Method::GET, "/v1/admin/reports/flagged", None)
        .await
        .unwrap();
    let future = flagged
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["device_id"] == p && r["seq"] == 4)
        .unwrap_or_else(|| panic!("{flagged}"));
    assert_eq!(future["server_decision"], "rejected");
    assert_eq!(
        future["server_reasons"],
        serde_json::json!(["event_time_in_future"])
    );
    let disputed = flagged
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["flags"]
                .as_array()
                .unwrap()
                .contains(&"verdict_disputed".into())
        })
        .count();
    // e2 on e1's phone, the permit phone, the clock set forward, the fix outside, the replay.
    assert_eq!(disputed, 5, "{flagged}");

    // The CSV export carries both verdicts.
    let (status, csv) = admin
        .call(
            Method::GET,
            "/v1/admin/reports/attendance?date=2025-11-05&utc_offset_min=420&format=csv",
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.starts_with(
            "employee_id,site_id,kind,event_ms,time_source,decision,device_decision,server_reasons,"
        ),
        "{csv}"
    );
    assert!(
        csv.contains("\"rejected\",\"accepted\",\"not_bound;enrollment_pending\""),
        "{csv}"
    );
}

#[tokio::test]
async fn the_server_rechecks_binding_place_and_time_on_both_databases() {
    for b in backends("the_server_rechecks_binding_place_and_time_on_both_databases") {
        binding_place_and_time_are_rechecked(b).await;
    }
}

/// Scenario 1, buddy punching by self-enrollment: Maria leaves her phone with a colleague, who enrolls
/// his own face under her id and checks in "as her" every morning. The phone is bound to Maria, the
/// place and time are right and the face matches (his own template): only the city's approval of
/// whose face it is stands between him and a full month of Maria's attendance.
async fn self_enrollment_never_counts(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let Scene {
        server,
        admin,
        phone,
    } = scene(backend, tmp.path(), "maria").await.unwrap();

    // The colleague's enrollment reaches the server as pending; his check-ins (the phone signs
    // "accepted", as a modified app would) do not count while it is.
    let (seq, buddy) = phone.claim_enrollment("maria").unwrap();
    phone.check_in("maria", "s1", AT, true, &[]).unwrap();
    assert!(phone.device.sync().await.unwrap().is_complete());
    let pending = admin
        .json(Method::GET, "/v1/admin/faces?status=pending", None)
        .await
        .unwrap();
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending[0]["template_sha256"], buddy.as_str());
    assert_eq!(pending[0]["seq"], seq);

    // HR compares the crops with Maria's personnel photo and rejects it: the rejection is signed and
    // reaches the phone; a later approval of the rejected template is refused.
    let (status, _) = admin
        .call(
            Method::POST,
            &format!("/v1/admin/faces/maria/{buddy}/decision"),
            Some(serde_json::json!({"decision": "rejected", "approver": "hr"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "a rejection needs a reason");
    admin
        .json(
            Method::POST,
            &format!("/v1/admin/faces/maria/{buddy}/decision"),
            Some(serde_json::json!({"decision": "rejected", "approver": "hr", "reason": "not Maria's face"})),
        )
        .await
        .unwrap();
    let (status, _) = admin
        .call(
            Method::POST,
            &format!("/v1/admin/faces/maria/{buddy}/decision"),
            Some(serde_json::json!({"decision": "approved", "approver": "hr2"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 409);
    phone
        .check_in("maria", "s1", AT + 86_400_000, true, &[])
        .unwrap();
    assert!(phone.device.sync().await.unwrap().is_complete());
    let held = siap_core::enrollment::decisions::status(
        phone.store.as_ref(),
        Some(&server.public_key),
        "maria",
        &buddy,
    )
    .unwrap();
    assert!(
        matches!(
            held,
            siap_core::enrollment::decisions::TemplateStatus::Refused { .. }
        ),
        "{held:?}"
    );

    // Enrolling again on his own phone under her id: the server refuses it outright (not bound).
    let own = TestDevice::open(&tmp.path().join("y"), &server.url, &server.public_key).unwrap();
    admin.put_employee("yohanes", &["s1"]).await.unwrap();
    let code = admin.code_for_employee("yohanes").await.unwrap();
    own.device.register(&code).await.unwrap();
    let (_, elsewhere) = own.claim_enrollment("maria").unwrap();
    assert!(own.device.sync().await.unwrap().is_complete());
    let (status, body) = admin
        .call(
            Method::POST,
            &format!("/v1/admin/faces/maria/{elsewhere}/decision"),
            Some(serde_json::json!({"decision": "approved", "approver": "hr"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));

    // Not one of the colleague's check-ins counts.
    for date in ["2025-11-05", "2025-11-06"] {
        let report = admin
            .json(
                Method::GET,
                &format!("/v1/admin/reports/attendance?date={date}&utc_offset_min=420"),
                None,
            )
            .await
            .unwrap();
        let rows = report.as_array().unwrap();
        assert_eq!(rows.len(), 1, "{report}");
        assert_eq!(rows[0]["decision"], "rejected", "{report}");
        assert_eq!(
            rows[0]["server_reasons"],
            serde_json::json!(["enrollment_pending"])
        );
        assert!(
            rows[0]["flags"]
                .as_array()
                .unwrap()
                .contains(&"verdict_disputed".into())
        );
    }
}

#[tokio::test]
async fn self_enrollment_never_counts_on_both_databases() {
    for b in backends("self_enrollment_never_counts_on_both_databases") {
        self_enrollment_never_counts(b).await;
    }
}

/// Scenario 7, the honest path: enrolled and approved, then three days of check-ins in and out
/// recorded offline, synced at once on the fourth day: every one is confirmed by the server, none is
/// disputed.
async fn three_days_offline_then_every_check_in_counts(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("server"))
        .await
        .unwrap();
    let admin = server.admin();
    admin.put_site("s1", (-6.2, 106.8), 100.0).await.unwrap();
    admin.put_employee("e1", &["s1"]).await.unwrap();
    let phone = TestDevice::open(&tmp.path().join("p"), &server.url, &server.public_key).unwrap();
    let code = admin.code_for_employee("e1").await.unwrap();
    phone.device.register(&code).await.unwrap();
    phone.enroll_approved(&admin, "e1").await.unwrap();
    // Offline: two check-ins a day (07:30 and 16:00 WIB) for three days, nothing synced.
    let day_ms: i64 = 86_400_000;
    for day in 0..3 {
        for at in [AT - 1_800_000, AT + 8 * 3_600_000] {
            phone
                .check_in("e1", "s1", at + day * day_ms, true, &[])
                .unwrap();
        }
    }
    assert_eq!(phone.device.status().unwrap().pending_records, 6);
    assert!(phone.device.sync().await.unwrap().is_complete());
    for date in ["2025-11-05", "2025-11-06", "2025-11-07"] {
        let report = admin
            .json(
                Method::GET,
                &format!("/v1/admin/reports/attendance?date={date}&utc_offset_min=420"),
                None,
            )
            .await
            .unwrap();
        let rows = report.as_array().unwrap();
        assert_eq!(rows.len(), 2, "{report}");
        for r in rows {
            assert_eq!(r["decision"], "accepted", "{r}");
            assert_eq!(r["device_decision"], "accepted", "{r}");
            assert!(r["flags"].as_array().unwrap().is_empty(), "{r}");
        }
    }
}

#[tokio::test]
async fn three_days_offline_then_every_check_in_counts_on_both_databases() {
    for b in backends("three_days_offline_then_every_check_in_counts_on_both_databases") {
        three_days_offline_then_every_check_in_counts(b).await;
    }
}

/// Scenario 2 as a modified app plays it: the enrollment's liveness challenge skipped, failed, or
/// "answered" with the recorded answer of a check-in, and each signed as not refused. The city's rule
/// (a passed, fresh liveness answer) is held by the server whatever the app signed: none of them can
/// be approved, and a check-in reusing an enrollment's answer is a replay too.
async fn enrollment_without_a_live_answer_is_refused(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let Scene {
        server: _server,
        admin,
        phone,
    } = scene(backend, tmp.path(), "maria").await.unwrap();
    let fresh = || format!("{:032x}", fastrand::u128(..));

    let (_, skipped) = phone.claim_enrollment_with("maria", None).unwrap();
    let (_, failed) = phone
        .claim_enrollment_with("maria", Some(live_answer(false, &fresh())))
        .unwrap();
    let recorded = fresh();
    phone
        .check_in_at(
            "maria",
            "s1",
            AT,
            false,
            &[],
            (-6.2, 106.8),
            Some(&recorded),
        )
        .unwrap();
    let (_, replayed) = phone
        .claim_enrollment_with("maria", Some(live_answer(true, &recorded)))
        .unwrap();
    let answer = fresh();
    let (_, honest) = phone
        .claim_enrollment_with("maria", Some(live_answer(true, &answer)))
        .unwrap();
    let reused = phone
        .check_in_at(
            "maria",
            "s1",
            AT + 86_400_000,
            true,
            &[],
            (-6.2, 106.8),
            Some(&answer),
        )
        .unwrap();
    assert!(phone.device.sync().await.unwrap().is_complete());

    let listed = admin
        .json(Method::GET, "/v1/admin/faces?employee_id=maria", None)
        .await
        .unwrap();
    let enrollment = |t: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["template_sha256"] == t)
            .unwrap_or_else(|| panic!("{t} not listed: {listed}"))
            .clone()
    };
    for (template, why) in [
        (&skipped, "liveness_missing"),
        (&failed, "liveness_failed"),
        (&replayed, "replayed_challenge"),
    ] {
        let r = enrollment(template);
        assert_eq!(r["status"], "refused", "{r}");
        assert_eq!(r["refused"], serde_json::json!([why]), "{r}");
        let (status, body) = admin
            .call(
                Method::POST,
                &format!("/v1/admin/faces/maria/{template}/decision"),
                Some(serde_json::json!({"decision": "approved", "approver": "hr"})),
            )
            .await
            .unwrap();
        assert_eq!(status, 409, "{why}: {}", String::from_utf8_lossy(&body));
    }
    assert_eq!(enrollment(&honest)["status"], "pending");
    admin.approve_face("maria", &honest).await.unwrap();

    let report = admin
        .json(
            Method::GET,
            "/v1/admin/reports/attendance?date=2025-11-06&utc_offset_min=420",
            None,
        )
        .await
        .unwrap();
    let r = row(&report, phone.ledger.device_id(), reused);
    assert_eq!(r["decision"], "rejected", "{r}");
    assert!(
        r["server_reasons"]
            .as_array()
            .unwrap()
            .contains(&"replayed_challenge".into()),
        "{r}"
    );
}

#[tokio::test]
async fn enrollment_without_a_live_answer_is_refused_on_both_databases() {
    for b in backends("enrollment_without_a_live_answer_is_refused_on_both_databases") {
        enrollment_without_a_live_answer_is_refused(b).await;
    }
}
