//! What an extractor makes of a contribution: units (future artifacts) and links among them and
//! to existing artifacts, checked before anything is written.

use uuid::Uuid;

use crate::domain::{ArtifactKind, RelationshipKind};
use crate::jobs::JobError;

/// What an extractor is given.
#[derive(Debug, Clone)]
pub struct ExtractionInput {
    /// The contribution's text.
    pub text: String,
    /// The convergence's dimension names, most used first: extractors prefer them to new ones.
    pub dimensions: Vec<String>,
    /// Existing artifacts of the convergence that the text may be about (found through the
    /// search index), which links may name.
    pub existing: Vec<Candidate>,
}

/// An existing artifact found for a contribution or a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its id.
    pub id: Uuid,
    /// Its title.
    pub title: String,
}

/// One future artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// What it is.
    pub kind: ArtifactKind,
    /// Its title (at most 500 characters).
    pub title: String,
    /// Its body (may be empty).
    pub body: String,
    /// Its dimension tags, weights in [0, 1].
    pub dimensions: Vec<(String, f64)>,
}

/// One end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// The unit at this index of the extraction.
    Unit(usize),
    /// An artifact that exists already.
    Existing(Uuid),
}

/// A future relationship.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Its source.
    pub source: End,
    /// Its target.
    pub target: End,
    /// How the source relates to the target.
    pub kind: RelationshipKind,
    /// Its weight, in (0, 1].
    pub weight: f64,
}

/// An extractor's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extraction {
    /// The units, in the contribution's order.
    pub units: Vec<Unit>,
    /// Links among the units and to existing artifacts.
    pub links: Vec<Link>,
}

/// Turns a contribution into units and links.
#[async_trait::async_trait]
pub trait Extractor: Send + Sync {
    /// Extracts `input`; an error fails the attempt (it is retried).
    async fn extract(&self, input: &ExtractionInput) -> Result<Extraction, JobError>;
}
