//! Snippets: an excerpt of each hit with the query's words highlighted.
//!
//! tantivy's snippet generator finds the query's words in a text by analyzing it as the index
//! did, stems included, and looks every word up in a map of the query's words: with twenty hits
//! of a few hundred words each, thousands of words per search to stem and look up. The index
//! already knows where those words are: the positions of the query's terms in each hit, read
//! from their postings (a few postings per search, one seek per hit). So a hit's text is only
//! split into words ([`words`], which numbers them as the index's analyzer does), the words at
//! those positions are the highlighted ones, and the fragment is chosen as tantivy's generator
//! chooses it (same cuts, same weights, same ties), stopping after the last located word's
//! fragment. A test checks the fragments and highlights against tantivy's generator.

use std::collections::BTreeSet;
use std::ops::Range;

use tantivy::postings::Postings;
use tantivy::query::Query;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::snippet::collapse_overlapped_ranges;
use tantivy::tokenizer::{TextAnalyzer, TokenStream};
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
        let mut words = words().build();
        let mut rendered: Vec<Option<String>> = self
            .body
            .locate(searcher, &addresses)?
            .into_iter()
            .zip(hits)
            .map(|(located, hit)| {
                let source = prefix(hit.body, SNIPPET_SOURCE_BYTES);
                self.body
                    .fragment(&mut words, source, &located)
                    .map(|fragment| render(source, &fragment))
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
            rendered[hit] = self
                .title
                .fragment(&mut words, title, &located)
                .map(|fragment| render(title, &fragment));
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
    /// Each word's weight, by the same index: `1 / (1 + document frequency)`, so that rarer
    /// words choose the fragment (as tantivy's own generator does).
    weights: Vec<Score>,
}

impl FieldWords {
    fn new(searcher: &Searcher, query: &dyn Query, field: Field) -> Result<Self> {
        let mut candidates: BTreeSet<&Term> = BTreeSet::new();
        query.query_terms(&mut |term, _| {
            if term.field() == field {
                candidates.insert(term);
            }
        });
        let (mut terms, mut weights) = (Vec::new(), Vec::new());
        for term in candidates {
            if term.value().as_str().is_none_or(str::is_empty) {
                continue;
            }
            let documents = searcher.doc_freq(term)?;
            if documents > 0 {
                weights.push(1.0 / (1.0 + documents as Score));
                terms.push(term.clone());
            }
        }
        Ok(Self {
            field,
            terms,
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

    /// The fragment of `text` (this field of a hit whose words are at `located`, sorted by
    /// position) that tantivy's generator would choose: the text is cut greedily into fragments
    /// of at most [`SNIPPET_CHARS`] bytes starting at words, and the fragment whose words weigh
    /// most wins (the first on ties). `None` when no located word is in `text`.
    fn fragment(
        &self,
        words: &mut TextAnalyzer,
        text: &str,
        located: &[(u32, u32)],
    ) -> Option<Fragment> {
        if located.is_empty() {
            return None;
        }
        let mut stream = words.token_stream(text);
        let mut best: Option<Fragment> = None;
        let mut current = Fragment::starting_at(0);
        let mut next = 0;
        while let Some(token) = stream.next() {
            if token.offset_to - current.range.start > SNIPPET_CHARS {
                current.offer_to(&mut best);
                if next == located.len() {
                    // Every located word is behind: the fragments to come weigh nothing.
                    return best;
                }
                current = Fragment::starting_at(token.offset_from);
            }
            current.range.end = token.offset_to;
            let position = u32::try_from(token.position).unwrap_or(u32::MAX);
            while next < located.len() && located[next].0 < position {
                next += 1;
            }
            if let Some(&(_, word)) = located.get(next).filter(|(at, _)| *at == position) {
                current.score += self.weights[word as usize];
                current.highlighted.push(token.offset_from..token.offset_to);
                next += 1;
            }
        }
        current.offer_to(&mut best);
        best
    }
}

/// A fragment of a hit's text: the byte range shown, the highlighted words' ranges (in the
/// text) and the weight of the words in it.
struct Fragment {
    range: Range<usize>,
    highlighted: Vec<Range<usize>>,
    score: Score,
}

impl Fragment {
    fn starting_at(offset: usize) -> Self {
        Self {
            range: offset..offset,
            highlighted: Vec::new(),
            score: 0.0,
        }
    }

    /// Makes this fragment `best` when it holds query words and weighs more.
    fn offer_to(self, best: &mut Option<Fragment>) {
        if self.score > 0.0 && best.as_ref().is_none_or(|best| self.score > best.score) {
            *best = Some(self);
        }
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
fn render(text: &str, fragment: &Fragment) -> String {
    let highlighted = &fragment.highlighted;
    let fragment = fragment.range.clone();
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
    for range in collapse_overlapped_ranges(highlighted) {
        let (from, to) = (range.start, range.end);
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
    use tantivy::snippet::SnippetGenerator;
    use tantivy::tokenizer::Language;
    use tantivy::{Index, IndexWriter, TantivyDocument};

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

    /// An empty in-memory index of English text, with its writer.
    fn english_index(phrase_pairs: bool) -> (Index, Fields, IndexWriter) {
        let (schema, fields) = build_schema(Language::English, phrase_pairs);
        let index = Index::create_in_ram(schema);
        schema::register_analyzers(&index, Language::English);
        let writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        (index, fields, writer)
    }

    /// Located words give the very snippets (fragment and highlighted ranges) that tantivy's
    /// generator gives analyzing the whole text as the index does, stems included.
    #[test]
    fn located_words_give_the_snippets_of_full_analysis() {
        let (index, fields, mut writer) = english_index(true);
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
            let mut analyzer = words().build();
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
                    let Some(actual) = words.fragment(&mut analyzer, text, &hit_words) else {
                        assert!(expected.is_empty(), "{query}: {text}");
                        continue;
                    };
                    assert_eq!(actual.range, expected.fragment_range(), "{query}");
                    let relative: Vec<Range<usize>> = actual
                        .highlighted
                        .iter()
                        .map(|r| r.start - actual.range.start..r.end - actual.range.start)
                        .collect();
                    assert_eq!(relative, expected.highlighted(), "{query}: {text}");
                    compared += 1;
                }
            }
        }
        assert!(compared > 500, "{compared}");
    }

    /// The body is highlighted when it holds a query word; else the title; else the body's
    /// start is shown.
    #[test]
    fn render_prefers_the_body_then_the_title() {
        let (index, fields, mut writer) = english_index(false);
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
