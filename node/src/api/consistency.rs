//! Read-your-writes over replicas, on the wire.
//!
//! A successful write's answer carries the primary's WAL position after its commit, as the
//! header `X-KG-Min-LSN: 16/B374D848` and as a cookie of the same value (so a browser needs to
//! do nothing). A client that sends it back (the header, or the cookie) reads from a replica
//! only once that replica has replayed that far, else from the primary ([`ReadRouter`]). The
//! cookie lasts `database.replica_max_lag_secs` (plus a second): after that every replica the
//! node reads from has the write anyway. Without replicas nothing is added.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{COOKIE, HeaderName, HeaderValue, SET_COOKIE};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, web};

use crate::db::{DbConn, Lsn, ReadRouter};
use crate::error::{Error, Result};

use super::state::NodeInfo;

/// The header a write answers with, and a client sends back.
pub const MIN_LSN_HEADER: HeaderName = HeaderName::from_static("x-kg-min-lsn");
/// The cookie that carries the same position for browsers.
const MIN_LSN_COOKIE: &str = "kg_min_lsn";

/// The database connection of a read that tolerates replica lag, but not its client's own
/// writes: take it with [`ReadDb::conn`].
pub struct ReadDb {
    router: web::Data<ReadRouter>,
    min: Option<Lsn>,
}

impl ReadDb {
    /// A connection to a replica that has the client's writes, or to the primary.
    pub async fn conn(&self) -> Result<DbConn> {
        Ok(self.router.read(self.min).await?)
    }
}

impl FromRequest for ReadDb {
    type Error = Error;
    type Future = std::future::Ready<Result<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(read_db(req))
    }
}

fn read_db(req: &HttpRequest) -> Result<ReadDb> {
    let router = req
        .app_data::<web::Data<ReadRouter>>()
        .cloned()
        .ok_or_else(|| Error::DatabaseUnavailable("no read router".to_owned()))?;
    let header = match req.headers().get(&MIN_LSN_HEADER) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.parse::<Lsn>().ok())
                .ok_or_else(|| {
                    Error::InvalidParameter(
                        "X-KG-Min-LSN must be a WAL position such as 16/B374D848 (as a write \
                         answered it)"
                            .to_owned(),
                    )
                })?,
        ),
    };
    // A cookie that does not parse is ignored: the client did not write it.
    let cookie = req
        .headers()
        .get_all(COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == MIN_LSN_COOKIE)
        .filter_map(|(_, value)| value.parse::<Lsn>().ok())
        .max();
    Ok(ReadDb {
        router,
        min: header.max(cookie),
    })
}

/// Middleware: stamps the answer of every successful write with the WAL position its reads
/// must see. A position that cannot be read is logged; the write has happened all the same.
pub async fn stamp_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> std::result::Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let write = !req.method().is_safe();
    let router = req
        .app_data::<web::Data<ReadRouter>>()
        .filter(|router| write && router.has_replicas())
        .cloned();
    let secure = req
        .app_data::<web::Data<NodeInfo>>()
        .is_some_and(|node| node.public_url.scheme() == "https");
    let mut response = next.call(req).await?;
    let Some(router) = router.filter(|_| response.status().is_success()) else {
        return Ok(response);
    };
    match router.write_position().await {
        Ok(lsn) => {
            let max_age = router.max_lag().as_secs() + 1;
            let secure = if secure { "; Secure" } else { "" };
            let cookie = format!(
                "{MIN_LSN_COOKIE}={lsn}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}"
            );
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&lsn.to_string()) {
                headers.insert(MIN_LSN_HEADER, value);
            }
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append(SET_COOKIE, value);
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read the WAL position of a write; its client may read older data from a replica");
        }
    }
    Ok(response)
}
