//! The answer a model must give: its JSON schema (sent with the request), and its local check.
//! A model may ignore the schema (a server without structured outputs, or a lax one), so the
//! answer is parsed strictly and every reference and weight checked before anything is written.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{ArtifactKind, RelationshipKind};

use super::super::extractor::{Candidate, End, Extraction, Link, Unit};

/// Most units one answer may hold (a contribution is at most 50,000 characters).
pub const MAX_UNITS: usize = 500;
/// Most links one answer may hold.
pub const MAX_LINKS: usize = 2_000;

/// The schema's name, as `response_format.json_schema.name`.
pub const SCHEMA_NAME: &str = "kgnode_extraction";

/// The JSON schema of an answer, in the subset that OpenAI's strict structured outputs accept
/// (every property required, no additional ones; bounds are checked locally).
pub fn schema() -> Value {
    let kinds: Vec<&str> = ArtifactKind::ALL.iter().map(|kind| kind.as_str()).collect();
    let relations: Vec<&str> = RelationshipKind::ALL
        .iter()
        .map(|kind| kind.as_str())
        .collect();
    let object = |properties: Value| {
        let required: Vec<String> = properties
            .as_object()
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default();
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": properties,
        })
    };
    let dimension = object(json!({
        "name": {"type": "string", "description": "a short lowercase tag"},
        "weight": {"type": "number", "description": "0 to 1: how strongly it applies"},
    }));
    let unit = object(json!({
        "kind": {"type": "string", "enum": kinds},
        "title": {"type": "string", "description": "the unit in at most 120 characters"},
        "body": {"type": "string", "description": "the unit's full text, or empty"},
        "dimensions": {"type": "array", "items": dimension},
    }));
    let reference = "\"unit:N\" for the N-th unit of this answer (from 0), or \
                     \"artifact:ID\" for an existing artifact given in the request";
    let link = object(json!({
        "source": {"type": "string", "description": reference},
        "target": {"type": "string", "description": reference},
        "kind": {"type": "string", "enum": relations},
        "weight": {"type": "number", "description": "above 0, at most 1"},
    }));
    object(json!({
        "units": {"type": "array", "items": unit},
        "links": {"type": "array", "items": link},
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    units: Vec<AnswerUnit>,
    links: Vec<AnswerLink>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerUnit {
    kind: String,
    title: String,
    body: String,
    dimensions: Vec<AnswerDimension>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerDimension {
    name: String,
    weight: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerLink {
    source: String,
    target: String,
    kind: String,
    weight: f64,
}

/// Parses and checks the model's `content`; `existing` are the artifacts the request offered.
/// The error says what is wrong, for the contribution's `error`.
pub fn validate(content: &str, existing: &[Candidate]) -> Result<Extraction, String> {
    let answer: Answer = serde_json::from_str(content.trim())
        .map_err(|error| format!("the answer does not match the schema: {error}"))?;
    if answer.units.is_empty() {
        return Err("the answer has no units".to_owned());
    }
    if answer.units.len() > MAX_UNITS || answer.links.len() > MAX_LINKS {
        return Err(format!(
            "the answer has {} units and {} links (at most {MAX_UNITS} and {MAX_LINKS})",
            answer.units.len(),
            answer.links.len()
        ));
    }
    let units = answer
        .units
        .into_iter()
        .enumerate()
        .map(|(index, unit)| checked_unit(unit).map_err(|error| format!("unit {index}: {error}")))
        .collect::<Result<Vec<_>, _>>()?;
    let offered: HashSet<Uuid> = existing.iter().map(|candidate| candidate.id).collect();
    let links = answer
        .links
        .into_iter()
        .enumerate()
        .map(|(index, link)| {
            checked_link(link, units.len(), &offered)
                .map_err(|error| format!("link {index}: {error}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Extraction { units, links })
}

fn checked_unit(unit: AnswerUnit) -> Result<Unit, String> {
    let kind: ArtifactKind = unit
        .kind
        .parse()
        .map_err(|_| format!("unknown kind '{}'", unit.kind))?;
    let title = unit.title.trim().to_owned();
    if title.is_empty() {
        return Err("empty title".to_owned());
    }
    let dimensions = unit
        .dimensions
        .into_iter()
        .map(|dimension| {
            if !(0.0..=1.0).contains(&dimension.weight) {
                return Err(format!(
                    "dimension '{}' has weight {} (0 to 1)",
                    dimension.name, dimension.weight
                ));
            }
            Ok((dimension.name.trim().to_lowercase(), dimension.weight))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Unit {
        kind,
        title,
        body: unit.body.trim().to_owned(),
        dimensions,
    })
}

fn checked_link(link: AnswerLink, units: usize, offered: &HashSet<Uuid>) -> Result<Link, String> {
    let kind: RelationshipKind = link
        .kind
        .parse()
        .map_err(|_| format!("unknown relationship kind '{}'", link.kind))?;
    if !(link.weight > 0.0 && link.weight <= 1.0) {
        return Err(format!("weight {} (above 0, at most 1)", link.weight));
    }
    let source = end(&link.source, units, offered)?;
    let target = end(&link.target, units, offered)?;
    if source == target {
        return Err(format!("'{}' links to itself", link.source));
    }
    if matches!((source, target), (End::Existing(_), End::Existing(_))) {
        return Err("links two existing artifacts; one end must be a unit".to_owned());
    }
    Ok(Link {
        source,
        target,
        kind,
        weight: link.weight,
    })
}

fn end(reference: &str, units: usize, offered: &HashSet<Uuid>) -> Result<End, String> {
    let reference = reference.trim();
    if let Some(index) = reference.strip_prefix("unit:") {
        return match index.parse::<usize>() {
            Ok(index) if index < units => Ok(End::Unit(index)),
            _ => Err(format!("'{reference}' names no unit of the answer")),
        };
    }
    if let Some(id) = reference.strip_prefix("artifact:") {
        return match id.parse::<Uuid>() {
            Ok(id) if offered.contains(&id) => Ok(End::Existing(id)),
            _ => Err(format!(
                "'{reference}' names no artifact given in the request"
            )),
        };
    }
    Err(format!(
        "'{reference}' is neither \"unit:N\" nor \"artifact:ID\""
    ))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn existing() -> Vec<Candidate> {
        vec![Candidate {
            id: Uuid::from_u128(7),
            title: "Bike lanes".to_owned(),
        }]
    }

    fn answer(links: Value) -> String {
        json!({
            "units": [
                {"kind": "question", "title": "Where do we park?", "body": "",
                 "dimensions": [{"name": "Mobility", "weight": 0.9}]},
                {"kind": "proposal", "title": "Use the old depot", "body": "It is empty.",
                 "dimensions": []},
            ],
            "links": links,
        })
        .to_string()
    }

    #[test]
    fn a_valid_answer_becomes_units_and_links() {
        let content = answer(json!([
            {"source": "unit:1", "target": "unit:0", "kind": "answers", "weight": 0.8},
            {"source": "unit:1", "target": format!("artifact:{}", Uuid::from_u128(7)),
             "kind": "relates_to", "weight": 0.5},
        ]));
        let extraction = validate(&content, &existing()).expect("valid");
        assert_eq!(extraction.units.len(), 2);
        assert_eq!(extraction.units[0].kind, ArtifactKind::Question);
        assert_eq!(
            extraction.units[0].dimensions,
            [("mobility".to_owned(), 0.9)]
        );
        assert_eq!(extraction.links[0].source, End::Unit(1));
        assert_eq!(extraction.links[0].kind, RelationshipKind::Answers);
        assert_eq!(
            extraction.links[1].target,
            End::Existing(Uuid::from_u128(7))
        );
    }

    #[test]
    fn one_bad_item_fails_the_whole_answer() {
        let cases = [
            (
                json!([{"source": "unit:5", "target": "unit:0", "kind": "answers", "weight": 0.5}]),
                "unit:5",
            ),
            (
                json!([{"source": "unit:0", "target": format!("artifact:{}", Uuid::from_u128(8)), "kind": "answers", "weight": 0.5}]),
                "no artifact given",
            ),
            (
                json!([{"source": "unit:0", "target": "unit:1", "kind": "likes", "weight": 0.5}]),
                "likes",
            ),
            (
                json!([{"source": "unit:0", "target": "unit:1", "kind": "answers", "weight": 1.5}]),
                "weight 1.5",
            ),
            (
                json!([{"source": "unit:0", "target": "unit:0", "kind": "answers", "weight": 0.5}]),
                "itself",
            ),
            (
                json!([{"source": "unit:0", "target": "unit:1", "kind": "answers", "weight": 0.5, "why": "x"}]),
                "unknown field",
            ),
        ];
        for (links, expected) in cases {
            let error = validate(&answer(links), &existing()).expect_err("invalid");
            assert!(error.contains(expected), "{error} (expected {expected})");
        }
        let error = validate("{\"units\": [", &existing()).expect_err("malformed");
        assert!(error.contains("schema"), "{error}");
        let unknown_kind = answer(json!([])).replace("question", "musing");
        let error = validate(&unknown_kind, &existing()).expect_err("kind");
        assert!(error.contains("unit 0: unknown kind 'musing'"), "{error}");
    }

    #[test]
    fn the_schema_requires_every_property() {
        let schema = schema();
        assert_eq!(schema["required"], json!(["units", "links"]));
        let unit = &schema["properties"]["units"]["items"];
        assert_eq!(unit["additionalProperties"], false);
        assert_eq!(unit["required"].as_array().map(Vec::len), Some(4));
        assert!(
            unit["properties"]["kind"]["enum"]
                .as_array()
                .is_some_and(|kinds| kinds.contains(&json!("question")))
        );
    }
}
