//! Snippets: the best fragment of a hit's text, matched words highlighted.
//!
//! tantivy's snippet generator analyzes the text of every hit to find the query's words in
//! it: with twenty hits of a few hundred words, thousands of words per search, and running the
//! Snowball stemmer on each was a large share of a search's time, though the same words come
//! back in hit after hit and query after query. So snippets are analyzed like the index but
//! with stems looked up in a bounded memo shared by the index's searches ([`MemoStemmer`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use foldhash::{HashMap, HashMapExt};
use tantivy::query::Query;
use tantivy::schema::Field;
use tantivy::snippet::{Snippet, SnippetGenerator, collapse_overlapped_ranges};
use tantivy::tokenizer::{
    Language, RawTokenizer, Stemmer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};
use tantivy::{Score, Searcher, Term};

use crate::error::Result;
use crate::schema::{Fields, lowercase_words};

/// Longest snippet, in characters (before HTML escaping and highlighting tags).
const SNIPPET_CHARS: usize = 200;

/// Snippets are looked for in the first this many bytes of a body: a hit's snippet should not
/// cost more than its search.
const SNIPPET_SOURCE_BYTES: usize = 20_000;

/// Most words remembered by a [`MemoStemmer`]; when full it starts again (a node's vocabulary of
/// common words fits many times over).
const MEMO_WORDS: usize = 100_000;

/// The snippet generators of one search: body first, title when the body has no match.
pub(crate) struct Snippets {
    body: SnippetGenerator,
    title: SnippetGenerator,
}

impl Snippets {
    /// Generators for the words of `query`, analyzing hits' text with `analyzer` (see
    /// [`snippet_analyzer`]).
    pub fn new(
        searcher: &Searcher,
        query: &dyn Query,
        fields: &Fields,
        analyzer: &TextAnalyzer,
    ) -> Result<Self> {
        let generator = |field| -> Result<SnippetGenerator> {
            Ok(SnippetGenerator::new(
                word_weights(searcher, query, field)?,
                analyzer.clone(),
                field,
                SNIPPET_CHARS,
            ))
        };
        Ok(Self {
            body: generator(fields.body)?,
            title: generator(fields.title)?,
        })
    }
}

/// The query's words in `field` that occur in the index, each weighted `1 / (1 + document
/// frequency)` so that rarer words choose the fragment (as tantivy's own generator does).
fn word_weights(
    searcher: &Searcher,
    query: &dyn Query,
    field: Field,
) -> Result<BTreeMap<String, Score>> {
    let mut terms: BTreeSet<&Term> = BTreeSet::new();
    query.query_terms(&mut |term, _| {
        if term.field() == field {
            terms.insert(term);
        }
    });
    let mut weights = BTreeMap::new();
    for term in terms {
        let value = term.value();
        let Some(word) = value.as_str() else {
            continue;
        };
        let documents = searcher.doc_freq(term)?;
        if documents > 0 {
            weights.insert(word.to_owned(), 1.0 / (1.0 + documents as Score));
        }
    }
    Ok(weights)
}

/// The index's text analysis for snippets: the same words and stems as
/// [`text_analyzer`](crate::schema::text_analyzer), the stems remembered across searches.
pub(crate) fn snippet_analyzer(language: Language) -> TextAnalyzer {
    lowercase_words().filter(MemoStemmer::new(language)).build()
}

/// Token filter that stems like tantivy's [`Stemmer`], remembering the stems of the words it
/// has seen (clones share the memo).
#[derive(Clone)]
pub(crate) struct MemoStemmer {
    memo: Arc<Mutex<StemMemo>>,
}

struct StemMemo {
    stems: HashMap<String, String>,
    /// Stems one whole word.
    stemmer: TextAnalyzer,
}

impl MemoStemmer {
    /// An empty memo for `language`.
    pub fn new(language: Language) -> Self {
        Self {
            memo: Arc::new(Mutex::new(StemMemo {
                stems: HashMap::new(),
                stemmer: TextAnalyzer::builder(RawTokenizer::default())
                    .filter(Stemmer::new(language))
                    .build(),
            })),
        }
    }

    /// Replaces `word` by its stem.
    fn stem(&self, word: &mut String) {
        let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stem) = memo.stems.get(word.as_str()) {
            word.clone_from(stem);
            return;
        }
        let mut stream = memo.stemmer.token_stream(word.as_str());
        let stem = if stream.advance() {
            stream.token().text.clone()
        } else {
            word.clone()
        };
        drop(stream);
        if memo.stems.len() >= MEMO_WORDS {
            memo.stems.clear();
        }
        memo.stems
            .insert(std::mem::replace(word, stem.clone()), stem);
    }
}

impl TokenFilter for MemoStemmer {
    type Tokenizer<T: Tokenizer> = MemoStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> MemoStemmerFilter<T> {
        MemoStemmerFilter {
            tokenizer,
            stemmer: self,
        }
    }
}

/// A tokenizer followed by [`MemoStemmer`].
#[derive(Clone)]
pub(crate) struct MemoStemmerFilter<T> {
    tokenizer: T,
    stemmer: MemoStemmer,
}

impl<T: Tokenizer> Tokenizer for MemoStemmerFilter<T> {
    type TokenStream<'a> = MemoStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        MemoStemmerStream {
            words: self.tokenizer.token_stream(text),
            stemmer: &self.stemmer,
        }
    }
}

/// The stemmed words of a stream.
pub(crate) struct MemoStemmerStream<'a, S> {
    words: S,
    stemmer: &'a MemoStemmer,
}

impl<S: TokenStream> TokenStream for MemoStemmerStream<'_, S> {
    fn advance(&mut self) -> bool {
        if !self.words.advance() {
            return false;
        }
        self.stemmer.stem(&mut self.words.token_mut().text);
        true
    }

    fn token(&self) -> &Token {
        self.words.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.words.token_mut()
    }
}

/// The snippet of a hit: highlighted body, else highlighted title, else the start of the body.
pub(crate) fn snippet(snippets: Option<&Snippets>, title: &str, body: &str) -> String {
    if let Some(Snippets {
        body: body_generator,
        title: title_generator,
    }) = snippets
    {
        let source = prefix(body, SNIPPET_SOURCE_BYTES);
        let from_body = body_generator.snippet(source);
        if !from_body.is_empty() {
            return render(source, &from_body);
        }
        let from_title = title_generator.snippet(title);
        if !from_title.is_empty() {
            return render(title, &from_title);
        }
    }
    let text = if body.trim().is_empty() { title } else { body };
    escape_html(&excerpt(text.trim(), SNIPPET_CHARS))
}

/// Renders a snippet of `text` as HTML: the whole text when it is short, else tantivy's
/// fragment widened to whole words (tantivy cuts it at the last token, dropping a final `.`),
/// with `…` where text was left out.
fn render(text: &str, snippet: &Snippet) -> String {
    let fragment = snippet.fragment_range();
    let (start, end) = if text.chars().count() <= SNIPPET_CHARS {
        (0, text.len())
    } else {
        let start = text[..fragment.start]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = text[fragment.end..]
            .find(char::is_whitespace)
            .map_or(text.len(), |i| fragment.end + i);
        (start, end)
    };
    let mut html = String::with_capacity(end - start + 32);
    if start > 0 {
        html.push('…');
    }
    let mut cursor = start;
    for range in collapse_overlapped_ranges(snippet.highlighted()) {
        let (from, to) = (fragment.start + range.start, fragment.start + range.end);
        html.push_str(&escape_html(&text[cursor..from]));
        html.push_str("<b>");
        html.push_str(&escape_html(&text[from..to]));
        html.push_str("</b>");
        cursor = to;
    }
    html.push_str(&escape_html(&text[cursor..end]));
    if end < text.len() {
        html.push('…');
    }
    html
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on a character boundary.
fn prefix(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The first `max_chars` characters of `text`, cut at a word boundary when there is one, with
/// an ellipsis when something was cut.
fn excerpt(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let head = &text[..cut];
            let head = match head.rfind(char::is_whitespace) {
                Some(space) if space > 0 => &head[..space],
                _ => head,
            };
            format!("{}…", head.trim_end())
        }
    }
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_at_a_word_boundary() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("one two three", 9), "one two…");
        assert_eq!(excerpt("abcdefghij", 4), "abcd…");
        assert_eq!(excerpt("ééééé", 2), "éé…");
    }

    #[test]
    fn prefix_respects_character_boundaries() {
        assert_eq!(prefix("abc", 10), "abc");
        assert_eq!(prefix("abc", 2), "ab");
        assert_eq!(prefix("aé", 2), "a");
        assert_eq!(prefix("aé", 3), "aé");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;&lt;/a&gt;"
        );
    }
}
