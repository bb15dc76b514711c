//! Key terms of a text, analysed as the index analyses it (lower-cased, stemmed), without stop
//! words: what a text is about, for tagging and for finding similar documents.

use std::collections::HashMap;

use tantivy::tokenizer::{Language, Stemmer, StopWordFilter, TokenStream};

use crate::schema::lowercase_words;

/// A word of a text, by its stem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTerm {
    /// The stem, as the index stores it.
    pub stem: String,
    /// The most frequent spelling of it in the text (lower-cased).
    pub word: String,
    /// How often it occurs.
    pub count: usize,
}

/// The key terms of `text`, most frequent first (ties: first occurrence first). Stop words of
/// `language` (when it has a list), numbers and one-letter words are left out.
pub fn key_terms(text: &str, language: Language) -> Vec<KeyTerm> {
    // The same words twice, as written and stemmed: stemming keeps every token and position.
    let (mut words, mut stems) = match stop_word_filter(language) {
        Some(filter) => (
            lowercase_words().filter(filter.clone()).build(),
            lowercase_words()
                .filter(filter)
                .filter(Stemmer::new(language))
                .build(),
        ),
        None => (
            lowercase_words().build(),
            lowercase_words().filter(Stemmer::new(language)).build(),
        ),
    };
    // Per stem: first position, count, and counts per spelling.
    let mut terms: HashMap<String, (usize, usize, HashMap<String, usize>)> = HashMap::new();
    let mut written = words.token_stream(text);
    let mut stemmed = stems.token_stream(text);
    while written.advance() && stemmed.advance() {
        let word = written.token().text.clone();
        if word.chars().count() < 2 || word.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let position = written.token().position;
        let entry = terms
            .entry(stemmed.token().text.clone())
            .or_insert_with(|| (position, 0, HashMap::new()));
        entry.1 += 1;
        *entry.2.entry(word).or_default() += 1;
    }
    let mut ranked: Vec<(usize, KeyTerm)> = terms
        .into_iter()
        .map(|(stem, (first, count, spellings))| {
            let word = spellings
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                .map(|(word, _)| word)
                .unwrap_or_else(|| stem.clone());
            (first, KeyTerm { stem, word, count })
        })
        .collect();
    ranked.sort_by(|(first_a, a), (first_b, b)| b.count.cmp(&a.count).then(first_a.cmp(first_b)));
    ranked.into_iter().map(|(_, term)| term).collect()
}

/// NLTK's stop words of `language` (function words: "we", "should", "because"), or tantivy's
/// shorter list where NLTK has none.
fn stop_word_filter(language: Language) -> Option<StopWordFilter> {
    let code = match language {
        Language::Arabic => "ar",
        Language::Danish => "da",
        Language::Dutch => "nl",
        Language::English => "en",
        Language::Finnish => "fi",
        Language::French => "fr",
        Language::German => "de",
        Language::Greek => "el",
        Language::Hungarian => "hu",
        Language::Italian => "it",
        Language::Norwegian => "no",
        Language::Portuguese => "pt",
        Language::Romanian => "ro",
        Language::Russian => "ru",
        Language::Spanish => "es",
        Language::Swedish => "sv",
        Language::Tamil => "ta",
        Language::Turkish => "tr",
    };
    match stop_words::lookup(code) {
        Some(words) => Some(StopWordFilter::remove(
            words.iter().map(|word| (*word).to_owned()),
        )),
        None => StopWordFilter::new(language),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_group_spellings_and_stop_words_are_dropped() {
        let terms = key_terms(
            "The gardens need water. A garden without water is a dry garden, 2026.",
            Language::English,
        );
        assert_eq!(terms[0].stem, "garden");
        assert_eq!(terms[0].word, "garden");
        assert_eq!(terms[0].count, 3);
        assert_eq!(terms[1].word, "water");
        assert!(
            terms
                .iter()
                .all(|t| t.word != "the" && t.word != "is" && t.word != "2026")
        );
    }
}
