//! Prometheus metrics, served as text at `GET /metrics` on a listener of their own
//! (`metrics.bind`), never on the public API's.
//!
//! - [`HttpMetrics`] is the API's middleware: requests counted and timed by route template,
//!   method and status, and the requests in flight (which a graceful stop also reports).
//! - the gauges (connection pool, change log and projection lag, job queue, federation
//!   queues, event streams, search index, graph) are read when Prometheus scrapes.
//!
//! The families, with their labels, are listed in the README (Operations).

mod collect;
mod http;
mod serve;
mod set;

pub use collect::MetricsSources;
pub use http::{HttpMetrics, InFlight};
pub use serve::serve_metrics;
