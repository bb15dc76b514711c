//! JSON bodies: the request extractor (content type, size limit and error reporting with JSON
//! paths) and large responses serialized into one buffer.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, ContentType};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Body size limit for the requests of a scope, set with `app_data`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Limit used when a scope sets none.
const DEFAULT_LIMIT: usize = 1024 * 1024;

/// Longest wait for the next chunk of a body, set with `app_data`: a client that declares a
/// body and stops sending it would otherwise hold a connection and a worker's attention.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// Idle time used when the app sets none.
const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A 200 response with `value` as JSON, serialized into a buffer of `size_hint` bytes to start
/// with: for large answers, where growing the buffer step by step would copy it several times.
pub fn json_response<T: Serialize>(value: &T, size_hint: usize) -> Result<HttpResponse, Error> {
    let mut body = Vec::with_capacity(size_hint);
    serde_json::to_writer(&mut body, value).map_err(Error::Encoding)?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}

/// A JSON request body, deserialised with the path of any offending value reported.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimit>()
            .map_or(DEFAULT_LIMIT, |limit| limit.0);
        let idle = req
            .app_data::<BodyTimeout>()
            .map_or(DEFAULT_BODY_TIMEOUT, |timeout| timeout.0);
        let is_json = {
            let essence = req.content_type();
            essence == "application/json" || essence.ends_with("+json")
        };
        let declared_length = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(Error::UnsupportedMediaType);
            }
            if declared_length.is_some_and(|length| length > limit) {
                return Err(Error::PayloadTooLarge { limit });
            }
            let mut body = Vec::with_capacity(declared_length.unwrap_or(0));
            loop {
                let next = tokio::time::timeout(idle, payload.next()).await;
                let Ok(next) = next else {
                    return Err(Error::BodyTimeout {
                        seconds: idle.as_secs(),
                    });
                };
                let Some(chunk) = next else { break };
                let chunk = chunk.map_err(|e| Error::MalformedJson(e.to_string()))?;
                if body.len() + chunk.len() > limit {
                    return Err(Error::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            parse(&body).map(ApiJson)
        })
    }
}

/// Parses a body, telling syntax errors (400) from values that do not fit (422).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = match error.path().to_string() {
            path if path == "." => "body".to_owned(),
            path => path,
        };
        classify(error.into_inner(), field)
    })?;
    deserializer
        .end()
        .map_err(|error| classify(error, "body".to_owned()))?;
    Ok(value)
}

fn classify(error: serde_json::Error, field: String) -> Error {
    use serde_json::error::Category;
    let message = strip_position(&error.to_string());
    match error.classify() {
        Category::Data if message.starts_with("unknown field") => {
            Error::UnknownField { field, message }
        }
        Category::Data => Error::InvalidBody { field, message },
        Category::Syntax | Category::Eof | Category::Io => Error::MalformedJson(error.to_string()),
    }
}

/// serde_json appends " at line L column C", which means little once the path is known.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        n: u8,
    }

    #[test]
    fn errors_name_the_path_and_category() {
        let wrong_type = parse::<Probe>(br#"{"items": [{"n": 1}, {"n": "x"}]}"#);
        assert!(
            matches!(wrong_type, Err(Error::InvalidBody { ref field, .. }) if field == "items[1].n")
        );
        let unknown = parse::<Probe>(br#"{"items": [], "extra": 1}"#);
        assert!(matches!(unknown, Err(Error::UnknownField { .. })));
        assert!(matches!(
            parse::<Probe>(b"{\"items\": ["),
            Err(Error::MalformedJson(_))
        ));
        assert!(matches!(
            parse::<Probe>(b"{\"items\": []} x"),
            Err(Error::MalformedJson(_))
        ));
    }
}
