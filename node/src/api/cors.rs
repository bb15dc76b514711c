//! Cross-origin access to `/api/v1` from the web pages of `http.cors_origins`.

use actix_cors::Cors;
use actix_web::http::header;
use url::Url;

/// Request headers a page may send: credentials, bodies, optimistic writes, stream resumption,
/// the position of its own last write.
const ALLOWED_HEADERS: [&str; 6] = [
    "authorization",
    "content-type",
    "if-match",
    "last-event-id",
    "accept",
    "x-kg-min-lsn",
];

/// Response headers a page may read: where a created resource is, when to retry, which request
/// to report, which WAL position its next reads must see.
const EXPOSED_HEADERS: [header::HeaderName; 5] = [
    header::LOCATION,
    header::ETAG,
    header::RETRY_AFTER,
    header::HeaderName::from_static("x-request-id"),
    super::consistency::MIN_LSN_HEADER,
];

/// Why an entry of `http.cors_origins` is not an origin.
#[derive(Debug, thiserror::Error)]
#[error("http.cors_origins: '{0}' is not an origin such as https://app.example (or \"*\")")]
pub struct InvalidOrigin(String);

/// Checks that every entry is `*` or a bare `scheme://host[:port]` origin.
pub fn check_origins(origins: &[String]) -> Result<(), InvalidOrigin> {
    for origin in origins.iter().filter(|origin| *origin != "*") {
        let valid = Url::parse(origin).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.path() == "/"
                && !origin.ends_with('/')
                && url.query().is_none()
        });
        if !valid {
            return Err(InvalidOrigin(origin.clone()));
        }
    }
    Ok(())
}

/// The CORS middleware for `origins` (checked by [`check_origins`]). Bearer tokens travel in a
/// header, never in cookies, so credentials mode is not needed and `*` is safe to offer. A
/// request from another origin is still served (a non-browser client sends any `Origin`); it
/// just gets no CORS headers, so a browser does not let the page read the answer.
pub fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers(ALLOWED_HEADERS)
        .expose_headers(EXPOSED_HEADERS)
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin().send_wildcard()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_bare_scheme_host_port() {
        let ok = |o: &str| check_origins(&[o.to_owned()]).is_ok();
        assert!(ok("https://app.example") && ok("http://localhost:3000") && ok("*"));
        assert!(!ok("https://app.example/") && !ok("app.example") && !ok("ftp://x"));
        assert!(!ok("https://app.example/path"));
    }
}
