//! Phrases through indexed word pairs.
//!
//! A phrase query reads the positions of every document that holds all of its words: for two
//! common words that is a large share of the index (a phrase of two words found in 60% and 40%
//! of the documents checks positions in about a quarter of them). So, as Elasticsearch's
//! `index_phrases` does, each text field has a companion field indexing every pair of adjacent
//! words as one token ("north lot" for "… the north lot …"). A two-word phrase is then a single
//! term, with its own, short posting list and BM25 statistics (and block-max WAND for the top
//! hits); a longer phrase is a phrase of pairs (`"a b c"` = pairs `"a b"`, `"b c"` at
//! consecutive positions), whose posting lists are far shorter than the words'.
//!
//! Pairs join words that are adjacent after analysis (positions `p`, `p + 1`): a token dropped
//! by the analyzer (an over-long one) breaks the pair, as it does for a phrase query.

use tantivy::Term;
use tantivy::query::{EnableScoring, PhraseQuery, Query, TermQuery, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};

/// Separates the two words of a pair token. The tokenizer splits on non-alphanumerics, so no
/// word contains it.
const PAIR_SEPARATOR: char = ' ';

/// The token of two adjacent words.
pub(crate) fn pair_text(first: &str, second: &str) -> String {
    let mut text = String::with_capacity(first.len() + second.len() + 1);
    push_pair(&mut text, first, second);
    text
}

/// Appends the token of two adjacent words to `text`.
fn push_pair(text: &mut String, first: &str, second: &str) {
    text.push_str(first);
    text.push(PAIR_SEPARATOR);
    text.push_str(second);
}

/// Token filter that turns a stream of words into the stream of their adjacent pairs, each at
/// the position of its first word.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WordPairs;

impl TokenFilter for WordPairs {
    type Tokenizer<T: Tokenizer> = WordPairsFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> WordPairsFilter<T> {
        WordPairsFilter { tokenizer }
    }
}

/// A tokenizer followed by [`WordPairs`].
#[derive(Clone)]
pub(crate) struct WordPairsFilter<T> {
    tokenizer: T,
}

impl<T: Tokenizer> Tokenizer for WordPairsFilter<T> {
    type TokenStream<'a> = WordPairsStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        WordPairsStream {
            words: self.tokenizer.token_stream(text),
            previous: None,
            pair: Token::default(),
        }
    }
}

/// The pairs of a word stream. Called for every word indexed, so the previous word and the
/// pair reuse their buffers instead of allocating per word.
pub(crate) struct WordPairsStream<S> {
    words: S,
    /// The last word read, when there is one.
    previous: Option<Token>,
    /// The current pair.
    pair: Token,
}

impl<S: TokenStream> TokenStream for WordPairsStream<S> {
    fn advance(&mut self) -> bool {
        while self.words.advance() {
            let word = self.words.token();
            let paired = match &self.previous {
                Some(previous) if previous.position + 1 == word.position => {
                    self.pair.offset_from = previous.offset_from;
                    self.pair.offset_to = word.offset_to;
                    self.pair.position = previous.position;
                    self.pair.position_length = 1;
                    self.pair.text.clear();
                    push_pair(&mut self.pair.text, &previous.text, &word.text);
                    true
                }
                _ => false,
            };
            match &mut self.previous {
                Some(previous) => previous.clone_from(word),
                None => self.previous = Some(word.clone()),
            }
            if paired {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        &self.pair
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.pair
    }
}

/// Runs a query on a pair field while presenting the phrase's words of the text field, so
/// that snippets highlight them (snippets ask a query for its terms in the text field).
#[derive(Debug)]
pub(crate) struct PairPhrase {
    /// The query on the pair field.
    pub pairs: Box<dyn Query>,
    /// The phrase's words in the text field.
    pub words: Vec<Term>,
}

impl PairPhrase {
    /// A phrase of `words` (analyzed, at consecutive positions, at least two) of the text
    /// field whose pairs are indexed in `pair_field`: one pair term for two words, else a
    /// phrase of pairs.
    pub fn new(pair_field: Field, text_field: Field, words: &[String]) -> Self {
        let pairs: Vec<Term> = words
            .windows(2)
            .map(|pair| Term::from_field_text(pair_field, &pair_text(&pair[0], &pair[1])))
            .collect();
        let pairs: Box<dyn Query> = match pairs.as_slice() {
            [pair] => Box::new(TermQuery::new(pair.clone(), IndexRecordOption::WithFreqs)),
            _ => Box::new(PhraseQuery::new(pairs)),
        };
        Self {
            pairs,
            words: words
                .iter()
                .map(|word| Term::from_field_text(text_field, word))
                .collect(),
        }
    }
}

impl Clone for PairPhrase {
    fn clone(&self) -> Self {
        Self {
            pairs: self.pairs.box_clone(),
            words: self.words.clone(),
        }
    }
}

impl Query for PairPhrase {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        self.pairs.weight(enable_scoring)
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for word in &self.words {
            visitor(word, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use tantivy::tokenizer::{RemoveLongFilter, SimpleTokenizer, TextAnalyzer};

    use super::*;

    fn pairs(text: &str) -> Vec<(String, usize)> {
        let mut analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(6))
            .filter(WordPairs)
            .build();
        let mut stream = analyzer.token_stream(text);
        let mut found = Vec::new();
        while stream.advance() {
            found.push((stream.token().text.clone(), stream.token().position));
        }
        found
    }

    #[test]
    fn adjacent_words_pair_up_at_the_first_position() {
        assert_eq!(
            pairs("the north lot"),
            [("the north".to_owned(), 0), ("north lot".to_owned(), 1)]
        );
        assert!(pairs("alone").is_empty());
        assert!(pairs("").is_empty());
    }

    #[test]
    fn a_dropped_word_breaks_the_pair() {
        assert_eq!(
            pairs("raise overlong beds here"),
            [("beds here".to_owned(), 2)]
        );
    }
}
