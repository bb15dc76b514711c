//! Deterministic synthetic data for benchmarks and load tests: artifacts with Zipf-distributed
//! words and dimension tags, linked by relationships that mix locality and preferential
//! attachment.
//!
//! A [`Generator`] is built from a [`GeneratorConfig`] and yields [`SyntheticArtifact`]s in index
//! order, `0, 1, 2, …`, one at a time ([`Iterator`]) or in batches that respect the batch
//! endpoint's limits ([`Generator::next_batch`]). Everything is index based: artifact `i` is the `i`-th item yielded,
//! and a [`SyntheticRelationship`] names its ends by index, so a consumer maps indices to whatever
//! ids its store hands out. Every relationship of artifact `i` starts at `i` and ends at an
//! artifact `j < i`, so a consumer that loads artifacts in order can always resolve the target.
//!
//! # Determinism
//!
//! The same configuration (seed included) yields the same artifacts, whatever the chunk sizes
//! used to read them: each artifact draws from its own ChaCha8 stream (the seed is the key, the
//! artifact index selects the stream), and the only state carried from one artifact to the next
//! is the graph built so far. Output is stable for a given version of `rand_chacha` and
//! `rand_distr` on a given platform (Zipf sampling uses `powf`/`exp`, whose last bits may differ
//! between math libraries).
//!
//! # The model
//!
//! - **Vocabulary**: [`GeneratorConfig::vocabulary_size`] distinct pseudo-words built from
//!   syllables, ordered so that shorter words come first; word `r` (0-based rank) is drawn with
//!   probability proportional to `1 / (r + 1)^s` (Zipf, `s` = [`GeneratorConfig::word_exponent`]).
//! - **Text**: titles of 4 to 10 words, Markdown bodies of 30 to 200 words in sentences and
//!   paragraphs.
//! - **Kinds**: the eight artifact kinds with skewed weights (ideas most, decisions least).
//! - **Dimensions**: 1 to 5 tags per artifact (fewer more likely), names drawn by Zipf from
//!   [`GeneratorConfig::dimensions`] generated names such as `kora-velin`, weights in `[0, 1]` with
//!   two decimals.
//! - **Authors**: drawn by Zipf from a pool of generated names, so a few authors write a lot.
//! - **Relationships**: a Poisson number per artifact with mean
//!   [`GeneratorConfig::relationships_per_artifact`]; each target is, with probability
//!   [`GeneratorConfig::locality`], a recent artifact (within
//!   [`GeneratorConfig::locality_window`]) and otherwise an earlier artifact picked with
//!   probability proportional to its in-degree plus one (preferential attachment: hubs emerge).
//!   No self loops, distinct targets per source (so no duplicate `(source, target, kind)`), kinds
//!   that fit the ends (answers to questions, evidence supporting or contradicting claims), weights
//!   in `(0, 1]` with two decimals.
//!
//! ```text
//! let mut generator = Generator::new(GeneratorConfig::new(42, 2_500))?;
//! loop {
//!     let batch = generator.next_batch(1_000, 5_000);
//!     if batch.is_empty() { break }
//!     // every relationship of artifact i ends at an artifact j < i, already loaded
//! }
//! ```

use std::collections::HashSet;
use std::ops::RangeInclusive;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, Zipf};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use uuid::Uuid;

use kgnode::domain::{ArtifactKind, RelationshipKind};

/// Default mean number of relationships per artifact.
pub const DEFAULT_RELATIONSHIPS_PER_ARTIFACT: f64 = 3.0;
/// Default number of distinct words.
pub const DEFAULT_VOCABULARY_SIZE: usize = 50_000;
/// Default Zipf exponent of word frequencies (natural language is close to 1).
pub const DEFAULT_WORD_EXPONENT: f64 = 1.0;
/// Default number of distinct dimension names.
pub const DEFAULT_DIMENSIONS: usize = 200;
/// Default Zipf exponent of dimension-name frequencies.
pub const DEFAULT_DIMENSION_EXPONENT: f64 = 1.0;
/// Default number of distinct authors.
pub const DEFAULT_AUTHORS: usize = 2_000;
/// Default Zipf exponent of author activity.
pub const DEFAULT_AUTHOR_EXPONENT: f64 = 1.1;
/// Default share of relationship targets picked among recent artifacts.
pub const DEFAULT_LOCALITY: f64 = 0.5;
/// Default number of preceding artifacts that count as recent.
pub const DEFAULT_LOCALITY_WINDOW: usize = 1_000;
/// Most relationships one artifact can start (keeps any 1,000-artifact batch far below the
/// endpoint's 5,000-relationship limit at the default mean).
pub const MAX_RELATIONSHIPS_PER_ARTIFACT: usize = 32;
/// Most dimension tags the generator gives one artifact.
pub const MAX_GENERATED_DIMENSIONS: usize = 5;

/// Stream selectors: the top byte of the ChaCha stream number says what a stream is for, the
/// rest is the artifact index.
const STREAM_VOCABULARY: u64 = 0;
const STREAM_CONTENT: u64 = 1 << 56;
const STREAM_EDGES: u64 = 2 << 56;
/// Sub-streams of [`STREAM_VOCABULARY`].
const VOCABULARY_WORDS: u64 = 0;
const VOCABULARY_DIMENSIONS: u64 = 1;
const VOCABULARY_AUTHORS: u64 = 2;

/// Syllable parts: words are 1 to 4 syllables of onset + vowel + coda.
const ONSETS: &[&str] = &[
    "", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br",
    "ch", "cr", "dr", "gr", "pl", "sh", "st", "th", "tr",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "ou", "io", "y"];
const CODAS: &[&str] = &[
    "", "", "", "", "n", "r", "s", "l", "m", "t", "nd", "st", "ck", "x",
];
/// Relative weights of 1, 2, 3 and 4 syllables.
const SYLLABLE_WEIGHTS: &[(usize, u32)] = &[(1, 15), (2, 45), (3, 30), (4, 10)];

/// Artifact kinds and their relative frequencies.
const ARTIFACT_KIND_WEIGHTS: &[(ArtifactKind, u32)] = &[
    (ArtifactKind::Idea, 24),
    (ArtifactKind::Question, 15),
    (ArtifactKind::Claim, 14),
    (ArtifactKind::Evidence, 12),
    (ArtifactKind::Insight, 11),
    (ArtifactKind::Resource, 10),
    (ArtifactKind::Proposal, 8),
    (ArtifactKind::Decision, 6),
];

/// Relationship kinds towards a question.
const TO_QUESTION: &[(RelationshipKind, u32)] = &[
    (RelationshipKind::Answers, 55),
    (RelationshipKind::RelatesTo, 20),
    (RelationshipKind::Extends, 10),
    (RelationshipKind::DependsOn, 5),
    (RelationshipKind::PartOf, 5),
    (RelationshipKind::DerivedFrom, 5),
];
/// Relationship kinds from evidence towards a claim.
const EVIDENCE_TO_CLAIM: &[(RelationshipKind, u32)] = &[
    (RelationshipKind::Supports, 55),
    (RelationshipKind::Contradicts, 30),
    (RelationshipKind::RelatesTo, 15),
];
/// Relationship kinds from anything else towards a claim.
const TO_CLAIM: &[(RelationshipKind, u32)] = &[
    (RelationshipKind::Supports, 35),
    (RelationshipKind::Contradicts, 25),
    (RelationshipKind::RelatesTo, 25),
    (RelationshipKind::Extends, 15),
];
/// Relationship kinds in all other cases.
const GENERAL: &[(RelationshipKind, u32)] = &[
    (RelationshipKind::RelatesTo, 30),
    (RelationshipKind::Extends, 16),
    (RelationshipKind::Supports, 14),
    (RelationshipKind::DerivedFrom, 12),
    (RelationshipKind::DependsOn, 10),
    (RelationshipKind::PartOf, 10),
    (RelationshipKind::Contradicts, 8),
];

/// Why a generator could not be built or its output not be turned into a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyntheticError {
    /// A count of the configuration that must be at least one is zero.
    #[error("{field} must be at least 1")]
    Empty {
        /// The configuration field.
        field: &'static str,
    },
    /// A number of the configuration is out of its range.
    #[error("{field} is {value}, expected {expected}")]
    OutOfRange {
        /// The configuration field.
        field: &'static str,
        /// The value given.
        value: f64,
        /// The accepted range, in words.
        expected: &'static str,
    },
    /// A word-count range of the configuration is empty or starts at zero.
    #[error("{field} must be a non-empty range starting at 1 or more")]
    InvalidRange {
        /// The configuration field.
        field: &'static str,
    },
    /// More artifacts than the generator can index (`u32::MAX`).
    #[error("{0} artifacts is more than the generator supports ({max})", max = u32::MAX)]
    TooManyArtifacts(usize),
    /// A relationship points at an artifact that is neither in the chunk nor known to the lookup.
    #[error(
        "relationship from artifact {from} to artifact {to}: the target is neither in this chunk \
         nor already created"
    )]
    UnresolvedTarget {
        /// Index of the source artifact.
        from: usize,
        /// Index of the target artifact.
        to: usize,
    },
}

/// What to generate. Build it with [`GeneratorConfig::new`] and change fields as needed.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Seed of every random choice; the same seed gives the same data.
    pub seed: u64,
    /// Number of artifacts to generate.
    pub artifacts: usize,
    /// Mean number of relationships each artifact starts (Poisson distributed, capped at
    /// [`MAX_RELATIONSHIPS_PER_ARTIFACT`] and at the number of earlier artifacts).
    pub relationships_per_artifact: f64,
    /// Number of distinct words.
    pub vocabulary_size: usize,
    /// Zipf exponent of word frequencies (`>= 0`; 0 is uniform).
    pub word_exponent: f64,
    /// Number of distinct dimension names.
    pub dimensions: usize,
    /// Zipf exponent of dimension-name frequencies.
    pub dimension_exponent: f64,
    /// Number of distinct authors.
    pub authors: usize,
    /// Zipf exponent of author activity.
    pub author_exponent: f64,
    /// Share, in `[0, 1]`, of relationship targets picked among recent artifacts; the rest is
    /// picked by preferential attachment.
    pub locality: f64,
    /// How many preceding artifacts count as recent.
    pub locality_window: usize,
    /// Words per title.
    pub title_words: RangeInclusive<usize>,
    /// Words per body.
    pub body_words: RangeInclusive<usize>,
}

impl GeneratorConfig {
    /// `artifacts` artifacts from `seed`, every other setting at its default.
    pub fn new(seed: u64, artifacts: usize) -> Self {
        Self {
            seed,
            artifacts,
            relationships_per_artifact: DEFAULT_RELATIONSHIPS_PER_ARTIFACT,
            vocabulary_size: DEFAULT_VOCABULARY_SIZE,
            word_exponent: DEFAULT_WORD_EXPONENT,
            dimensions: DEFAULT_DIMENSIONS,
            dimension_exponent: DEFAULT_DIMENSION_EXPONENT,
            authors: DEFAULT_AUTHORS,
            author_exponent: DEFAULT_AUTHOR_EXPONENT,
            locality: DEFAULT_LOCALITY,
            locality_window: DEFAULT_LOCALITY_WINDOW,
            title_words: 4..=10,
            body_words: 30..=200,
        }
    }

    /// Checks every field; [`Generator::new`] calls it.
    pub fn validate(&self) -> Result<(), SyntheticError> {
        if u32::try_from(self.artifacts).is_err() {
            return Err(SyntheticError::TooManyArtifacts(self.artifacts));
        }
        for (field, count) in [
            ("vocabulary_size", self.vocabulary_size),
            ("dimensions", self.dimensions),
            ("authors", self.authors),
            ("locality_window", self.locality_window),
        ] {
            if count == 0 {
                return Err(SyntheticError::Empty { field });
            }
        }
        let rate = self.relationships_per_artifact;
        if !(0.0..=MAX_RELATIONSHIPS_PER_ARTIFACT as f64).contains(&rate) {
            return Err(SyntheticError::OutOfRange {
                field: "relationships_per_artifact",
                value: rate,
                expected: "a number from 0 to 32",
            });
        }
        for (field, exponent) in [
            ("word_exponent", self.word_exponent),
            ("dimension_exponent", self.dimension_exponent),
            ("author_exponent", self.author_exponent),
        ] {
            if !(0.0..=10.0).contains(&exponent) {
                return Err(SyntheticError::OutOfRange {
                    field,
                    value: exponent,
                    expected: "a number from 0 to 10",
                });
            }
        }
        if !(0.0..=1.0).contains(&self.locality) {
            return Err(SyntheticError::OutOfRange {
                field: "locality",
                value: self.locality,
                expected: "a number from 0 to 1",
            });
        }
        for (field, range) in [
            ("title_words", &self.title_words),
            ("body_words", &self.body_words),
        ] {
            if range.is_empty() || *range.start() == 0 {
                return Err(SyntheticError::InvalidRange { field });
            }
        }
        Ok(())
    }
}

/// A dimension tag of a synthetic artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticDimension {
    /// Zipf rank of the name: its index in [`Generator::dimension_names`] (0 is the most used).
    pub rank: usize,
    /// The name, already normalised (lower case, no surrounding space).
    pub name: String,
    /// Weight in `[0, 1]`, with two decimals.
    pub weight: f64,
}

/// A relationship between two synthetic artifacts, by index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticRelationship {
    /// Index of the artifact it starts at (the artifact that carries it).
    pub source: usize,
    /// Index of the artifact it points to; always smaller than `source`.
    pub target: usize,
    /// How the source relates to the target.
    pub kind: RelationshipKind,
    /// Strength in `(0, 1]`, with two decimals.
    pub weight: f64,
}

/// One generated artifact with its tags and the relationships it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticArtifact {
    /// Position in the generated sequence, from 0.
    pub index: usize,
    /// What it is.
    pub kind: ArtifactKind,
    /// Title of 4 to 10 words (by default).
    pub title: String,
    /// Markdown body of 30 to 200 words (by default), in sentences and paragraphs.
    pub body: String,
    /// Author name, from the generator's pool.
    pub author: String,
    /// 1 to 5 tags with distinct names, ordered by name.
    pub dimensions: Vec<SyntheticDimension>,
    /// Relationships from this artifact to earlier ones, with distinct targets.
    pub relationships: Vec<SyntheticRelationship>,
}

/// A seeded, deterministic stream of synthetic artifacts; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Generator {
    config: GeneratorConfig,
    base: ChaCha8Rng,
    vocabulary: Vec<String>,
    dimension_names: Vec<String>,
    authors: Vec<String>,
    word_zipf: Zipf<f64>,
    dimension_zipf: Zipf<f64>,
    author_zipf: Zipf<f64>,
    relationship_count: Option<Poisson<f64>>,
    /// Index of the next artifact to generate.
    next_index: usize,
    /// An artifact generated but not yet handed out (see [`Generator::next_batch`]).
    pending: Option<SyntheticArtifact>,
    /// Each earlier artifact once, plus once per relationship pointing at it: a uniform pick is a
    /// pick proportional to in-degree + 1.
    attachment: Vec<u32>,
    /// Kinds of the artifacts generated so far, by index.
    kinds: Vec<ArtifactKind>,
}

impl Generator {
    /// Validates `config` and prepares the vocabulary, dimension names and authors.
    pub fn new(config: GeneratorConfig) -> Result<Self, SyntheticError> {
        config.validate()?;
        let base = ChaCha8Rng::seed_from_u64(config.seed);
        let vocabulary = {
            let mut rng = stream(&base, STREAM_VOCABULARY | VOCABULARY_WORDS);
            let mut words = distinct_words(&mut rng, config.vocabulary_size, word);
            // Frequent words are short: sort by length, keeping generation order among equals.
            words.sort_by_key(String::len);
            words
        };
        let dimension_names = {
            let mut rng = stream(&base, STREAM_VOCABULARY | VOCABULARY_DIMENSIONS);
            distinct_words(&mut rng, config.dimensions, |rng| {
                format!("{}-{}", word(rng), word(rng))
            })
        };
        let authors = {
            let mut rng = stream(&base, STREAM_VOCABULARY | VOCABULARY_AUTHORS);
            distinct_words(&mut rng, config.authors, |rng| {
                format!("{} {}", capitalised(&word(rng)), capitalised(&word(rng)))
            })
        };
        let zipf = |n: usize, s: f64, field: &'static str| {
            Zipf::new(n as f64, s).map_err(|_| SyntheticError::OutOfRange {
                field,
                value: s,
                expected: "a Zipf exponent of 0 or more",
            })
        };
        let relationship_count = if config.relationships_per_artifact > 0.0 {
            Some(
                Poisson::new(config.relationships_per_artifact).map_err(|_| {
                    SyntheticError::OutOfRange {
                        field: "relationships_per_artifact",
                        value: config.relationships_per_artifact,
                        expected: "a number from 0 to 32",
                    }
                })?,
            )
        } else {
            None
        };
        Ok(Self {
            word_zipf: zipf(
                config.vocabulary_size,
                config.word_exponent,
                "word_exponent",
            )?,
            dimension_zipf: zipf(
                config.dimensions,
                config.dimension_exponent,
                "dimension_exponent",
            )?,
            author_zipf: zipf(config.authors, config.author_exponent, "author_exponent")?,
            relationship_count,
            attachment: Vec::with_capacity(config.artifacts.saturating_mul(4)),
            kinds: Vec::with_capacity(config.artifacts),
            next_index: 0,
            pending: None,
            vocabulary,
            dimension_names,
            authors,
            base,
            config,
        })
    }

    /// The vocabulary by Zipf rank: index 0 is the most frequent word. Useful to pick frequent or
    /// rare query terms.
    pub fn vocabulary(&self) -> &[String] {
        &self.vocabulary
    }

    /// The dimension names by Zipf rank: index 0 is the most used.
    pub fn dimension_names(&self) -> &[String] {
        &self.dimension_names
    }

    /// The author pool by Zipf rank: index 0 is the most active.
    #[cfg(test)]
    pub fn authors(&self) -> &[String] {
        &self.authors
    }

    /// How many artifacts have been handed out so far.
    pub fn yielded(&self) -> usize {
        self.next_index - usize::from(self.pending.is_some())
    }

    /// How many artifacts are still to come.
    pub fn remaining(&self) -> usize {
        self.config.artifacts - self.yielded()
    }

    /// True once every artifact has been handed out.
    #[cfg(test)]
    pub fn is_done(&self) -> bool {
        self.remaining() == 0
    }

    /// The next up to `max_artifacts` artifacts (empty once done).
    #[cfg(test)]
    pub fn next_chunk(&mut self, max_artifacts: usize) -> Vec<SyntheticArtifact> {
        self.by_ref().take(max_artifacts).collect()
    }

    /// The next artifacts, as many as fit within `max_artifacts` and, counting the relationships
    /// they start, `max_relationships`; at least one artifact unless done (even if it alone
    /// starts more than `max_relationships`, which cannot happen when `max_relationships` is at
    /// least [`MAX_RELATIONSHIPS_PER_ARTIFACT`]). Use it to respect the batch endpoint's limits.
    pub fn next_batch(
        &mut self,
        max_artifacts: usize,
        max_relationships: usize,
    ) -> Vec<SyntheticArtifact> {
        let mut chunk: Vec<SyntheticArtifact> = Vec::new();
        let mut relationships = 0;
        while chunk.len() < max_artifacts {
            let Some(artifact) = self.next() else { break };
            let total = relationships + artifact.relationships.len();
            if !chunk.is_empty() && total > max_relationships {
                self.pending = Some(artifact);
                break;
            }
            relationships = total;
            chunk.push(artifact);
        }
        chunk
    }

    /// Generates artifact `self.next_index` and records it in the graph state.
    fn generate(&mut self) -> SyntheticArtifact {
        let index = self.next_index;
        let mut rng = stream(&self.base, STREAM_CONTENT | index as u64);
        let kind = pick(&mut rng, ARTIFACT_KIND_WEIGHTS);
        let title_length = rng.random_range(self.config.title_words.clone());
        let title = self.title(&mut rng, title_length);
        let body_length = rng.random_range(self.config.body_words.clone());
        let body = self.body(&mut rng, body_length);
        let author = self.authors[rank(&self.author_zipf, &mut rng, self.authors.len())].clone();
        let dimensions = self.tags(&mut rng);
        let mut edge_rng = stream(&self.base, STREAM_EDGES | index as u64);
        let relationships = self.relationships(&mut edge_rng, index, kind);
        for relationship in &relationships {
            self.attachment.push(relationship.target as u32);
        }
        self.attachment.push(index as u32);
        self.kinds.push(kind);
        self.next_index += 1;
        SyntheticArtifact {
            index,
            kind,
            title,
            body,
            author,
            dimensions,
            relationships,
        }
    }

    fn random_word(&self, rng: &mut ChaCha8Rng) -> &str {
        &self.vocabulary[rank(&self.word_zipf, rng, self.vocabulary.len())]
    }

    fn title(&self, rng: &mut ChaCha8Rng, words: usize) -> String {
        let mut title = String::with_capacity(words * 8);
        for position in 0..words {
            let word = self.random_word(rng);
            if position == 0 {
                push_capitalised(&mut title, word);
            } else {
                title.push(' ');
                title.push_str(word);
            }
        }
        title
    }

    /// Sentences of 5 to 18 words, in paragraphs of 2 to 5 sentences.
    fn body(&self, rng: &mut ChaCha8Rng, words: usize) -> String {
        let mut body = String::with_capacity(words * 8);
        let mut left = words;
        let mut sentences_left_in_paragraph = rng.random_range(2..=5);
        while left > 0 {
            let sentence = rng.random_range(5..=18).min(left);
            if !body.is_empty() {
                if sentences_left_in_paragraph == 0 {
                    body.push_str("\n\n");
                    sentences_left_in_paragraph = rng.random_range(2..=5);
                } else {
                    body.push(' ');
                }
            }
            for position in 0..sentence {
                let word = self.random_word(rng);
                if position == 0 {
                    push_capitalised(&mut body, word);
                } else {
                    body.push(' ');
                    body.push_str(word);
                }
            }
            body.push('.');
            left -= sentence;
            sentences_left_in_paragraph -= 1;
        }
        body
    }

    /// 1 to 5 distinct tags (fewer more likely: `P(k) ∝ 1/k`), ordered by name.
    fn tags(&self, rng: &mut ChaCha8Rng) -> Vec<SyntheticDimension> {
        const COUNT_WEIGHTS: &[(usize, u32)] = &[(1, 60), (2, 30), (3, 20), (4, 15), (5, 12)];
        let wanted = pick(rng, COUNT_WEIGHTS)
            .min(MAX_GENERATED_DIMENSIONS)
            .min(self.dimension_names.len());
        let mut ranks: Vec<usize> = Vec::with_capacity(wanted);
        for _ in 0..wanted * 16 {
            if ranks.len() == wanted {
                break;
            }
            let picked = rank(&self.dimension_zipf, rng, self.dimension_names.len());
            if !ranks.contains(&picked) {
                ranks.push(picked);
            }
        }
        let mut tags: Vec<SyntheticDimension> = ranks
            .into_iter()
            .map(|rank| SyntheticDimension {
                rank,
                name: self.dimension_names[rank].clone(),
                weight: f64::from(rng.random_range(0..=100u32)) / 100.0,
            })
            .collect();
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        tags
    }

    /// The relationships artifact `index` starts, to distinct earlier artifacts.
    fn relationships(
        &self,
        rng: &mut ChaCha8Rng,
        index: usize,
        source_kind: ArtifactKind,
    ) -> Vec<SyntheticRelationship> {
        let Some(count) = &self.relationship_count else {
            return Vec::new();
        };
        let wanted = (count.sample(rng) as usize)
            .min(MAX_RELATIONSHIPS_PER_ARTIFACT)
            .min(index);
        let mut targets: Vec<usize> = Vec::with_capacity(wanted);
        // Few attempts are wasted on repeats, except for the very first artifacts.
        for _ in 0..wanted * 8 + 8 {
            if targets.len() == wanted {
                break;
            }
            let target = if rng.random::<f64>() < self.config.locality {
                let window = self.config.locality_window.min(index);
                // Squaring skews towards the most recent artifacts.
                let offset = (rng.random::<f64>().powi(2) * window as f64) as usize;
                index - 1 - offset.min(window - 1)
            } else {
                self.attachment[rng.random_range(0..self.attachment.len())] as usize
            };
            if target < index && !targets.contains(&target) {
                targets.push(target);
            }
        }
        targets
            .into_iter()
            .map(|target| {
                let table = match (source_kind, self.kinds[target]) {
                    (_, ArtifactKind::Question) => TO_QUESTION,
                    (ArtifactKind::Evidence, ArtifactKind::Claim) => EVIDENCE_TO_CLAIM,
                    (_, ArtifactKind::Claim) => TO_CLAIM,
                    _ => GENERAL,
                };
                SyntheticRelationship {
                    source: index,
                    target,
                    kind: pick(rng, table),
                    weight: f64::from(rng.random_range(1..=100u32)) / 100.0,
                }
            })
            .collect()
    }
}

impl Iterator for Generator {
    type Item = SyntheticArtifact;

    fn next(&mut self) -> Option<SyntheticArtifact> {
        if let Some(artifact) = self.pending.take() {
            return Some(artifact);
        }
        if self.next_index >= self.config.artifacts {
            return None;
        }
        Some(self.generate())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

impl ExactSizeIterator for Generator {}

/// The key of artifact `index` in a batch request: `a{index}`.
pub fn artifact_key(index: usize) -> String {
    format!("a{index}")
}

/// Body of `POST /api/v1/convergences/{slug}/batch` for a chunk of synthetic artifacts; serialize
/// it with `serde_json` (or `reqwest`'s `.json(..)`). Built by [`batch_request`].
#[derive(Debug, Clone, Serialize)]
pub struct BatchRequestBody<'a> {
    /// The artifacts, in chunk order, keyed by [`artifact_key`].
    pub artifacts: Vec<BatchArtifactBody<'a>>,
    /// Every relationship the chunk's artifacts start.
    pub relationships: Vec<BatchRelationshipBody>,
}

/// An artifact of a [`BatchRequestBody`].
#[derive(Debug, Clone, Serialize)]
pub struct BatchArtifactBody<'a> {
    /// [`artifact_key`] of its index.
    pub key: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// Its title.
    pub title: &'a str,
    /// Its body.
    pub body: &'a str,
    /// Its author.
    pub author: &'a str,
    /// Its tags, serialized as a `{"name": weight}` object.
    pub dimensions: DimensionMap<'a>,
}

/// Tags serialized as a JSON object from name to weight.
#[derive(Debug, Clone, Copy)]
pub struct DimensionMap<'a>(pub &'a [SyntheticDimension]);

impl Serialize for DimensionMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for tag in self.0 {
            map.serialize_entry(&tag.name, &tag.weight)?;
        }
        map.end()
    }
}

/// A relationship of a [`BatchRequestBody`].
#[derive(Debug, Clone, Serialize)]
pub struct BatchRelationshipBody {
    /// The source's key (the source is always in the chunk).
    pub source: String,
    /// The target's key when it is in the chunk, else the id of the created artifact.
    pub target: String,
    /// How the source relates to the target.
    pub kind: RelationshipKind,
    /// Strength in `(0, 1]`.
    pub weight: f64,
}

/// Builds the batch request for `chunk`. A relationship whose target is in `chunk` refers to it
/// by [`artifact_key`]; any other target is looked up with `created` (the id an earlier batch gave
/// artifact `index`). The response's `artifacts[k].id` is then the id of `chunk[k]`.
pub fn batch_request<F>(
    chunk: &[SyntheticArtifact],
    created: F,
) -> Result<BatchRequestBody<'_>, SyntheticError>
where
    F: Fn(usize) -> Option<Uuid>,
{
    let in_chunk: HashSet<usize> = chunk.iter().map(|a| a.index).collect();
    let artifacts = chunk
        .iter()
        .map(|a| BatchArtifactBody {
            key: artifact_key(a.index),
            kind: a.kind,
            title: &a.title,
            body: &a.body,
            author: &a.author,
            dimensions: DimensionMap(&a.dimensions),
        })
        .collect();
    let relationships = chunk
        .iter()
        .flat_map(|a| &a.relationships)
        .map(|r| {
            let target = if in_chunk.contains(&r.target) {
                artifact_key(r.target)
            } else {
                created(r.target)
                    .ok_or(SyntheticError::UnresolvedTarget {
                        from: r.source,
                        to: r.target,
                    })?
                    .to_string()
            };
            Ok(BatchRelationshipBody {
                source: artifact_key(r.source),
                target,
                kind: r.kind,
                weight: r.weight,
            })
        })
        .collect::<Result<_, SyntheticError>>()?;
    Ok(BatchRequestBody {
        artifacts,
        relationships,
    })
}

/// The ChaCha8 stream `number` of the seeded `base` generator.
fn stream(base: &ChaCha8Rng, number: u64) -> ChaCha8Rng {
    let mut rng = base.clone();
    rng.set_stream(number);
    rng
}

/// A 0-based Zipf rank below `n`.
fn rank(zipf: &Zipf<f64>, rng: &mut ChaCha8Rng, n: usize) -> usize {
    (zipf.sample(rng) as usize).saturating_sub(1).min(n - 1)
}

/// Picks from a weighted table with one integer draw (no float rounding involved).
fn pick<T: Copy>(rng: &mut ChaCha8Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, weight)| weight).sum();
    let mut draw = rng.random_range(0..total);
    for (item, weight) in table {
        if draw < *weight {
            return *item;
        }
        draw -= weight;
    }
    // Unreachable: `draw < total`. Fall back to the first entry rather than panic.
    table[0].0
}

/// A pseudo-word of 1 to 4 syllables.
fn word(rng: &mut ChaCha8Rng) -> String {
    let syllables = pick(rng, SYLLABLE_WEIGHTS);
    let mut word = String::with_capacity(syllables * 4);
    for _ in 0..syllables {
        push_syllable(rng, &mut word);
    }
    word
}

fn push_syllable(rng: &mut ChaCha8Rng, word: &mut String) {
    word.push_str(ONSETS[rng.random_range(0..ONSETS.len())]);
    word.push_str(VOWELS[rng.random_range(0..VOWELS.len())]);
    word.push_str(CODAS[rng.random_range(0..CODAS.len())]);
}

/// `count` distinct strings from `make`; a repeat gets one more syllable until it is new.
fn distinct_words<F>(rng: &mut ChaCha8Rng, count: usize, make: F) -> Vec<String>
where
    F: Fn(&mut ChaCha8Rng) -> String,
{
    let mut seen: HashSet<String> = HashSet::with_capacity(count);
    let mut words = Vec::with_capacity(count);
    while words.len() < count {
        let mut candidate = make(rng);
        while seen.contains(&candidate) {
            push_syllable(rng, &mut candidate);
        }
        seen.insert(candidate.clone());
        words.push(candidate);
    }
    words
}

fn capitalised(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    push_capitalised(&mut out, word);
    out
}

fn push_capitalised(out: &mut String, word: &str) {
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// How often each word occurs in the titles and bodies of `artifacts` (a test helper).
#[cfg(test)]
pub fn word_frequencies<'a>(
    artifacts: impl IntoIterator<Item = &'a SyntheticArtifact>,
) -> std::collections::HashMap<String, usize> {
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for artifact in artifacts {
        let text = [artifact.title.as_str(), artifact.body.as_str()];
        for word in text.iter().flat_map(|t| t.split_whitespace()) {
            let word = word.trim_end_matches('.').to_lowercase();
            *counts.entry(word).or_default() += 1;
        }
    }
    counts
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use kgnode::domain::{DimensionName, Dimensions, EdgeWeight};

    fn small(seed: u64, artifacts: usize) -> GeneratorConfig {
        GeneratorConfig {
            vocabulary_size: 5_000,
            ..GeneratorConfig::new(seed, artifacts)
        }
    }

    fn all(config: GeneratorConfig) -> Vec<SyntheticArtifact> {
        Generator::new(config).expect("valid config").collect()
    }

    #[test]
    fn same_seed_same_output_whatever_the_chunking() {
        let whole = all(small(7, 3_000));
        assert_eq!(whole.len(), 3_000);
        assert_eq!(whole, all(small(7, 3_000)));

        let mut chunked = Generator::new(small(7, 3_000)).unwrap();
        let mut pieces = Vec::new();
        for size in [1, 7, 500, 999, 10_000].into_iter().cycle() {
            if chunked.is_done() {
                break;
            }
            pieces.extend(chunked.next_chunk(size));
        }
        assert_eq!(whole, pieces);

        let mut batched = Generator::new(small(7, 3_000)).unwrap();
        let mut pieces = Vec::new();
        loop {
            let batch = batched.next_batch(1_000, 200);
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() <= 1_000);
            let relationships: usize = batch.iter().map(|a| a.relationships.len()).sum();
            assert!(relationships <= 200);
            pieces.extend(batch);
        }
        assert_eq!(whole, pieces);
        assert!(batched.is_done());
    }

    #[test]
    fn different_seeds_differ() {
        let a = all(small(1, 200));
        let b = all(small(2, 200));
        let same = a.iter().zip(&b).filter(|(x, y)| x.title == y.title).count();
        assert!(same < 5, "{same} equal titles");
        assert_ne!(
            Generator::new(small(1, 0)).unwrap().vocabulary(),
            Generator::new(small(2, 0)).unwrap().vocabulary()
        );
    }

    #[test]
    fn a_prefix_of_a_longer_run_is_the_shorter_run() {
        let long = all(small(3, 1_000));
        assert_eq!(all(small(3, 400)), long[..400]);
    }

    #[test]
    fn relationships_point_backwards_without_loops_or_duplicates() {
        let artifacts = all(small(11, 5_000));
        let mut edges = HashSet::new();
        for (position, artifact) in artifacts.iter().enumerate() {
            assert_eq!(artifact.index, position);
            let mut targets = HashSet::new();
            for r in &artifact.relationships {
                assert_eq!(r.source, artifact.index);
                assert!(r.target < r.source, "{r:?}");
                assert!(targets.insert(r.target), "repeated target {r:?}");
                assert!(edges.insert((r.source, r.target, r.kind)));
                assert!(EdgeWeight::try_from(r.weight).is_ok(), "{r:?}");
                assert_eq!((r.weight * 100.0).round() / 100.0, r.weight);
                if r.kind == RelationshipKind::Answers {
                    assert_eq!(artifacts[r.target].kind, ArtifactKind::Question);
                }
            }
        }
        assert!(artifacts[0].relationships.is_empty());
    }

    #[test]
    fn average_relationships_per_artifact_is_near_the_configured_mean() {
        for mean in [3.0, 1.5] {
            let config = GeneratorConfig {
                relationships_per_artifact: mean,
                ..small(5, 20_000)
            };
            let artifacts = all(config);
            let total: usize = artifacts.iter().map(|a| a.relationships.len()).sum();
            let average = total as f64 / artifacts.len() as f64;
            assert!(
                (average - mean).abs() < 0.05 * mean,
                "mean {mean}, got {average}"
            );
        }
        let none = GeneratorConfig {
            relationships_per_artifact: 0.0,
            ..small(5, 100)
        };
        assert!(all(none).iter().all(|a| a.relationships.is_empty()));
    }

    #[test]
    fn preferential_attachment_makes_hubs() {
        let artifacts = all(small(13, 20_000));
        let mut in_degree = vec![0usize; artifacts.len()];
        for r in artifacts.iter().flat_map(|a| &a.relationships) {
            in_degree[r.target] += 1;
        }
        let mean = in_degree.iter().sum::<usize>() as f64 / in_degree.len() as f64;
        let max = in_degree.iter().copied().max().unwrap_or(0);
        assert!(max as f64 > 20.0 * mean, "max in-degree {max}, mean {mean}");
    }

    #[test]
    fn word_frequencies_follow_zipf() {
        let generator = Generator::new(small(17, 2_000)).unwrap();
        let top_word = generator.vocabulary()[0].clone();
        let artifacts: Vec<_> = generator.collect();
        let counts = word_frequencies(&artifacts);
        let mut sorted: Vec<usize> = counts.values().copied().collect();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        let max = *sorted.last().unwrap();
        assert!(max > 100 * median, "max {max}, median {median}");
        assert_eq!(counts[&top_word], max);
    }

    #[test]
    fn text_kinds_tags_and_authors_are_within_bounds() {
        let generator = Generator::new(small(19, 3_000)).unwrap();
        let authors: HashSet<String> = generator.authors().iter().cloned().collect();
        let artifacts: Vec<_> = generator.collect();
        let mut kinds: HashMap<ArtifactKind, usize> = HashMap::new();
        let mut dimension_uses: HashMap<usize, usize> = HashMap::new();
        for a in &artifacts {
            *kinds.entry(a.kind).or_default() += 1;
            let title_words = a.title.split_whitespace().count();
            assert!((4..=10).contains(&title_words), "{}", a.title);
            let body_words = a.body.split_whitespace().count();
            assert!((30..=200).contains(&body_words), "{body_words}");
            assert!(a.title.chars().next().is_some_and(char::is_uppercase));
            assert!(a.body.ends_with('.'));
            assert!(authors.contains(&a.author));
            assert!((1..=5).contains(&a.dimensions.len()));
            let names: Vec<&str> = a.dimensions.iter().map(|d| d.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(names, sorted, "tags must be distinct and ordered by name");
            for tag in &a.dimensions {
                assert!((0.0..=1.0).contains(&tag.weight));
                assert_eq!((tag.weight * 100.0).round() / 100.0, tag.weight);
                *dimension_uses.entry(tag.rank).or_default() += 1;
            }
        }
        assert_eq!(kinds.len(), ArtifactKind::ALL.len());
        assert!(kinds[&ArtifactKind::Idea] > 2 * kinds[&ArtifactKind::Decision]);
        let top = dimension_uses.get(&0).copied().unwrap_or(0);
        let tail = dimension_uses.get(&150).copied().unwrap_or(0);
        assert!(top > 10 * tail.max(1), "top {top}, rank 150 {tail}");
    }

    #[test]
    fn names_are_distinct_and_valid() {
        let generator = Generator::new(GeneratorConfig::new(23, 0)).unwrap();
        let words: HashSet<&String> = generator.vocabulary().iter().collect();
        assert_eq!(words.len(), DEFAULT_VOCABULARY_SIZE);
        assert!(
            generator
                .vocabulary()
                .iter()
                .all(|w| { !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()) })
        );
        let lengths: Vec<usize> = generator.vocabulary().iter().map(String::len).collect();
        assert!(lengths.windows(2).all(|w| w[0] <= w[1]));
        let dimensions: HashSet<&String> = generator.dimension_names().iter().collect();
        assert_eq!(dimensions.len(), DEFAULT_DIMENSIONS);
        for name in generator.dimension_names() {
            let parsed = DimensionName::try_from(name.clone()).unwrap();
            assert_eq!(parsed.as_str(), name);
        }
        let authors: HashSet<&String> = generator.authors().iter().collect();
        assert_eq!(authors.len(), DEFAULT_AUTHORS);
    }

    #[test]
    fn batch_request_uses_keys_inside_the_chunk_and_ids_before_it() {
        let mut generator = Generator::new(small(29, 2_000)).unwrap();
        let first = generator.next_chunk(1_000);
        let ids: Vec<Uuid> = first.iter().map(|_| Uuid::now_v7()).collect();
        let second = generator.next_chunk(1_000);
        let body = batch_request(&second, |index| ids.get(index).copied()).unwrap();
        let json = serde_json::to_value(&body).unwrap();

        let artifacts = json["artifacts"].as_array().unwrap();
        assert_eq!(artifacts.len(), second.len());
        assert_eq!(artifacts[0]["key"], "a1000");
        assert_eq!(artifacts[0]["title"], second[0].title.as_str());
        for (item, artifact) in artifacts.iter().zip(&second) {
            assert_eq!(item["kind"], artifact.kind.as_str());
            let tags: Dimensions = serde_json::from_value(item["dimensions"].clone()).unwrap();
            assert_eq!(tags.len(), artifact.dimensions.len());
        }
        let relationships = json["relationships"].as_array().unwrap();
        let expected: usize = second.iter().map(|a| a.relationships.len()).sum();
        assert_eq!(relationships.len(), expected);
        let (mut by_key, mut by_id) = (0, 0);
        for (item, r) in relationships
            .iter()
            .zip(second.iter().flat_map(|a| &a.relationships))
        {
            assert_eq!(item["source"], artifact_key(r.source));
            assert_eq!(item["kind"], r.kind.as_str());
            let target = item["target"].as_str().unwrap();
            if r.target >= 1_000 {
                assert_eq!(target, artifact_key(r.target));
                by_key += 1;
            } else {
                assert_eq!(target, ids[r.target].to_string());
                by_id += 1;
            }
        }
        assert!(by_key > 0 && by_id > 0, "{by_key} keys, {by_id} ids");

        let missing = batch_request(&second, |_| None).unwrap_err();
        assert!(matches!(missing, SyntheticError::UnresolvedTarget { .. }));
    }

    #[test]
    fn invalid_configurations_are_rejected() {
        let base = GeneratorConfig::new(1, 10);
        let cases = [
            GeneratorConfig {
                vocabulary_size: 0,
                ..base.clone()
            },
            GeneratorConfig {
                dimensions: 0,
                ..base.clone()
            },
            GeneratorConfig {
                authors: 0,
                ..base.clone()
            },
            GeneratorConfig {
                relationships_per_artifact: -1.0,
                ..base.clone()
            },
            GeneratorConfig {
                relationships_per_artifact: f64::NAN,
                ..base.clone()
            },
            GeneratorConfig {
                word_exponent: -0.5,
                ..base.clone()
            },
            GeneratorConfig {
                locality: 1.5,
                ..base.clone()
            },
            GeneratorConfig {
                title_words: 0..=3,
                ..base.clone()
            },
            GeneratorConfig {
                body_words: RangeInclusive::new(9, 3),
                ..base.clone()
            },
        ];
        for config in cases {
            assert!(Generator::new(config.clone()).is_err(), "{config:?}");
        }
        assert!(Generator::new(base).is_ok());
    }
}
