//! The first check of an inbox POST: are its signature headers usable at all?
//!
//! activitypub_federation fetches the sending actor before it looks at the `Signature` header,
//! and reports a malformed or expired one as a generic error: an unsigned request for an
//! unreachable actor, or a stale `Date`, answered 502, which senders retry for days. Checked
//! here first, with the same crate the library verifies with (http-signature-normalization),
//! every such request is a 401 before anything is fetched. A `Date` more than
//! [`ALLOWED_SKEW`] in the future is refused too (the library only bounds the past, to the same
//! hour).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use actix_web::HttpRequest;
use http_signature_normalization::Config;

use super::error::FederationError;

/// How far a request's `Date` may be from this node's clock, either way.
pub const ALLOWED_SKEW: Duration = Duration::from_secs(60 * 60);

/// Refuses (401) a request without a parseable, current signature over its digest.
pub fn check(request: &HttpRequest, now: SystemTime) -> Result<(), FederationError> {
    let refused = |why: String| FederationError::Unauthenticated(why);
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    if let Some(date) = headers.get("date") {
        let date = httpdate::parse_http_date(date)
            .map_err(|_| refused(format!("the Date header '{date}' is not an HTTP date")))?;
        if date > now + ALLOWED_SKEW {
            return Err(refused(format!(
                "the request is dated {} s in the future (at most {} s)",
                date.duration_since(now).unwrap_or_default().as_secs(),
                ALLOWED_SKEW.as_secs()
            )));
        }
    }
    let path = request
        .uri()
        .path_and_query()
        .map(|path| path.as_str())
        .unwrap_or_else(|| request.path());
    Config::new()
        .set_expiration(ALLOWED_SKEW)
        .require_digest()
        .begin_verify(request.method().as_str(), path, headers)
        .map(drop)
        .map_err(|error| refused(format!("unusable HTTP signature: {error}")))
}
