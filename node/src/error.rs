//! The node's one error type and its HTTP mapping.
//!
//! Every failure a client can see is a variant here; one table (`Error::spec`) gives each variant
//! its HTTP status and stable snake_case code. Responses always have the
//! shape `{"error": {"code": "...", "message": "..."}}`, plus `field` or `item` where they help.
//! 5xx responses never show internal causes: those are logged, inside the request's span (which
//! carries the request id).

use actix_web::http::StatusCode;
use actix_web::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use utoipa::ToSchema;

/// Result alias used throughout the node.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not syntactically valid JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON but does not fit the request: a wrong type, a value out of range.
    /// `field` is the JSON path of the offending value.
    #[error("{field}: {message}")]
    InvalidBody {
        /// JSON path such as `artifacts[3].kind`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The body names a field the request does not have (a typo, or a field of another
    /// version): the request is malformed, not merely invalid.
    #[error("{field}: {message}")]
    UnknownField {
        /// JSON path of the unknown field.
        field: String,
        /// Which fields the request has.
        message: String,
    },
    /// A query parameter or path segment is malformed.
    #[error("{0}")]
    InvalidParameter(String),
    /// A search query that cannot be parsed.
    #[error("{0}")]
    InvalidQuery(String),
    /// The request is well-formed but asks for something impossible (a self loop, say).
    #[error("{0}")]
    Unprocessable(String),
    /// The body is not declared as JSON.
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The body is larger than the endpoint accepts.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The client declared a body and stopped sending it.
    #[error("the request body stalled: nothing arrived for {seconds} s (http.body_timeout_secs)")]
    BodyTimeout {
        /// The configured idle time.
        seconds: u64,
    },
    /// A batch holds more items than allowed.
    #[error("{0}")]
    TooManyItems(String),
    /// A write was attempted without a token.
    #[error("this request needs a bearer token (Authorization: Bearer <token>)")]
    Unauthenticated,
    /// The bearer token is malformed, unknown or revoked.
    #[error("the bearer token is not valid")]
    InvalidToken,
    /// The username and password do not match an account.
    #[error("unknown username or wrong password")]
    InvalidCredentials,
    /// Too many requests of one kind from one caller.
    #[error("too many {bucket} from this client; retry in {retry_after_secs} s")]
    RateLimited {
        /// Which limit (`reads`, `searches`, `writes`, `logins`, ...).
        bucket: &'static str,
        /// Seconds until a request of this kind is accepted again.
        retry_after_secs: u64,
    },
    /// The token is valid but does not grant this action.
    #[error("{0}")]
    Forbidden(String),
    /// The addressed resource does not exist or is invisible to the caller.
    #[error("{resource} '{key}' not found")]
    NotFound {
        /// What was looked for (`convergence`, `artifact`, ...).
        resource: &'static str,
        /// How it was addressed.
        key: String,
    },
    /// No route matches the request path.
    #[error("no such endpoint: {0}")]
    RouteNotFound(String),
    /// The route exists but not for this method; `allowed` lists the methods it has.
    #[error("method not allowed on this endpoint; it allows {allowed}")]
    MethodNotAllowed {
        /// Comma-separated methods, as sent in the `Allow` header.
        allowed: &'static str,
    },
    /// The artifact existed and was deleted.
    #[error("artifact '{0}' has been deleted")]
    Deleted(uuid::Uuid),
    /// The write collides with existing data (a taken slug, a duplicate edge).
    #[error("{0}")]
    Conflict(String),
    /// An optimistic write named a version that is no longer current.
    #[error("version {expected} is stale: the current version is {current}")]
    StaleVersion {
        /// The version the client read.
        expected: i32,
        /// The version stored now.
        current: i32,
    },
    /// An optimistic write named no version.
    #[error("send the version you read, as an If-Match header or a \"version\" field")]
    VersionRequired,
    /// One item of a batch is invalid; nothing of the batch was stored.
    #[error("{item}: {source}")]
    BatchItem {
        /// Which item, such as `artifacts[3]` or `relationships[0]`.
        item: String,
        /// What is wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// A protocol-level failure reported by the HTTP layer itself (a malformed header, say).
    #[error("{}", .0.canonical_reason().unwrap_or("HTTP error"))]
    Http(StatusCode),
    /// No database connection could be had in time.
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(String),
    /// As many event streams as `realtime.max_subscribers` are open.
    #[error("too many open event streams")]
    TooManySubscribers,
    /// The search index is still being built from PostgreSQL: any answer would be partial.
    #[error("the search index is being built")]
    IndexBuilding,
    /// The search index failed unexpectedly.
    #[error("search index error: {0}")]
    Search(#[source] kg_search::Error),
    /// A database operation failed unexpectedly.
    #[error("database error: {0}")]
    Database(#[source] DieselError),
    /// A part of the node itself failed (its random source, password hashing).
    #[error("internal failure: {0}")]
    Internal(String),
    /// A response could not be written as JSON.
    #[error("response encoding error: {0}")]
    Encoding(#[source] serde_json::Error),
}

impl Error {
    /// The table: one row per variant, its HTTP status and its stable, machine-readable code.
    fn spec(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Error::MalformedJson(_) => (S::BAD_REQUEST, "malformed_json"),
            Error::InvalidBody { .. } => (S::UNPROCESSABLE_ENTITY, "invalid_body"),
            Error::UnknownField { .. } => (S::BAD_REQUEST, "unknown_field"),
            Error::InvalidParameter(_) => (S::BAD_REQUEST, "invalid_parameter"),
            Error::InvalidQuery(_) => (S::BAD_REQUEST, "invalid_query"),
            Error::Unprocessable(_) => (S::UNPROCESSABLE_ENTITY, "unprocessable"),
            Error::UnsupportedMediaType => (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Error::PayloadTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Error::BodyTimeout { .. } => (S::REQUEST_TIMEOUT, "body_timeout"),
            Error::TooManyItems(_) => (S::PAYLOAD_TOO_LARGE, "too_many_items"),
            Error::Unauthenticated => (S::UNAUTHORIZED, "unauthenticated"),
            Error::InvalidToken => (S::UNAUTHORIZED, "invalid_token"),
            Error::InvalidCredentials => (S::UNAUTHORIZED, "invalid_credentials"),
            Error::RateLimited { .. } => (S::TOO_MANY_REQUESTS, "rate_limited"),
            Error::Forbidden(_) => (S::FORBIDDEN, "forbidden"),
            Error::NotFound { .. } => (S::NOT_FOUND, "not_found"),
            Error::RouteNotFound(_) => (S::NOT_FOUND, "route_not_found"),
            Error::MethodNotAllowed { .. } => (S::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Error::Deleted(_) => (S::GONE, "deleted"),
            Error::Conflict(_) => (S::CONFLICT, "conflict"),
            Error::StaleVersion { .. } => (S::PRECONDITION_FAILED, "stale_version"),
            Error::VersionRequired => (S::PRECONDITION_REQUIRED, "version_required"),
            Error::BatchItem { source, .. } => source.spec(),
            Error::Http(status) if status.is_server_error() => (*status, "internal"),
            Error::Http(status) => (*status, "bad_request"),
            Error::DatabaseUnavailable(_) => (S::SERVICE_UNAVAILABLE, "database_unavailable"),
            Error::IndexBuilding => (S::SERVICE_UNAVAILABLE, "index_building"),
            Error::TooManySubscribers => (S::SERVICE_UNAVAILABLE, "too_many_subscribers"),
            Error::Search(_) | Error::Database(_) | Error::Encoding(_) | Error::Internal(_) => {
                (S::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }

    /// The HTTP status for this error (from [`Error::spec`]'s table).
    pub fn status(&self) -> StatusCode {
        self.spec().0
    }

    /// The stable, machine-readable code for this error (from [`Error::spec`]'s table).
    pub fn code(&self) -> &'static str {
        self.spec().1
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(resource: &'static str, key: impl ToString) -> Self {
        Error::NotFound {
            resource,
            key: key.to_string(),
        }
    }

    /// Names the batch item this error belongs to.
    pub fn in_item(self, item: impl Into<String>) -> Self {
        Error::BatchItem {
            item: item.into(),
            source: Box::new(self),
        }
    }

    fn body(&self) -> ErrorBody {
        let server_side = self.status().is_server_error();
        let message = if server_side {
            match self {
                Error::IndexBuilding => {
                    "the search index is being built from the database; retry shortly".to_owned()
                }
                Error::DatabaseUnavailable(_) => {
                    "the database is unavailable; retry shortly".to_owned()
                }
                Error::TooManySubscribers => {
                    "this node has as many open event streams as it allows; retry later".to_owned()
                }
                _ => "internal error; the node's log has the details under this request's id"
                    .to_owned(),
            }
        } else {
            self.to_string()
        };
        let (field, item) = match self {
            Error::InvalidBody { field, .. } | Error::UnknownField { field, .. } => {
                (Some(field.clone()), None)
            }
            Error::BatchItem { item, source } => match source.as_ref() {
                Error::InvalidBody { field, .. } | Error::UnknownField { field, .. } => {
                    (Some(field.clone()), Some(item.clone()))
                }
                _ => (None, Some(item.clone())),
            },
            _ => (None, None),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
                field,
                item,
            },
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and human message of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `not_found`, `stale_version`.
    #[schema(value_type = String, example = "not_found")]
    pub code: &'static str,
    /// What went wrong, for humans.
    pub message: String,
    /// JSON path of the offending value, when the body was at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The batch item at fault, e.g. `artifacts[3]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, source = ?std::error::Error::source(self), "request failed");
        } else {
            tracing::debug!(error = %self, "request rejected");
        }
        let mut response = HttpResponse::build(status);
        match self {
            Error::MethodNotAllowed { allowed } => {
                response.insert_header((actix_web::http::header::ALLOW, *allowed));
            }
            Error::Unauthenticated => {
                response.insert_header((WWW_AUTHENTICATE, "Bearer"));
            }
            Error::InvalidToken => {
                response.insert_header((WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
            }
            Error::RateLimited {
                retry_after_secs, ..
            } => {
                response.insert_header((RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.json(self.body())
    }
}

impl From<DieselError> for Error {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Error::Conflict(format!(
                    "already exists (constraint {})",
                    info.constraint_name().unwrap_or("unique")
                ))
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                Error::Unprocessable(format!(
                    "refers to something that does not exist (constraint {})",
                    info.constraint_name().unwrap_or("foreign key")
                ))
            }
            DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
                Error::Unprocessable(format!(
                    "violates constraint {}",
                    info.constraint_name().unwrap_or("check")
                ))
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                Error::DatabaseUnavailable(error.to_string())
            }
            _ => Error::Database(error),
        }
    }
}

impl From<kg_search::Error> for Error {
    fn from(error: kg_search::Error) -> Self {
        match error {
            kg_search::Error::InvalidQuery { message } => Error::InvalidQuery(message),
            kg_search::Error::InvalidPage { .. } => Error::InvalidParameter(error.to_string()),
            other => Error::Search(other),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for Error {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Error::DatabaseUnavailable(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_cause() {
        let error = Error::Database(DieselError::NotFound);
        let body = serde_json::to_value(error.body()).unwrap_or_default();
        assert_eq!(body["error"]["code"], "internal");
        assert!(
            !body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("NotFound")
        );
    }

    #[test]
    fn batch_items_keep_the_inner_status_and_name_the_item() {
        let error = Error::Unprocessable("self loop".into()).in_item("relationships[2]");
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = serde_json::to_value(error.body()).unwrap_or_default();
        assert_eq!(body["error"]["item"], "relationships[2]");
        assert_eq!(body["error"]["message"], "relationships[2]: self loop");
    }
}
