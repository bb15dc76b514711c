//! Index settings: language of the text analyzer, writer memory, typo tolerance.

pub use tantivy::tokenizer::Language;

use crate::error::{Error, Result};

/// Default memory budget of the index writer: 50 MiB.
pub const DEFAULT_WRITER_MEMORY_BYTES: usize = 50 * 1024 * 1024;

/// Smallest accepted writer memory budget: tantivy needs 15 MB per indexing thread.
pub const MIN_WRITER_MEMORY_BYTES: usize = 15_000_000;

/// How an index analyzes text and how its writer behaves.
///
/// The language is part of the index: an index built with one language and opened with
/// another is refused with [`Error::SchemaMismatch`] (stems would not match). The other
/// settings may change between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSettings {
    /// Stemming language of the title and body analyzer (default English).
    pub language: Language,
    /// Memory budget of the index writer, split among its threads (at least
    /// [`MIN_WRITER_MEMORY_BYTES`]; default [`DEFAULT_WRITER_MEMORY_BYTES`]). A bigger budget
    /// makes fewer, larger segments during bulk loads.
    pub writer_memory_bytes: usize,
    /// Whether rare unquoted words of at least [`FUZZY_MIN_CHARS`](crate::FUZZY_MIN_CHARS)
    /// characters also match words one edit away (default true; see
    /// [`FUZZY_MAX_DOCS`](crate::FUZZY_MAX_DOCS)).
    pub typo_tolerance: bool,
    /// Whether pairs of adjacent words are indexed too, so that phrases are searched as pair
    /// terms instead of word positions (default true; see the `pairs` module). Phrases of
    /// common words then take milliseconds instead of tens, at the price of an index about three
    /// times larger and built about three times slower. Changing it needs a rebuild: an index
    /// built with the other setting is refused as of another schema.
    pub phrase_pairs: bool,
    /// Threads one search may use, searching segments in parallel (default 1). More threads
    /// lower the latency of a search over several large segments on an idle machine; under
    /// concurrent load one thread per search uses the cores as well, with less overhead.
    pub search_threads: usize,
}

impl IndexSettings {
    /// Default settings with the given language.
    pub fn new(language: Language) -> Self {
        Self {
            language,
            ..Self::default()
        }
    }
}

impl Default for IndexSettings {
    fn default() -> Self {
        Self {
            language: Language::English,
            writer_memory_bytes: DEFAULT_WRITER_MEMORY_BYTES,
            typo_tolerance: true,
            phrase_pairs: true,
            search_threads: 1,
        }
    }
}

/// Every language, with its lower-case name.
const LANGUAGES: &[(Language, &str)] = &[
    (Language::Arabic, "arabic"),
    (Language::Danish, "danish"),
    (Language::Dutch, "dutch"),
    (Language::English, "english"),
    (Language::Finnish, "finnish"),
    (Language::French, "french"),
    (Language::German, "german"),
    (Language::Greek, "greek"),
    (Language::Hungarian, "hungarian"),
    (Language::Italian, "italian"),
    (Language::Norwegian, "norwegian"),
    (Language::Portuguese, "portuguese"),
    (Language::Romanian, "romanian"),
    (Language::Russian, "russian"),
    (Language::Spanish, "spanish"),
    (Language::Swedish, "swedish"),
    (Language::Tamil, "tamil"),
    (Language::Turkish, "turkish"),
];

/// Parses a language name such as `english` or `French` (case-insensitive, surrounding spaces
/// ignored); anything else is [`Error::UnknownLanguage`].
///
/// ```
/// use kg_search::{Language, parse_language};
/// assert_eq!(parse_language("English").ok(), Some(Language::English));
/// assert!(parse_language("klingon").is_err());
/// ```
pub fn parse_language(name: &str) -> Result<Language> {
    let wanted = name.trim();
    LANGUAGES
        .iter()
        .find(|(_, known)| known.eq_ignore_ascii_case(wanted))
        .map(|(language, _)| *language)
        .ok_or_else(|| Error::UnknownLanguage {
            name: name.to_owned(),
        })
}

/// The lower-case name of a language, as [`parse_language`] accepts it.
pub fn language_name(language: Language) -> &'static str {
    LANGUAGES
        .iter()
        .find(|(known, _)| *known == language)
        .map_or("english", |(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_round_trips_through_its_name() {
        for (language, name) in LANGUAGES {
            assert_eq!(language_name(*language), *name);
            assert_eq!(parse_language(name).ok(), Some(*language));
            assert_eq!(
                parse_language(&format!(" {} ", name.to_uppercase())).ok(),
                Some(*language)
            );
        }
    }

    #[test]
    fn unknown_language_is_a_typed_error() {
        for bad in ["", "en", "klingon", "english!"] {
            match parse_language(bad) {
                Err(Error::UnknownLanguage { name }) => assert_eq!(name, bad),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }
}
