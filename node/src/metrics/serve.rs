//! The metrics listener: `GET /metrics` and nothing else, on an address of its own.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};

use super::collect::{MetricsSources, render};

/// The Prometheus text format's media type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Builds the metrics server on `listener` (it starts when awaited). One worker: a scrape
/// every few seconds needs no more.
pub fn serve_metrics(listener: TcpListener, sources: MetricsSources) -> std::io::Result<Server> {
    let sources = web::Data::new(sources);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(sources.clone())
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

async fn scrape(sources: web::Data<MetricsSources>) -> HttpResponse {
    let text = render(&sources).await;
    HttpResponse::Ok().content_type(TEXT_FORMAT).body(text)
}
