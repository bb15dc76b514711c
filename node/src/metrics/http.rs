//! The middleware that counts and times the API's requests, by route template (never the raw
//! path, whose ids would make a series per artifact), method and status, and knows how many
//! are in flight (for the metrics and for a graceful stop).

use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use actix_web::Error;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use futures_util::future::LocalBoxFuture;
use metrics::Label;

use super::set::MetricSet;

/// Requests answered, by route, method and status.
pub(super) const REQUESTS: &str = "kgnode_http_requests_total";
/// Time to the response's head, by route, method and status.
pub(super) const DURATION: &str = "kgnode_http_request_duration_seconds";

/// The route label of requests no route matched (404s of any path).
const UNMATCHED: &str = "unmatched";

/// Methods that get a label of their own; any other is `other`, so that a client cannot make
/// series up.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The API's request metrics (cheap to clone: shared).
#[derive(Clone)]
pub struct HttpMetrics {
    set: Arc<MetricSet>,
    in_flight: InFlight,
    /// Whether anything scrapes them (`metrics.bind`); requests in flight are counted anyway,
    /// for the graceful stop.
    recording: bool,
}

impl HttpMetrics {
    /// Empty metrics, whose latencies are folded into histograms by a task it spawns on the
    /// current Tokio runtime; without `recording` only requests in flight are counted.
    pub fn start(recording: bool) -> Self {
        let set = Arc::new(MetricSet::new());
        set.describe(
            REQUESTS,
            "HTTP requests answered, by route template, method and status.",
        );
        set.describe(
            DURATION,
            "Seconds from a request's arrival to its response's head, by route template, method and status.",
        );
        set.keep_up();
        Self {
            set,
            in_flight: InFlight::default(),
            recording,
        }
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }

    /// What has been recorded, in the Prometheus text format.
    pub(super) fn render(&self) -> String {
        self.set.render()
    }

    fn record(&self, route: String, method: &'static str, status: u16, started: Instant) {
        let labels = vec![
            Label::new("route", route),
            Label::new("method", method),
            Label::new("status", status.to_string()),
        ];
        self.set
            .histogram(DURATION, labels.clone())
            .record(started.elapsed().as_secs_f64());
        self.set.counter(REQUESTS, labels).increment(1);
    }
}

/// The number of requests in flight, shared.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Requests being handled now (counted until their response's head is ready).
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }
}

/// Counts one request in flight until dropped (also when the request is cut off).
struct InFlightGuard(InFlight);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S, B> Transform<S, ServiceRequest> for HttpMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = MetricsMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(MetricsMiddleware {
            service,
            metrics: self.clone(),
        }))
    }
}

/// [`HttpMetrics`] around one worker's service.
pub struct MetricsMiddleware<S> {
    service: S,
    metrics: HttpMetrics,
}

impl<S, B> Service<ServiceRequest> for MetricsMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let guard = self.metrics.in_flight.enter();
        if !self.metrics.recording {
            let response = self.service.call(request);
            return Box::pin(async move {
                let outcome = response.await;
                drop(guard);
                outcome
            });
        }
        let route = request
            .match_pattern()
            .unwrap_or_else(|| UNMATCHED.to_owned());
        let method = METHODS
            .into_iter()
            .find(|known| *known == request.method().as_str())
            .unwrap_or("other");
        let metrics = self.metrics.clone();
        let response = self.service.call(request);
        Box::pin(async move {
            let outcome = response.await;
            drop(guard);
            let status = match &outcome {
                Ok(response) => response.status(),
                Err(error) => error.as_response_error().status_code(),
            };
            metrics.record(route, method, status.as_u16(), started);
            outcome
        })
    }
}
