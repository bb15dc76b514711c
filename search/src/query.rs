//! The query language: tantivy's query grammar, interpreted by this crate.
//!
//! tantivy's grammar parses the text; the tree is then turned into tantivy queries here rather
//! than by tantivy's `QueryParser`, for three reasons: typo tolerance applies only to longer
//! unquoted words (the parser's `set_field_fuzzy` applies to every term, and fuzzy matches are
//! scored as a constant, which would flatten BM25 ranking), only the `title` and `body` fields
//! may be named, and features that make no sense here (ranges, sets, regular expressions,
//! `field:*`) are refused with a message instead of silently matching nothing.

use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhrasePrefixQuery, PhraseQuery,
    Query, TermQuery,
};
use tantivy::query_grammar::{self, Delimiter, UserInputAst, UserInputLeaf, UserInputLiteral};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{TextAnalyzer, TokenStream};
use tantivy::{Searcher, Term};

use crate::error::{Error, Result};
use crate::exclusion::ForwardOnly;
use crate::lazy_union::LazyUnion;
use crate::pairs::PairPhrase;
use crate::schema::{BODY, Fields, TITLE};

/// Weight of a title match relative to a body match.
pub const TITLE_BOOST: f32 = 3.0;

/// Unquoted words of at least this many characters also match words one edit (insertion,
/// deletion, substitution or transposition) away, when typo tolerance is on and the word itself
/// is rare (see [`FUZZY_MAX_DOCS`]).
pub const FUZZY_MIN_CHARS: usize = 5;

/// Typo tolerance applies to a word found in at most this many documents: a word that is common
/// in the index is taken as spelled on purpose. (Expanding every word would also match its many
/// correct neighbours, `form` for `from`, and cost a pass over all of their postings.)
pub const FUZZY_MAX_DOCS: u64 = 10;

/// Longest accepted query text, in bytes.
pub const MAX_QUERY_BYTES: usize = 2_048;

/// Deepest accepted nesting of parentheses (the grammar is recursive).
const MAX_NESTING: usize = 16;

/// Most words and phrases in one query.
const MAX_CLAUSES: usize = 64;

/// Score of a fuzzy match relative to the field's boost. Fuzzy matches are scored as a
/// constant, below a typical BM25 term score, so exact matches rank first.
const FUZZY_WEIGHT: f32 = 0.5;

/// Turns query text into tantivy queries.
pub(crate) struct QueryBuilder<'a> {
    fields: &'a Fields,
    searcher: &'a Searcher,
    analyzer: TextAnalyzer,
    typo_tolerance: bool,
    /// Words and phrases seen so far.
    clauses: usize,
    /// Of those, the ones not under an exclusion.
    positive: usize,
    /// How many exclusions enclose the part being converted.
    negated: usize,
    /// Words and two-word phrases searched as single terms (no prefix, no typo variants).
    plain_words: usize,
    /// The request also filters by terms (convergence, dimensions).
    term_filters: bool,
    /// A word's fields are united by a [`LazyUnion`]: the query is intersected (with other
    /// words or with term filters) rather than read whole.
    lazy_unions: bool,
}

/// A parsed user query.
pub(crate) struct ParsedQuery {
    /// Matches and scores documents.
    pub query: Box<dyn Query>,
    /// True when the query had no words or phrases (blank, `*`, or only exclusions) and so
    /// ranks every document equally.
    pub matches_all: bool,
    /// The query is one word (no prefix or typo variants) or one two-word phrase (a word
    /// pair), searched in title and body: a union of term queries, whose top hits tantivy
    /// finds with block-max WAND, skipping blocks of documents that cannot make the page.
    pub term_union: bool,
}

impl<'a> QueryBuilder<'a> {
    /// A builder that analyzes words with `analyzer` (the one the text fields use) and looks up
    /// word frequencies in `searcher`.
    pub fn new(
        fields: &'a Fields,
        searcher: &'a Searcher,
        analyzer: TextAnalyzer,
        typo_tolerance: bool,
    ) -> Self {
        Self {
            fields,
            searcher,
            analyzer,
            typo_tolerance,
            clauses: 0,
            positive: 0,
            plain_words: 0,
            negated: 0,
            term_filters: false,
            lazy_unions: false,
        }
    }

    /// Tells the builder that the query will be intersected with term filters (convergence,
    /// dimensions), which favours [`LazyUnion`]s even for a lone word.
    pub fn with_term_filters(mut self, term_filters: bool) -> Self {
        self.term_filters = term_filters;
        self
    }

    /// Parses query text. Blank text matches every document.
    pub fn parse(mut self, text: &str) -> Result<ParsedQuery> {
        if text.len() > MAX_QUERY_BYTES {
            return Err(Error::invalid_query(format!(
                "the query is longer than {MAX_QUERY_BYTES} bytes"
            )));
        }
        if nesting_depth(text) > MAX_NESTING {
            return Err(Error::invalid_query(format!(
                "the query nests parentheses deeper than {MAX_NESTING} levels"
            )));
        }
        if text.trim().is_empty() {
            return Ok(ParsedQuery {
                query: Box::new(AllQuery),
                matches_all: true,
                term_union: false,
            });
        }
        let ast = query_grammar::parse_query(text).map_err(|_| syntax_error(text))?;
        let single_leaf = match &ast {
            UserInputAst::Leaf(_) => true,
            UserInputAst::Clause(children) => {
                matches!(children.as_slice(), [(occur, UserInputAst::Leaf(_))]
                    if *occur != Some(Occur::MustNot))
            }
            UserInputAst::Boost(..) => false,
        };
        self.lazy_unions = !single_leaf || self.term_filters;
        match self.convert(ast)? {
            Some(query) => Ok(ParsedQuery {
                matches_all: self.positive == 0,
                term_union: single_leaf && self.clauses == 1 && self.plain_words == 1,
                query,
            }),
            // Only separators, or words the analyzer drops entirely.
            None => Ok(ParsedQuery {
                query: Box::new(AllQuery),
                matches_all: true,
                term_union: false,
            }),
        }
    }

    fn convert(&mut self, ast: UserInputAst) -> Result<Option<Box<dyn Query>>> {
        match ast {
            UserInputAst::Clause(children) => {
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(children.len());
                for (occur, child) in children {
                    // Several words without an operator must all match.
                    let occur = occur.unwrap_or(Occur::Must);
                    let excluded = occur == Occur::MustNot;
                    self.negated += usize::from(excluded);
                    let converted = self.convert(child)?;
                    self.negated -= usize::from(excluded);
                    if let Some(query) = converted {
                        let query = if excluded {
                            Box::new(ForwardOnly(query))
                        } else {
                            query
                        };
                        clauses.push((occur, query));
                    }
                }
                if clauses.is_empty() {
                    return Ok(None);
                }
                if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
                    // `-word` alone means "everything but word".
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                if clauses.len() == 1 && clauses[0].0 != Occur::MustNot {
                    return Ok(clauses.pop().map(|(_, query)| query));
                }
                Ok(Some(Box::new(BooleanQuery::new(clauses))))
            }
            UserInputAst::Boost(child, boost) => {
                let boost = boost.into_inner();
                if !boost.is_finite() || boost < 0.0 {
                    return Err(Error::invalid_query(format!(
                        "boost {boost} must be a non-negative number"
                    )));
                }
                Ok(self
                    .convert(*child)?
                    .map(|query| Box::new(BoostQuery::new(query, boost as f32)) as Box<dyn Query>))
            }
            UserInputAst::Leaf(leaf) => self.leaf(*leaf),
        }
    }

    fn leaf(&mut self, leaf: UserInputLeaf) -> Result<Option<Box<dyn Query>>> {
        match leaf {
            UserInputLeaf::Literal(literal) => self.literal(literal),
            UserInputLeaf::All => Ok(Some(Box::new(AllQuery))),
            UserInputLeaf::Range { .. } => Err(Error::invalid_query(
                "range queries ([a TO b]) are not supported",
            )),
            UserInputLeaf::Set { .. } => Err(Error::invalid_query(
                "set queries (IN [...]) are not supported",
            )),
            UserInputLeaf::Exists { .. } => Err(Error::invalid_query(
                "existence queries (field:*) are not supported",
            )),
            UserInputLeaf::Regex { .. } => Err(Error::invalid_query(
                "regular expressions are not supported",
            )),
        }
    }

    fn literal(&mut self, mut literal: UserInputLiteral) -> Result<Option<Box<dyn Query>>> {
        // `micro*` means the prefix `"micro"*`; the grammar knows only the quoted form and
        // would otherwise search the exact word `micro`.
        if literal.delimiter == Delimiter::None
            && !literal.prefix
            && literal.phrase.len() > 1
            && let Some(stem) = literal.phrase.strip_suffix('*')
        {
            literal.phrase = stem.to_owned();
            literal.prefix = true;
        }
        let (title, body) = (
            Target {
                text: self.fields.title,
                pairs: self.fields.title_pairs,
                boost: TITLE_BOOST,
            },
            Target {
                text: self.fields.body,
                pairs: self.fields.body_pairs,
                boost: 1.0,
            },
        );
        let targets: &[Target] = match literal.field_name.as_deref() {
            None => &[title, body],
            Some(TITLE) => &[title],
            Some(BODY) => &[body],
            Some(other) => {
                return Err(Error::invalid_query(format!(
                    "unknown field '{other}': only title and body can be named in a query \
                     (kind, convergence and dimension are filters)"
                )));
            }
        };
        let tokens = self.tokens(&literal.phrase);
        if tokens.is_empty() {
            return Ok(None);
        }
        self.clauses += 1;
        if self.negated == 0 {
            self.positive += 1;
        }
        if self.clauses > MAX_CLAUSES {
            return Err(Error::invalid_query(format!(
                "the query has more than {MAX_CLAUSES} words and phrases"
            )));
        }
        // Exclusions stay exact: `-fence` should not also drop `hence`.
        let fuzzy = self.typo_tolerance
            && self.negated == 0
            && literal.delimiter == Delimiter::None
            && !literal.prefix
            && tokens.len() == 1
            && literal.phrase.chars().count() >= FUZZY_MIN_CHARS
            && self.is_rare(targets, &tokens[0].1)?;
        // An exact phrase of words at consecutive positions is searched by its word pairs.
        let by_pairs = tokens.len() > 1
            && targets.iter().all(|target| target.pairs.is_some())
            && literal.slop == 0
            && tokens
                .iter()
                .zip(tokens[0].0..)
                .all(|((position, _), expected)| *position == expected);
        if !literal.prefix && !fuzzy && (tokens.len() == 1 || (by_pairs && tokens.len() == 2)) {
            self.plain_words += 1;
        }
        let mut per_field: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for &Target {
            text: field,
            pairs,
            boost,
        } in targets
        {
            let terms: Vec<(usize, Term)> = tokens
                .iter()
                .map(|(position, text)| (*position, Term::from_field_text(field, text)))
                .collect();
            let pair_field = pairs.filter(|_| by_pairs);
            let exact: Box<dyn Query> = match (terms.len(), literal.prefix, pair_field) {
                (1, false, _) => Box::new(TermQuery::new(
                    terms[0].1.clone(),
                    IndexRecordOption::WithFreqs,
                )),
                (1, true, _) => Box::new(FuzzyTermQuery::new_prefix(terms[0].1.clone(), 0, true)),
                (_, false, Some(pairs)) => {
                    let words: Vec<String> = tokens.iter().map(|(_, text)| text.clone()).collect();
                    Box::new(PairPhrase::new(pairs, field, &words))
                }
                (_, false, None) => Box::new(PhraseQuery::new_with_offset_and_slop(
                    terms.clone(),
                    literal.slop,
                )),
                (_, true, _) => Box::new(PhrasePrefixQuery::new_with_offset(terms.clone())),
            };
            per_field.push((Occur::Should, boosted(exact, boost)));
            if fuzzy {
                let typo = FuzzyTermQuery::new(terms[0].1.clone(), 1, true);
                per_field.push((Occur::Should, boosted(Box::new(typo), boost * FUZZY_WEIGHT)));
            }
        }
        Ok(Some(if per_field.len() == 1 {
            per_field.remove(0).1
        } else if self.lazy_unions {
            Box::new(LazyUnion(
                per_field.into_iter().map(|(_, query)| query).collect(),
            ))
        } else {
            Box::new(BooleanQuery::new(per_field))
        }))
    }

    /// True when the token occurs in at most [`FUZZY_MAX_DOCS`] documents (counted per field).
    fn is_rare(&self, targets: &[Target], token: &str) -> Result<bool> {
        let mut documents = 0;
        for target in targets {
            documents += self
                .searcher
                .doc_freq(&Term::from_field_text(target.text, token))?;
        }
        Ok(documents <= FUZZY_MAX_DOCS)
    }

    /// The analyzed tokens of a word or phrase, with their positions.
    fn tokens(&mut self, text: &str) -> Vec<(usize, String)> {
        let mut tokens = Vec::new();
        let mut stream = self.analyzer.token_stream(text);
        stream.process(&mut |token| tokens.push((token.position, token.text.clone())));
        tokens
    }
}

/// A field a word or phrase is searched in.
#[derive(Clone, Copy)]
struct Target {
    /// The text field.
    text: Field,
    /// Its word-pair field, if the index has one.
    pairs: Option<Field>,
    /// Weight of a match in it.
    boost: f32,
}

fn boosted(query: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    if (boost - 1.0).abs() < f32::EPSILON {
        query
    } else {
        Box::new(BoostQuery::new(query, boost))
    }
}

/// The deepest nesting of parentheses outside quotes (an upper bound is enough).
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in text.chars() {
        match c {
            '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A syntax error with the grammar's own explanation when it has one.
fn syntax_error(text: &str) -> Error {
    let (_, errors) = query_grammar::parse_query_lenient(text);
    match errors.first() {
        Some(error) => Error::invalid_query(format!(
            "syntax error at byte {}: {}",
            error.pos, error.message
        )),
        None => Error::invalid_query("syntax error"),
    }
}
