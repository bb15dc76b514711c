//! Access, convergence, kind and dimension filters; facet counts; dimension weights.

use super::*;
use crate::FacetCount;

const PRIVATE_Q: Uuid = Uuid::from_u128(0xd1);
const PRIVATE_R: Uuid = Uuid::from_u128(0xd2);

fn tagged(
    n: u128,
    convergence: Uuid,
    kind: &str,
    dimensions: &[(&str, f64)],
    text: &str,
) -> SearchDocument {
    let mut document = doc(n, text, "shared body words");
    document.convergence = convergence;
    document.convergence_slug = format!("c{convergence}");
    document.visibility = if convergence == PUBLIC {
        Visibility::Public
    } else {
        Visibility::Private
    };
    document.kind = kind.to_owned();
    document.dimensions = dimensions
        .iter()
        .map(|(name, weight)| ((*name).to_owned(), *weight))
        .collect();
    document
}

fn corpus() -> TestIndex {
    let mut t = TestIndex::new();
    t.add(vec![
        tagged(1, PUBLIC, "idea", &[("food", 0.9), ("land", 0.2)], "garden"),
        tagged(2, PUBLIC, "proposal", &[("food", 0.1)], "garden"),
        tagged(3, PUBLIC, "idea", &[("land", 0.5)], "garden"),
        tagged(4, PRIVATE_Q, "idea", &[("food", 0.5)], "garden"),
        tagged(5, PRIVATE_R, "claim", &[("water", 1.0)], "garden"),
        tagged(6, PUBLIC, "idea", &[("food", 0.3)], "orchard"),
    ]);
    t
}

fn request(query: &str, access: Access) -> SearchRequest {
    let mut request = SearchRequest::new(query, access);
    request.limit = 100;
    request
}

fn sorted_ids(results: &SearchResults) -> Vec<Uuid> {
    let mut found = ids(results);
    found.sort();
    found
}

fn counts(facets: &[FacetCount]) -> Vec<(&str, u64)> {
    facets
        .iter()
        .map(|facet| (facet.value.as_str(), facet.count))
        .collect()
}

#[test]
fn private_documents_need_access_to_their_convergence() {
    let t = corpus();
    let public = t.search(&request("garden", Access::PublicAnd(vec![])));
    assert_eq!(sorted_ids(&public), [id(1), id(2), id(3)]);
    let with_q = t.search(&request("garden", Access::PublicAnd(vec![PRIVATE_Q])));
    assert_eq!(sorted_ids(&with_q), [id(1), id(2), id(3), id(4)]);
    let with_both = t.search(&request(
        "garden",
        Access::PublicAnd(vec![PRIVATE_Q, PRIVATE_R]),
    ));
    assert_eq!(sorted_ids(&with_both), [id(1), id(2), id(3), id(4), id(5)]);
    let all = t.search(&request("garden", Access::All));
    assert_eq!(all.estimated_total, 5);
    // Blank queries and exclusions obey access too.
    let blank = t.search(&request("", Access::PublicAnd(vec![])));
    assert_eq!(sorted_ids(&blank), [id(1), id(2), id(3), id(6)]);
    let negative = t.search(&request("-orchard", Access::PublicAnd(vec![])));
    assert_eq!(sorted_ids(&negative), [id(1), id(2), id(3)]);
    // OR in the query cannot widen access.
    let widened = t.search(&request("garden OR *", Access::PublicAnd(vec![])));
    assert_eq!(widened.estimated_total, 4);
}

#[test]
fn convergence_filter_applies_within_access() {
    let t = corpus();
    let mut only_q = request("garden", Access::PublicAnd(vec![]));
    only_q.convergence = Some(PRIVATE_Q);
    assert_eq!(t.search(&only_q).estimated_total, 0);
    only_q.access = Access::PublicAnd(vec![PRIVATE_Q]);
    assert_eq!(ids(&t.search(&only_q)), [id(4)]);
    let mut only_public = request("garden", Access::All);
    only_public.convergence = Some(PUBLIC);
    assert_eq!(sorted_ids(&t.search(&only_public)), [id(1), id(2), id(3)]);
}

#[test]
fn kind_filter_matches_any_listed_kind() {
    let t = corpus();
    let mut ideas = request("garden", Access::All);
    ideas.kinds = vec!["idea".to_owned()];
    assert_eq!(sorted_ids(&t.search(&ideas)), [id(1), id(3), id(4)]);
    ideas.kinds.push("claim".to_owned());
    assert_eq!(sorted_ids(&t.search(&ideas)), [id(1), id(3), id(4), id(5)]);
    ideas.kinds = vec!["unknown".to_owned()];
    assert_eq!(t.search(&ideas).estimated_total, 0);
}

#[test]
fn dimension_filter_requires_every_listed_dimension() {
    let t = corpus();
    let mut food = request("garden", Access::All);
    food.dimensions = vec!["food".to_owned()];
    assert_eq!(sorted_ids(&t.search(&food)), [id(1), id(2), id(4)]);
    food.dimensions.push("land".to_owned());
    assert_eq!(ids(&t.search(&food)), [id(1)]);
}

#[test]
fn dimension_weight_ranks_filtered_hits() {
    let t = corpus();
    let mut food = request("garden", Access::All);
    food.dimensions = vec!["food".to_owned()];
    // Same text, so the weight decides: 0.9, 0.5, 0.1.
    let results = t.search(&food);
    assert_eq!(ids(&results), [id(1), id(4), id(2)]);
    let scores: Vec<f32> = results.hits.iter().map(|hit| hit.score).collect();
    let ratio = scores[0] / scores[2];
    assert!((ratio - 1.9 / 1.1).abs() < 1e-3, "{scores:?}");
    // A blank query with a dimension lists the heaviest first.
    let mut browse = request("", Access::All);
    browse.dimensions = vec!["food".to_owned()];
    assert_eq!(ids(&t.search(&browse)), [id(1), id(4), id(6), id(2)]);
    // So does a query of exclusions only.
    browse.query = "-orchard".to_owned();
    assert_eq!(ids(&t.search(&browse)), [id(1), id(4), id(2)]);
}

#[test]
fn facets_count_every_match_not_only_the_page() {
    let t = corpus();
    let mut page = request("garden", Access::All);
    page.limit = 1;
    let results = t.search(&page);
    assert_eq!(results.hits.len(), 1);
    assert_eq!(results.estimated_total, 5);
    assert_eq!(
        counts(&results.facets.kind),
        [("idea", 3), ("claim", 1), ("proposal", 1)]
    );
    assert_eq!(
        counts(&results.facets.dimension),
        [("food", 3), ("land", 2), ("water", 1)]
    );
}

#[test]
fn facets_follow_access_and_filters() {
    let t = corpus();
    let mut public = request("garden", Access::PublicAnd(vec![]));
    let results = t.search(&public);
    assert_eq!(counts(&results.facets.kind), [("idea", 2), ("proposal", 1)]);
    assert_eq!(
        counts(&results.facets.dimension),
        [("food", 2), ("land", 2)]
    );
    public.kinds = vec!["idea".to_owned()];
    let results = t.search(&public);
    assert_eq!(counts(&results.facets.kind), [("idea", 2)]);
    assert_eq!(
        counts(&results.facets.dimension),
        [("land", 2), ("food", 1)]
    );
    public.max_facet_values = 1;
    let results = t.search(&public);
    assert_eq!(counts(&results.facets.dimension), [("land", 2)]);
}

#[test]
fn facets_are_exact_across_segments_and_after_updates() {
    let mut t = TestIndex::new();
    for batch in 0..4u128 {
        let docs = (0..25u128)
            .map(|n| {
                let number = batch * 25 + n;
                let kind = if number % 3 == 0 { "claim" } else { "idea" };
                let mut dims = vec![("all", 0.5)];
                if number % 2 == 0 {
                    dims.push(("even", 0.5));
                }
                tagged(number + 1, PUBLIC, kind, &dims, "garden")
            })
            .collect();
        t.add(docs);
    }
    // Turn the 34 claims (0, 3, ..., 99) into ideas without dimensions, one batch.
    let updates = (0..100u128)
        .filter(|n| n % 3 == 0)
        .map(|n| IndexOp::Upsert(tagged(n + 1, PUBLIC, "idea", &[], "garden")))
        .collect();
    t.apply(updates);
    let results = t.search(&request("garden", Access::All));
    assert_eq!(results.estimated_total, 100);
    assert_eq!(counts(&results.facets.kind), [("idea", 100)]);
    // 66 documents keep "all"; of them, the even numbers not divisible by 3: 33.
    assert_eq!(
        counts(&results.facets.dimension),
        [("all", 66), ("even", 33)]
    );
}

#[test]
fn facets_are_exact_over_many_blocks() {
    let mut t = TestIndex::new();
    let kinds = ["idea", "claim", "proposal"];
    let docs = (0..1_000u128)
        .map(|n| {
            let mut dims = vec![("all", 0.5)];
            if n % 7 == 0 {
                dims.push(("seventh", 0.5));
            }
            tagged(n + 1, PUBLIC, kinds[(n % 3) as usize], &dims, "garden")
        })
        .collect();
    t.add(docs);
    let results = t.search(&request("garden", Access::All));
    assert_eq!(results.estimated_total, 1_000);
    assert_eq!(
        counts(&results.facets.kind),
        [("idea", 334), ("claim", 333), ("proposal", 333)]
    );
    assert_eq!(
        counts(&results.facets.dimension),
        [("all", 1_000), ("seventh", 143)]
    );
}
