//! The one error type of the HTTP API. Server errors are logged here and never leak details.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    /// Signed in (or about to be), but not a current member of this node's family.
    #[error("this identity is not a member of this node's family")]
    NotAMember,
    /// A vault rule refused a record; the rule is in the message.
    #[error("record refused: {0}")]
    RecordRefused(#[from] family_vault::PolicyError),
    /// A record stamped too far ahead of this node's clock.
    #[error(
        "the record is stamped {ahead_ms} ms ahead of this node's clock (at most {max_ms} ms): check the clock of the device that signed it"
    )]
    ClockAhead { ahead_ms: u64, max_ms: u64 },
    /// A record stamped too far behind this node's clock.
    #[error(
        "the record is stamped {behind_ms} ms before this node's clock (at most {max_ms} ms): check the clock of the device that signed it, and sign it again"
    )]
    ClockBehind { behind_ms: u64, max_ms: u64 },

    #[error("{0}")]
    Conflict(String),
    #[error("the upload is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("{0}")]
    RangeNotSatisfiable(String),
    /// 429: a rate limit (join requests).
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Another node or the hub did not answer as it should.
    #[error("{0}")]
    BadGateway(String),
    #[error("internal error")]
    Internal(String),
}

/// The machine code of every API error: the `error` field of its body. Clients branch on it (and on
/// `rule`), never on the message. The OpenAPI document lists the codes as an enum, from which the
/// web client's `ErrorCode` type is generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RangeNotSatisfiable,
    TooManyRequests,
    BadGateway,
    Internal,
    /// 403: the identity is not a current member of the family (sign-in, or a member-only route).
    NotAMember,
    /// 403: a vault rule refused the record; `rule` says which.
    RecordRefused,
    /// 400: the record is stamped too far ahead of the node's clock.
    ClockAhead,
    /// 400: the record is stamped too far behind the node's clock.
    ClockBehind,
}

#[derive(Serialize)]
struct Body {
    error: ErrorCode,
    message: String,
    /// With `record_refused`: the vault rule that refused it (`PolicyError::kind`).
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'static str>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::NotAMember | ApiError::RecordRefused(_) => StatusCode::FORBIDDEN,
            ApiError::ClockAhead { .. } | ApiError::ClockBehind { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::Unauthorized => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotAMember => ErrorCode::NotAMember,
            ApiError::RecordRefused(_) => ErrorCode::RecordRefused,
            ApiError::ClockAhead { .. } => ErrorCode::ClockAhead,
            ApiError::ClockBehind { .. } => ErrorCode::ClockBehind,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::RangeNotSatisfiable(_) => ErrorCode::RangeNotSatisfiable,
            ApiError::TooManyRequests(_) => ErrorCode::TooManyRequests,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::BadGateway(_) => ErrorCode::BadGateway,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The vault rule behind a `record_refused`, for clients to branch on.
    fn rule(&self) -> Option<&'static str> {
        match self {
            ApiError::RecordRefused(e) => Some(e.kind()),
            _ => None,
        }
    }

    /// For failures of our own machinery: logged with details, shown to the client as "internal".
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError::Internal(detail.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        (self.status(), Json(Body { error: self.code(), message: self.to_string(), rule: self.rule() })).into_response()
    }
}

impl From<p2pos_storage::BlobError> for ApiError {
    fn from(e: p2pos_storage::BlobError) -> Self {
        use p2pos_storage::BlobError as B;
        match e {
            B::NotFound(id) => ApiError::NotFound(format!("no blob {id}")),
            B::TooLarge { limit } => ApiError::PayloadTooLarge { limit },
            B::HashMismatch { .. } => ApiError::BadRequest(e.to_string()),
            B::RangeNotSatisfiable { .. } => ApiError::RangeNotSatisfiable(e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as J;
        match e {
            J::MissingJsonContentType(_) => {
                ApiError::UnsupportedMediaType("send JSON with Content-Type: application/json".into())
            }
            J::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge { limit: crate::MAX_JSON_BYTES as u64 }
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

/// `axum::Json` whose rejections are [`ApiError`]s, so malformed bodies get the API's JSON errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// `axum::extract::Query` with [`ApiError`] rejections.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(value))
    }
}
