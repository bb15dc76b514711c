//! Query strings must decode to UTF-8: serde would otherwise replace invalid bytes with U+FFFD
//! and, for example, a search for `%ff%fe` would match everything instead of failing.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use percent_encoding::percent_decode_str;

use crate::error::Error;

/// Answers 400 to a request whose percent-decoded query string is not UTF-8.
pub async fn require_utf8_query(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if percent_decode_str(request.query_string())
        .decode_utf8()
        .is_err()
    {
        return Err(Error::InvalidParameter(
            "the query string is not UTF-8 once percent-decoded: encode text as UTF-8".to_owned(),
        )
        .into());
    }
    next.call(request).await
}
