//! Artifacts and relationships as ActivityPub objects: built from local rows, and read from
//! peers into validated remote writes.

use std::collections::HashMap;

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::protocol::verification::verify_domains_match;
use activitypub_federation::traits::Object;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kg_federation::PUBLIC;
use kg_federation::actors::ActorKind;
use kg_federation::context::relationship_iri;
use kg_federation::objects::{
    ArticleType, ArtifactObject, DimensionTag, DimensionType, RelationshipObject, RelationshipType,
};
use url::Url;
use uuid::Uuid;

use crate::db::load_dimensions;
use crate::db::schema::{artifacts, convergences};
use crate::db::{DbArtifact, DbConvergence, DbRelationship, Outbox, Snapshot, Tags};
use crate::domain::{ArtifactKind, Author, Body, Dimensions, Title, Visibility, Weight};
use crate::service::remote::{self, RemoteArtifact, RemoteConvergence};

use super::FederationContext;
use super::actors::ActorRecord;
use super::error::FederationError;
use crate::urls::LocalUrls;

/// The public URL of a stored artifact: its origin's for a copy, ours otherwise.
pub fn artifact_url(urls: &LocalUrls, artifact: &DbArtifact) -> Result<Url, FederationError> {
    match &artifact.origin_url {
        Some(origin) => Url::parse(origin)
            .map_err(|error| FederationError::Invalid(format!("stored origin URL: {error}"))),
        None => Ok(urls.artifact(artifact.id)),
    }
}

/// A local artifact of a local convergence as an `Article` (its tags loaded here).
pub async fn artifact_object(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
    artifact: &DbArtifact,
    convergence: &DbConvergence,
) -> Result<ArtifactObject, FederationError> {
    let tags = load_dimensions(conn, &[artifact.id])
        .await?
        .remove(&artifact.id)
        .unwrap_or_default();
    Ok(article(urls, artifact, convergence, tags))
}

/// A local artifact of a local convergence, with its tags, as an `Article`.
pub fn article(
    urls: &LocalUrls,
    artifact: &DbArtifact,
    convergence: &DbConvergence,
    tags: Vec<(String, f64)>,
) -> ArtifactObject {
    let group = urls.url(&LocalUrls::group_path(&convergence.slug));
    ArtifactObject {
        kind: ArticleType::Article,
        id: urls.artifact(artifact.id),
        name: artifact.title.clone(),
        content: artifact.body.clone(),
        media_type: Some("text/markdown".to_owned()),
        artifact_kind: artifact.kind.clone(),
        dimensions: tags
            .into_iter()
            .map(|(name, weight)| DimensionTag {
                kind: DimensionType::Dimension,
                name,
                weight,
            })
            .collect(),
        version: artifact.version,
        attributed_to: match &artifact.author {
            Some(author) => urls.url(&LocalUrls::person_path(author)),
            None => group.clone(),
        },
        author_name: artifact.author.clone(),
        to: vec![public()],
        cc: vec![urls.url(&format!(
            "{}/followers",
            LocalUrls::group_path(&convergence.slug)
        ))],
        audience: group,
        published: artifact.created_at,
        updated: Some(artifact.updated_at),
    }
}

/// A relationship whose source is in the local convergence `convergence` as a `Relationship`,
/// or `None` when one of its ends is not in a public convergence (its ends loaded here).
pub async fn relationship_object(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
    relationship: &DbRelationship,
    convergence: &DbConvergence,
) -> Result<Option<RelationshipObject>, FederationError> {
    let ends = [relationship.source_id, relationship.target_id];
    let snapshot = Snapshot::of_artifacts(conn, &ends, Tags::Skip).await?;
    relationship_document(
        urls,
        relationship,
        convergence,
        ends.map(|id| snapshot.artifact_with_convergence(id)),
    )
}

/// An artifact with its convergence, as an end of a relationship.
pub type End<'a> = Option<(&'a DbArtifact, &'a DbConvergence)>;

/// `relationship` as a `Relationship` with its ends `[source, target]`, or `None` unless both
/// are in public convergences: an edge is seen only by who may read both ends, and a follower
/// could not fetch a private end anyway.
pub fn relationship_document(
    urls: &LocalUrls,
    relationship: &DbRelationship,
    convergence: &DbConvergence,
    [source, target]: [End<'_>; 2],
) -> Result<Option<RelationshipObject>, FederationError> {
    let (Some((source, _)), Some((target, _))) = (
        source.filter(|end| is_public(*end)),
        target.filter(|end| is_public(*end)),
    ) else {
        return Ok(None);
    };
    Ok(Some(RelationshipObject {
        kind: RelationshipType::Relationship,
        id: urls.relationship(relationship.id),
        subject: artifact_url(urls, source)?,
        object: artifact_url(urls, target)?,
        relationship: relationship_iri(&relationship.kind),
        weight: relationship.weight,
        audience: urls.url(&LocalUrls::group_path(&convergence.slug)),
        to: vec![public()],
        published: relationship.created_at,
    }))
}

/// Whether both ends of an edge are in public convergences, as they must have been for the edge
/// to be federated: the `Delete` of an edge that never was is not announced either.
pub fn both_ends_public([source, target]: [End<'_>; 2]) -> bool {
    source.is_some_and(is_public) && target.is_some_and(is_public)
}

fn is_public((_, convergence): (&DbArtifact, &DbConvergence)) -> bool {
    convergence.visibility == Visibility::Public.as_str()
}

/// The ActivityStreams public collection.
pub fn public() -> Url {
    Url::parse(PUBLIC).unwrap_or_else(|_| unreachable!("the public collection URL is valid"))
}

/// Checks an `Article` from a peer and turns it into a remote write into `convergence_id`.
pub fn remote_artifact(
    json: ArtifactObject,
    convergence_id: Uuid,
) -> Result<RemoteArtifact, FederationError> {
    let invalid = |what: &str, error: &dyn std::fmt::Display| {
        FederationError::Invalid(format!("artifact {}: {what}: {error}", json.id))
    };
    let kind: ArtifactKind = json
        .artifact_kind
        .parse()
        .map_err(|error| invalid("artifactKind", &error))?;
    let title = Title::try_from(json.name.clone()).map_err(|error| invalid("name", &error))?;
    let body = Body::try_from(json.content.clone()).map_err(|error| invalid("content", &error))?;
    let author = json
        .author_name
        .clone()
        .map(Author::try_from)
        .transpose()
        .map_err(|error| invalid("authorName", &error))?;
    let mut raw = HashMap::new();
    for tag in &json.dimensions {
        let weight = Weight::try_from(tag.weight).map_err(|error| invalid("weight", &error))?;
        raw.insert(tag.name.clone(), weight);
    }
    let dimensions = Dimensions::try_from(raw).map_err(|error| invalid("dimensions", &error))?;
    if json.version < 1 {
        return Err(invalid("version", &"must be at least 1"));
    }
    Ok(RemoteArtifact {
        origin_url: json.id.to_string(),
        convergence_id,
        kind,
        title,
        body,
        author,
        dimensions,
        version: json.version,
        published: json.published,
    })
}

/// The local mirror of the remote convergence whose `Group` is `group`, made (after fetching
/// the actor) when this node has none yet.
pub async fn ensure_mirror(
    group: &Url,
    data: &Data<FederationContext>,
) -> Result<DbConvergence, FederationError> {
    {
        let mut conn = data.pool.get().await?;
        if let Some(mirror) = remote::find_convergence(&mut conn, group.as_str()).await? {
            return Ok(mirror);
        }
    }
    let actor: ActorRecord = ObjectId::<ActorRecord>::from(group.clone())
        .dereference(data)
        .await?;
    mirror_actor(&actor, data).await
}

/// Mirrors a fetched `Group` actor as a read-only convergence `slug@instance`.
pub async fn mirror_actor(
    actor: &ActorRecord,
    data: &Data<FederationContext>,
) -> Result<DbConvergence, FederationError> {
    let document = &actor.document;
    if document.kind != ActorKind::Group {
        return Err(FederationError::Invalid(format!(
            "{} is a {}, not a convergence (Group)",
            document.id,
            document.kind.as_str()
        )));
    }
    let instance = kg_federation::origin::instance(&document.id)
        .ok_or_else(|| FederationError::Invalid(format!("{} has no host", document.id)))?;
    let slug = format!("{}@{instance}", document.preferred_username.to_lowercase());
    if !crate::domain::names_convergence(&slug) {
        return Err(FederationError::Invalid(format!(
            "'{}' cannot name a convergence here",
            document.preferred_username
        )));
    }
    let name: String = document
        .name
        .clone()
        .unwrap_or_else(|| document.preferred_username.clone())
        .chars()
        .take(200)
        .collect();
    let description: String = document
        .summary
        .clone()
        .unwrap_or_default()
        .chars()
        .take(10_000)
        .collect();
    let mut conn = data.pool.get().await?;
    Ok(remote::mirror_convergence(
        &mut conn,
        &RemoteConvergence {
            origin_url: document.id.to_string(),
            slug,
            name: if name.trim().is_empty() {
                instance
            } else {
                name
            },
            description,
        },
    )
    .await?)
}

/// Stores (or refreshes) a remote artifact in one transaction with its change-log rows.
pub async fn store_remote_artifact(
    conn: &mut AsyncPgConnection,
    json: ArtifactObject,
    convergence: &DbConvergence,
) -> Result<remote::Applied, FederationError> {
    let remote = remote_artifact(json, convergence.id)?;
    Ok(conn
        .transaction(async |conn| {
            let mut outbox = Outbox::default();
            let applied = remote::upsert_artifact(conn, &mut outbox, remote).await?;
            outbox.flush(conn).await?;
            Ok::<_, crate::error::Error>(applied)
        })
        .await?)
}

/// A stored artifact (local, or a copy of a remote one), as the ActivityPub layer fetches it.
#[derive(Debug, Clone)]
pub struct StoredArtifact {
    /// The artifact's public URL.
    pub url: Url,
    /// The local row.
    pub row: DbArtifact,
}

#[async_trait]
impl Object for StoredArtifact {
    type DataType = FederationContext;
    type Kind = ArtifactObject;
    type Error = FederationError;

    fn id(&self) -> &Url {
        &self.url
    }

    fn is_deleted(&self) -> bool {
        self.row.deleted_at.is_some()
    }

    async fn read_from_id(
        object_id: Url,
        data: &Data<Self::DataType>,
    ) -> Result<Option<Self>, Self::Error> {
        let mut conn = data.pool.get().await?;
        let query = artifacts::table
            .select(DbArtifact::as_select())
            .into_boxed();
        let query = match data.urls.local_artifact(&object_id) {
            Some(id) => query.filter(artifacts::id.eq(id)),
            None => query.filter(artifacts::origin_url.eq(object_id.as_str())),
        };
        let row = query.first(&mut conn).await.optional()?;
        Ok(row.map(|row| StoredArtifact {
            url: object_id,
            row,
        }))
    }

    async fn into_json(self, data: &Data<Self::DataType>) -> Result<Self::Kind, Self::Error> {
        let mut conn = data.pool.get().await?;
        let convergence = convergences::table
            .find(self.row.convergence_id)
            .select(DbConvergence::as_select())
            .first(&mut conn)
            .await?;
        artifact_object(&mut conn, &data.urls, &self.row, &convergence).await
    }

    async fn verify(
        json: &Self::Kind,
        expected_domain: &Url,
        _data: &Data<Self::DataType>,
    ) -> Result<(), Self::Error> {
        verify_domains_match(&json.id, expected_domain)?;
        verify_domains_match(&json.audience, &json.id)?;
        Ok(())
    }

    async fn from_json(json: Self::Kind, data: &Data<Self::DataType>) -> Result<Self, Self::Error> {
        let convergence = ensure_mirror(&json.audience, data).await?;
        let url = json.id.clone();
        let mut conn = data.pool.get().await?;
        store_remote_artifact(&mut conn, json, &convergence).await?;
        let row = remote::find_artifact(&mut conn, url.as_str())
            .await?
            .filter(|row| row.deleted_at.is_none())
            .ok_or_else(|| {
                // Deleted before (a tombstone) or stored already deleted.
                activitypub_federation::error::Error::ObjectDeleted(url.clone())
            })?;
        Ok(StoredArtifact { url, row })
    }
}
