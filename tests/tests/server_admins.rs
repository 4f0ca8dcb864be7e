//! Named administrators and the audit log, tried as the city's staff would use them and as a curious
//! or dishonest one would try them: each role reaches only its routes (a permit officer approving a
//! face, an auditor changing an employee, HR moving a fence: 403, and the attempt is in the log),
//! wrong passwords and unknown names are the same 401, an API token works until revoked, a disabled
//! account's session and tokens stop at once, a signed face decision names the signed-in approver
//! whatever the body claims, and the log, exported by an auditor with its signed head, verifies, has
//! no password in it, and no longer verifies once a row is edited in the database. Both databases.

use reqwest::Method;
use siap_server::audit::{self, Entry, Head};
use siap_tests::sync_support::{Backend, TestDevice, TestServer, backends};

/// Calls `path` with `token`; status and JSON body (`null` when not JSON).
async fn call(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut rb = reqwest::Client::new()
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Asserts that each (token, method, path, body) is answered with its status.
async fn expect(
    server: &TestServer,
    cases: &[(&str, Method, &str, Option<serde_json::Value>, u16)],
) {
    for (token, method, path, body, want) in cases {
        let (got, answer) = call(server, token, method.clone(), path, body.clone()).await;
        assert_eq!(got, *want, "{method} {path}: {answer}");
    }
}

async fn login(server: &TestServer, name: &str, password: &str) -> (u16, serde_json::Value) {
    call(
        server,
        "",
        Method::POST,
        "/v1/admin/login",
        Some(serde_json::json!({"name": name, "password": password})),
    )
    .await
}

async fn roles_sessions_and_the_audit_log(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("server"))
        .await
        .unwrap();
    let admin = server.admin();
    admin.put_site("s1", (-6.2, 106.8), 100.0).await.unwrap();
    admin.put_employee("e1", &["s1"]).await.unwrap();
    // The city's IT names its staff with the bootstrap token.
    for (name, role) in [
        ("hr.maria", "hr"),
        ("permit.yosef", "permit_officer"),
        ("audit.siti", "auditor"),
    ] {
        admin
            .json(
                Method::PUT,
                &format!("/v1/admin/admins/{name}"),
                Some(serde_json::json!({"role": role, "password": format!("{name} long secret")})),
            )
            .await
            .unwrap();
    }
    let (status, _) = call(
        &server,
        "x",
        Method::PUT,
        "/v1/admin/admins/short",
        Some(serde_json::json!({"role": "hr", "password": "short"})),
    )
    .await;
    assert_eq!(status, 401, "a wrong token");

    let (ok, hr) = login(&server, "hr.maria", "hr.maria long secret").await;
    assert_eq!(ok, 200, "{hr}");
    let hr = hr["token"].as_str().unwrap().to_owned();
    assert_eq!(login(&server, "hr.maria", "wrong password!!").await.0, 401);
    assert_eq!(login(&server, "nobody", "whatever password").await.0, 401);
    let permit = login(&server, "permit.yosef", "permit.yosef long secret")
        .await
        .1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let auditor = login(&server, "audit.siti", "audit.siti long secret")
        .await
        .1["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Each role reaches only its routes.
    let employee = Some(serde_json::json!({"name": "e1", "site_ids": ["s1"]}));
    let fence = Some(
        serde_json::json!({"name": "s1", "fence": {"type": "circle", "center": {"lat": 0.0, "lon": 0.0}, "radius_m": 5000.0}}),
    );
    let date = "/v1/admin/reports/attendance?date=2026-01-01&utc_offset_min=420";
    let promote = Some(serde_json::json!({"role": "city_admin"}));
    expect(
        &server,
        &[
            (
                &hr,
                Method::PUT,
                "/v1/admin/employees/e1",
                employee.clone(),
                200,
            ),
            (&hr, Method::PUT, "/v1/admin/sites/s1", fence, 403),
            (&hr, Method::GET, date, None, 200),
            (&hr, Method::GET, "/v1/admin/audit", None, 403),
            (
                &permit,
                Method::PUT,
                "/v1/admin/employees/e1",
                employee.clone(),
                403,
            ),
            (
                &auditor,
                Method::PUT,
                "/v1/admin/employees/e1",
                employee,
                403,
            ),
            (&auditor, Method::GET, date, None, 200),
            // An auditor making herself city administrator.
            (
                &auditor,
                Method::PUT,
                "/v1/admin/admins/audit.siti",
                promote,
                403,
            ),
        ],
    )
    .await;

    // A face decision names the signed-in approver, not the one the body claims.
    let phone = TestDevice::open(&tmp.path().join("p"), &server.url, &server.public_key).unwrap();
    phone
        .device
        .register(&admin.code_for_employee("e1").await.unwrap())
        .await
        .unwrap();
    let (_, template) = phone.claim_enrollment("e1").unwrap();
    assert!(phone.device.sync().await.unwrap().is_complete());
    let decision = format!("/v1/admin/faces/e1/{template}/decision");
    let approve = Some(serde_json::json!({"decision": "approved", "approver": "the mayor"}));
    assert_eq!(
        call(&server, &permit, Method::POST, &decision, approve.clone())
            .await
            .0,
        403
    );
    let (status, signed) = call(&server, &hr, Method::POST, &decision, approve).await;
    assert_eq!(status, 200, "{signed}");
    let body = base64_body(&signed);
    assert_eq!(body["approver"], "hr.maria", "{body}");

    // An API token for a script: works, then revoked.
    let (status, issued) = call(
        &server,
        &hr,
        Method::POST,
        "/v1/admin/tokens",
        Some(serde_json::json!({"label": "nightly export", "days": 30})),
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    let script = issued["token"].as_str().unwrap().to_owned();
    assert_eq!(call(&server, &script, Method::GET, date, None).await.0, 200);
    let (status, revoked) = call(
        &server,
        &hr,
        Method::POST,
        "/v1/admin/tokens/revoke",
        Some(serde_json::json!({"token": script})),
    )
    .await;
    assert_eq!((status, revoked["revoked"].clone()), (200, true.into()));
    assert_eq!(call(&server, &script, Method::GET, date, None).await.0, 401);

    // Disabled: the session stops at once.
    admin
        .json(
            Method::PUT,
            "/v1/admin/admins/hr.maria",
            Some(serde_json::json!({"role": "hr", "disabled": true})),
        )
        .await
        .unwrap();
    assert_eq!(call(&server, &hr, Method::GET, date, None).await.0, 401);
    assert_eq!(
        login(&server, "hr.maria", "hr.maria long secret").await.0,
        401
    );

    // The auditor exports the log: it verifies against its signed head, names who did what, holds
    // the refused attempts and the sign-ins, and no password.
    let (status, page) = call(&server, &auditor, Method::GET, "/v1/admin/audit", None).await;
    assert_eq!(status, 200);
    let entries: Vec<Entry> = serde_json::from_value(page["entries"].clone()).unwrap();
    let head = signed_head(&server, &page);
    audit::verify(&entries, &head).unwrap();
    let text = page["entries"].to_string();
    for secret in ["long secret", "wrong password!!", "whatever password"] {
        assert!(!text.contains(secret), "a password in the log");
    }
    let find = |actor: &str, method: &str, route: &str, status: u16| {
        entries.iter().any(|e| {
            e.actor == actor && e.method == method && e.route == route && e.status == status
        })
    };
    assert!(find("hr.maria", "PUT", "/v1/admin/employees/{id}", 200));
    assert!(find("hr.maria", "PUT", "/v1/admin/sites/{id}", 403));
    assert!(find(
        "permit.yosef",
        "POST",
        "/v1/admin/faces/{employee}/{template}/decision",
        403
    ));
    assert!(find(
        "hr.maria",
        "POST",
        "/v1/admin/faces/{employee}/{template}/decision",
        200
    ));
    assert!(find("audit.siti", "PUT", "/v1/admin/admins/{name}", 403));
    assert!(find("hr.maria", "login", "/v1/admin/login", 401));
    assert!(find("nobody", "login", "/v1/admin/login", 401));
    assert!(find("shared-token", "PUT", "/v1/admin/admins/{name}", 200));
    // Reads are not logged, refused ones are.
    assert!(find("hr.maria", "GET", "/v1/admin/audit", 403));
    assert!(
        !entries.iter().any(|e| e.method == "GET" && e.status == 200),
        "a read in the log"
    );

    // Someone with database access edits a row: the export no longer verifies.
    let st = siap_server::state(&server.cfg).await.unwrap();
    st.db
        .tx(|tx| {
            tx.exec(
                "UPDATE audit_log SET actor = 'somebody else' WHERE route = '/v1/admin/employees/{id}'",
                &[],
            )
        })
        .await
        .unwrap();
    let (_, page) = call(&server, &auditor, Method::GET, "/v1/admin/audit", None).await;
    let entries: Vec<Entry> = serde_json::from_value(page["entries"].clone()).unwrap();
    let head = signed_head(&server, &page);
    assert!(matches!(
        audit::verify(&entries, &head),
        Err(audit::Broken::Changed(_))
    ));
}

/// The export's head, its signature checked with the server's key.
fn signed_head(server: &TestServer, page: &serde_json::Value) -> Head {
    let signed: siap_core::signed::SignedBlob =
        serde_json::from_value(page["head"].clone()).unwrap();
    signed
        .verify_json(&server.public_key, audit::AUDIT_HEAD_DOMAIN, "audit head")
        .unwrap()
}

/// The JSON body of a signed blob (`{"body": base64, ...}`).
fn base64_body(signed: &serde_json::Value) -> serde_json::Value {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD
        .decode(signed["body"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&b).unwrap()
}

#[tokio::test]
async fn roles_sessions_and_the_audit_log_on_both_databases() {
    for b in backends("roles_sessions_and_the_audit_log_on_both_databases") {
        roles_sessions_and_the_audit_log(b).await;
    }
}

/// 2025-11-05 08:00 WIB.
const AT: i64 = 1_762_304_400_000;

/// Agencies (OPD): one server holds the health office's and the civil registry's staff; the health
/// office's HR reads and acts on its own staff only, the city administrator and the auditor see the
/// whole city, and the report names each row's agency.
async fn an_agency_sees_its_own_staff(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("server"))
        .await
        .unwrap();
    let admin = server.admin();
    for (code, name) in [
        ("dinkes", "Dinas Kesehatan"),
        ("disdukcapil", "Dinas Kependudukan dan Pencatatan Sipil"),
    ] {
        admin
            .json(
                Method::PUT,
                &format!("/v1/admin/opds/{code}"),
                Some(serde_json::json!({ "name": name })),
            )
            .await
            .unwrap();
    }
    admin
        .json(
            Method::PUT,
            "/v1/admin/sites/s1",
            Some(serde_json::json!({"name": "Balai Kota", "opd": "dinkes", "fence": {"type": "circle", "center": {"lat": -6.2, "lon": 106.8}, "radius_m": 100.0}})),
        )
        .await
        .unwrap();
    for (e, opd) in [("nurse", "dinkes"), ("clerk", "disdukcapil")] {
        admin
            .json(
                Method::PUT,
                &format!("/v1/admin/employees/{e}"),
                Some(serde_json::json!({"name": e, "site_ids": ["s1"], "opd": opd})),
            )
            .await
            .unwrap();
    }
    let account = |name: &str, role: &str, opd: Option<&str>| {
        let mut body = serde_json::json!({"role": role, "password": "a long enough secret"});
        if let Some(o) = opd {
            body["opd"] = o.into();
        }
        (format!("/v1/admin/admins/{name}"), body)
    };
    let (path, body) = account("auditor.x", "auditor", Some("dinkes"));
    assert_eq!(
        admin.call(Method::PUT, &path, Some(body)).await.unwrap().0,
        400,
        "an auditor is city-wide"
    );
    let (path, body) = account("hr.x", "hr", Some("no-such-agency"));
    assert_eq!(
        admin.call(Method::PUT, &path, Some(body)).await.unwrap().0,
        400
    );
    for (name, role, opd) in [
        ("hr.ana", "hr", Some("dinkes")),
        ("audit.siti", "auditor", None),
    ] {
        let (path, body) = account(name, role, opd);
        admin.json(Method::PUT, &path, Some(body)).await.unwrap();
    }
    let token = |name: &'static str| {
        let server = &server;
        async move {
            login(server, name, "a long enough secret").await.1["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let hr = token("hr.ana").await;
    let auditor = token("audit.siti").await;

    // Writing: its own staff only, and a new employee is the agency's.
    let employee = |opd: Option<&str>| {
        let mut b = serde_json::json!({"name": "x", "site_ids": ["s1"]});
        if let Some(o) = opd {
            b["opd"] = o.into();
        }
        Some(b)
    };
    let code = |e: &str| Some(serde_json::json!({"binding": {"type": "employee", "id": e}}));
    let midwife = "/v1/admin/employees/midwife";
    expect(
        &server,
        &[
            (
                &hr,
                Method::PUT,
                "/v1/admin/employees/nurse",
                employee(None),
                200,
            ),
            (
                &hr,
                Method::PUT,
                "/v1/admin/employees/clerk",
                employee(None),
                403,
            ),
            (
                &hr,
                Method::PUT,
                midwife,
                employee(Some("disdukcapil")),
                403,
            ),
            (&hr, Method::PUT, midwife, employee(None), 200),
            (
                &hr,
                Method::POST,
                "/v1/admin/enrollments",
                code("clerk"),
                403,
            ),
            (
                &hr,
                Method::POST,
                "/v1/admin/enrollments",
                code("midwife"),
                201,
            ),
        ],
    )
    .await;

    // Two phones, one per agency, a check-in and an enrollment each.
    let mut phones = Vec::new();
    for e in ["nurse", "clerk"] {
        let phone = TestDevice::open(&tmp.path().join(e), &server.url, &server.public_key).unwrap();
        phone
            .device
            .register(&admin.code_for_employee(e).await.unwrap())
            .await
            .unwrap();
        let (_, template) = phone.claim_enrollment(e).unwrap();
        phone.check_in(e, "s1", AT, true, &[]).unwrap();
        assert!(phone.device.sync().await.unwrap().is_complete());
        phones.push((phone.device.ledger().device_id().to_owned(), template));
    }
    let report = "/v1/admin/reports/attendance?date=2025-11-05&utc_offset_min=420";
    let employees = |rows: &serde_json::Value| {
        let mut v: Vec<(String, String)> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["employee_id"].as_str().unwrap().to_owned(),
                    r["opd"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let pair = |e: &str, o: &str| (e.to_owned(), o.to_owned());
    let (status, rows) = call(&server, &hr, Method::GET, report, None).await;
    assert_eq!(status, 200);
    assert_eq!(employees(&rows), vec![pair("nurse", "dinkes")]);
    assert_eq!(
        call(
            &server,
            &hr,
            Method::GET,
            &format!("{report}&opd=disdukcapil"),
            None
        )
        .await
        .0,
        403
    );
    let city = admin.json(Method::GET, report, None).await.unwrap();
    assert_eq!(
        employees(&city),
        vec![pair("clerk", "disdukcapil"), pair("nurse", "dinkes")]
    );
    let one = admin
        .json(Method::GET, &format!("{report}&opd=disdukcapil"), None)
        .await
        .unwrap();
    assert_eq!(employees(&one), vec![pair("clerk", "disdukcapil")]);
    let (_, audited) = call(&server, &auditor, Method::GET, report, None).await;
    assert_eq!(employees(&audited).len(), 2);

    // Devices, records and face enrollments of another agency are out of reach.
    let (nurse_device, nurse_template) = &phones[0];
    let (clerk_device, clerk_template) = &phones[1];
    let (_, devices) = call(&server, &hr, Method::GET, "/v1/admin/devices", None).await;
    let ids: Vec<&str> = devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![nurse_device.as_str()]);
    let records = |d: &str| format!("/v1/admin/devices/{d}/records");
    let decide = |e: &str, t: &str| format!("/v1/admin/faces/{e}/{t}/decision");
    let approve = Some(serde_json::json!({"decision": "approved", "approver": "hr"}));
    expect(
        &server,
        &[
            (&hr, Method::GET, &records(nurse_device), None, 200),
            (&hr, Method::GET, &records(clerk_device), None, 403),
            (
                &hr,
                Method::POST,
                &decide("clerk", clerk_template),
                approve.clone(),
                403,
            ),
            (
                &hr,
                Method::POST,
                &decide("nurse", nurse_template),
                approve,
                200,
            ),
        ],
    )
    .await;
    let (_, faces) = call(&server, &hr, Method::GET, "/v1/admin/faces", None).await;
    assert!(only_nurse(&faces), "{faces}");
    let (_, flagged) = call(&server, &hr, Method::GET, "/v1/admin/reports/flagged", None).await;
    assert!(only_nurse(&flagged), "{flagged}");
}

/// Whether every row of a JSON list is the health office's nurse's.
fn only_nurse(rows: &serde_json::Value) -> bool {
    rows.as_array()
        .is_some_and(|r| r.iter().all(|x| x["employee_id"] == "nurse"))
}

#[tokio::test]
async fn an_agency_sees_its_own_staff_on_both_databases() {
    for b in backends("an_agency_sees_its_own_staff_on_both_databases") {
        an_agency_sees_its_own_staff(b).await;
    }
}
