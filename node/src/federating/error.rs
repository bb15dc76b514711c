//! Failures of federation requests and jobs, and their HTTP answers.

use crate::error::{Error as NodeError, ErrorBody, ErrorDetail};
use activitypub_federation::error::Error as ProtocolError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Why a federation request or job failed.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// The ActivityPub layer refused or failed (signature, digest, fetch, URL checks).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A node operation failed (database, validation).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The activity is well-formed but not acceptable from this sender (403).
    #[error("{0}")]
    Rejected(String),
    /// The request's HTTP signature is missing, malformed or out of date (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The activity or object is malformed (400).
    #[error("{0}")]
    Invalid(String),
    /// Federation is switched off on this node (404).
    #[error("federation is disabled on this node")]
    Disabled,
}

impl From<serde_json::Error> for FederationError {
    fn from(error: serde_json::Error) -> Self {
        FederationError::Invalid(format!("JSON: {error}"))
    }
}

impl From<diesel::result::Error> for FederationError {
    fn from(error: diesel::result::Error) -> Self {
        FederationError::Node(error.into())
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for FederationError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        FederationError::Node(error.into())
    }
}

impl FederationError {
    fn code(&self) -> &'static str {
        match self {
            FederationError::Protocol(error) => protocol_code(error),
            FederationError::Node(_) => "node_error",
            FederationError::Rejected(_) => "rejected",
            FederationError::Unauthenticated(_) => "invalid_signature",
            FederationError::Invalid(_) => "invalid_activity",
            FederationError::Disabled => "federation_disabled",
        }
    }
}

fn protocol_code(error: &ProtocolError) -> &'static str {
    match error {
        ProtocolError::ActivitySignatureInvalid => "invalid_signature",
        ProtocolError::ActivityBodyDigestInvalid => "invalid_digest",
        ProtocolError::UrlVerificationError(_) | ProtocolError::DomainResolveError(_) => {
            "url_refused"
        }
        ProtocolError::ParseReceivedActivity { .. } => "invalid_activity",
        ProtocolError::NotFound | ProtocolError::ObjectDeleted(_) => "not_found",
        error if is_unusable_remote_object(error) => "unfetchable_object",
        _ => "federation_error",
    }
}

/// A remote object the activity refers to was fetched but cannot be used (an error page, the
/// wrong id, malformed, too large): the sender's problem, answered with a 4xx so that it does
/// not retry. Only an unreachable server stays a 502, which senders retry.
fn is_unusable_remote_object(error: &ProtocolError) -> bool {
    matches!(
        error,
        ProtocolError::FetchInvalidContentType(_)
            | ProtocolError::FetchWrongId(_)
            | ProtocolError::ParseFetchedObject(..)
            | ProtocolError::RequestLimit
            | ProtocolError::ResponseBodyLimit
    )
}

impl ResponseError for FederationError {
    fn status_code(&self) -> StatusCode {
        match self {
            FederationError::Protocol(error) => match error {
                ProtocolError::ActivitySignatureInvalid
                | ProtocolError::ActivityBodyDigestInvalid => StatusCode::UNAUTHORIZED,
                ProtocolError::UrlVerificationError(_)
                | ProtocolError::DomainResolveError(_)
                | ProtocolError::ResolveInternalIpError(..) => StatusCode::FORBIDDEN,
                ProtocolError::ParseReceivedActivity { .. } => StatusCode::BAD_REQUEST,
                ProtocolError::NotFound | ProtocolError::ObjectDeleted(_) => {
                    StatusCode::BAD_REQUEST
                }
                error if is_unusable_remote_object(error) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_GATEWAY,
            },
            FederationError::Node(error) => error.status_code(),
            FederationError::Rejected(_) => StatusCode::FORBIDDEN,
            FederationError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            FederationError::Invalid(_) => StatusCode::BAD_REQUEST,
            FederationError::Disabled => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let FederationError::Node(error) = self {
            return error.error_response();
        }
        let status = self.status_code();
        let message = if status.is_server_error() {
            tracing::warn!(error = %self, "federation request failed");
            // The cause names peers and internals: it stays in the log.
            "a peer could not be reached or answered unusably; the node's log has the details \
             under this request's id"
                .to_owned()
        } else {
            tracing::info!(error = %self, "federation request refused");
            self.to_string()
        };
        HttpResponse::build(status).json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
                field: None,
                item: None,
            },
        })
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn status(error: ProtocolError) -> StatusCode {
        FederationError::Protocol(error).status_code()
    }

    #[test]
    fn a_server_side_failure_hides_its_cause() {
        let error = FederationError::Protocol(ProtocolError::Other(
            "connection refused by 10.0.0.7:8443".to_owned(),
        ));
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let body = actix_web::body::to_bytes(response.into_body());
        let body = futures_util::FutureExt::now_or_never(body)
            .and_then(Result::ok)
            .expect("a ready body");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("federation_error"), "{text}");
        assert!(!text.contains("10.0.0.7"), "{text}");
    }

    #[test]
    fn an_unusable_remote_object_is_the_senders_problem() {
        let url = url::Url::parse("http://peer.example/relationships/1").expect("url");
        assert_eq!(
            status(ProtocolError::FetchInvalidContentType(url.clone())),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(ProtocolError::FetchWrongId(url)),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(ProtocolError::ResponseBodyLimit),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(ProtocolError::Other("connection refused".to_owned())),
            StatusCode::BAD_GATEWAY
        );
    }
}
