//! Ranking, stemming, language, snippets.

use super::*;
use crate::{Error, Language};

#[test]
fn title_match_beats_body_match() {
    let mut t = TestIndex::new();
    t.add(vec![
        doc(1, "Water rota", "Who waters the garden when it is hot"),
        doc(2, "Community garden", "Raised beds on the north lot"),
        doc(3, "Tool library", "Lend drills and ladders"),
    ]);
    assert_eq!(t.ids("garden"), [id(2), id(1)]);
}

#[test]
fn stemming_matches_inflections_both_ways() {
    let mut t = TestIndex::new();
    t.add(vec![
        doc(1, "A proposal for the lot", ""),
        doc(2, "Three proposals", ""),
        doc(3, "Nothing planned", "gardening"),
    ]);
    let mut found = t.ids("proposals");
    found.sort();
    assert_eq!(found, [id(1), id(2)]);
    let mut found = t.ids("proposal");
    found.sort();
    assert_eq!(found, [id(1), id(2)]);
    assert_eq!(t.ids("gardens"), [id(3)]);
}

#[test]
fn more_occurrences_and_shorter_fields_rank_higher() {
    let mut t = TestIndex::new();
    t.add(vec![
        doc(
            1,
            "Notes",
            "compost once among many other words about things and stuff",
        ),
        doc(2, "Notes", "compost compost compost"),
    ]);
    assert_eq!(t.ids("compost"), [id(2), id(1)]);
}

#[test]
fn language_is_configurable_and_part_of_the_index() {
    let mut t = TestIndex::with_settings(IndexSettings::new(Language::French));
    t.add(vec![doc(1, "Les jardins partagés", "")]);
    assert_eq!(t.ids("jardin"), [id(1)]);
    drop(t.writer);
    drop(t.index);
    let error = SearchIndex::open(t.dir.path(), IndexSettings::default()).unwrap_err();
    match &error {
        Error::SchemaMismatch {
            expected, found, ..
        } => {
            assert_eq!(expected, "kg_english");
            assert_eq!(found, "kg_french");
        }
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
    assert!(error.needs_rebuild());
}

#[test]
fn snippets_highlight_stemmed_matches_and_escape_html() {
    let mut t = TestIndex::new();
    t.add(vec![
        doc(
            1,
            "Plans",
            "We discussed <script>alert(1)</script> & many proposals today.",
        ),
        doc(2, "Proposal: <b>bold</b>", "Nothing relevant in the body."),
    ]);
    let results = t.search(&SearchRequest::new("proposal", Access::All));
    let snippet = |n| {
        results
            .hits
            .iter()
            .find(|hit| hit.id == id(n))
            .map(|hit| hit.snippet.clone())
            .unwrap()
    };
    assert_eq!(
        snippet(1),
        "We discussed &lt;script&gt;alert(1)&lt;/script&gt; &amp; many <b>proposals</b> today."
    );
    // No match in the body: the title, highlighted and escaped.
    assert_eq!(snippet(2), "<b>Proposal</b>: &lt;b&gt;bold&lt;/b&gt;");
}

#[test]
fn phrase_snippets_highlight_the_phrase_words() {
    let mut t = TestIndex::new();
    t.add(vec![doc(
        1,
        "Plans",
        "Raised beds for the north lot, watered by the Gardening Club.",
    )]);
    let snippet = |query: &str| {
        t.search(&SearchRequest::new(query, Access::All)).hits[0]
            .snippet
            .clone()
    };
    assert_eq!(
        snippet("\"north lot\""),
        "Raised beds for the <b>north</b> <b>lot</b>, watered by the Gardening Club."
    );
    // Words found by their stems.
    assert_eq!(
        snippet("\"gardens clubs\""),
        "Raised beds for the north lot, watered by the <b>Gardening</b> <b>Club</b>."
    );
}

#[test]
fn snippet_without_query_words_is_the_start_of_the_body() {
    let mut t = TestIndex::new();
    let long_body = format!("<i>Start</i> {}", "word ".repeat(100));
    t.add(vec![doc(1, "Title only", ""), doc(2, "Long", &long_body)]);
    let results = t.search(&SearchRequest::new("", Access::All));
    assert_eq!(results.hits[0].snippet, "Title only");
    let snippet = &results.hits[1].snippet;
    assert!(
        snippet.starts_with("&lt;i&gt;Start&lt;/i&gt; word word"),
        "{snippet}"
    );
    assert!(snippet.ends_with("word…"), "{snippet}");
    assert!(snippet.chars().count() < 230, "{snippet}");
}

#[test]
fn hits_carry_what_the_api_returns() {
    let mut t = TestIndex::new();
    let mut garden = doc(7, "Community garden", "Beds");
    garden.kind = "proposal".to_owned();
    garden.convergence_slug = "boulder-2026".to_owned();
    t.add(vec![garden.clone()]);
    let results = t.search(&SearchRequest::new("garden", Access::All));
    let hit = &results.hits[0];
    assert_eq!(hit.id, garden.id);
    assert_eq!(hit.title, "Community garden");
    assert_eq!(hit.kind, "proposal");
    assert_eq!(hit.convergence, PUBLIC);
    assert_eq!(hit.convergence_slug, "boulder-2026");
    assert!(hit.score > 0.0);
}
