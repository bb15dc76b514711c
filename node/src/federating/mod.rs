//! Federation with peer nodes over ActivityPub (vocabulary in the `kg-federation` crate).
//!
//! - [`actors`], [`keys`]: who this node is to its peers, and who they are (their URLs:
//!   [`crate::urls`]);
//! - [`objects`]: artifacts and relationships as ActivityPub objects, both ways;
//! - [`inbox`]: what peers send (Follow, Accept, Undo, Announce of Create/Update/Delete);
//! - [`outgoing`]: a change-log projection that turns local changes in followed convergences
//!   into queued activities;
//! - [`backfill`]: a new follower is sent what the convergence already held;
//! - [`delivery`]: the persisted queue's workers (per-inbox order, exponential backoff);
//! - [`answers`]: what a peer's answer to a delivery means (retry, or a recorded failure);
//! - [`admin`]: following remote convergences, the queue's state, the block list;
//! - [`signature_headers`]: an inbox request's signature headers, checked before anything else;
//! - [`routes`]: the HTTP endpoints (WebFinger, NodeInfo, actors, objects, inboxes, admin).

pub mod actors;
pub mod admin;
pub mod answers;
pub mod backfill;
pub mod delivery;
pub mod error;
pub mod inbox;
pub mod keys;
pub mod objects;
pub mod outgoing;
pub mod parked;
pub mod queue;
pub mod routes;
pub mod signature_headers;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use activitypub_federation::config::{FederationConfig, UrlVerifier};
use activitypub_federation::resolver::ValidatingDnsResolver;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use url::Url;

use crate::config::{FederationSettings, Settings};
use crate::db::DbPool;
use crate::db::schema::blocked_instances;

pub use crate::urls::LocalUrls;
pub use error::FederationError;

/// What federation code needs of the node: its database, its URLs, its settings.
#[derive(Clone)]
pub struct FederationContext {
    /// The node's connection pool.
    pub pool: DbPool,
    /// The node's public URLs.
    pub urls: LocalUrls,
    /// Federation settings.
    pub settings: FederationSettings,
    /// The block list as last read.
    pub blocks: Arc<BlockListCache>,
}

impl FederationContext {
    /// A context with a pool of its own (for a follower thread, whose runtime owns its
    /// connections).
    pub fn connect(settings: &Settings) -> Result<Self, FederationError> {
        let pool = crate::db::connect(&settings.database)
            .map_err(|error| FederationError::Invalid(error.to_string()))?;
        Ok(Self::new(pool, settings))
    }

    /// A context on an existing pool.
    pub fn new(pool: DbPool, settings: &Settings) -> Self {
        Self {
            pool,
            urls: LocalUrls::new(settings.node.public_url.clone()),
            settings: settings.federation.clone(),
            blocks: Arc::default(),
        }
    }
}

/// The ActivityPub layer's per-request view of [`FederationContext`].
pub type FederationData = activitypub_federation::config::Data<FederationContext>;

/// How long the block list is trusted before it is read again: every incoming activity and
/// delivery checks several URLs against it, and reading it each time cost a query per URL. A
/// change made through this process's API applies at once ([`BlockListCache::invalidate`]); one
/// made by another process sharing the database, within this time.
const BLOCK_LIST_TTL: Duration = Duration::from_secs(2);

/// The block list, read from PostgreSQL at most every [`BLOCK_LIST_TTL`].
#[derive(Debug, Default)]
pub struct BlockListCache(RwLock<Option<(Instant, Arc<Vec<String>>)>>);

impl BlockListCache {
    /// Forgets the list, so that the next check reads it again (after a block or unblock).
    pub fn invalidate(&self) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    async fn entries(&self, pool: &DbPool) -> Result<Arc<Vec<String>>, String> {
        if let Some((read_at, entries)) = &*self.0.read().unwrap_or_else(PoisonError::into_inner)
            && read_at.elapsed() < BLOCK_LIST_TTL
        {
            return Ok(Arc::clone(entries));
        }
        let mut conn = pool
            .get()
            .await
            .map_err(|_| "database unavailable".to_owned())?;
        let entries: Arc<Vec<String>> = Arc::new(
            blocked_instances::table
                .select(blocked_instances::host)
                .load(&mut conn)
                .await
                .map_err(|error| error.to_string())?,
        );
        *self.0.write().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), Arc::clone(&entries)));
        Ok(entries)
    }
}

/// Refuses URLs of blocked instances, for every fetch, delivery and incoming activity.
#[derive(Clone)]
struct BlockList {
    pool: DbPool,
    cache: Arc<BlockListCache>,
}

#[async_trait]
impl UrlVerifier for BlockList {
    async fn verify(&self, url: &Url) -> Result<(), activitypub_federation::error::Error> {
        let blocked = self
            .cache
            .entries(&self.pool)
            .await
            .map_err(activitypub_federation::error::Error::Other)?;
        if kg_federation::origin::is_blocked(url, blocked.iter().map(String::as_str)) {
            return Err(activitypub_federation::error::Error::UrlVerificationError(
                "blocked instance",
            ));
        }
        Ok(())
    }
}

/// Builds the ActivityPub configuration: our domain, an HTTP client that refuses internal
/// addresses unless `allow_local_network` is set, signed fetches, the block list.
pub async fn federation_config(
    context: FederationContext,
) -> Result<FederationConfig<FederationContext>, FederationError> {
    let settings = &context.settings;
    let timeout = Duration::from_secs(settings.request_timeout_secs);
    let client = reqwest13::Client::builder()
        .redirect(reqwest13::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("kgnode/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(ValidatingDnsResolver::new(
            vec![],
            !settings.allow_local_network,
        ))
        .build()
        .map_err(|error| FederationError::Invalid(format!("HTTP client: {error}")))?;
    let domain = kg_federation::origin::instance(context.urls.base())
        .ok_or_else(|| FederationError::Invalid("node.public_url has no host".to_owned()))?;
    let signer = {
        let mut conn = context.pool.get().await?;
        actors::node_actor(&mut conn, &context.urls).await?
    };
    FederationConfig::builder()
        .domain(domain)
        .debug(settings.allow_local_network)
        .allow_http_urls(settings.allow_local_network)
        .client(
            reqwest_middleware::ClientBuilder::new(client)
                .with(answers::AnswersAsErrors)
                .build(),
        )
        .request_timeout(timeout)
        .url_verifier(Box::new(BlockList {
            pool: context.pool.clone(),
            cache: Arc::clone(&context.blocks),
        }))
        .signed_fetch_actor(&signer)
        .app_data(context)
        .build()
        .await
        .map_err(|error| FederationError::Invalid(format!("federation config: {error}")))
}
