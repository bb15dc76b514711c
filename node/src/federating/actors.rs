//! Actors: this node's own (the node, its public convergences, its authors) and remote ones
//! (cached in `remote_actors`), behind one type the ActivityPub layer can fetch, verify and
//! sign with.

use activitypub_federation::config::Data;
use activitypub_federation::protocol::verification::verify_domains_match;
use activitypub_federation::traits::{Actor, Object};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kg_federation::actors::{ActorDocument, ActorKind, Endpoints, main_key};
use url::Url;

use crate::db::DbConvergence;
use crate::db::schema::{artifacts, convergences, remote_actors};

use super::FederationContext;
use super::error::FederationError;
use super::keys::key_pair;
use crate::urls::{LocalUrls, NODE_ACTOR_PATH, SHARED_INBOX_PATH};

/// An actor with its document; local actors also hold their private key.
#[derive(Debug, Clone)]
pub struct ActorRecord {
    /// The actor document.
    pub document: ActorDocument,
    /// The private key, for local actors only.
    pub private_key_pem: Option<String>,
    /// When a remote actor was last fetched.
    pub fetched_at: Option<DateTime<Utc>>,
}

type RemoteActorRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    DateTime<Utc>,
);

impl ActorRecord {
    fn from_row(row: RemoteActorRow) -> Result<Self, FederationError> {
        let (id, kind, name, inbox, shared_inbox, public_key_pem, fetched_at) = row;
        let kind = serde_json::from_value(serde_json::Value::String(kind))
            .map_err(|error| FederationError::Invalid(format!("stored actor kind: {error}")))?;
        let id = parse(&id)?;
        let shared_inbox = shared_inbox.as_deref().map(parse).transpose()?;
        Ok(ActorRecord {
            document: ActorDocument {
                kind,
                public_key: main_key(&id, &public_key_pem),
                id,
                preferred_username: name,
                name: None,
                summary: None,
                inbox: parse(&inbox)?,
                outbox: None,
                followers: None,
                endpoints: shared_inbox.map(|shared_inbox| Endpoints {
                    shared_inbox: Some(shared_inbox),
                }),
                manually_approves_followers: None,
                published: None,
            },
            private_key_pem: None,
            fetched_at: Some(fetched_at),
        })
    }

    /// The actor's URL.
    pub fn url(&self) -> &Url {
        &self.document.id
    }
}

fn parse(url: &str) -> Result<Url, FederationError> {
    Url::parse(url).map_err(|error| FederationError::Invalid(format!("bad URL '{url}': {error}")))
}

/// Builds a local actor's record from its document parts and its key pair.
async fn local_actor(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
    path: &str,
    kind: ActorKind,
    preferred_username: String,
    details: (Option<String>, Option<String>, Option<DateTime<Utc>>),
) -> Result<ActorRecord, FederationError> {
    let keys = key_pair(conn, path).await?;
    let id = urls.url(path);
    let shared_inbox = urls.url(SHARED_INBOX_PATH);
    let (name, summary, published) = details;
    let is_group = kind == ActorKind::Group;
    Ok(ActorRecord {
        document: ActorDocument {
            kind,
            public_key: main_key(&id, &keys.public_pem),
            preferred_username,
            name,
            summary,
            inbox: if is_group {
                urls.url(&format!("{path}/inbox"))
            } else {
                shared_inbox.clone()
            },
            outbox: Some(urls.url(&format!("{path}/outbox"))),
            followers: is_group.then(|| urls.url(&format!("{path}/followers"))),
            endpoints: Some(Endpoints {
                shared_inbox: Some(shared_inbox),
            }),
            manually_approves_followers: is_group.then_some(false),
            published,
            id,
        },
        private_key_pem: Some(keys.private_pem),
        fetched_at: None,
    })
}

/// The `preferredUsername` of the node's `Application` actor: its host without the port, so
/// that `acct:host@host[:port]` is a valid WebFinger name for it.
pub fn node_actor_name(urls: &LocalUrls) -> String {
    urls.base().host_str().unwrap_or_default().to_owned()
}

/// The node's own `Application` actor, which follows remote convergences.
pub async fn node_actor(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
) -> Result<ActorRecord, FederationError> {
    let name = node_actor_name(urls);
    local_actor(
        conn,
        urls,
        NODE_ACTOR_PATH,
        ActorKind::Application,
        name.clone(),
        (Some(format!("kgnode {name}")), None, None),
    )
    .await
}

/// The `Group` actor of a local, public convergence.
pub async fn group_actor(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
    convergence: &DbConvergence,
) -> Result<ActorRecord, FederationError> {
    local_actor(
        conn,
        urls,
        &LocalUrls::group_path(&convergence.slug),
        ActorKind::Group,
        convergence.slug.clone(),
        (
            Some(convergence.name.clone()),
            Some(convergence.description.clone()).filter(|d| !d.is_empty()),
            Some(convergence.created_at),
        ),
    )
    .await
}

/// The local, public convergence `slug` (mirrors and private ones are not actors).
pub async fn federated_convergence(
    conn: &mut AsyncPgConnection,
    slug: &str,
) -> Result<Option<DbConvergence>, FederationError> {
    Ok(convergences::table
        .filter(convergences::slug.eq(slug))
        .filter(convergences::origin_url.is_null())
        .filter(convergences::visibility.eq("public"))
        .select(DbConvergence::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The `Person` actor of an author of local public artifacts.
pub async fn person_actor(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
    name: &str,
) -> Result<Option<ActorRecord>, FederationError> {
    let wrote: bool = diesel::select(diesel::dsl::exists(
        artifacts::table
            .inner_join(convergences::table)
            .filter(artifacts::author.eq(name))
            .filter(artifacts::origin_url.is_null())
            .filter(convergences::visibility.eq("public")),
    ))
    .get_result(conn)
    .await?;
    if !wrote {
        return Ok(None);
    }
    let actor = local_actor(
        conn,
        urls,
        &LocalUrls::person_path(name),
        ActorKind::Person,
        name.to_owned(),
        (Some(name.to_owned()), None, None),
    )
    .await?;
    Ok(Some(actor))
}

/// The local actor at `url`, if there is one.
pub async fn find_local_actor(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
    url: &Url,
) -> Result<Option<ActorRecord>, FederationError> {
    if url.path() == NODE_ACTOR_PATH {
        return Ok(Some(node_actor(conn, urls).await?));
    }
    if let Some(slug) = urls.local_group(url) {
        return match federated_convergence(conn, &slug).await? {
            Some(convergence) => Ok(Some(group_actor(conn, urls, &convergence).await?)),
            None => Ok(None),
        };
    }
    match url
        .path()
        .strip_prefix("/people/")
        .map(percent_encoding::percent_decode_str)
    {
        Some(name) => {
            let name = name.decode_utf8_lossy();
            person_actor(conn, urls, &name).await
        }
        None => Ok(None),
    }
}

#[async_trait]
impl Object for ActorRecord {
    type DataType = FederationContext;
    type Kind = ActorDocument;
    type Error = FederationError;

    fn id(&self) -> &Url {
        &self.document.id
    }

    fn last_refreshed_at(&self) -> Option<DateTime<Utc>> {
        self.fetched_at
    }

    async fn read_from_id(
        object_id: Url,
        data: &Data<Self::DataType>,
    ) -> Result<Option<Self>, Self::Error> {
        let mut conn = data.pool.get().await?;
        if kg_federation::origin::same_origin(&object_id, data.urls.base()) {
            return find_local_actor(&mut conn, &data.urls, &object_id).await;
        }
        let row: Option<RemoteActorRow> = remote_actors::table
            .find(object_id.as_str())
            .select((
                remote_actors::actor_url,
                remote_actors::kind,
                remote_actors::name,
                remote_actors::inbox,
                remote_actors::shared_inbox,
                remote_actors::public_key_pem,
                remote_actors::fetched_at,
            ))
            .first(&mut conn)
            .await
            .optional()?;
        row.map(ActorRecord::from_row).transpose()
    }

    async fn into_json(self, _data: &Data<Self::DataType>) -> Result<Self::Kind, Self::Error> {
        Ok(self.document)
    }

    async fn verify(
        json: &Self::Kind,
        expected_domain: &Url,
        _data: &Data<Self::DataType>,
    ) -> Result<(), Self::Error> {
        verify_domains_match(&json.id, expected_domain)?;
        if json.public_key.owner != json.id {
            return Err(FederationError::Rejected(format!(
                "the key of {} belongs to {}",
                json.id, json.public_key.owner
            )));
        }
        Ok(())
    }

    async fn from_json(json: Self::Kind, data: &Data<Self::DataType>) -> Result<Self, Self::Error> {
        let mut conn = data.pool.get().await?;
        let now = Utc::now();
        let name = if json.preferred_username.is_empty() {
            json.id
                .path_segments()
                .and_then(|mut segments| segments.next_back())
                .unwrap_or_default()
                .to_owned()
        } else {
            json.preferred_username.clone()
        };
        let values = (
            remote_actors::actor_url.eq(json.id.as_str()),
            remote_actors::kind.eq(json.kind.as_str()),
            remote_actors::name.eq(&name),
            remote_actors::inbox.eq(json.inbox.as_str()),
            remote_actors::shared_inbox.eq(json
                .endpoints
                .as_ref()
                .and_then(|e| e.shared_inbox.as_ref())
                .map(Url::as_str)),
            remote_actors::public_key_pem.eq(&json.public_key.public_key_pem),
            remote_actors::fetched_at.eq(now),
        );
        diesel::insert_into(remote_actors::table)
            .values(values)
            .on_conflict(remote_actors::actor_url)
            .do_update()
            .set(values)
            .execute(&mut conn)
            .await?;
        Ok(ActorRecord {
            document: ActorDocument {
                preferred_username: name,
                ..json
            },
            private_key_pem: None,
            fetched_at: Some(now),
        })
    }
}

impl Actor for ActorRecord {
    fn public_key_pem(&self) -> &str {
        &self.document.public_key.public_key_pem
    }

    fn private_key_pem(&self) -> Option<String> {
        self.private_key_pem.clone()
    }

    fn inbox(&self) -> Url {
        self.document.inbox.clone()
    }

    fn shared_inbox(&self) -> Option<Url> {
        self.document
            .endpoints
            .as_ref()
            .and_then(|endpoints| endpoints.shared_inbox.clone())
    }
}
