//! Entity resolution: a unit that says what an existing artifact says is not created again; it
//! is replaced by that artifact (listed as reused) wherever links name it. A unit close to an
//! existing artifact is linked to it.

use std::collections::HashSet;

use kg_search::{Language, key_terms};
use uuid::Uuid;

use crate::domain::RelationshipKind;

use super::extractor::{Candidate, End, Extraction, Link};

/// The similarity thresholds, from `extraction.*`.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// From here on a unit is the candidate.
    pub duplicate: f64,
    /// From here on a unit is linked to the candidate.
    pub related: f64,
}

/// An extraction with its duplicates replaced, and the existing artifacts it reuses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// The units to create and the links to write.
    pub extraction: Extraction,
    /// Existing artifacts that stand for units, in unit order, each once.
    pub reused: Vec<Uuid>,
}

/// How alike two titles are: 1 for the same normalised title, else the Jaccard overlap of
/// their key-term stems.
pub fn similarity(a: &str, b: &str, language: Language) -> f64 {
    let normalise = |text: &str| -> String {
        text.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    if normalise(a) == normalise(b) {
        return 1.0;
    }
    let stems = |text: &str| -> HashSet<String> {
        key_terms(text, language)
            .into_iter()
            .map(|t| t.stem)
            .collect()
    };
    let (a, b) = (stems(a), stems(b));
    let union = a.union(&b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

/// Resolves `extraction` against `candidates[i]`, the existing artifacts found for unit `i`.
pub fn resolve(
    extraction: Extraction,
    candidates: &[Vec<Candidate>],
    thresholds: Thresholds,
    language: Language,
) -> Resolved {
    let mut stands_for: Vec<Option<Uuid>> = vec![None; extraction.units.len()];
    let mut related = Vec::new();
    for (index, unit) in extraction.units.iter().enumerate() {
        let scored = candidates
            .get(index)
            .into_iter()
            .flatten()
            .map(|candidate| {
                (
                    similarity(&unit.title, &candidate.title, language),
                    candidate.id,
                )
            });
        let best = scored
            .clone()
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
        match best {
            Some((score, id)) if score >= thresholds.duplicate => stands_for[index] = Some(id),
            _ => related.extend(
                scored
                    .filter(|(score, _)| *score >= thresholds.related)
                    .map(|(score, id)| (index, id, score)),
            ),
        }
    }
    // New indices of the units that are created.
    let mut renumbered = Vec::with_capacity(stands_for.len());
    let mut next = 0;
    for existing in &stands_for {
        renumbered.push(existing.is_none().then(|| {
            next += 1;
            next - 1
        }));
    }
    let end = |end: End| match end {
        End::Unit(index) => match (
            stands_for.get(index).copied().flatten(),
            renumbered.get(index),
        ) {
            (Some(id), _) => End::Existing(id),
            (None, Some(Some(new))) => End::Unit(*new),
            _ => end,
        },
        existing => existing,
    };
    let mut seen = HashSet::new();
    let links = extraction
        .links
        .iter()
        .map(|link| Link {
            source: end(link.source),
            target: end(link.target),
            ..link.clone()
        })
        .chain(related.into_iter().map(|(index, id, score)| Link {
            source: end(End::Unit(index)),
            target: End::Existing(id),
            kind: RelationshipKind::RelatesTo,
            weight: score.clamp(0.01, 1.0),
        }))
        // A link between two existing artifacts would change the graph beyond this
        // contribution; a link to itself means nothing.
        .filter(|link| matches!(link.source, End::Unit(_)) || matches!(link.target, End::Unit(_)))
        .filter(|link| link.source != link.target)
        .filter(|link| seen.insert((link.source, link.target, link.kind)))
        .collect();
    let mut reused = Vec::new();
    for id in stands_for.iter().flatten() {
        if !reused.contains(id) {
            reused.push(*id);
        }
    }
    let units = extraction
        .units
        .into_iter()
        .zip(&stands_for)
        .filter(|(_, existing)| existing.is_none())
        .map(|(unit, _)| unit)
        .collect();
    Resolved {
        extraction: Extraction { units, links },
        reused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ArtifactKind;
    use crate::extraction::extractor::Unit;

    fn unit(title: &str) -> Unit {
        Unit {
            kind: ArtifactKind::Idea,
            title: title.to_owned(),
            body: String::new(),
            dimensions: Vec::new(),
        }
    }

    #[test]
    fn a_duplicate_is_replaced_by_the_existing_artifact() {
        let existing = Uuid::now_v7();
        let near = Uuid::now_v7();
        let extraction = Extraction {
            units: vec![
                unit("Plant more trees!"),
                unit("Trees cool the streets in summer"),
            ],
            links: vec![Link {
                source: End::Unit(1),
                target: End::Unit(0),
                kind: RelationshipKind::Supports,
                weight: 0.8,
            }],
        };
        let candidates = vec![
            vec![Candidate {
                id: existing,
                title: "plant more trees".into(),
            }],
            vec![Candidate {
                id: near,
                title: "Trees cool the city in summer".into(),
            }],
        ];
        let thresholds = Thresholds {
            duplicate: 0.8,
            related: 0.34,
        };
        let resolved = resolve(extraction, &candidates, thresholds, Language::English);
        assert_eq!(resolved.reused, [existing]);
        assert_eq!(resolved.extraction.units.len(), 1);
        assert_eq!(resolved.extraction.links[0].source, End::Unit(0));
        assert_eq!(resolved.extraction.links[0].target, End::Existing(existing));
        assert_eq!(resolved.extraction.links[1].target, End::Existing(near));
        assert_eq!(
            resolved.extraction.links[1].kind,
            RelationshipKind::RelatesTo
        );
    }
}
