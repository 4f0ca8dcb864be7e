//! The server's error type and its mapping to HTTP answers: every error is a JSON
//! [`ErrorBody`](siap_core::sync::protocol::ErrorBody) with a stable code, and no message carries personal data.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use siap_core::sync::protocol::ErrorBody;

/// Everything that can go wrong in the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The request is malformed or violates the protocol (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials (401).
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// The credentials are fine but do not allow this (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Unknown resource (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// State conflict, e.g. a blob chunk at the wrong offset (409).
    #[error("{0}")]
    Conflict(String),
    /// The body or a declared size is over a limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// Records that did not verify (422). Carries the highest contiguous seq stored.
    #[error("{message}")]
    BadRecord {
        /// What failed (seq and reason, nothing else).
        message: String,
        /// Highest contiguous seq stored for the device.
        acked_seq: u64,
    },
    /// The route exists, not with this method (405).
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// Too many failed attempts from this source or for this code prefix (429).
    #[error("too many failed attempts; retry in {retry_after_s} s")]
    TooManyRequests {
        /// Seconds until the next attempt may succeed.
        retry_after_s: u64,
    },
    /// All permits for large bodies are taken for too long (503).
    #[error("server busy; retry later")]
    Busy,
    /// The request took longer than the server allows (408).
    #[error("request took too long")]
    Timeout,
    /// The database failed (500 / 503).
    #[error("database error: {0}")]
    Database(String),
    /// A bug or an unexpected state (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for ServerError {
    fn from(e: rusqlite::Error) -> Self {
        ServerError::Database(
            e.sqlite_error_code()
                .map_or_else(|| "sqlite failure".to_owned(), |c| format!("{c:?}")),
        )
    }
}

impl From<siap_core::Error> for ServerError {
    fn from(e: siap_core::Error) -> Self {
        match e {
            siap_core::Error::InvalidInput { .. } | siap_core::Error::Encoding(_) => {
                ServerError::BadRequest(e.to_string())
            }
            other => ServerError::Internal(other.to_string()),
        }
    }
}

impl ServerError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ServerError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ServerError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ServerError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ServerError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ServerError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ServerError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ServerError::BadRecord { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "bad_record"),
            ServerError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ServerError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
            }
            ServerError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ServerError::Timeout => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            ServerError::Database(_) => (StatusCode::SERVICE_UNAVAILABLE, "database"),
            ServerError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let acked_seq = match &self {
            ServerError::BadRecord { acked_seq, .. } => Some(*acked_seq),
            _ => None,
        };
        let body = ErrorBody {
            error: code.to_owned(),
            message: self.to_string(),
            acked_seq,
        };
        let retry = match &self {
            ServerError::TooManyRequests { retry_after_s } => Some(*retry_after_s),
            ServerError::Busy | ServerError::Database(_) => Some(5),
            _ => None,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(s) = retry
            && let Ok(v) = axum::http::HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    }
}
