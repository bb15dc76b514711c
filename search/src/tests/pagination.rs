//! Pages concatenate to the full ranked list; ties are broken by id; bad pages are errors.

use super::*;
use crate::{Error, MAX_LIMIT, MAX_RESULT_WINDOW};

/// 57 documents matching "garden" with a handful of distinct scores (many ties), spread over
/// several segments and added in descending id order, so that document addresses disagree
/// with ids.
fn corpus() -> TestIndex {
    let mut t = TestIndex::new();
    let bodies = [
        "garden",
        "garden garden",
        "garden and more words",
        "a garden",
    ];
    let all: Vec<SearchDocument> = (1..=57u128)
        .rev()
        .map(|n| doc(n, "Notes", bodies[(n % 4) as usize]))
        .collect();
    for chunk in all.chunks(10) {
        t.add(chunk.to_vec());
    }
    t
}

fn page(t: &TestIndex, limit: usize, offset: usize) -> SearchResults {
    let mut request = SearchRequest::new("garden", Access::All);
    request.limit = limit;
    request.offset = offset;
    t.search(&request)
}

#[test]
fn pages_concatenate_to_the_full_list() {
    let t = corpus();
    let full = page(&t, 100, 0);
    assert_eq!(full.hits.len(), 57);
    for size in [1, 7, 10, 56] {
        let mut joined = Vec::new();
        let mut offset = 0;
        while offset < 60 {
            let results = page(&t, size, offset);
            assert_eq!(results.estimated_total, 57);
            joined.extend(results.hits);
            offset += size;
        }
        assert_eq!(joined, full.hits, "page size {size}");
    }
}

#[test]
fn equal_scores_come_in_ascending_id_order() {
    let t = corpus();
    let full = page(&t, 100, 0);
    for pair in full.hits.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(a.score >= b.score);
        if a.score == b.score {
            assert!(a.id < b.id, "{} before {}", a.id, b.id);
        }
    }
    let distinct: std::collections::BTreeSet<u32> =
        full.hits.iter().map(|hit| hit.score.to_bits()).collect();
    assert!(distinct.len() >= 3, "the corpus should have several scores");
}

#[test]
fn a_page_past_the_end_is_empty() {
    let t = corpus();
    let results = page(&t, 10, 60);
    assert!(results.hits.is_empty());
    assert_eq!(results.estimated_total, 57);
}

#[test]
fn bad_pages_are_errors() {
    let t = corpus();
    for (limit, offset) in [
        (0, 0),
        (MAX_LIMIT + 1, 0),
        (10, MAX_RESULT_WINDOW),
        (1, usize::MAX),
    ] {
        let mut request = SearchRequest::new("garden", Access::All);
        request.limit = limit;
        request.offset = offset;
        match t.index.search(&request) {
            Err(Error::InvalidPage {
                limit: l,
                offset: o,
            }) => assert_eq!((l, o), (limit, offset)),
            other => panic!("limit {limit} offset {offset}: {other:?}"),
        }
    }
    let mut deepest = SearchRequest::new("garden", Access::All);
    deepest.limit = MAX_LIMIT;
    deepest.offset = MAX_RESULT_WINDOW - MAX_LIMIT;
    assert!(t.index.search(&deepest).is_ok());
}
