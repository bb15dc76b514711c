//! From an `Authorization` header to a [`Caller`]: service tokens and participant sessions.
//!
//! The `/api/v1` scope authenticates once per request in [`authenticate`] (so the rate limiter
//! can count by who is asking) and leaves the caller in the request's extensions, where the
//! [`Caller`] extractor finds it.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tracing_actix_web::RequestId;
use uuid::Uuid;

use crate::db::schema::{api_tokens, memberships, participants, sessions};
use crate::db::{DbPool, now};
use crate::error::Error;

use super::cache::CredentialCache;
use super::caller::Caller;
use super::role::{Role, TokenRole};
use super::secret::hash_secret;
use super::session::SESSION_PREFIX;

/// The secret of an `Authorization: Bearer <secret>` header; 401 for any other form. The scheme
/// is case-insensitive (RFC 9110 §11.1).
pub fn bearer_secret(header: &str) -> Result<&str, Error> {
    header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim())
        .filter(|secret| !secret.is_empty())
        .ok_or(Error::InvalidToken)
}

/// When a verified secret stops being accepted, if it does.
type Expiry = Option<DateTime<Utc>>;

/// The caller holding `secret` (a session or a service token), straight from the database;
/// 401 when it is unknown, revoked, ended or expired.
pub async fn caller_from_secret(pool: &DbPool, secret: &str) -> Result<Caller, Error> {
    Ok(verify(pool, secret).await?.0)
}

async fn verify(pool: &DbPool, secret: &str) -> Result<(Caller, Expiry), Error> {
    let mut conn = pool.get().await?;
    if secret.starts_with(SESSION_PREFIX) {
        session_caller(&mut conn, secret).await
    } else {
        token_caller(&mut conn, secret).await
    }
}

/// The caller holding `secret`, from `cache` when it was verified recently.
async fn cached_caller(
    pool: &DbPool,
    cache: &CredentialCache,
    secret: &str,
) -> Result<Caller, Error> {
    let digest = hash_secret(secret);
    if let Some(caller) = cache.get(&digest) {
        return Ok(caller);
    }
    let generation = cache.generation();
    let (caller, expires_at) = verify(pool, secret).await?;
    cache.insert(digest, caller.clone(), expires_at, generation);
    Ok(caller)
}

async fn token_caller(
    conn: &mut AsyncPgConnection,
    secret: &str,
) -> Result<(Caller, Expiry), Error> {
    let token: Option<(Uuid, Option<Uuid>, String, Expiry)> = api_tokens::table
        .filter(api_tokens::token_hash.eq(hash_secret(secret)))
        .filter(api_tokens::revoked_at.is_null())
        .filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(now())),
        )
        .select((
            api_tokens::id,
            api_tokens::convergence_id,
            api_tokens::role,
            api_tokens::expires_at,
        ))
        .first(conn)
        .await
        .optional()?;
    let (id, scope, role, expires_at) = token.ok_or(Error::InvalidToken)?;
    let role = TokenRole::parse(&role).ok_or(Error::InvalidToken)?;
    Ok((Caller::token(id, scope, role), expires_at))
}

async fn session_caller(
    conn: &mut AsyncPgConnection,
    secret: &str,
) -> Result<(Caller, Expiry), Error> {
    let found: Option<(Uuid, Uuid, String, bool, DateTime<Utc>)> = sessions::table
        .inner_join(participants::table)
        .filter(sessions::token_hash.eq(hash_secret(secret)))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now()))
        .select((
            sessions::id,
            participants::id,
            participants::username,
            participants::node_admin,
            sessions::expires_at,
        ))
        .first(conn)
        .await
        .optional()?;
    let (session, id, username, node_admin, expires_at) = found.ok_or(Error::InvalidToken)?;
    let roles: Vec<(Uuid, String)> = memberships::table
        .filter(memberships::participant_id.eq(id))
        .select((memberships::convergence_id, memberships::role))
        .load(conn)
        .await?;
    let roles = roles
        .into_iter()
        .filter_map(|(convergence, role)| Some((convergence, Role::parse(&role)?)))
        .collect();
    let caller = Caller::participant(id, username, session, node_admin, roles);
    Ok((caller, Some(expires_at)))
}

/// What authenticating a request needs: the pool, and the process's credential cache.
#[derive(Clone)]
struct Verifier {
    pool: web::Data<DbPool>,
    cache: Option<web::Data<CredentialCache>>,
}

impl Verifier {
    fn of(req: &HttpRequest) -> Option<Self> {
        Some(Self {
            pool: req.app_data::<web::Data<DbPool>>()?.clone(),
            cache: req.app_data::<web::Data<CredentialCache>>().cloned(),
        })
    }
}

/// The caller of `req` from its `Authorization` header (anonymous without one).
async fn resolve(
    verifier: Option<Verifier>,
    header: Option<Result<String, ()>>,
) -> Result<Caller, Error> {
    match (header, verifier) {
        (None, _) => Ok(Caller::anonymous()),
        (Some(Err(())), _) | (Some(Ok(_)), None) => Err(Error::InvalidToken),
        (Some(Ok(header)), Some(verifier)) => {
            let secret = bearer_secret(&header)?;
            match &verifier.cache {
                Some(cache) => cached_caller(&verifier.pool, cache, secret).await,
                None => caller_from_secret(&verifier.pool, secret).await,
            }
        }
    }
}

fn authorization(req: &HttpRequest) -> Option<Result<String, ()>> {
    req.headers()
        .get(AUTHORIZATION)
        .map(|value| value.to_str().map(str::to_owned).map_err(|_| ()))
}

/// Middleware: authenticates the request once and keeps the caller for the extractor and the
/// rate limiter. Bad credentials answer 401 here, before the body is read.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let verifier = Verifier::of(req.request());
    match resolve(verifier, authorization(req.request())).await {
        Ok(caller) => {
            let request = req.extensions().get::<RequestId>().map(ToString::to_string);
            let caller = match request {
                Some(id) => caller.in_request(id),
                None => caller,
            };
            req.extensions_mut().insert(caller);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(error) => Ok(req.error_response(error).map_into_right_body()),
    }
}

impl FromRequest for Caller {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let known = req.extensions().get::<Caller>().cloned();
        let verifier = Verifier::of(req);
        let header = authorization(req);
        Box::pin(async move {
            match known {
                Some(caller) => Ok(caller),
                None => resolve(verifier, header).await,
            }
        })
    }
}

/// A caller with credentials. Write endpoints extract this first, so that a write without
/// credentials fails with 401 before its body or target is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer(pub Caller);

impl FromRequest for Writer {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            let caller = caller.await?;
            if caller.is_anonymous() {
                Err(Error::Unauthenticated)
            } else {
                Ok(Writer(caller))
            }
        })
    }
}
