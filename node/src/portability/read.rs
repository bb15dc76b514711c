//! Reading an export file: parsed strictly and checked whole before anything is written, every
//! error naming its item (the JSON path in a document, the line in NDJSON).

use std::collections::HashMap;

use kg_federation::context::{ACTIVITY_STREAMS, CONTEXT_PATH, relationship_kind};
use serde_json::Value;
use url::Url;

use crate::domain::{
    ArtifactKind, Author, Body, ContributionStatus, ContributionText, Dimensions, EdgeWeight,
    RelationshipKind, Slug, Title, Visibility, Weight,
};
use crate::error::{Error, Result};
use crate::input::parse;

use super::format::{
    ArtifactEntry, ContributionEntry, ExportDocument, FORMAT_VERSION, RelationshipEntry,
};

/// A checked artifact of the file.
#[derive(Debug, Clone)]
pub struct FileArtifact {
    /// Its IRI on the exporting node.
    pub iri: Url,
    /// Kind.
    pub kind: ArtifactKind,
    /// Title.
    pub title: Title,
    /// Body.
    pub body: Body,
    /// Author.
    pub author: Option<Author>,
    /// Dimensions.
    pub dimensions: Dimensions,
    /// Version.
    pub version: i32,
    /// Creation and last-change times.
    pub published: chrono::DateTime<chrono::Utc>,
    /// Last change.
    pub updated: chrono::DateTime<chrono::Utc>,
    /// The original of a federated copy.
    pub origin: Option<String>,
    /// The contribution it came from, on the exporting node.
    pub contribution: Option<Url>,
}

/// A checked contribution of the file.
#[derive(Debug, Clone)]
pub struct FileContribution {
    /// Its IRI on the exporting node.
    pub iri: Url,
    /// The text.
    pub text: ContributionText,
    /// Author.
    pub author: Option<Author>,
    /// Status there.
    pub status: ContributionStatus,
    /// Attempts made.
    pub attempts: i32,
    /// The last failure.
    pub error: Option<String>,
    /// Artifacts it reused (IRIs).
    pub reused: Vec<Url>,
    /// When it was received.
    pub published: chrono::DateTime<chrono::Utc>,
    /// Its last status change.
    pub updated: chrono::DateTime<chrono::Utc>,
    /// When its extraction completed.
    pub completed: Option<chrono::DateTime<chrono::Utc>>,
}

/// A checked relationship of the file.
#[derive(Debug, Clone)]
pub struct FileRelationship {
    /// Its IRI on the exporting node.
    pub iri: Url,
    /// Source IRI.
    pub subject: Url,
    /// Target IRI.
    pub object: Url,
    /// Kind.
    pub kind: RelationshipKind,
    /// Weight.
    pub weight: EdgeWeight,
    /// Creation time.
    pub published: chrono::DateTime<chrono::Utc>,
    /// The original of a federated copy.
    pub origin: Option<String>,
    /// The contribution it came from, on the exporting node.
    pub contribution: Option<Url>,
}

/// A checked export file.
#[derive(Debug, Clone)]
pub struct ImportFile {
    /// The exporting node.
    pub exported_from: Url,
    /// The convergence's slug there.
    pub slug: Slug,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its visibility.
    pub visibility: Visibility,
    /// Its creation time.
    pub published: chrono::DateTime<chrono::Utc>,
    /// Its last change.
    pub updated: chrono::DateTime<chrono::Utc>,
    /// Contributions, in file order.
    pub contributions: Vec<FileContribution>,
    /// Artifacts, in file order.
    pub artifacts: Vec<FileArtifact>,
    /// Relationships, in file order.
    pub relationships: Vec<FileRelationship>,
}

fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Error {
    Error::InvalidBody {
        field: field.into(),
        message: message.to_string(),
    }
}

/// Reads a JSON-LD export document.
pub fn read_document(bytes: &[u8]) -> Result<ImportFile> {
    let mut document: ExportDocument = parse(bytes)?;
    let contributions = std::mem::take(&mut document.contributions);
    let artifacts = std::mem::take(&mut document.artifacts);
    let relationships = std::mem::take(&mut document.relationships);
    let mut file = header(document, "")?;
    for (index, entry) in contributions.into_iter().enumerate() {
        file.contributions
            .push(contribution(entry, &format!("contributions[{index}]"))?);
    }
    for (index, entry) in artifacts.into_iter().enumerate() {
        file.artifacts
            .push(artifact(entry, &format!("artifacts[{index}]"))?);
    }
    for (index, entry) in relationships.into_iter().enumerate() {
        file.relationships
            .push(relationship(entry, &format!("relationships[{index}]"))?);
    }
    unique(&file)?;
    Ok(file)
}

/// Reads an NDJSON export: the header line, then one `Contribution`, `Article` or
/// `Relationship` per line.
pub fn read_ndjson(bytes: &[u8]) -> Result<ImportFile> {
    let mut lines = bytes
        .split(|byte| *byte == b'\n')
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace));
    let (number, first) = lines
        .next()
        .ok_or_else(|| invalid("line 1", "the file is empty"))?;
    let at = |number: usize| move |error: Error| in_line(number, error);
    let mut file = header(
        parse(first).map_err(at(number))?,
        &format!("line {number}: "),
    )?;
    for (number, line) in lines {
        let value: Value = parse(line).map_err(at(number))?;
        let item = format!("line {number}");
        match value.get("type").and_then(Value::as_str) {
            Some("Contribution") => file.contributions.push(contribution(
                parse_value(value).map_err(at(number))?,
                &item,
            )?),
            Some("Article") => file
                .artifacts
                .push(artifact(parse_value(value).map_err(at(number))?, &item)?),
            Some("Relationship") => file.relationships.push(relationship(
                parse_value(value).map_err(at(number))?,
                &item,
            )?),
            other => {
                return Err(invalid(
                    format!("{item}: type"),
                    format!(
                        "expected \"Contribution\", \"Article\" or \"Relationship\", found {}",
                        other.map_or_else(|| "none".to_owned(), |t| format!("\"{t}\""))
                    ),
                ));
            }
        }
    }
    unique(&file)?;
    Ok(file)
}

fn parse_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T> {
    parse(value.to_string().as_bytes())
}

/// Names the line an error is on.
fn in_line(number: usize, error: Error) -> Error {
    match error {
        Error::InvalidBody { field, message } => {
            invalid(format!("line {number}: {field}"), message)
        }
        Error::UnknownField { field, message } => Error::UnknownField {
            field: format!("line {number}: {field}"),
            message,
        },
        Error::MalformedJson(message) => Error::MalformedJson(format!("line {number}: {message}")),
        other => other,
    }
}

fn header(document: ExportDocument, prefix: &str) -> Result<ImportFile> {
    if document.format_version != FORMAT_VERSION {
        return Err(invalid(
            format!("{prefix}formatVersion"),
            format!(
                "this node reads format version {FORMAT_VERSION}, not {}",
                document.format_version
            ),
        ));
    }
    check_context(&document.context, prefix)?;
    let convergence = document.convergence;
    let field = |name: &str| format!("{prefix}convergence.{name}");
    Ok(ImportFile {
        exported_from: document.exported_from,
        slug: Slug::try_from(convergence.preferred_username)
            .map_err(|error| invalid(field("preferredUsername"), error))?,
        name: convergence.name,
        description: convergence.summary,
        visibility: convergence
            .visibility
            .parse()
            .map_err(|error| invalid(field("visibility"), error))?,
        published: convergence.published,
        updated: convergence.updated,
        contributions: Vec::new(),
        artifacts: Vec::new(),
        relationships: Vec::new(),
    })
}

/// The context must be ActivityStreams and a node's own context: the terms mean what this node
/// means by them.
fn check_context(context: &Value, prefix: &str) -> Result<()> {
    let entries: Vec<&str> = match context {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        Value::String(one) => vec![one.as_str()],
        _ => Vec::new(),
    };
    if entries.contains(&ACTIVITY_STREAMS) && entries.iter().any(|e| e.ends_with(CONTEXT_PATH)) {
        return Ok(());
    }
    Err(invalid(
        format!("{prefix}@context"),
        format!("expected [\"{ACTIVITY_STREAMS}\", \"<node>{CONTEXT_PATH}\"]"),
    ))
}

fn artifact(entry: ArtifactEntry, item: &str) -> Result<FileArtifact> {
    let field = |name: &str| format!("{item}.{name}");
    let mut tags = HashMap::new();
    for (index, tag) in entry.dimensions.into_iter().enumerate() {
        let weight = Weight::try_from(tag.weight)
            .map_err(|error| invalid(field(&format!("dimensions[{index}].weight")), error))?;
        if tags.insert(tag.name.clone(), weight).is_some() {
            return Err(invalid(
                field(&format!("dimensions[{index}].name")),
                format!("'{}' is tagged twice", tag.name),
            ));
        }
    }
    if entry.version < 1 {
        return Err(invalid(field("version"), "must be 1 or more"));
    }
    Ok(FileArtifact {
        kind: entry
            .artifact_kind
            .parse()
            .map_err(|error| invalid(field("artifactKind"), error))?,
        title: Title::try_from(entry.name).map_err(|error| invalid(field("name"), error))?,
        body: Body::try_from(entry.content).map_err(|error| invalid(field("content"), error))?,
        author: entry
            .author_name
            .map(Author::try_from)
            .transpose()
            .map_err(|error| invalid(field("authorName"), error))?,
        dimensions: Dimensions::try_from(tags)
            .map_err(|error| invalid(field("dimensions"), error))?,
        iri: entry.id,
        version: entry.version,
        published: entry.published,
        updated: entry.updated,
        origin: entry.origin,
        contribution: entry.contribution,
    })
}

fn contribution(entry: ContributionEntry, item: &str) -> Result<FileContribution> {
    let field = |name: &str| format!("{item}.{name}");
    Ok(FileContribution {
        text: ContributionText::try_from(entry.content)
            .map_err(|error| invalid(field("content"), error))?,
        author: entry
            .author_name
            .map(Author::try_from)
            .transpose()
            .map_err(|error| invalid(field("authorName"), error))?,
        status: ContributionStatus::parse(&entry.status).ok_or_else(|| {
            invalid(
                field("status"),
                "expected pending, processing, complete or failed",
            )
        })?,
        iri: entry.id,
        attempts: entry.attempts.max(0),
        error: entry.error,
        reused: entry.reused,
        published: entry.published,
        updated: entry.updated,
        completed: entry.completed,
    })
}

fn relationship(entry: RelationshipEntry, item: &str) -> Result<FileRelationship> {
    let field = |name: &str| format!("{item}.{name}");
    let kind = relationship_kind(&entry.relationship)
        .ok_or_else(|| invalid(field("relationship"), "expected kg:<kind>"))?
        .parse()
        .map_err(|error| invalid(field("relationship"), error))?;
    Ok(FileRelationship {
        kind,
        weight: EdgeWeight::try_from(entry.weight)
            .map_err(|error| invalid(field("weight"), error))?,
        iri: entry.id,
        subject: entry.subject,
        object: entry.object,
        published: entry.published,
        origin: entry.origin,
        contribution: entry.contribution,
    })
}

/// Refuses a file naming one object twice.
fn unique(file: &ImportFile) -> Result<()> {
    let mut seen = HashMap::new();
    let iris = file
        .contributions
        .iter()
        .map(|c| &c.iri)
        .chain(file.artifacts.iter().map(|a| &a.iri))
        .chain(file.relationships.iter().map(|r| &r.iri));
    for (index, iri) in iris.enumerate() {
        if let Some(first) = seen.insert(iri.as_str(), index) {
            return Err(invalid(
                "id",
                format!("{iri} appears twice (items {first} and {index} of the file)"),
            ));
        }
    }
    Ok(())
}
