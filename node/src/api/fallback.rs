//! Keeps the one error shape for responses that actix-web produces itself (unknown routes,
//! wrong methods, unparsable headers): any error response that is not already JSON is rewritten.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::error::Error;

/// Default service: no route matched the path.
pub async fn route_not_found(req: HttpRequest) -> Result<HttpResponse, Error> {
    Err(Error::RouteNotFound(req.path().to_owned()))
}

/// A resource's default service: answers 405 with the methods the resource has.
pub fn method_not_allowed(allowed: &'static str) -> actix_web::Route {
    actix_web::web::to(move || async move {
        Err::<HttpResponse, Error>(Error::MethodNotAllowed { allowed })
    })
}

/// `ErrorHandlers` default handler: rewrites non-JSON error responses into the error shape.
pub fn json_error_fallback<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            // application/json, and JSON dialects such as application/activity+json.
            let essence = value.split(';').next().unwrap_or_default().trim();
            essence == "application/json" || essence.ends_with("+json")
        });
    if is_json {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let (request, _) = response.into_parts();
    let error = match status {
        StatusCode::NOT_FOUND => Error::RouteNotFound(request.path().to_owned()),
        other => Error::Http(other),
    };
    let rewritten = ServiceResponse::new(request, error.error_response());
    Ok(ErrorHandlerResponse::Response(
        rewritten.map_body(|_, body| EitherBody::right(body)),
    ))
}
