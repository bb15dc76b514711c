//! Structured logs with `tracing`: every request runs in a span carrying its request id and its
//! target with credentials redacted, and the span's close event reports its latency.

use std::io::IsTerminal;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{LogFormat, LogSettings};

/// Query parameters that carry credentials: their values never reach the logs.
const CREDENTIAL_PARAMETERS: [&str; 2] = ["access_token", "token"];

/// Installs the global subscriber writing to `sink`. `RUST_LOG`, when set, replaces the configured
/// filter. Colours only when standard error is a terminal (never escape codes in a log file).
/// Installing twice (tests) keeps the first subscriber.
pub fn init<W>(settings: &LogSettings, sink: W)
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink)
        .with_ansi(std::io::stderr().is_terminal())
        .with_span_events(FmtSpan::CLOSE);
    let installed = match settings.format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // An error here only means a subscriber is already installed, which is fine.
    drop(installed);
}

/// The root span of every request: tracing-actix-web's fields, with the target's credentials
/// redacted.
pub struct RedactingRootSpan;

impl RootSpanBuilder for RedactingRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let route = request.match_pattern().unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %redacted_target(request.path(), request.query_string()),
            http.client_ip = %request.connection_info().realip_remote_addr().unwrap_or(""),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// `path?query` with the values of [`CREDENTIAL_PARAMETERS`] replaced by `[redacted]`.
fn redacted_target(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            if CREDENTIAL_PARAMETERS.contains(&key) {
                format!("{key}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::redacted_target;

    #[test]
    fn credentials_in_the_query_are_redacted() {
        assert_eq!(
            redacted_target("/api/v1/stream", "access_token=kgn_secret&since=4"),
            "/api/v1/stream?access_token=[redacted]&since=4"
        );
        assert_eq!(redacted_target("/search", "q=token"), "/search?q=token");
        assert_eq!(redacted_target("/readyz", ""), "/readyz");
    }
}
