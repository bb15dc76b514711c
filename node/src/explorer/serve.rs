//! The handlers that answer embedded files, with the explorer's security and caching headers.

use actix_web::http::header::{
    self, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderValue, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use actix_web::{HttpRequest, HttpResponse, web};

use super::assets::{self, Asset};
use crate::error::Error;

/// Only the node's own origin; no framing (clickjacking). No inline script or style attribute
/// is allowed, so an injected `<img onerror>` or `<script>` could not run even if one slipped
/// through.
const POLICY: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                      form-action 'self'; object-src 'none'";

/// `GET /`: the explorer's page.
pub async fn index(req: HttpRequest) -> Result<HttpResponse, Error> {
    answer(&req, "index.html")
}

/// `GET /explorer/{file}`: one embedded file.
pub async fn asset(req: HttpRequest, file: web::Path<String>) -> Result<HttpResponse, Error> {
    answer(&req, &file)
}

/// The file at `path` (404 in the API's error shape when there is none), or `304` when the
/// client already holds this version.
fn answer(req: &HttpRequest, path: &str) -> Result<HttpResponse, Error> {
    let asset = assets::find(path).ok_or_else(|| Error::RouteNotFound(req.path().to_owned()))?;
    let mut response = if is_fresh(req, asset) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, asset.content_type))
            .body(asset.bytes)
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        headers.insert(ETAG, etag);
    }
    Ok(response)
}

/// Whether the request's `If-None-Match` names the asset's entity tag (or `*`).
fn is_fresh(req: &HttpRequest, asset: &Asset) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == asset.etag)
}
