//! Request rate limits: per token or participant, and per client IP for anonymous callers, in
//! separate buckets (reads, searches, writes, logins), with GCRA limiters from `governor`.

mod client_ip;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
use uuid::Uuid;

use crate::auth::{Caller, Principal};
use crate::config::LimitSettings;
use crate::error::Error;

pub use client_ip::{ClientIp, client_ip};

/// Whom a limit counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Ip(std::net::IpAddr),
    Token(Uuid),
    Participant(Uuid),
    Username(String),
}

/// One limit: requests per minute per key; `None` when disabled (0).
struct Bucket {
    name: &'static str,
    limiter: Option<DefaultKeyedRateLimiter<Key>>,
}

/// Every how many checks a bucket forgets keys whose limit has fully recovered, so that the
/// table of keys stays as small as the set of recent clients.
const PRUNE_EVERY: u64 = 4096;

impl Bucket {
    fn new(name: &'static str, per_minute: u32) -> Self {
        Self {
            name,
            limiter: NonZeroU32::new(per_minute)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    fn check(&self, key: &Key, checks: &AtomicU64) -> Result<(), Error> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::RateLimited {
                bucket: self.name,
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }
}

/// What a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Search,
    Write,
}

/// The node's rate limits, shared by its HTTP workers.
pub struct RateLimits {
    anonymous_reads: Bucket,
    anonymous_searches: Bucket,
    reads: Bucket,
    searches: Bucket,
    writes: Bucket,
    login_username: Bucket,
    login_ip: Bucket,
    trusted_proxies: Vec<IpNet>,
    checks: AtomicU64,
}

impl RateLimits {
    /// The limits of `settings`, with `X-Forwarded-For` believed from `trusted_proxies`.
    pub fn new(settings: &LimitSettings, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            anonymous_reads: Bucket::new("anonymous reads", settings.anonymous_reads_per_minute),
            anonymous_searches: Bucket::new(
                "anonymous searches",
                settings.anonymous_searches_per_minute,
            ),
            reads: Bucket::new("reads", settings.reads_per_minute),
            searches: Bucket::new("searches", settings.searches_per_minute),
            writes: Bucket::new("writes", settings.writes_per_minute),
            login_username: Bucket::new("logins", settings.logins_per_minute_per_username),
            login_ip: Bucket::new("logins", settings.logins_per_minute_per_ip),
            trusted_proxies,
            checks: AtomicU64::new(0),
        }
    }

    fn check_request(&self, caller: &Caller, ip: ClientIp, kind: Kind) -> Result<(), Error> {
        let identity = match caller.principal() {
            Principal::Anonymous => None,
            Principal::Token { id, .. } => Some(Key::Token(*id)),
            Principal::Participant { id, .. } => Some(Key::Participant(*id)),
            Principal::System => return Ok(()),
        };
        match (identity, kind) {
            (None, Kind::Search) => self.anonymous_searches.check(&Key::Ip(ip.0), &self.checks),
            (None, _) => self.anonymous_reads.check(&Key::Ip(ip.0), &self.checks),
            (Some(key), Kind::Read) => self.reads.check(&key, &self.checks),
            (Some(key), Kind::Search) => self.searches.check(&key, &self.checks),
            (Some(key), Kind::Write) => self.writes.check(&key, &self.checks),
        }
    }

    /// Counts a login attempt (or registration) for `username` from `ip`; 429 over either
    /// limit.
    pub fn check_login(&self, ip: ClientIp, username: &str) -> Result<(), Error> {
        self.login_ip.check(&Key::Ip(ip.0), &self.checks)?;
        self.login_username
            .check(&Key::Username(username.to_owned()), &self.checks)
    }
}

/// Paths whose handlers count their requests themselves (as logins).
const LOGIN_PATHS: [&str; 2] = ["/api/v1/sessions", "/api/v1/accounts"];

fn kind_of(method: &Method, path: &str) -> Kind {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS if path == "/api/v1/search" => Kind::Search,
        Method::GET | Method::HEAD | Method::OPTIONS => Kind::Read,
        _ => Kind::Write,
    }
}

/// Middleware (inside [`crate::auth::authenticate`]): finds the client's address, counts the
/// request in its bucket, and answers 429 with `Retry-After` over the limit.
pub async fn limit_rate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(limits) = req.app_data::<web::Data<RateLimits>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let ip = ClientIp(client_ip::of_request(
        req.request(),
        &limits.trusted_proxies,
    ));
    req.extensions_mut().insert(ip);
    let is_login = req.method() == Method::POST && LOGIN_PATHS.contains(&req.path());
    if !is_login {
        let caller = req
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(Caller::anonymous);
        if let Err(error) = limits.check_request(&caller, ip, kind_of(req.method(), req.path())) {
            return Ok(req.error_response(error).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_minute: u32) -> LimitSettings {
        LimitSettings {
            anonymous_reads_per_minute: per_minute,
            anonymous_searches_per_minute: per_minute,
            reads_per_minute: per_minute,
            searches_per_minute: per_minute,
            writes_per_minute: per_minute,
            logins_per_minute_per_username: per_minute,
            logins_per_minute_per_ip: per_minute,
        }
    }

    #[test]
    fn buckets_are_separate_and_zero_disables() {
        let limits = RateLimits::new(&settings(2), Vec::new());
        let ip = ClientIp(
            "192.0.2.1"
                .parse()
                .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
        );
        let anonymous = Caller::anonymous();
        assert!(limits.check_request(&anonymous, ip, Kind::Read).is_ok());
        assert!(limits.check_request(&anonymous, ip, Kind::Read).is_ok());
        let refused = limits.check_request(&anonymous, ip, Kind::Read);
        assert!(matches!(
            refused,
            Err(Error::RateLimited { retry_after_secs, .. }) if (1..=60).contains(&retry_after_secs)
        ));
        assert!(limits.check_request(&anonymous, ip, Kind::Search).is_ok());
        let token = Caller::token(Uuid::now_v7(), None, crate::auth::TokenRole::Write);
        assert!(limits.check_request(&token, ip, Kind::Read).is_ok());
        let unlimited = RateLimits::new(&settings(0), Vec::new());
        for _ in 0..100 {
            assert!(unlimited.check_request(&anonymous, ip, Kind::Read).is_ok());
        }
    }
}
