//! The page found with pruning (block-max WAND, access and kinds checked on candidates, facets
//! counted in a second pass) is the page an exhaustive search finds: same hits, same scores,
//! same ties by id, same count and facets; with deletes, private documents and many segments.

use super::*;
use crate::Facets;

const PRIVATE: Uuid = Uuid::from_u128(0xd1);
const KINDS: [&str; 3] = ["idea", "claim", "proposal"];
const DIMENSIONS: [&str; 4] = ["food", "land", "water", "energy"];

/// 3,000 documents over two segments, added in descending id order, most matching "garden"
/// with a few distinct scores (many ties) and a few rarer ones scoring high; one in five
/// private, one in seven deleted afterwards.
fn corpus() -> TestIndex {
    let mut t = TestIndex::new();
    let bodies = [
        "garden and more words about other things entirely",
        "garden garden",
        "a garden",
        "nothing to see here",
        "garden garden garden of the north lot",
        "other words only",
    ];
    let all: Vec<SearchDocument> = (1..=3_000u128)
        .rev()
        .map(|n| {
            let title = if n % 97 == 0 { "Garden plan" } else { "Notes" };
            let mut document = doc(n, title, bodies[(n % 6) as usize]);
            if n % 5 == 0 {
                document.convergence = PRIVATE;
                document.visibility = Visibility::Private;
            }
            document.kind = KINDS[(n % 3) as usize].to_owned();
            document.dimensions = (0..(n % 3 + 1) as usize)
                .map(|i| (DIMENSIONS[(n as usize + i) % 4].to_owned(), 0.5))
                .collect();
            document
        })
        .collect();
    for chunk in all.chunks(1_500) {
        t.add(chunk.to_vec());
    }
    t.apply(
        (1..=3_000u128)
            .filter(|n| n % 7 == 0)
            .map(|n| IndexOp::Delete(id(n)))
            .collect(),
    );
    t
}

#[test]
fn pruned_pages_equal_exhaustive_pages() {
    let t = corpus();
    let accesses = [
        Access::All,
        Access::PublicAnd(Vec::new()),
        Access::PublicAnd(vec![PRIVATE]),
    ];
    let kind_filters: [&[&str]; 2] = [&[], &["idea", "claim"]];
    for access in &accesses {
        for kinds in kind_filters {
            for (limit, offset) in [(20, 0), (7, 13), (10, 40), (100, 900), (5, 2_500)] {
                let mut request = SearchRequest::new("garden", access.clone());
                request.kinds = kinds.iter().map(|kind| (*kind).to_owned()).collect();
                request.limit = limit;
                request.offset = offset;
                // A boost of 1 changes no score but makes the query more than one plain
                // word, which is searched exhaustively, in one pass.
                let exhaustive = t.search(&SearchRequest {
                    query: "garden^1".to_owned(),
                    ..request.clone()
                });
                let context = format!("{access:?} {kinds:?} {limit}+{offset}");
                assert!(exhaustive.estimated_total > 1_000, "{context}");
                let pruned = t.search(&request);
                assert_eq!(pruned, exhaustive, "{context}");
                let without_facets = t.search(&SearchRequest {
                    facets: false,
                    ..request.clone()
                });
                assert_eq!(without_facets.hits, exhaustive.hits, "{context}");
                assert_eq!(
                    without_facets.estimated_total, exhaustive.estimated_total,
                    "{context}"
                );
                assert_eq!(without_facets.facets, Facets::default(), "{context}");
            }
        }
    }
}

#[test]
fn phrases_and_several_words_without_facets_match_with_facets() {
    let t = corpus();
    for query in [
        "\"garden garden\"",
        "garden north",
        "garden -north",
        "notes garden",
    ] {
        let mut request = SearchRequest::new(query, Access::PublicAnd(Vec::new()));
        request.limit = 30;
        let with_facets = t.search(&request);
        let without = t.search(&SearchRequest {
            facets: false,
            ..request.clone()
        });
        assert_eq!(without.hits, with_facets.hits, "{query}");
        assert_eq!(
            without.estimated_total, with_facets.estimated_total,
            "{query}"
        );
    }
}

/// Past [`EXACT_MATCHES_PER_SEGMENT`](crate::EXACT_MATCHES_PER_SEGMENT) matches in a segment, a
/// pruned one-word search estimates its total; the page is the same, and facets (which read
/// every match) keep the count exact.
#[test]
fn large_totals_without_facets_are_estimated_closely() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut t = TestIndex::new();
    t.add(
        (1..=50_000u128)
            .map(|n| {
                let body = if rng.random_bool(0.6) {
                    "garden plot"
                } else {
                    "other words"
                };
                doc(n, "Notes", body)
            })
            .collect(),
    );
    let request = SearchRequest::new("garden", Access::All);
    let exact = t.search(&request);
    assert!(exact.estimated_total > 25_000);
    let estimated = t.search(&SearchRequest {
        facets: false,
        ..request
    });
    assert_eq!(estimated.hits, exact.hits);
    let error = estimated.estimated_total.abs_diff(exact.estimated_total) as f64
        / exact.estimated_total as f64;
    assert!(
        error < 0.03,
        "{} vs {}",
        estimated.estimated_total,
        exact.estimated_total
    );
}
