//! Filters: access, convergence, kinds and dimensions.
//!
//! Access ("public, or one of these convergences") and kinds ("any of these") are unions that
//! include large posting lists: most documents are public, a common kind covers a third of the
//! index. Intersecting the query with such a union reads the union whole, which at a million
//! documents costs more than the rest of the search. So they are checked instead on fast fields,
//! one candidate at a time, as a [`DocPredicateQuery`]: tantivy's intersection lets the cheapest
//! clause (usually the words of the query) lead and asks the predicate only about its matches.
//! Convergence and dimension filters are single terms, which intersect cheaply through the skip
//! lists of their postings.

use std::io;
use std::sync::Arc;

use tantivy::columnar::StrColumn;
use tantivy::query::doc_predicate_query::{
    ConstOrVariableSegmentPredicate, DocPredicate, DocPredicateQuery, SegmentDocPredicate,
};
use tantivy::query::{AllScorer, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, SegmentReader, Term};

use crate::columns::{ColumnCache, NO_ORDINAL, SegmentColumns};
use crate::request::{Access, SearchRequest};
use crate::schema::{self, Fields};

/// The filters of a request, split by how they are best checked.
pub(crate) struct Filters {
    /// Access and kinds, read from fast fields; `None` when the request restricts neither.
    pub fast: Option<FastFieldFilter>,
    /// Convergence and dimensions, as term queries (each must match).
    pub terms: Vec<Box<dyn Query>>,
}

impl Filters {
    /// The filters of `request`.
    pub fn of(fields: &Fields, columns: &Arc<ColumnCache>, request: &SearchRequest) -> Self {
        let readable = match &request.access {
            Access::All => None,
            Access::PublicAnd(convergences) => Some(
                convergences
                    .iter()
                    .map(|id| id.hyphenated().to_string())
                    .collect(),
            ),
        };
        let fast = (readable.is_some() || !request.kinds.is_empty()).then(|| FastFieldFilter {
            columns: Arc::clone(columns),
            readable,
            kinds: request.kinds.clone(),
        });
        let mut terms = Vec::new();
        if let Some(convergence) = request.convergence {
            terms.push(term_query(schema::convergence_term(fields, convergence)));
        }
        let mut dimensions: Vec<&String> = request.dimensions.iter().collect();
        dimensions.sort_unstable();
        dimensions.dedup();
        for dimension in dimensions {
            terms.push(term_query(Term::from_field_text(
                fields.dimension,
                dimension,
            )));
        }
        Self { fast, terms }
    }

    /// All the filter clauses (each must match), empty when there are none.
    pub fn clauses(&self) -> Vec<Box<dyn Query>> {
        let mut clauses: Vec<Box<dyn Query>> = Vec::with_capacity(self.terms.len() + 1);
        if let Some(fast) = &self.fast {
            clauses.push(Box::new(DocPredicateQuery::from(fast.clone())));
        }
        clauses.extend(self.terms.iter().map(|query| query.box_clone()));
        clauses
    }
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

/// Access and kinds, checked on fast fields.
#[derive(Clone)]
pub(crate) struct FastFieldFilter {
    columns: Arc<ColumnCache>,
    /// `None`: everything is readable. Otherwise public documents and these convergences
    /// (hyphenated ids, as indexed).
    readable: Option<Vec<String>>,
    /// Any of these kinds; empty: any kind.
    kinds: Vec<String>,
}

impl std::fmt::Debug for FastFieldFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastFieldFilter")
            .field("readable", &self.readable)
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

impl FastFieldFilter {
    /// The filter in one segment: `None` when no document of it can pass.
    pub fn for_segment(&self, segment: &SegmentReader) -> tantivy::Result<Option<SegmentFilter>> {
        match self.doc_predicate(segment)? {
            ConstOrVariableSegmentPredicate::Const(true) => Ok(Some(SegmentFilter {
                columns: self.columns.get(segment)?,
                readable: None,
                kinds: None,
            })),
            ConstOrVariableSegmentPredicate::Const(false) => Ok(None),
            ConstOrVariableSegmentPredicate::Variable { predicate, .. } => Ok(Some(predicate)),
        }
    }
}

impl DocPredicate for FastFieldFilter {
    type SegmentDocPredicate = SegmentFilter;

    fn doc_predicate(
        &self,
        segment: &SegmentReader,
    ) -> tantivy::Result<ConstOrVariableSegmentPredicate<SegmentFilter>> {
        let columns = self.columns.get(segment)?;
        let readable = match &self.readable {
            Some(convergences) => Some(ordinals(columns.convergence.as_ref(), convergences)?),
            None => None,
        };
        let kinds = if self.kinds.is_empty() {
            None
        } else {
            let kinds = ordinals(columns.kind.as_ref(), &self.kinds)?;
            if kinds.is_empty() {
                // None of the kinds occurs in this segment.
                return Ok(ConstOrVariableSegmentPredicate::Const(false));
            }
            Some(kinds)
        };
        Ok(ConstOrVariableSegmentPredicate::Variable {
            predicate: SegmentFilter {
                columns,
                readable,
                kinds,
            },
            necessary_condition: Box::new(AllScorer::new(segment.max_doc())),
        })
    }
}

/// The segment's term ordinals of those `values` it has, sorted.
fn ordinals(column: Option<&StrColumn>, values: &[String]) -> io::Result<Vec<u64>> {
    let mut ordinals = Vec::with_capacity(values.len());
    if let Some(column) = column {
        for value in values {
            if let Some(ordinal) = column.dictionary().term_ord(value)? {
                ordinals.push(ordinal);
            }
        }
    }
    ordinals.sort_unstable();
    ordinals.dedup();
    Ok(ordinals)
}

/// [`FastFieldFilter`] in one segment, with values turned into the segment's term ordinals.
pub(crate) struct SegmentFilter {
    columns: Arc<SegmentColumns>,
    readable: Option<Vec<u64>>,
    kinds: Option<Vec<u64>>,
}

impl SegmentDocPredicate for SegmentFilter {
    fn eval(&mut self, doc: DocId) -> bool {
        // Kinds and the public flag come from plain arrays (warmed with the segment).
        let dense = self.columns.facet_ordinals();
        if let Some(kinds) = &self.kinds {
            let kind = dense.kind.get(doc as usize).copied().unwrap_or(NO_ORDINAL);
            if kind == NO_ORDINAL || kinds.binary_search(&u64::from(kind)).is_err() {
                return false;
            }
        }
        if let Some(readable) = &self.readable
            && dense.public.get(doc as usize) != Some(&true)
        {
            let convergence = self
                .columns
                .convergence
                .as_ref()
                .and_then(|column| column.ords().first(doc));
            return convergence.is_some_and(|ordinal| readable.binary_search(&ordinal).is_ok());
        }
        true
    }

    /// A few fast-field reads: cheaper than tantivy's default guess, dearer than a posting.
    fn cost(&self) -> u64 {
        10
    }
}
