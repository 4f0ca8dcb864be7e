//! The admin API's gate and its account routes: every `/v1/admin/*` route is reached only through
//! [`gate`], which names the caller ([`crate::admins::authenticate`]), holds them to their role, and
//! writes every changing request (and every refused one) to the audit log ([`crate::audit`]); sign-in,
//! API tokens, administrators and the log itself are served here.

use axum::body::Body;
use axum::extract::{Extension, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;

use crate::admins::{self, AdminBody, Principal};
use crate::audit::{self, Action};
use crate::error::ServerError;
use crate::http::{AppState, MAX_SMALL_BODY, bearer, json, now_ms, parse_json, read_body};

/// Largest admin request body (an official photo).
pub const MAX_ADMIN_BODY: usize = 4 * 1024 * 1024;

/// Authenticates, authorises and audits one admin request (a `route_layer` of the admin routes, so
/// the route template is known).
pub async fn gate(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ServerError> {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let token = bearer(req.headers()).ok_or(ServerError::Unauthorized)?;
    let who = admins::authenticate(&st.db, &st.admin_token_hash, token, now_ms()).await?;
    let changes = !matches!(method, Method::GET | Method::HEAD);
    let record = |status: StatusCode, body: Option<Vec<u8>>| Action {
        actor: who.name.clone(),
        role: who.role.as_str().into(),
        method: method.as_str().into(),
        route: route.clone(),
        path: path.clone(),
        status: status.as_u16(),
        body,
    };
    if !who.role.allows(method.as_str(), &route) {
        // A refused attempt is worth an auditor's eye too (a permit officer approving faces).
        append(&st, record(StatusCode::FORBIDDEN, None)).await;
        return Err(ServerError::Forbidden("this role may not do that"));
    }
    if !changes {
        let mut req = req;
        req.extensions_mut().insert(who.clone());
        return Ok(next.run(req).await);
    }
    let (parts, body) = req.into_parts();
    let bytes = read_body(&parts.headers, body, MAX_ADMIN_BODY).await?;
    let mut req = Request::from_parts(parts, Body::from(bytes.clone()));
    req.extensions_mut().insert(who.clone());
    let resp = next.run(req).await;
    append(&st, record(resp.status(), Some(bytes.to_vec()))).await;
    Ok(resp)
}

/// Appends to the audit log; a failure is logged (the action itself already happened and answered).
async fn append(st: &AppState, action: Action) {
    if let Err(e) = audit::append(&st.db, action, now_ms()).await {
        tracing::error!(error = %e, "audit log append failed");
    }
}

/// Password guessing against one account: 10 failures at once, then one more a minute, per name
/// whatever the source address. A person who mistypes is slowed, not locked out; a guesser gets 60
/// tries an hour against a password of at least 12 characters. In memory, per server process.
pub fn login_throttle() -> crate::throttle::FailureBuckets {
    crate::throttle::FailureBuckets::new(10, std::time::Duration::from_mins(1), 100_000)
}

#[derive(Deserialize)]
struct LoginBody {
    name: String,
    password: String,
}

/// `POST /v1/admin/login`: a session token for a name and password (audited, success or not).
pub(crate) async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    let bytes = read_body(&headers, body, MAX_SMALL_BODY).await?;
    let req: LoginBody = parse_json(&bytes)?;
    let name: String = req.name.chars().take(64).collect();
    let t = std::time::Instant::now();
    st.login_throttle
        .check(&name, t)
        .map_err(|wait| ServerError::TooManyRequests {
            retry_after_s: wait.as_secs().max(1),
        })?;
    let out = admins::login(&st.db, req.name, req.password, now_ms()).await;
    if out.is_err() {
        st.login_throttle.fail(&name, t);
    }
    let status = match &out {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::UNAUTHORIZED,
    };
    append(
        &st,
        Action {
            actor: name,
            role: out.as_ref().map_or("", |i| i.role.as_str()).into(),
            method: "login".into(),
            route: "/v1/admin/login".into(),
            path: "/v1/admin/login".into(),
            status: status.as_u16(),
            body: Some(bytes.to_vec()),
        },
    )
    .await;
    Ok(json(StatusCode::OK, &out?))
}

#[derive(Deserialize)]
struct TokenBody {
    #[serde(default)]
    label: String,
    days: i64,
}

/// `POST /v1/admin/tokens`: an API token for the caller, with the caller's role.
pub(crate) async fn new_token(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    let req: TokenBody = parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    let issued = admins::api_token(&st.db, &who, req.label, req.days, now_ms()).await?;
    Ok(json(StatusCode::OK, &issued))
}

#[derive(Deserialize)]
struct RevokeBody {
    token: String,
}

/// `POST /v1/admin/tokens/revoke`: revokes one of the caller's tokens (a city administrator: anyone's).
pub(crate) async fn revoke_token(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    let req: RevokeBody = parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    let revoked = admins::revoke(&st.db, &who, &req.token).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "revoked": revoked }),
    ))
}

/// `GET /v1/admin/admins`.
pub(crate) async fn list_admins(State(st): State<AppState>) -> Result<Response, ServerError> {
    Ok(json(StatusCode::OK, &admins::list(&st.db).await?))
}

/// `PUT /v1/admin/admins/{name}`: creates or changes an administrator (city administrators only).
pub(crate) async fn put_admin(
    State(st): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    let req: AdminBody = parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    Ok(json(
        StatusCode::OK,
        &admins::put(&st.db, name, req, now_ms()).await?,
    ))
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    1000
}

/// `GET /v1/admin/audit?after=&limit=`: entries after `after` with the signed head.
pub(crate) async fn audit_log(
    State(st): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ServerError> {
    if q.after < 0 || !(1..=10_000).contains(&q.limit) {
        return Err(ServerError::BadRequest(
            "after must be >= 0 and limit 1 to 10000".into(),
        ));
    }
    let page = audit::page(&st.db, st.signer.clone(), q.after, q.limit, now_ms()).await?;
    Ok(json(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct OpdBody {
    name: String,
}

/// `GET /v1/admin/opds`: the city's agencies.
pub(crate) async fn list_opds(State(st): State<AppState>) -> Result<Response, ServerError> {
    Ok(json(StatusCode::OK, &crate::opd::list(&st.db).await?))
}

/// `PUT /v1/admin/opds/{code}`: creates or renames an agency (city administrators only).
pub(crate) async fn put_opd(
    State(st): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    let req: OpdBody = parse_json(&read_body(&headers, body, MAX_SMALL_BODY).await?)?;
    Ok(json(
        StatusCode::OK,
        &crate::opd::put(&st.db, code, req.name).await?,
    ))
}
