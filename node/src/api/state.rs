//! Read-only facts about the node that handlers need.

use std::collections::HashMap;
use std::sync::RwLock;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use url::Url;
use uuid::Uuid;

use crate::db::DbPool;
use crate::db::schema::convergences;
use crate::error::Result;

/// The node's public identity and the schema version it expects.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Base URL under which the node is reachable.
    pub public_url: Url,
    /// Migration versions compiled into this binary.
    pub expected_migrations: Vec<String>,
}

impl NodeInfo {
    /// The absolute URL of a path on this node.
    pub fn url(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}

/// Convergence slugs by id, for answers that name the convergence of many artifacts (graph
/// results). Slugs never change and convergences are never deleted, so entries stay valid; a
/// miss asks the database once.
#[derive(Debug, Default)]
pub struct SlugCache(RwLock<HashMap<Uuid, String>>);

impl SlugCache {
    /// The slugs of `ids` (each listed once or more).
    pub async fn slugs(
        &self,
        pool: &DbPool,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<HashMap<Uuid, String>> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = self
                .0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for id in ids {
                match cache.get(&id) {
                    Some(slug) => {
                        found.insert(id, slug.clone());
                    }
                    None if !found.contains_key(&id) => missing.push(id),
                    None => {}
                }
            }
        }
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(found);
        }
        let mut conn = pool.get().await?;
        let rows: Vec<(Uuid, String)> = convergences::table
            .filter(convergences::id.eq_any(&missing))
            .select((convergences::id, convergences::slug))
            .load(&mut conn)
            .await?;
        let mut cache = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (id, slug) in rows {
            cache.insert(id, slug.clone());
            found.insert(id, slug);
        }
        Ok(found)
    }
}
