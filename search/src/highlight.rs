//! Snippets: an excerpt of each hit with the query's words highlighted.
//!
//! tantivy's snippet generator finds the query's words in a text by analyzing it as the index
//! did, stems included: with twenty hits of a hundred words or more, thousands of words per
//! search to stem (or look up in a memo of stems, where cache misses cost as much). The index
//! already knows where those words are: the positions of the query's terms in each hit, read
//! from their postings (a few postings per search, one seek per hit). So a hit's text is only
//! split into words ([`words`], which numbers them as the index's analyzer does), and
//! each word whose position the postings list takes the text of its term; the others take an
//! empty text, which matches nothing. The highlighted words are exactly those whose analyzed
//! form is a query term, as with the full analysis.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tantivy::postings::Postings;
use tantivy::query::Query;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::snippet::{Snippet, SnippetGenerator, collapse_overlapped_ranges};
use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};
use tantivy::{DocAddress, DocSet, Score, Searcher, Term};

use crate::error::Result;
use crate::schema::{Fields, words};

/// Longest snippet, in characters (before HTML escaping and highlighting tags).
const SNIPPET_CHARS: usize = 200;

/// Snippets are looked for in the first this many bytes of a body: a hit's snippet should not
/// cost more than its search.
const SNIPPET_SOURCE_BYTES: usize = 20_000;

/// The query's words of one search: body first, title when the body has no match.
pub(crate) struct Snippets {
    body: FieldWords,
    title: FieldWords,
}

/// The stored texts of one hit, to make its snippet from.
pub(crate) struct HitText<'a> {
    /// Where the hit is in the index.
    pub address: DocAddress,
    /// Its title.
    pub title: &'a str,
    /// Its body.
    pub body: &'a str,
}

impl Snippets {
    /// The words of `query` in the body and title fields.
    pub fn new(searcher: &Searcher, query: &dyn Query, fields: &Fields) -> Result<Self> {
        Ok(Self {
            body: FieldWords::new(searcher, query, fields.body)?,
            title: FieldWords::new(searcher, query, fields.title)?,
        })
    }

    /// The snippet of each of `hits` (in the same order): highlighted body, else highlighted
    /// title, else the start of the body. The query's words are looked up in the titles of
    /// only the hits whose body shows none of them.
    pub fn render(&self, searcher: &Searcher, hits: &[HitText<'_>]) -> Result<Vec<String>> {
        let addresses: Vec<DocAddress> = hits.iter().map(|hit| hit.address).collect();
        let mut rendered: Vec<Option<String>> = self
            .body
            .locate(searcher, &addresses)?
            .into_iter()
            .zip(hits)
            .map(|(located, hit)| {
                let source = prefix(hit.body, SNIPPET_SOURCE_BYTES);
                let snippet = self.body.snippet(source, located);
                (!snippet.is_empty()).then(|| render(source, &snippet))
            })
            .collect();
        let untitled: Vec<usize> = (0..hits.len())
            .filter(|&hit| rendered[hit].is_none())
            .collect();
        let untitled_addresses: Vec<DocAddress> =
            untitled.iter().map(|&hit| addresses[hit]).collect();
        let in_titles = self.title.locate(searcher, &untitled_addresses)?;
        for (&hit, located) in untitled.iter().zip(in_titles) {
            let title = hits[hit].title;
            let snippet = self.title.snippet(title, located);
            if !snippet.is_empty() {
                rendered[hit] = Some(render(title, &snippet));
            }
        }
        Ok(rendered
            .into_iter()
            .zip(hits)
            .map(|(snippet, hit)| snippet.unwrap_or_else(|| plain_snippet(hit.title, hit.body)))
            .collect())
    }
}

/// The query's words in one field that occur in the index.
struct FieldWords {
    field: Field,
    /// The words' terms; a word is known by its index here.
    terms: Vec<Term>,
    /// The words' texts, by the same index.
    words: Arc<[String]>,
    /// Each word's text, weighted `1 / (1 + document frequency)` so that rarer words choose
    /// the fragment (as tantivy's own generator does).
    weights: BTreeMap<String, Score>,
}

impl FieldWords {
    fn new(searcher: &Searcher, query: &dyn Query, field: Field) -> Result<Self> {
        let mut candidates: BTreeSet<&Term> = BTreeSet::new();
        query.query_terms(&mut |term, _| {
            if term.field() == field {
                candidates.insert(term);
            }
        });
        let (mut terms, mut words, mut weights) = (Vec::new(), Vec::new(), BTreeMap::new());
        for term in candidates {
            let value = term.value();
            let Some(word) = value.as_str().filter(|word| !word.is_empty()) else {
                continue;
            };
            let documents = searcher.doc_freq(term)?;
            if documents > 0 {
                weights.insert(word.to_owned(), 1.0 / (1.0 + documents as Score));
                words.push(word.to_owned());
                terms.push(term.clone());
            }
        }
        Ok(Self {
            field,
            terms,
            words: words.into(),
            weights,
        })
    }

    /// The `(position, word)` pairs of each hit, sorted; the hits of a segment are visited in
    /// document order, so each word's postings are read once per segment.
    fn locate(&self, searcher: &Searcher, hits: &[DocAddress]) -> Result<Vec<Vec<(u32, u32)>>> {
        let mut located = vec![Vec::new(); hits.len()];
        if self.terms.is_empty() {
            return Ok(located);
        }
        let mut order: Vec<usize> = (0..hits.len()).collect();
        order.sort_unstable_by_key(|&hit| (hits[hit].segment_ord, hits[hit].doc_id));
        let mut positions = Vec::new();
        for segment_hits in order.chunk_by(|a, b| hits[*a].segment_ord == hits[*b].segment_ord) {
            let segment = searcher.segment_reader(hits[segment_hits[0]].segment_ord);
            let index = segment.inverted_index(self.field)?;
            for (word, term) in (0u32..).zip(&self.terms) {
                let Some(mut postings) = index
                    .read_postings(term, IndexRecordOption::WithFreqsAndPositions)
                    .map_err(tantivy::TantivyError::from)?
                else {
                    continue;
                };
                for &hit in segment_hits {
                    let doc = hits[hit].doc_id;
                    if postings.doc() < doc {
                        postings.seek(doc);
                    }
                    if postings.doc() == doc {
                        postings.positions(&mut positions);
                        located[hit].extend(positions.iter().map(|&position| (position, word)));
                    }
                }
            }
        }
        for words in &mut located {
            words.sort_unstable();
        }
        Ok(located)
    }

    /// The fragment of `text` (this field of a hit whose words are at `located`) that shows
    /// the most, and the rarest, of the words; empty when none is in it.
    fn snippet(&self, text: &str, located: Vec<(u32, u32)>) -> Snippet {
        if located.is_empty() {
            return Snippet::empty();
        }
        let marks = LocatedWords {
            located: located.into(),
            words: Arc::clone(&self.words),
        };
        let analyzer = words().filter(marks).build();
        SnippetGenerator::new(self.weights.clone(), analyzer, self.field, SNIPPET_CHARS)
            .snippet(text)
    }
}

/// Token filter giving each word the text of the query word located at its position, and
/// every other word an empty text.
#[derive(Clone)]
struct LocatedWords {
    located: Arc<[(u32, u32)]>,
    /// Word texts by index.
    words: Arc<[String]>,
}

impl TokenFilter for LocatedWords {
    type Tokenizer<T: Tokenizer> = LocatedWordsFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> LocatedWordsFilter<T> {
        LocatedWordsFilter {
            tokenizer,
            marks: self,
        }
    }
}

/// A tokenizer followed by [`LocatedWords`].
#[derive(Clone)]
struct LocatedWordsFilter<T> {
    tokenizer: T,
    marks: LocatedWords,
}

impl<T: Tokenizer> Tokenizer for LocatedWordsFilter<T> {
    type TokenStream<'a> = LocatedWordsStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        LocatedWordsStream {
            words: self.tokenizer.token_stream(text),
            marks: &self.marks,
        }
    }
}

/// The words of a stream, renamed by [`LocatedWords`].
struct LocatedWordsStream<'a, S> {
    words: S,
    marks: &'a LocatedWords,
}

impl<S: TokenStream> TokenStream for LocatedWordsStream<'_, S> {
    fn advance(&mut self) -> bool {
        if !self.words.advance() {
            return false;
        }
        let token = self.words.token_mut();
        token.text.clear();
        let position = u32::try_from(token.position).unwrap_or(u32::MAX);
        let located = &self.marks.located;
        if let Ok(at) = located.binary_search_by_key(&position, |&(position, _)| position) {
            let word = located[at].1 as usize;
            if let Some(text) = self.marks.words.get(word) {
                token.text.push_str(text);
            }
        }
        true
    }

    fn token(&self) -> &Token {
        self.words.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.words.token_mut()
    }
}

/// The snippet of a hit when the query has no words to highlight: the start of the body, or
/// of the title when the body is blank.
pub(crate) fn plain_snippet(title: &str, body: &str) -> String {
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
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rand::{Rng, SeedableRng};
    use tantivy::collector::TopDocs;
    use tantivy::tokenizer::Language;
    use tantivy::{Index, TantivyDocument};

    use super::*;
    use crate::query::QueryBuilder;
    use crate::schema::{self, build_schema};

    const WORDS: [&str; 24] = [
        "garden",
        "gardens",
        "Gardening",
        "gardener",
        "proposal",
        "Proposals",
        "proposed",
        "running",
        "runs",
        "ran",
        "happy",
        "happiness",
        "skies",
        "sky",
        "north",
        "lot",
        "lots",
        "naïve",
        "Café",
        "don't",
        "42",
        "the",
        "a",
        "Ünïcödé",
    ];

    fn text(rng: &mut rand_chacha::ChaCha8Rng, max_words: usize) -> String {
        let mut text = String::new();
        for _ in 0..rng.random_range(1..max_words) {
            match rng.random_range(0..40) {
                0 => text.push_str(&"x".repeat(50)),
                1 => text.push_str("<b>&amp;</b>"),
                _ => text.push_str(WORDS[rng.random_range(0..WORDS.len())]),
            }
            text.push_str([" ", " ", ", ", ". ", "\n\n", "—"][rng.random_range(0..6)]);
        }
        text
    }

    /// Located words give the very snippets (fragment and highlighted ranges) that tantivy's
    /// generator gives analyzing the whole text as the index does, stems included.
    #[test]
    fn located_words_give_the_snippets_of_full_analysis() {
        let (schema, fields) = build_schema(Language::English, true);
        let index = Index::create_in_ram(schema);
        schema::register_analyzers(&index, Language::English);
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for segment in 0..2 {
            for _ in 0..(150 + segment * 50) {
                let mut doc = TantivyDocument::new();
                doc.add_text(fields.title, text(&mut rng, 8));
                doc.add_text(fields.body, text(&mut rng, 120));
                writer.add_document(doc).unwrap();
            }
            writer.commit().unwrap();
        }
        let searcher = index.reader().unwrap().searcher();
        let mut compared = 0;
        for query in [
            "garden",
            "proposal",
            "gardens lots",
            "\"north lot\"",
            "sky",
            "happy runs",
            "naive",
            "café",
            "title:garden",
            "run*",
            "garden -lot",
            "\"the gardens\"~2",
            "42 lots",
        ] {
            let parsed = QueryBuilder::new(
                &fields,
                &searcher,
                schema::text_analyzer(Language::English),
                false,
            )
            .parse(query)
            .unwrap();
            let top = searcher
                .search(&*parsed.query, &TopDocs::with_limit(50).order_by_score())
                .unwrap();
            let addresses: Vec<DocAddress> = top.iter().map(|(_, address)| *address).collect();
            let snippets = Snippets::new(&searcher, &*parsed.query, &fields).unwrap();
            for (field, words) in [
                (fields.body, &snippets.body),
                (fields.title, &snippets.title),
            ] {
                let mut reference =
                    SnippetGenerator::create(&searcher, &*parsed.query, field).unwrap();
                reference.set_max_num_chars(SNIPPET_CHARS);
                let located = words.locate(&searcher, &addresses).unwrap();
                for (address, hit_words) in addresses.iter().zip(located) {
                    let doc: TantivyDocument = searcher.doc(*address).unwrap();
                    let text = schema::stored_text(&doc, field).unwrap();
                    let expected = reference.snippet(text);
                    let actual = words.snippet(text, hit_words);
                    assert_eq!(
                        actual.fragment_range(),
                        expected.fragment_range(),
                        "{query}"
                    );
                    assert_eq!(
                        actual.highlighted(),
                        expected.highlighted(),
                        "{query}: {text}"
                    );
                    compared += usize::from(!expected.is_empty());
                }
            }
        }
        assert!(compared > 500, "{compared}");
    }

    /// The body is highlighted when it holds a query word; else the title; else the body's
    /// start is shown.
    #[test]
    fn render_prefers_the_body_then_the_title() {
        let (schema, fields) = build_schema(Language::English, false);
        let index = Index::create_in_ram(schema);
        schema::register_analyzers(&index, Language::English);
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let docs = [
            ("Seeds", "A garden of seeds."),
            ("Community gardens", "Shared plots & tools."),
            ("Gardening", ""),
        ];
        for (title, body) in docs {
            let mut doc = TantivyDocument::new();
            doc.add_text(fields.title, title);
            doc.add_text(fields.body, body);
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let parsed = QueryBuilder::new(
            &fields,
            &searcher,
            schema::text_analyzer(Language::English),
            false,
        )
        .parse("gardens")
        .unwrap();
        let hits: Vec<HitText<'_>> = (0..3)
            .map(|doc| HitText {
                address: DocAddress::new(0, doc),
                title: docs[doc as usize].0,
                body: docs[doc as usize].1,
            })
            .collect();
        let snippets = Snippets::new(&searcher, &*parsed.query, &fields)
            .unwrap()
            .render(&searcher, &hits)
            .unwrap();
        assert_eq!(
            snippets,
            [
                "A <b>garden</b> of seeds.",
                "Community <b>gardens</b>",
                "<b>Gardening</b>",
            ]
        );
        assert_eq!(plain_snippet("Title", "  "), "Title");
        assert_eq!(plain_snippet("Title", "Plots & tools"), "Plots &amp; tools");
    }

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
