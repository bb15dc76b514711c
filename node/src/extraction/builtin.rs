//! The built-in extractor: offline, deterministic, no model. A contribution is split into units
//! (bullet lines, else sentences by Unicode's rules); each gets a kind from its cues, a title,
//! and dimension tags from its key terms; units are linked to each other by their cues.

use kg_search::{Language, key_terms};
use unicode_segmentation::UnicodeSegmentation;

use crate::domain::{ArtifactKind, RelationshipKind};
use crate::jobs::JobError;
use crate::service::batch::MAX_BATCH_ARTIFACTS;

use super::extractor::{End, Extraction, ExtractionInput, Extractor, Link, Unit};

/// Longest title, in characters; a longer unit keeps its full text as the body.
const TITLE_CHARS: usize = 120;
/// Dimension tags per unit.
const TAGS_PER_UNIT: usize = 3;
/// Weight of a link between adjacent units that have nothing more specific between them.
const ADJACENT_WEIGHT: f64 = 0.5;

/// The built-in extractor for one stemming language.
pub struct BuiltinExtractor {
    language: Language,
}

impl BuiltinExtractor {
    /// An extractor that reads key terms as the search index of `language` does.
    pub fn new(language: Language) -> Self {
        Self { language }
    }

    /// The extraction of `input`, synchronously.
    pub fn extract_now(&self, input: &ExtractionInput) -> Extraction {
        let texts = split_units(&input.text);
        // The existing names' stems, once for every unit.
        let existing: Vec<(String, &String)> = input
            .dimensions
            .iter()
            .filter_map(|name| {
                let stem = key_terms(name, self.language).into_iter().next()?.stem;
                Some((stem, name))
            })
            .collect();
        let units: Vec<Unit> = texts
            .iter()
            .map(|text| Unit {
                kind: kind_of(text),
                title: title_of(text),
                body: if text.chars().count() > TITLE_CHARS {
                    text.clone()
                } else {
                    String::new()
                },
                dimensions: self.tags_of(text, &existing),
            })
            .collect();
        let links = link_units(&texts, &units);
        Extraction { units, links }
    }

    /// The unit's most frequent key terms, named as the convergence's existing dimensions when
    /// one has the same stem; weights from frequency, in [0.5, 1].
    fn tags_of(&self, text: &str, existing_stems: &[(String, &String)]) -> Vec<(String, f64)> {
        let terms = key_terms(text, self.language);
        let Some(top) = terms.first().map(|term| term.count) else {
            return Vec::new();
        };
        let mut tags: Vec<(String, f64)> = Vec::new();
        for term in terms.iter().take(TAGS_PER_UNIT) {
            let name = existing_stems
                .iter()
                .find(|(stem, _)| *stem == term.stem)
                .map(|(_, name)| (*name).clone())
                .unwrap_or_else(|| term.word.clone());
            if !tags.iter().any(|(known, _)| *known == name) {
                tags.push((name, 0.5 + 0.5 * term.count as f64 / top as f64));
            }
        }
        tags
    }
}

#[async_trait::async_trait]
impl Extractor for BuiltinExtractor {
    async fn extract(&self, input: &ExtractionInput) -> Result<Extraction, JobError> {
        Ok(self.extract_now(input))
    }
}

/// Bullet and numbered lines are units of their own; other text is split into sentences.
/// At most [`MAX_BATCH_ARTIFACTS`] units: the rest joins the last one.
fn split_units(text: &str) -> Vec<String> {
    let mut units = Vec::new();
    let mut prose = String::new();
    let flush = |prose: &mut String, units: &mut Vec<String>| {
        units.extend(
            prose
                .unicode_sentences()
                .map(|sentence| sentence.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|sentence| sentence.chars().any(char::is_alphanumeric)),
        );
        prose.clear();
    };
    for line in text.lines() {
        match bullet_text(line) {
            Some(item) => {
                flush(&mut prose, &mut units);
                if item.chars().any(char::is_alphanumeric) {
                    units.push(item.split_whitespace().collect::<Vec<_>>().join(" "));
                }
            }
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
        }
    }
    flush(&mut prose, &mut units);
    if units.len() > MAX_BATCH_ARTIFACTS {
        let rest = units.split_off(MAX_BATCH_ARTIFACTS - 1).join(" ");
        units.push(rest);
    }
    units
}

/// The text of a bullet (`-`, `*`, `•`) or numbered (`1.`, `2)`) line.
fn bullet_text(line: &str) -> Option<&str> {
    let line = line.trim_start();
    if let Some(rest) = line
        .strip_prefix("- ")
        .or_else(|| line.strip_prefix("* "))
        .or_else(|| line.strip_prefix("• "))
    {
        return Some(rest.trim());
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let rest = line.get(digits..)?;
    (digits > 0)
        .then(|| rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")))
        .flatten()
        .map(str::trim)
}

fn contains_any(text: &str, cues: &[&str]) -> bool {
    cues.iter().any(|cue| text.contains(cue))
}

/// A unit's kind, from its cues (the first that applies, in this order).
fn kind_of(text: &str) -> ArtifactKind {
    let lower = text.to_lowercase();
    if lower.trim_end().ends_with('?') {
        ArtifactKind::Question
    } else if contains_any(&lower, &["http://", "https://", "www."]) {
        ArtifactKind::Resource
    } else if contains_any(
        &lower,
        &[
            "we decided",
            "we agreed",
            "decided to",
            "agreed to",
            "decision:",
        ],
    ) {
        ArtifactKind::Decision
    } else if contains_any(
        &lower,
        &[
            "we should",
            "let's",
            "let us",
            "propose",
            "suggest",
            "we could",
            "we need to",
        ],
    ) {
        ArtifactKind::Proposal
    } else if contains_any(
        &lower,
        &[
            "data shows",
            "according to",
            "study",
            "survey",
            "research",
            "measured",
            "%",
        ],
    ) || lower.chars().any(|c| c.is_ascii_digit())
    {
        ArtifactKind::Evidence
    } else if contains_any(&lower, &["because", "therefore", "which means", "so that"]) {
        ArtifactKind::Claim
    } else if contains_any(
        &lower,
        &[
            "i learned",
            "we learned",
            "i realized",
            "we realized",
            "turns out",
            "noticed",
        ],
    ) {
        ArtifactKind::Insight
    } else {
        ArtifactKind::Idea
    }
}

/// The unit itself, cut at a word boundary to at most [`TITLE_CHARS`] characters.
fn title_of(text: &str) -> String {
    if text.chars().count() <= TITLE_CHARS {
        return text.to_owned();
    }
    let mut title = String::new();
    for word in text.split_whitespace() {
        let next = title.chars().count() + word.chars().count() + usize::from(!title.is_empty());
        if next > TITLE_CHARS - 1 {
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(word);
    }
    if title.is_empty() {
        title = text.chars().take(TITLE_CHARS - 1).collect();
    }
    title.push('…');
    title
}

/// Links each unit to the one before it: an answer to an open question `answers` it, a unit
/// giving a reason ("because") `supports` the one before, others `relates_to` it.
fn link_units(texts: &[String], units: &[Unit]) -> Vec<Link> {
    let mut links = Vec::new();
    let mut open_question: Option<usize> = None;
    for (index, unit) in units.iter().enumerate() {
        let lower = texts[index].to_lowercase();
        if unit.kind == ArtifactKind::Question {
            if index > 0 {
                links.push(link(
                    index,
                    index - 1,
                    RelationshipKind::RelatesTo,
                    ADJACENT_WEIGHT,
                ));
            }
            open_question = Some(index);
            continue;
        }
        if let Some(question) = open_question.take() {
            links.push(link(index, question, RelationshipKind::Answers, 1.0));
        } else if index > 0 {
            let reason = lower.starts_with("because") || lower.contains(" because ");
            let (kind, weight) = if reason {
                (RelationshipKind::Supports, 0.8)
            } else {
                (RelationshipKind::RelatesTo, ADJACENT_WEIGHT)
            };
            links.push(link(index, index - 1, kind, weight));
        }
    }
    links
}

fn link(source: usize, target: usize, kind: RelationshipKind, weight: f64) -> Link {
    Link {
        source: End::Unit(source),
        target: End::Unit(target),
        kind,
        weight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(text: &str, dimensions: &[&str]) -> Extraction {
        BuiltinExtractor::new(Language::English).extract_now(&ExtractionInput {
            text: text.to_owned(),
            dimensions: dimensions.iter().map(|d| (*d).to_owned()).collect(),
            existing: Vec::new(),
        })
    }

    #[test]
    fn sentences_get_kinds_from_their_cues() {
        let extraction = extract(
            "How do we keep the gardens watered in August? We should build rain barrels. \
             Rain barrels work because the roofs are large. Data shows 40% of water is lost. \
             We decided to start in spring. See https://example.org/barrels for plans.",
            &[],
        );
        let kinds: Vec<ArtifactKind> = extraction.units.iter().map(|u| u.kind).collect();
        assert_eq!(
            kinds,
            [
                ArtifactKind::Question,
                ArtifactKind::Proposal,
                ArtifactKind::Claim,
                ArtifactKind::Evidence,
                ArtifactKind::Decision,
                ArtifactKind::Resource,
            ]
        );
        assert_eq!(extraction.links[0].kind, RelationshipKind::Answers);
        assert_eq!(extraction.links[0].target, End::Unit(0));
        assert_eq!(extraction.links[1].kind, RelationshipKind::Supports);
        assert_eq!(extraction.links.len(), 5);
    }

    #[test]
    fn bullets_are_units_and_existing_dimension_names_are_preferred() {
        let extraction = extract(
            "Ideas from the table:\n- more community gardens\n- 2) gardening classes for kids\n",
            &["gardening", "education"],
        );
        assert_eq!(extraction.units.len(), 3);
        assert_eq!(extraction.units[1].title, "more community gardens");
        let tags: Vec<&str> = extraction.units[1]
            .dimensions
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert!(tags.contains(&"gardening"), "{tags:?}");
        assert!(
            extraction.units[1]
                .dimensions
                .iter()
                .all(|(_, w)| (0.5..=1.0).contains(w))
        );
    }

    #[test]
    fn long_units_are_titled_at_a_word_boundary() {
        let text = "word ".repeat(60);
        let extraction = extract(&text, &[]);
        let title = &extraction.units[0].title;
        assert!(title.chars().count() <= TITLE_CHARS);
        assert!(title.ends_with("word…"));
        assert_eq!(extraction.units[0].body, text.trim());
        assert_eq!(extract(&text, &[]), extraction, "deterministic");
    }
}
