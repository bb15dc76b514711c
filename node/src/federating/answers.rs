//! What a peer's answer to a delivery means for the delivery queue.
//!
//! activitypub_federation reports a delivery answered with a 4xx (other than 408 and 429) as
//! delivered, and every other failure only as text: the queue could neither retry a 401 (a
//! receiver that cannot fetch our key yet) nor record a 400. A middleware on the federation HTTP
//! client ([`AnswersAsErrors`]) turns every non-2xx answer to a POST into an error carrying the
//! status, `Retry-After` and an excerpt of the body, and [`Verdict::of`] decides what the queue
//! does with a failed send.

use std::time::{Duration, SystemTime};

use activitypub_federation::error::Error as ProtocolError;
use async_trait::async_trait;
use futures_util::StreamExt;
use reqwest_middleware::reqwest::{Method, Request, Response, StatusCode};
use reqwest_middleware::{Middleware, Next};

use super::error::FederationError;

/// Characters of a refusing peer's answer kept for the administrator.
const BODY_EXCERPT: usize = 500;
/// Bytes of that answer read at most.
const BODY_READ: usize = 4096;

/// A peer answered a delivery with an error status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the peer answered {status}: {body}")]
pub struct Refused {
    /// The status it answered.
    pub status: StatusCode,
    /// The pause it asked for, if any.
    pub retry_after: Option<Duration>,
    /// The start of its answer.
    pub body: String,
}

impl Refused {
    /// The refusal behind a failed send, if the peer answered.
    pub fn of(error: &FederationError) -> Option<&Refused> {
        match error {
            FederationError::Protocol(ProtocolError::ReqwestMiddleware(
                reqwest_middleware::Error::Middleware(error),
            )) => error.downcast_ref::<Refused>(),
            _ => None,
        }
    }

    /// Whether the answer would not change if the same activity were sent again: a 4xx other
    /// than 401 and 403 (the receiver may not have fetched our key yet), 408, 425 and 429
    /// (the moment, not the activity, was wrong). Mastodon retries the same set.
    pub fn is_permanent(&self) -> bool {
        self.status.is_client_error()
            && !matches!(
                self.status,
                StatusCode::UNAUTHORIZED
                    | StatusCode::FORBIDDEN
                    | StatusCode::REQUEST_TIMEOUT
                    | StatusCode::TOO_EARLY
                    | StatusCode::TOO_MANY_REQUESTS
            )
    }
}

/// Middleware of the federation HTTP client: a non-2xx answer to a POST (a delivery) becomes a
/// [`Refused`] error. Fetches (GET) are left to activitypub_federation, which reads 404 and 410
/// as deleted objects.
pub struct AnswersAsErrors;

#[async_trait]
impl Middleware for AnswersAsErrors {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let is_delivery = request.method() == Method::POST;
        let response = next.run(request, extensions).await?;
        if !is_delivery || response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let retry_after =
            kg_federation::backoff::retry_after_header(response.headers(), SystemTime::now());
        let body = excerpt(response).await;
        Err(reqwest_middleware::Error::Middleware(anyhow::Error::new(
            Refused {
                status,
                retry_after,
                body,
            },
        )))
    }
}

/// The first [`BODY_EXCERPT`] characters of an answer, on one line.
async fn excerpt(response: Response) -> String {
    let mut bytes = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        bytes.extend_from_slice(&chunk);
        if bytes.len() >= BODY_READ {
            break;
        }
    }
    String::from_utf8_lossy(&bytes)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(BODY_EXCERPT)
        .collect()
}

/// What the queue does after a failed send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Try the same activity again later.
    Retry {
        /// The peer answered (such attempts count towards parking the activity).
        refused: bool,
        /// The pause it asked for.
        after: Option<Duration>,
    },
    /// Sending it again cannot succeed: record the failure and move on.
    Permanent {
        /// The peer's status, when it answered.
        status: Option<StatusCode>,
    },
}

impl Verdict {
    /// The verdict on the error of one send.
    pub fn of(error: &FederationError) -> Self {
        match error {
            // This node cannot build the activity (its actor is gone, a stored URL is bad).
            FederationError::Invalid(_) | FederationError::Rejected(_) => {
                Verdict::Permanent { status: None }
            }
            _ => match Refused::of(error) {
                Some(refused) if refused.is_permanent() => Verdict::Permanent {
                    status: Some(refused.status),
                },
                Some(refused) => Verdict::Retry {
                    refused: refused.status != StatusCode::TOO_MANY_REQUESTS,
                    after: refused.retry_after,
                },
                // No answer (connection refused, timeout), or this node's own trouble.
                None => Verdict::unanswered(),
            },
        }
    }

    fn unanswered() -> Self {
        Verdict::Retry {
            refused: false,
            after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(status: StatusCode) -> Verdict {
        let refused = Refused {
            status,
            retry_after: Some(Duration::from_secs(7)),
            body: String::new(),
        };
        Verdict::of(&FederationError::Protocol(
            ProtocolError::ReqwestMiddleware(reqwest_middleware::Error::Middleware(
                anyhow::Error::new(refused),
            )),
        ))
    }

    #[test]
    fn answers_that_may_change_are_retried() {
        for status in [401, 403, 408, 425, 500, 502, 503] {
            let status = StatusCode::from_u16(status).unwrap_or_default();
            assert_eq!(
                verdict(status),
                Verdict::Retry {
                    refused: true,
                    after: Some(Duration::from_secs(7))
                },
                "{status}"
            );
        }
        assert_eq!(
            verdict(StatusCode::TOO_MANY_REQUESTS),
            Verdict::Retry {
                refused: false,
                after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn answers_that_would_not_change_are_permanent() {
        for status in [400, 404, 410, 413, 422] {
            let status = StatusCode::from_u16(status).unwrap_or_default();
            assert_eq!(
                verdict(status),
                Verdict::Permanent {
                    status: Some(status)
                },
                "{status}"
            );
        }
    }

    #[test]
    fn no_answer_is_retried_without_counting() {
        let error = FederationError::Protocol(ProtocolError::Other("connection refused".into()));
        assert_eq!(Verdict::of(&error), Verdict::unanswered());
        let local = FederationError::Invalid("its actor is gone".into());
        assert_eq!(Verdict::of(&local), Verdict::Permanent { status: None });
    }
}
