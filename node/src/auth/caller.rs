//! The `Caller` extractor: who is asking, from the `Authorization` header.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::db::schema::api_tokens;
use crate::db::{DbConvergence, DbPool};
use crate::domain::Visibility;
use crate::error::Error;

use super::token::hash_secret;

/// What a valid token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Everything on this node.
    Node,
    /// Reading and writing in one convergence.
    Convergence(Uuid),
}

/// The authenticated (or anonymous) caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caller {
    grant: Option<Grant>,
}

impl Caller {
    /// A caller without a token.
    pub fn anonymous() -> Self {
        Self { grant: None }
    }

    /// A caller holding a token with `grant`.
    pub fn with_grant(grant: Grant) -> Self {
        Self { grant: Some(grant) }
    }

    /// What the caller's token grants, if there is one.
    pub fn grant(&self) -> Option<Grant> {
        self.grant
    }

    /// True when the caller may see the convergence `id` of the given visibility.
    pub fn can_read(&self, id: Uuid, visibility: &str) -> bool {
        visibility == Visibility::Public.as_str() || self.is_granted(id)
    }

    /// True when the caller's token covers convergence `id` (so it may read it even private).
    pub fn is_granted(&self, id: Uuid) -> bool {
        match self.grant {
            Some(Grant::Node) => true,
            Some(Grant::Convergence(granted)) => granted == id,
            None => false,
        }
    }

    /// Fails with 404 (not 403: its existence is not revealed) when the caller may not read it.
    pub fn require_read(&self, convergence: &DbConvergence) -> Result<(), Error> {
        if self.can_read(convergence.id, &convergence.visibility) {
            Ok(())
        } else {
            Err(Error::not_found("convergence", &convergence.slug))
        }
    }

    /// Fails with 401 without a token and 403 when the token does not cover the convergence.
    /// Convergences mirrored from another node are read-only for everyone (403).
    pub fn require_write(&self, convergence: &DbConvergence) -> Result<(), Error> {
        self.require_read(convergence)?;
        if let Some(origin) = &convergence.origin_url {
            return Err(Error::Forbidden(format!(
                "convergence '{}' mirrors {origin}; only its origin node changes it",
                convergence.slug
            )));
        }
        match self.grant {
            None => Err(Error::Unauthenticated),
            Some(Grant::Node) => Ok(()),
            Some(Grant::Convergence(granted)) if granted == convergence.id => Ok(()),
            Some(Grant::Convergence(_)) => Err(Error::Forbidden(format!(
                "this token may not write in convergence '{}'",
                convergence.slug
            ))),
        }
    }

    /// Fails unless the caller holds a node-wide token.
    pub fn require_node(&self, action: &str) -> Result<(), Error> {
        match self.grant {
            None => Err(Error::Unauthenticated),
            Some(Grant::Node) => Ok(()),
            Some(Grant::Convergence(_)) => Err(Error::Forbidden(format!(
                "{action} needs a node-wide token"
            ))),
        }
    }

    async fn authenticate(pool: &DbPool, header: Option<&str>) -> Result<Self, Error> {
        let Some(header) = header else {
            return Ok(Self::anonymous());
        };
        // The scheme is case-insensitive (RFC 9110 §11.1).
        Self::from_secret(pool, bearer_secret(header)?).await
    }

    /// The caller holding the token `secret`; 401 when it is unknown or revoked.
    pub async fn from_secret(pool: &DbPool, secret: &str) -> Result<Self, Error> {
        let mut conn = pool.get().await?;
        let convergence: Option<Option<Uuid>> = api_tokens::table
            .filter(api_tokens::token_hash.eq(hash_secret(secret)))
            .filter(api_tokens::revoked_at.is_null())
            .select(api_tokens::convergence_id)
            .first(&mut conn)
            .await
            .optional()?;
        match convergence {
            None => Err(Error::InvalidToken),
            Some(None) => Ok(Self::with_grant(Grant::Node)),
            Some(Some(id)) => Ok(Self::with_grant(Grant::Convergence(id))),
        }
    }
}

impl FromRequest for Caller {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pool = req.app_data::<web::Data<DbPool>>().cloned();
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .map(|value| value.to_str().map(str::to_owned));
        Box::pin(async move {
            let header = match header {
                None => None,
                Some(Ok(value)) => Some(value),
                Some(Err(_)) => return Err(Error::InvalidToken),
            };
            match pool {
                Some(pool) => Self::authenticate(&pool, header.as_deref()).await,
                None if header.is_none() => Ok(Self::anonymous()),
                None => Err(Error::InvalidToken),
            }
        })
    }
}

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

/// A caller holding a valid token. Write endpoints extract this first, so that a write without
/// a token fails with 401 before its body or target is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writer(pub Caller);

impl FromRequest for Writer {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            let caller = caller.await?;
            match caller.grant {
                Some(_) => Ok(Writer(caller)),
                None => Err(Error::Unauthenticated),
            }
        })
    }
}
