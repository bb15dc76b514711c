//! The search workload: query types, term and phrase picks.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::synthetic::SyntheticArtifact;
use kgnode::domain::ArtifactKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio_postgres::Client;

use crate::common::BenchError;

/// Zipf ranks (in the generator's vocabulary) of the frequent query terms. With the default
/// vocabulary, rank 10 is in about 60% of the artifacts and rank 199 in about 5%.
pub(crate) const FREQUENT_RANKS: Range<usize> = 10..200;

/// Zipf ranks of the mid-frequency query terms: from about 5% of the artifacts down to about
/// 0.2%.
pub(crate) const MID_RANKS: Range<usize> = 200..5_000;

/// Dimension filters use one of this many most used names (with the default generator, the
/// most used name tags about a third of the artifacts, the 20th about 2%).
pub(crate) const FILTER_DIMENSIONS: usize = 20;

/// ChaCha stream of the query workload; the generator's streams have top bytes 0 to 2.
pub(crate) const WORKLOAD_STREAM: u64 = 0xFF << 56;

/// ChaCha stream of the phrase picks.
pub(crate) const PHRASE_STREAM: u64 = 0xFE << 56;

/// The kinds of queries compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum QueryType {
    /// One word.
    SingleTerm,
    /// Two or three words, all required.
    MultiTerm,
    /// Two adjacent words.
    Phrase,
    /// One word, a kind filter and a dimension filter, with facet counts.
    FilteredFaceted,
}

impl QueryType {
    pub(crate) const ALL: [QueryType; 4] = [
        QueryType::SingleTerm,
        QueryType::MultiTerm,
        QueryType::Phrase,
        QueryType::FilteredFaceted,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            QueryType::SingleTerm => "single term",
            QueryType::MultiTerm => "multi-term (AND)",
            QueryType::Phrase => "phrase (2 words)",
            QueryType::FilteredFaceted => "term+kind+dimension+facets",
        }
    }
}

/// One query of the workload, in both sides' terms.
#[derive(Debug, Clone)]
pub(crate) struct BenchQuery {
    /// The words, separated by spaces: PostgreSQL's input.
    pub(crate) words: String,
    /// The node's `q`: the words, or the phrase in double quotes.
    pub(crate) q: String,
    /// Kind filter.
    pub(crate) kind: Option<&'static str>,
    /// Dimension filter.
    pub(crate) dimension: Option<String>,
    /// Whether the node counts facets (as PostgreSQL does for this query type).
    pub(crate) facets: bool,
}

impl BenchQuery {
    pub(crate) fn words(words: String) -> Self {
        Self {
            q: words.clone(),
            words,
            kind: None,
            dimension: None,
            facets: false,
        }
    }

    /// The query for the report: `q`, then its filters.
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("q={}", self.q);
        if let Some(kind) = self.kind {
            text.push_str(&format!(" kind={kind}"));
        }
        if let Some(dimension) = &self.dimension {
            text.push_str(&format!(" dimension={dimension}"));
        }
        text
    }
}

/// The queries of one type: warm-up first, then measured.
pub(crate) struct QuerySet {
    pub(crate) query_type: QueryType,
    pub(crate) warmup: Vec<BenchQuery>,
    pub(crate) measured: Vec<BenchQuery>,
}

/// Picks query terms from the vocabulary; see [`TERM_SELECTION`].
pub(crate) struct TermPicker {
    pub(crate) frequent: Vec<String>,
    pub(crate) mid: Vec<String>,
}

impl TermPicker {
    pub(crate) fn new(
        vocabulary: &[String],
        stop_words: &HashSet<String>,
    ) -> Result<Self, BenchError> {
        let band = |ranks: Range<usize>| -> Vec<String> {
            let end = ranks.end.min(vocabulary.len());
            let start = ranks.start.min(end);
            vocabulary[start..end]
                .iter()
                .filter(|word| !stop_words.contains(*word))
                .cloned()
                .collect()
        };
        let mut frequent = band(FREQUENT_RANKS);
        let mut mid = band(MID_RANKS);
        if frequent.is_empty() && mid.is_empty() {
            // A tiny vocabulary: any word that is not a stop word.
            frequent = band(0..vocabulary.len());
        }
        if frequent.is_empty() {
            frequent = mid.clone();
        } else if mid.is_empty() {
            mid = frequent.clone();
        }
        if frequent.is_empty() {
            return Err(BenchError::NoQueryTerms);
        }
        Ok(Self { frequent, mid })
    }

    pub(crate) fn pick(&self, rng: &mut ChaCha8Rng) -> &str {
        let band = if rng.random_bool(0.5) {
            &self.frequent
        } else {
            &self.mid
        };
        &band[rng.random_range(0..band.len())]
    }

    /// `count` distinct terms (fewer only if the bands hold fewer words).
    pub(crate) fn pick_distinct(&self, rng: &mut ChaCha8Rng, count: usize) -> Vec<String> {
        let mut terms: Vec<String> = Vec::with_capacity(count);
        for _ in 0..count * 16 {
            if terms.len() == count {
                break;
            }
            let term = self.pick(rng);
            if !terms.iter().any(|t| t == term) {
                terms.push(term.to_owned());
            }
        }
        terms
    }
}

/// Collects phrases during the load: for each slot, two adjacent words of one sentence of the
/// body of an artifact drawn uniformly, neither a PostgreSQL stop word.
pub(crate) struct PhraseCollector<'a> {
    /// Slots wanting a phrase from the artifact of each index.
    pub(crate) wanted: HashMap<usize, Vec<usize>>,
    pub(crate) phrases: Vec<Option<String>>,
    pub(crate) stop_words: &'a HashSet<String>,
    pub(crate) rng: ChaCha8Rng,
}

impl<'a> PhraseCollector<'a> {
    pub(crate) fn new(
        seed: u64,
        slots: usize,
        artifacts: usize,
        stop_words: &'a HashSet<String>,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(PHRASE_STREAM);
        let mut wanted: HashMap<usize, Vec<usize>> = HashMap::new();
        for slot in 0..slots {
            wanted
                .entry(rng.random_range(0..artifacts))
                .or_default()
                .push(slot);
        }
        Self {
            wanted,
            phrases: vec![None; slots],
            stop_words,
            rng,
        }
    }

    pub(crate) fn observe(&mut self, artifact: &SyntheticArtifact) {
        let Some(slots) = self.wanted.remove(&artifact.index) else {
            return;
        };
        let pairs = adjacent_pairs(&artifact.body, self.stop_words);
        if pairs.is_empty() {
            return;
        }
        for slot in slots {
            let (first, second) = &pairs[self.rng.random_range(0..pairs.len())];
            if let Some(phrase) = self.phrases.get_mut(slot) {
                *phrase = Some(format!("{first} {second}"));
            }
        }
    }
}

/// Pairs of adjacent words within the sentences of `body`, lower-cased, without stop words.
pub(crate) fn adjacent_pairs(body: &str, stop_words: &HashSet<String>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for sentence in body.split('.') {
        let words: Vec<String> = sentence.split_whitespace().map(str::to_lowercase).collect();
        for pair in words.windows(2) {
            if let [first, second] = pair
                && !stop_words.contains(first)
                && !stop_words.contains(second)
            {
                pairs.push((first.clone(), second.clone()));
            }
        }
    }
    pairs
}

/// Draws the workload: `warmup + measured` queries of each type (phrases as collected).
pub(crate) fn build_workload(
    seed: u64,
    picker: &TermPicker,
    phrases: Vec<Option<String>>,
    dimension_names: &[String],
    warmup: usize,
    measured: usize,
) -> Vec<QuerySet> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(WORKLOAD_STREAM);
    let dimensions = 0..FILTER_DIMENSIONS.min(dimension_names.len());
    let total = warmup + measured;
    let mut sets = Vec::new();
    for query_type in QueryType::ALL {
        let mut queries: Vec<BenchQuery> = match query_type {
            QueryType::SingleTerm => (0..total)
                .map(|_| BenchQuery::words(picker.pick(&mut rng).to_owned()))
                .collect(),
            QueryType::MultiTerm => (0..total)
                .map(|_| {
                    let count = rng.random_range(2..=3);
                    BenchQuery::words(picker.pick_distinct(&mut rng, count).join(" "))
                })
                .collect(),
            QueryType::Phrase => phrases
                .iter()
                .flatten()
                .map(|phrase| BenchQuery {
                    q: format!("\"{phrase}\""),
                    ..BenchQuery::words(phrase.clone())
                })
                .collect(),
            QueryType::FilteredFaceted => (0..total)
                .map(|_| {
                    let term = picker.pick(&mut rng).to_owned();
                    let kind = ArtifactKind::ALL
                        .get(rng.random_range(0..ArtifactKind::ALL.len()))
                        .map(|kind| kind.as_str());
                    let dimension = if dimensions.is_empty() {
                        None
                    } else {
                        dimension_names
                            .get(rng.random_range(dimensions.clone()))
                            .cloned()
                    };
                    BenchQuery {
                        kind,
                        dimension,
                        facets: true,
                        ..BenchQuery::words(term)
                    }
                })
                .collect(),
        };
        let measured_queries = queries.split_off(warmup.min(queries.len()));
        sets.push(QuerySet {
            query_type,
            warmup: queries,
            measured: measured_queries,
        });
    }
    sets
}

/// The PostgreSQL English stop words among `words` (`to_tsvector` drops them).
pub(crate) async fn stop_words(
    client: &Client,
    words: &[String],
) -> Result<HashSet<String>, BenchError> {
    let rows = client
        .query(
            "SELECT w FROM unnest($1::text[]) AS w WHERE length(to_tsvector('english', w)) = 0",
            &[&words],
        )
        .await?;
    rows.iter()
        .map(|row| row.try_get::<_, String>(0).map_err(BenchError::from))
        .collect()
}
