//! The HTTP API (axum): routes, authentication, body limits, JSON errors and the server-time header.
//!
//! The API is described in `server/openapi.json`, served at `/openapi.json`. Bodies are read through
//! [`read_body`], which refuses an oversized body from its `Content-Length` or as soon as the limit is
//! crossed, never after buffering it whole. Large bodies (record batches, photo chunks) are read only
//! while holding one of a fixed number of permits ([`AppState::heavy`]): 200 concurrent uploads wait
//! for a permit instead of each buffering megabytes at once (a request that waits too long gets 503
//! with `Retry-After`). Registration is throttled ([`crate::throttle`]).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http_body_util::BodyExt as _;
use serde::Deserialize;
use siap_core::ledger::Signer;
use siap_core::signed::{RESPONSE_DOMAIN, SignedBlob};
use siap_core::sync::protocol::{
    Binding, Change, DEVICE_ID_HEADER, DeviceConfig, MAX_BLOB_CHUNK_BYTES, MAX_RECORDS_BODY_BYTES,
    RegisterRequest, RegisterResponse, SERVER_TIME_HEADER, UploadRequest,
};

use crate::blobstore::BlobStore;
use crate::changes::PermitUpdate;
use crate::db::Db;
use crate::devices::{self, Device};
use crate::error::ServerError;
use crate::throttle::RegistrationThrottle;
use crate::{blobs, changes, ingest, report};

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Largest body of small JSON requests (registration, admin).
pub const MAX_SMALL_BODY: usize = 256 * 1024;

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The server's signing key.
    pub signer: Arc<dyn Signer>,
    /// Its public key.
    pub public_key: Vec<u8>,
    /// SHA-256 of the administrator token.
    pub admin_token_hash: Vec<u8>,
    /// Configuration handed to devices.
    pub device_config: DeviceConfig,
    /// Where photo bytes are stored.
    pub blobs: Arc<dyn BlobStore>,
    /// Failed-registration throttle.
    pub throttle: Arc<RegistrationThrottle>,
    /// Failed sign-ins per account name ([`crate::admin_http::login`]).
    pub login_throttle: Arc<crate::throttle::FailureBuckets>,
    /// Permits to read a large body (record batch, photo chunk) at once.
    pub heavy: Arc<tokio::sync::Semaphore>,
    /// The face engine, when the server re-checks faces itself ([`crate::recheck`]).
    pub faces: Option<Arc<siap_core::face::FaceEngine>>,
    /// Wakes the re-check worker (a blob completed, check-ins were queued).
    pub recheck_wake: Arc<tokio::sync::Notify>,
    /// Request, ingest and verdict counts for `/metrics` ([`crate::ops`]).
    pub metrics: Arc<crate::ops::Metrics>,
}

/// Longest wait for a permit to read a large body before answering 503.
pub const HEAVY_WAIT: std::time::Duration = std::time::Duration::from_secs(90);

/// Waits for a large-body permit.
async fn heavy_permit(st: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, ServerError> {
    match tokio::time::timeout(HEAVY_WAIT, st.heavy.clone().acquire_owned()).await {
        Ok(Ok(p)) => Ok(p),
        _ => Err(ServerError::Busy),
    }
}

/// Current server time.
pub fn now_ms() -> i64 {
    siap_core::time::wall_now_ms()
}

/// Reads a body up to `limit` bytes, refusing larger ones early.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ServerError> {
    let too_large = || ServerError::TooLarge(format!("body larger than {limit} bytes"));
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(ServerError::BadRequest(
            "could not read the request body".into(),
        )),
    }
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ServerError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ServerError::BadRequest(format!(
            "invalid JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

async fn device_auth(st: &AppState, headers: &HeaderMap) -> Result<Device, ServerError> {
    let id = headers
        .get(DEVICE_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(ServerError::Unauthorized)?;
    let token = bearer(headers).ok_or(ServerError::Unauthorized)?;
    devices::authenticate(&st.db, id, token).await
}

pub(crate) fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    (status, axum::Json(v)).into_response()
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    // Every admin route is behind the gate: named caller, role, audit log.
    let admin = Router::new()
        .route("/v1/admin/enrollments", post(admin_enroll))
        .route("/v1/admin/sites/{id}", put(admin_site))
        .route("/v1/admin/employees/{id}", put(admin_employee))
        .route("/v1/admin/assets/{id}", put(admin_asset))
        .route("/v1/admin/schedules/{id}", put(admin_schedule))
        .route("/v1/admin/permits/{id}", put(admin_permit))
        .route("/v1/admin/blobs/{sha}", get(admin_blob))
        .route("/v1/admin/faces", get(admin_faces))
        .route(
            "/v1/admin/employees/{id}/official-photo",
            put(admin_official_photo),
        )
        .route("/v1/admin/faces/{employee}/erase", post(admin_face_erase))
        .route(
            "/v1/admin/faces/{employee}/{template}/decision",
            post(admin_face_decision),
        )
        .route("/v1/admin/devices", get(admin_devices))
        .route("/v1/admin/devices/{id}/records", get(admin_device_records))
        .route("/v1/admin/reports/attendance", get(report_attendance))
        .route("/v1/admin/reports/flagged", get(report_flagged))
        .route("/v1/admin/reports/forks", get(report_forks))
        .route("/v1/admin/reports/stale-devices", get(report_stale))
        .route("/v1/admin/tokens", post(crate::admin_http::new_token))
        .route(
            "/v1/admin/tokens/revoke",
            post(crate::admin_http::revoke_token),
        )
        .route("/v1/admin/admins", get(crate::admin_http::list_admins))
        .route("/v1/admin/admins/{name}", put(crate::admin_http::put_admin))
        .route("/v1/admin/audit", get(crate::admin_http::audit_log))
        .route("/v1/admin/opds", get(crate::admin_http::list_opds))
        .route("/v1/admin/opds/{code}", put(crate::admin_http::put_opd))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::admin_http::gate,
        ));
    Router::new()
        .route("/v1/time", get(time))
        .route("/v1/register", post(register))
        .route("/v1/records", post(upload))
        .route("/v1/blobs/{sha}", get(blob_status).put(blob_put))
        .route("/v1/changes", get(pull))
        .route("/v1/admin/login", post(crate::admin_http::login))
        .merge(admin)
        .route("/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::ops::metrics))
        .fallback(|| async { ServerError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ServerError::MethodNotAllowed })
        .layer(axum::middleware::map_response(add_time))
        .layer(axum::middleware::from_fn(close_if_body_unread))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ops::observe,
        ))
        .with_state(state)
}

async fn add_time(resp: Response) -> Response {
    let mut resp = json_errors(resp).await;
    if let Ok(v) = HeaderValue::from_str(&now_ms().to_string()) {
        resp.headers_mut().insert(SERVER_TIME_HEADER, v);
    }
    resp
}

/// An error answer to a request with a body may come before the body was read (a bad query, a 401):
/// hyper then closes the connection, so say so (`Connection: close`) and a keep-alive client does not
/// send its next request into a closing socket.
async fn close_if_body_unread(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let mut resp = next.run(req).await;
    if has_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Every error answer is the API's JSON [`ErrorBody`](siap_core::sync::protocol::ErrorBody), also
/// the framework's own rejections (an undecodable path segment answers `text/plain` otherwise).
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = http_body_util::Limited::new(body, 4096)
        .collect()
        .await
        .map(|c| String::from_utf8_lossy(&c.to_bytes()).into_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let body = siap_core::sync::protocol::ErrorBody {
        error: code.into(),
        message: text.chars().filter(|c| !c.is_control()).take(200).collect(),
        acked_seq: None,
    };
    let mut out = (status, axum::Json(body)).into_response();
    for (k, v) in &parts.headers {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k, v.clone());
        }
    }
    out
}

async fn healthz() -> Response {
    json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

/// Ready to serve: the database answers within the pool's timeouts and its schema is the version this
/// build writes (a load balancer takes an instance out while PostgreSQL is down or a migration is due).
async fn readyz(State(st): State<AppState>) -> Result<Response, ServerError> {
    let version = st
        .db
        .tx(|tx| {
            tx.one("SELECT value FROM meta WHERE key = 'schema_version'", &[])?
                .ok_or(ServerError::Internal("no schema version".into()))?[0]
                .t()
        })
        .await?;
    if version != crate::db::schema::VERSION.to_string() {
        return Err(ServerError::Database(
            "schema version differs from this build".into(),
        ));
    }
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "status": "ready", "database": st.db.backend(), "schema_version": crate::db::schema::VERSION }),
    ))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn time() -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "server_time_ms": now_ms() }),
    )
}

fn signed(st: &AppState, v: &impl serde::Serialize) -> Result<Response, ServerError> {
    Ok(json(
        StatusCode::OK,
        &SignedBlob::sign_json(st.signer.as_ref(), RESPONSE_DOMAIN, v)?,
    ))
}

async fn register(
    State(st): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: Body,
) -> Result<Response, ServerError> {
    let req: RegisterRequest = parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    let source = crate::listen::peer(&ext).map(|a| a.ip());
    let t = std::time::Instant::now();
    st.throttle
        .check(source, &req.enrollment_code, t)
        .map_err(|wait| ServerError::TooManyRequests {
            retry_after_s: wait.as_secs().max(1),
        })?;
    let now = now_ms();
    let r = match devices::register(
        &st.db,
        &req.enrollment_code,
        req.public_key.clone(),
        &req.proof,
        &st.public_key,
        now,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            if matches!(e, ServerError::Forbidden(_) | ServerError::Conflict(_)) {
                st.throttle.fail(source, &req.enrollment_code, t);
            }
            return Err(e);
        }
    };
    signed(
        &st,
        &RegisterResponse {
            kind: "register".into(),
            device_id: r.device_id,
            public_key: req.public_key,
            device_token: r.token,
            binding: r.binding,
            config: st.device_config.clone(),
            server_public_key: st.public_key.clone(),
            server_time_ms: now,
        },
    )
}

async fn upload(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    let device = device_auth(&st, &headers).await?;
    let permit = heavy_permit(&st).await?;
    let bytes = read_body(&headers, body, MAX_RECORDS_BODY_BYTES).await?;
    // Parsing megabytes of JSON (base64 payloads) is CPU work: keep it off the async workers, which
    // must stay free to read other clients' headers.
    let req: UploadRequest = tokio::task::spawn_blocking(move || parse_json(&bytes))
        .await
        .map_err(|_| ServerError::Internal("parse task failed".into()))??;
    if req.device_id != device.device_id {
        return Err(ServerError::Forbidden("batch names another device"));
    }
    let out = ingest::ingest(
        &st.db,
        device,
        req.records,
        &st.device_config,
        st.faces.is_some(),
        now_ms(),
    )
    .await?;
    drop(permit);
    st.metrics.records_ingested(out.stored);
    st.metrics.verdicts(&out.verdicts);
    st.recheck_wake.notify_one();
    if let Some(e) = out.rejected {
        return Err(e);
    }
    signed(&st, &out.ack)
}

async fn blob_status(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(sha): Path<String>,
) -> Result<Response, ServerError> {
    let device = device_auth(&st, &headers).await?;
    Ok(json(
        StatusCode::OK,
        &blobs::status(&st.db, blobs::parse_sha(&sha)?, device.device_id, now_ms()).await?,
    ))
}

#[derive(Deserialize)]
struct ChunkQuery {
    offset: u64,
    total: u64,
    #[serde(default)]
    mime: Option<String>,
}

async fn blob_put(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(sha): Path<String>,
    q: Result<Query<ChunkQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<Response, ServerError> {
    let device = device_auth(&st, &headers).await?;
    let Query(q) =
        q.map_err(|_| ServerError::BadRequest("offset and total are required integers".into()))?;
    let sha = blobs::parse_sha(&sha)?;
    let _permit = heavy_permit(&st).await?;
    let data = read_body(&headers, body, MAX_BLOB_CHUNK_BYTES).await?;
    // Only a whitelisted image type is ever kept; it decides how the blob is served.
    let mime = blobs::served_type(q.mime.as_deref().unwrap_or_default()).to_owned();
    let received = data.len() as u64;
    let chunk = blobs::Chunk {
        sha,
        offset: q.offset,
        total: q.total,
        mime,
        data,
    };
    let status =
        blobs::put_chunk(&st.db, st.blobs.clone(), chunk, device.device_id, now_ms()).await?;
    st.metrics.blob_bytes(received);
    if status.complete {
        // A face crop may have been what a pending check-in waited for.
        st.recheck_wake.notify_one();
    }
    Ok(json(StatusCode::OK, &status))
}

#[derive(Deserialize)]
struct PullQuery {
    #[serde(default)]
    since: u64,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    siap_core::sync::protocol::MAX_CHANGES_PAGE
}

async fn pull(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<PullQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ServerError> {
    let device = device_auth(&st, &headers).await?;
    let Query(q) = q.map_err(|_| {
        ServerError::BadRequest("since and limit must be non-negative integers".into())
    })?;
    let now = now_ms();
    let id = device.device_id.clone();
    st.db
        .tx(move |tx| {
            tx.exec(
                "UPDATE devices SET last_seen_ms = $1 WHERE device_id = $2",
                &[crate::db::V::I(now), crate::db::V::T(id)],
            )?;
            Ok(())
        })
        .await?;
    let page = changes::page(
        &st.db,
        st.signer.as_ref(),
        device.device_id,
        device.binding,
        q.since,
        q.limit,
        now,
    )
    .await?;
    Ok(json(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct EnrollRequest {
    binding: Binding,
    #[serde(default)]
    ttl_hours: Option<u32>,
    /// Re-binds this already-registered device (the only way a registered device changes binding).
    #[serde(default)]
    rebind_device_id: Option<String>,
}

async fn admin_enroll(
    State(st): State<AppState>,
    axum::extract::Extension(who): axum::extract::Extension<crate::admins::Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    let req: EnrollRequest = parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    // An agency's HR issues codes for its own employees only (and none for citizens' permits).
    match &req.binding {
        Binding::Employee(e) => crate::opd::require_employee(&st.db, &who, e).await?,
        Binding::Permit(_) if who.opd.is_some() => {
            return Err(ServerError::Forbidden(
                "an agency's administrator issues codes for its employees only",
            ));
        }
        Binding::Permit(_) => {}
    }
    let now = now_ms();
    let ttl = i64::from(req.ttl_hours.unwrap_or(72).clamp(1, 24 * 30)) * 3_600_000;
    let code = devices::issue_code(&st.db, req.binding, req.rebind_device_id, ttl, now).await?;
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({ "code": code, "expires_at_ms": now + ttl }),
    ))
}

async fn publish_change(
    st: &AppState,
    change: Change,
    agency: Option<changes::Agency>,
) -> Result<Response, ServerError> {
    let cursor = changes::publish_in(&st.db, change, agency, now_ms()).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "cursor": cursor }),
    ))
}

#[derive(Deserialize)]
struct SiteBody {
    name: String,
    fence: serde_json::Value,
    /// The agency the site belongs to ([`crate::opd`]).
    #[serde(default)]
    opd: Option<String>,
}

async fn admin_site(
    State(st): State<AppState>,
    axum::extract::Extension(who): axum::extract::Extension<crate::admins::Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ServerError> {
    let b: SiteBody = parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    publish_change(
        &st,
        Change::Site {
            id,
            name: b.name,
            fence: b.fence,
        },
        Some(changes::Agency {
            scope: who.opd,
            requested: b.opd,
        }),
    )
    .await
}

#[derive(Deserialize)]
struct EmployeeBody {
    name: String,
    #[serde(default)]
    site_ids: Vec<String>,
    /// The agency the employee belongs to ([`crate::opd`]).
    #[serde(default)]
    opd: Option<String>,
}

async fn admin_employee(
    State(st): State<AppState>,
    axum::extract::Extension(who): axum::extract::Extension<crate::admins::Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ServerError> {
    let b: EmployeeBody = parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    publish_change(
        &st,
        Change::Employee {
            id,
            name: b.name,
            site_ids: b.site_ids,
        },
        Some(changes::Agency {
            scope: who.opd,
            requested: b.opd,
        }),
    )
    .await
}

#[derive(Deserialize)]
struct AssetBody {
    name: String,
    category: String,
    lat: f64,
    lon: f64,
    radius_m: f64,
}

async fn admin_asset(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ServerError> {
    let b: AssetBody = parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    publish_change(
        &st,
        Change::Asset {
            id,
            name: b.name,
            category: b.category,
            lat: b.lat,
            lon: b.lon,
            radius_m: b.radius_m,
        },
        None,
    )
    .await
}

async fn admin_schedule(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ServerError> {
    let b: serde_json::Value = parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    publish_change(&st, Change::Schedule { id, body: b }, None).await
}

#[derive(Deserialize)]
struct FacesQuery {
    status: Option<String>,
    employee_id: Option<String>,
}

async fn admin_faces(
    State(st): State<AppState>,
    axum::extract::Extension(who): axum::extract::Extension<crate::admins::Principal>,
    q: Result<Query<FacesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ServerError> {
    let Query(q) = q.map_err(|_| ServerError::BadRequest("bad query".into()))?;
    let scope = crate::opd::scope_of(&st.db, &who).await?;
    let mut list = crate::faces::list(&st.db, q.status, q.employee_id).await?;
    list.retain(|f| crate::opd::visible(scope.as_ref(), Some(&f.employee_id)));
    Ok(json(StatusCode::OK, &list))
}

async fn admin_face_erase(
    State(st): State<AppState>,
    axum::extract::Extension(who): axum::extract::Extension<crate::admins::Principal>,
    headers: HeaderMap,
    Path(employee): Path<String>,
    body: Body,
) -> Result<Response, ServerError> {
    let mut req: crate::erasure::ErasureRequest =
        parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    req.approver = who.approver(&req.approver);
    crate::opd::require_employee(&st.db, &who, &employee).await?;
    let out = crate::erasure::erase(
        &st.db,
        st.blobs.clone(),
        st.signer.clone(),
        employee,
        req,
        now_ms(),
    )
    .await?;
    Ok(json(StatusCode::OK, &out))
}

/// Largest official photo accepted.
const MAX_OFFICIAL_PHOTO: usize = 4 * 1024 * 1024;

async fn admin_official_photo(
    State(st): State<AppState>,
    axum::extract::Extension(who): axum::extract::Extension<crate::admins::Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ServerError> {
    crate::opd::require_employee(&st.db, &who, &id).await?;
    let _permit = heavy_permit(&st).await?;
    let photo = read_body(&headers, body, MAX_OFFICIAL_PHOTO).await?;
    let out = crate::official::store(&st, id, photo.to_vec(), now_ms()).await?;
    Ok(json(StatusCode::OK, &out))
}

async fn admin_face_decision(
    State(st): State<AppState>,
    axum::extract::Extension(who): axum::extract::Extension<crate::admins::Principal>,
    headers: HeaderMap,
    Path((employee, template)): Path<(String, String)>,
    body: Body,
) -> Result<Response, ServerError> {
    let mut req: crate::faces::DecisionRequest =
        parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    req.approver = who.approver(&req.approver);
    crate::opd::require_employee(&st.db, &who, &employee).await?;
    let signed = crate::faces::decide(
        &st.db,
        st.signer.clone(),
        employee,
        template,
        req,
        st.faces.is_some(),
        now_ms(),
    )
    .await?;
    Ok(json(StatusCode::OK, &signed))
}

async fn admin_permit(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ServerError> {
    let u: PermitUpdate = parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    let signed = changes::update_permit(&st.db, st.signer.clone(), id, u, now_ms()).await?;
    Ok(json(StatusCode::OK, &signed))
}

async fn admin_blob(
    State(st): State<AppState>,
    Path(sha): Path<String>,
) -> Result<Response, ServerError> {
    let (mime, data) = blobs::get(&st.db, st.blobs.clone(), blobs::parse_sha(&sha)?).await?;
    Ok((
        [
            (header::CONTENT_TYPE, blobs::served_type(&mime)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_DISPOSITION, "attachment"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox",
            ),
        ],
        data,
    )
        .into_response())
}

#[derive(Deserialize)]
struct DevicesQuery {
    #[serde(default)]
    review: bool,
}

async fn admin_devices(
    State(st): State<AppState>,
    axum::extract::Extension(who): axum::extract::Extension<crate::admins::Principal>,
    q: Result<Query<DevicesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ServerError> {
    let Query(q) = q.map_err(|_| ServerError::BadRequest("review must be true or false".into()))?;
    let scope = crate::opd::scope_of(&st.db, &who).await?;
    let mut rows = report::devices(&st.db, q.review).await?;
    rows.retain(|d| {
        scope.is_none()
            || (d.binding_type == "employee"
                && crate::opd::visible(scope.as_ref(), Some(&d.binding_id)))
    });
    Ok(json(StatusCode::OK, &rows))
}

#[derive(Deserialize)]
struct AttendanceQuery {
    date: String,
    #[serde(default)]
    format: Option<String>,
    /// One agency's rows only.
    #[serde(default)]
    opd: Option<String>,
    #[serde(default = "wib")]
    utc_offset_min: i64,
}

fn wib() -> i64 {
    7 * 60
}

async fn report_attendance(
    State(st): State<AppState>,
    axum::extract::Extension(who): axum::extract::Extension<crate::admins::Principal>,
    q: Result<Query<AttendanceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ServerError> {
    let Query(q) = q.map_err(|_| ServerError::BadRequest("date=YYYY-MM-DD is required".into()))?;
    if !(-14 * 60..=14 * 60).contains(&q.utc_offset_min) {
        return Err(ServerError::BadRequest(
            "utc_offset_min out of range".into(),
        ));
    }
    let mut rows = report::attendance(&st.db, &q.date, q.utc_offset_min).await?;
    // Each row names its agency (the city-wide view integrates them); a scoped administrator sees
    // their agency's rows only, and anyone can ask for one agency's.
    let agencies = crate::opd::employee_agencies(&st.db).await?;
    for r in &mut rows {
        r.opd = agencies.get(&r.employee_id).cloned();
    }
    if let (Some(mine), Some(asked)) = (&who.opd, &q.opd)
        && mine != asked
    {
        return Err(ServerError::Forbidden("that is another agency's report"));
    }
    let wanted = who.opd.clone().or(q.opd);
    if let Some(w) = &wanted {
        rows.retain(|r| r.opd.as_deref() == Some(w.as_str()));
    }
    match q.format.as_deref() {
        None | Some("json") => Ok(json(StatusCode::OK, &rows)),
        Some("csv") => Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            report::attendance_csv(&rows),
        )
            .into_response()),
        Some(_) => Err(ServerError::BadRequest("format must be json or csv".into())),
    }
}

async fn report_flagged(
    State(st): State<AppState>,
    axum::extract::Extension(who): axum::extract::Extension<crate::admins::Principal>,
) -> Result<Response, ServerError> {
    let scope = crate::opd::scope_of(&st.db, &who).await?;
    let mut rows = report::flagged(&st.db, 10_000).await?;
    rows.retain(|r| crate::opd::visible(scope.as_ref(), r.employee_id.as_deref()));
    Ok(json(StatusCode::OK, &rows))
}

#[derive(Deserialize)]
struct ForksQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "thousand")]
    limit: i64,
}

fn thousand() -> i64 {
    1000
}

async fn report_forks(
    State(st): State<AppState>,
    q: Result<Query<ForksQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ServerError> {
    let Query(q) =
        q.map_err(|_| ServerError::BadRequest("after and limit must be integers".into()))?;
    Ok(json(
        StatusCode::OK,
        &report::forks(&st.db, q.after, q.limit).await?,
    ))
}

#[derive(Deserialize)]
struct StaleQuery {
    #[serde(default = "seven")]
    days: i64,
}

fn seven() -> i64 {
    7
}

async fn report_stale(
    State(st): State<AppState>,
    q: Result<Query<StaleQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ServerError> {
    let Query(q) = q.map_err(|_| ServerError::BadRequest("days must be an integer".into()))?;
    Ok(json(
        StatusCode::OK,
        &report::stale_devices(&st.db, q.days, now_ms()).await?,
    ))
}

#[derive(Deserialize)]
struct RecordsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default = "max_records")]
    limit: i64,
}

fn max_records() -> i64 {
    10_000
}

async fn admin_device_records(
    State(st): State<AppState>,
    axum::extract::Extension(who): axum::extract::Extension<crate::admins::Principal>,
    Path(id): Path<String>,
    q: Result<Query<RecordsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ServerError> {
    devices::check_binding_id(&id)?;
    if who.opd.is_some() {
        // One row, not the whole device report: whose device it is.
        let d = id.clone();
        let bound = st
            .db
            .tx(move |tx| {
                tx.one(
                    "SELECT binding_id FROM devices WHERE device_id = $1 AND binding_type = 'employee'",
                    &[crate::db::V::T(d)],
                )
            })
            .await?
            .map(|r| r[0].t())
            .transpose()?;
        match bound {
            Some(e) => crate::opd::require_employee(&st.db, &who, &e).await?,
            None => {
                return Err(ServerError::Forbidden(
                    "that device belongs to another agency",
                ));
            }
        }
    }
    let Query(q) = q.map_err(|_| {
        ServerError::BadRequest("after and limit must be non-negative integers".into())
    })?;
    let (pk, records) =
        report::device_records(&st.db, id, q.after, q.limit.clamp(1, 10_000)).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "public_key": hex::encode(pk), "records": records }),
    ))
}
