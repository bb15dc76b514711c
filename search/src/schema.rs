//! The tantivy schema, the text analyzer, and conversions between [`SearchDocument`] and
//! tantivy documents.
//!
//! | field | type | options | use |
//! |---|---|---|---|
//! | `id` | text, raw | indexed, stored | `delete_term` on upsert and delete, lookups |
//! | `id_hi`, `id_lo` | u64 | fast | tie-break of equal scores, [`all_versions`](crate::SearchIndex::all_versions) |
//! | `convergence` | text, raw | indexed, fast, stored | access filter |
//! | `convergence_slug` | text | stored | returned with hits |
//! | `public` | bool | indexed, fast, stored | access filter |
//! | `kind` | text, raw | indexed, fast, stored | filter, facet |
//! | `title` | text, analyzer `kg_<language>` | positions, stored | query (boost 3), snippet fallback |
//! | `body` | text, analyzer `kg_<language>` | positions, stored | query, snippet |
//! | `title_pairs`, `body_pairs` | text, analyzer `kg_<language>_pairs` | positions | phrases (see the `pairs` module) |
//! | `dimension` | text, raw, multi-valued | indexed, fast, stored | filter, facet |
//! | `dimension_weight` | f64, multi-valued | stored | weights, parallel to `dimension` |
//! | `dimension_key` | u64, multi-valued | fast | weight of a dimension for ranking |
//! | `version` | i64 | fast, stored | verification |
//! | `created_at`, `updated_at` | date (µs) | indexed, fast, stored | stored for callers |
//!
//! A tantivy fast field holds one column per field, not per dimension name, so the weight of a
//! dimension cannot have a column of its own. Instead `dimension_key` packs, for each tag, the
//! top 48 bits of the FNV-1a hash of the name with the weight quantised to 1/10,000 in the low
//! 16 bits. Ranking finds a requested dimension's weight by comparing hashes (a collision among
//! a node's few hundred names has a probability around 10⁻¹⁰).

use chrono::{DateTime, Utc};
use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, IndexRecordOption, STORED, STRING,
    Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
    TextAnalyzerBuilder, Tokenizer,
};
use tantivy::{Index, TantivyDocument, Term};
use uuid::Uuid;

use crate::document::{SearchDocument, Visibility};
use crate::error::{Error, Result};
use crate::pairs::WordPairs;
use crate::settings::language_name;

pub(crate) const ID: &str = "id";
pub(crate) const ID_HI: &str = "id_hi";
pub(crate) const ID_LO: &str = "id_lo";
pub(crate) const CONVERGENCE: &str = "convergence";
pub(crate) const CONVERGENCE_SLUG: &str = "convergence_slug";
pub(crate) const PUBLIC: &str = "public";
pub(crate) const KIND: &str = "kind";
pub(crate) const TITLE: &str = "title";
pub(crate) const BODY: &str = "body";
pub(crate) const TITLE_PAIRS: &str = "title_pairs";
pub(crate) const BODY_PAIRS: &str = "body_pairs";
pub(crate) const DIMENSION: &str = "dimension";
pub(crate) const DIMENSION_WEIGHT: &str = "dimension_weight";
pub(crate) const DIMENSION_KEY: &str = "dimension_key";
pub(crate) const VERSION: &str = "version";
pub(crate) const CREATED_AT: &str = "created_at";
pub(crate) const UPDATED_AT: &str = "updated_at";

/// Tokens longer than this many bytes are dropped (base64 blobs, URLs without separators).
const MAX_TOKEN_BYTES: usize = 40;

/// Quantisation steps of a dimension weight in `dimension_key`.
const WEIGHT_STEPS: f64 = 10_000.0;

/// Handles of the schema's fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub id: Field,
    pub id_hi: Field,
    pub id_lo: Field,
    pub convergence: Field,
    pub convergence_slug: Field,
    pub public: Field,
    pub kind: Field,
    pub title: Field,
    pub body: Field,
    /// Word pairs of the title, when the index has them.
    pub title_pairs: Option<Field>,
    /// Word pairs of the body, when the index has them.
    pub body_pairs: Option<Field>,
    pub dimension: Field,
    pub dimension_weight: Field,
    pub dimension_key: Field,
    pub version: Field,
    pub created_at: Field,
    pub updated_at: Field,
}

/// Name under which the text analyzer of `language` is registered, e.g. `kg_english`.
pub(crate) fn analyzer_name(language: Language) -> String {
    format!("kg_{}", language_name(language))
}

/// Name under which the word-pair analyzer of `language` is registered, e.g. `kg_english_pairs`.
pub(crate) fn pair_analyzer_name(language: Language) -> String {
    format!("{}_pairs", analyzer_name(language))
}

/// Simple tokenizer and long-token removal: the words of a text, numbered by position as
/// every analyzer numbers them.
pub(crate) fn words() -> TextAnalyzerBuilder<impl Tokenizer> {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
}

/// [`words`], lower-cased: the words every analyzer stems.
pub(crate) fn lowercase_words() -> TextAnalyzerBuilder<impl Tokenizer> {
    words().filter(LowerCaser)
}

/// [`lowercase_words`], stemmed.
pub(crate) fn text_analyzer(language: Language) -> TextAnalyzer {
    lowercase_words().filter(Stemmer::new(language)).build()
}

/// [`text_analyzer`]'s words, as pairs of adjacent words.
pub(crate) fn pair_analyzer(language: Language) -> TextAnalyzer {
    lowercase_words()
        .filter(Stemmer::new(language))
        .filter(WordPairs)
        .build()
}

/// Registers the analyzers the schema names ([`text_analyzer`] and [`pair_analyzer`] for
/// `language`) with `index`.
pub(crate) fn register_analyzers(index: &Index, language: Language) {
    index
        .tokenizers()
        .register(&analyzer_name(language), text_analyzer(language));
    index
        .tokenizers()
        .register(&pair_analyzer_name(language), pair_analyzer(language));
}

/// The schema of an index whose text is analyzed in `language`, with word-pair fields when
/// `phrase_pairs`, and its field handles.
pub(crate) fn build_schema(language: Language, phrase_pairs: bool) -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(&analyzer_name(language))
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let pairs = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(&pair_analyzer_name(language))
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let date = DateOptions::default()
        .set_indexed()
        .set_fast()
        .set_stored()
        .set_precision(DateTimePrecision::Microseconds);
    let fields = Fields {
        id: builder.add_text_field(ID, STRING | STORED),
        id_hi: builder.add_u64_field(ID_HI, FAST),
        id_lo: builder.add_u64_field(ID_LO, FAST),
        convergence: builder.add_text_field(CONVERGENCE, STRING | FAST | STORED),
        convergence_slug: builder.add_text_field(CONVERGENCE_SLUG, STORED),
        public: builder.add_bool_field(PUBLIC, INDEXED | FAST | STORED),
        kind: builder.add_text_field(KIND, STRING | FAST | STORED),
        title: builder.add_text_field(TITLE, text.clone()),
        body: builder.add_text_field(BODY, text),
        title_pairs: phrase_pairs.then(|| builder.add_text_field(TITLE_PAIRS, pairs.clone())),
        body_pairs: phrase_pairs.then(|| builder.add_text_field(BODY_PAIRS, pairs)),
        dimension: builder.add_text_field(DIMENSION, STRING | FAST | STORED),
        dimension_weight: builder.add_f64_field(DIMENSION_WEIGHT, STORED),
        dimension_key: builder.add_u64_field(DIMENSION_KEY, FAST),
        version: builder.add_i64_field(VERSION, FAST | STORED),
        created_at: builder.add_date_field(CREATED_AT, date.clone()),
        updated_at: builder.add_date_field(UPDATED_AT, date),
    };
    (builder.build(), fields)
}

/// The term that identifies a document.
pub(crate) fn id_term(fields: &Fields, id: Uuid) -> Term {
    Term::from_field_text(fields.id, &id.hyphenated().to_string())
}

/// The term of a convergence id.
pub(crate) fn convergence_term(fields: &Fields, convergence: Uuid) -> Term {
    Term::from_field_text(fields.convergence, &convergence.hyphenated().to_string())
}

/// Splits an id into the two fast-field halves.
pub(crate) fn id_halves(id: Uuid) -> (u64, u64) {
    let value = id.as_u128();
    ((value >> 64) as u64, value as u64)
}

/// Joins the two fast-field halves of an id.
pub(crate) fn id_from_halves(hi: u64, lo: u64) -> Uuid {
    Uuid::from_u128((u128::from(hi) << 64) | u128::from(lo))
}

/// The top 48 bits of the 64-bit FNV-1a hash of a dimension name, in place (low 16 bits zero).
/// FNV is fixed by its definition, so keys written by one build are read by the next.
pub(crate) fn dimension_hash(name: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = name.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    hash & !0xffff
}

/// Packs a dimension name and weight into one `dimension_key` value.
pub(crate) fn dimension_key(name: &str, weight: f64) -> u64 {
    let clamped = if weight.is_nan() {
        0.0
    } else {
        weight.clamp(0.0, 1.0)
    };
    dimension_hash(name) | (clamped * WEIGHT_STEPS).round() as u64
}

/// The weight packed in a `dimension_key` value if it belongs to the dimension with this hash.
pub(crate) fn weight_in_key(key: u64, hash: u64) -> Option<f32> {
    (key & !0xffff == hash).then(|| ((key & 0xffff) as f64 / WEIGHT_STEPS) as f32)
}

fn to_tantivy_date(time: DateTime<Utc>) -> tantivy::DateTime {
    tantivy::DateTime::from_timestamp_micros(time.timestamp_micros())
}

/// The tantivy document of a search document.
pub(crate) fn to_tantivy(fields: &Fields, document: &SearchDocument) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    let (hi, lo) = id_halves(document.id);
    doc.add_text(fields.id, document.id.hyphenated().to_string());
    doc.add_u64(fields.id_hi, hi);
    doc.add_u64(fields.id_lo, lo);
    doc.add_text(
        fields.convergence,
        document.convergence.hyphenated().to_string(),
    );
    doc.add_text(fields.convergence_slug, &document.convergence_slug);
    doc.add_bool(fields.public, document.visibility == Visibility::Public);
    doc.add_text(fields.kind, &document.kind);
    doc.add_text(fields.title, &document.title);
    doc.add_text(fields.body, &document.body);
    if let (Some(title_pairs), Some(body_pairs)) = (fields.title_pairs, fields.body_pairs) {
        doc.add_text(title_pairs, &document.title);
        doc.add_text(body_pairs, &document.body);
    }
    for (name, weight) in &document.dimensions {
        doc.add_text(fields.dimension, name);
        doc.add_f64(fields.dimension_weight, *weight);
        doc.add_u64(fields.dimension_key, dimension_key(name, *weight));
    }
    doc.add_i64(fields.version, document.version);
    doc.add_date(fields.created_at, to_tantivy_date(document.created_at));
    doc.add_date(fields.updated_at, to_tantivy_date(document.updated_at));
    doc
}

/// Reads a stored text field.
pub(crate) fn stored_text(doc: &TantivyDocument, field: Field) -> Option<&str> {
    doc.get_first(field).and_then(|value| value.as_str())
}

/// Rebuilds a search document from its stored fields.
pub(crate) fn from_tantivy(fields: &Fields, doc: &TantivyDocument) -> Result<SearchDocument> {
    let id = stored_text(doc, fields.id)
        .and_then(|text| Uuid::parse_str(text).ok())
        .ok_or(Error::StoredDocument {
            id: None,
            field: ID,
        })?;
    let missing = |field| Error::StoredDocument {
        id: Some(id),
        field,
    };
    let text = |field, name| {
        stored_text(doc, field)
            .map(str::to_owned)
            .ok_or_else(|| missing(name))
    };
    let date = |field, name| {
        doc.get_first(field)
            .and_then(|value| value.as_datetime())
            .and_then(|time| DateTime::from_timestamp_micros(time.into_timestamp_micros()))
            .ok_or_else(|| missing(name))
    };
    let convergence = stored_text(doc, fields.convergence)
        .and_then(|text| Uuid::parse_str(text).ok())
        .ok_or_else(|| missing(CONVERGENCE))?;
    let public = doc
        .get_first(fields.public)
        .and_then(|value| value.as_bool())
        .ok_or_else(|| missing(PUBLIC))?;
    let names = doc.get_all(fields.dimension).filter_map(|v| v.as_str());
    let weights = doc
        .get_all(fields.dimension_weight)
        .filter_map(|v| v.as_f64());
    let dimensions: Vec<(String, f64)> = names
        .zip(weights)
        .map(|(name, weight)| (name.to_owned(), weight))
        .collect();
    if dimensions.len() != doc.get_all(fields.dimension).count() {
        return Err(missing(DIMENSION_WEIGHT));
    }
    Ok(SearchDocument {
        id,
        convergence,
        convergence_slug: text(fields.convergence_slug, CONVERGENCE_SLUG)?,
        visibility: if public {
            Visibility::Public
        } else {
            Visibility::Private
        },
        kind: text(fields.kind, KIND)?,
        title: text(fields.title, TITLE)?,
        body: text(fields.body, BODY)?,
        dimensions,
        version: doc
            .get_first(fields.version)
            .and_then(|value| value.as_i64())
            .ok_or_else(|| missing(VERSION))?,
        created_at: date(fields.created_at, CREATED_AT)?,
        updated_at: date(fields.updated_at, UPDATED_AT)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_halves_round_trip() {
        let id = Uuid::now_v7();
        let (hi, lo) = id_halves(id);
        assert_eq!(id_from_halves(hi, lo), id);
    }

    #[test]
    fn dimension_keys_carry_their_weight_for_their_name_only() {
        let key = dimension_key("food-security", 0.8);
        assert_eq!(
            weight_in_key(key, dimension_hash("food-security")),
            Some(0.8)
        );
        assert_eq!(weight_in_key(key, dimension_hash("land-use")), None);
        let zero = dimension_key("x", f64::NAN);
        assert_eq!(weight_in_key(zero, dimension_hash("x")), Some(0.0));
        let clamped = dimension_key("x", 7.0);
        assert_eq!(weight_in_key(clamped, dimension_hash("x")), Some(1.0));
    }

    #[test]
    fn fnv_hash_is_the_published_one() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; the low 16 bits are cleared.
        assert_eq!(dimension_hash("a"), 0xaf63_dc4c_8601_0000);
    }

    #[test]
    fn analyzer_stems_and_lowercases() {
        let mut analyzer = text_analyzer(Language::English);
        let mut stream = analyzer.token_stream("Proposals PROPOSAL gardening");
        let mut tokens = Vec::new();
        while stream.advance() {
            tokens.push(stream.token().text.clone());
        }
        assert_eq!(tokens, ["propos", "propos", "garden"]);
    }
}
