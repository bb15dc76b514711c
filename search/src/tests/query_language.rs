//! AND by default, OR, phrases, exclusion, fields, typo tolerance, malformed input.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::{Error, MAX_QUERY_BYTES};

fn corpus() -> TestIndex {
    let mut t = TestIndex::new();
    t.add(vec![
        doc(
            1,
            "Garden and water",
            "A rota for watering the north lot garden",
        ),
        doc(2, "Garden", "Raised beds behind the fence"),
        doc(3, "Water", "Rain barrels on the lot north side"),
        doc(4, "Orchard", "Apple trees"),
    ]);
    t
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

#[test]
fn several_words_must_all_match() {
    let t = corpus();
    assert_eq!(t.ids("garden water"), [id(1)]);
    assert_eq!(t.ids("garden AND water"), [id(1)]);
    assert!(t.ids("garden orchard").is_empty());
}

#[test]
fn or_matches_either() {
    let t = corpus();
    assert_eq!(sorted(t.ids("garden OR orchard")), [id(1), id(2), id(4)]);
    // AND binds tighter than OR.
    assert_eq!(sorted(t.ids("garden AND fence OR orchard")), [id(2), id(4)]);
}

#[test]
fn phrases_need_adjacent_words_in_order() {
    let t = corpus();
    assert_eq!(t.ids("\"north lot\""), [id(1)]);
    assert_eq!(t.ids("\"lot north\""), [id(3)]);
    assert_eq!(sorted(t.ids("north lot")), [id(1), id(3)]);
    // Slop lets words come between.
    assert!(t.ids("\"rota watering\"").is_empty());
    assert_eq!(t.ids("\"rota watering\"~2"), [id(1)]);
    // An unquoted hyphenated word is a phrase too.
    assert_eq!(t.ids("north-lot"), [id(1)]);
}

#[test]
fn longer_phrases_match_word_pairs_in_a_row() {
    let t = corpus();
    assert_eq!(t.ids("\"the north lot garden\""), [id(1)]);
    assert_eq!(t.ids("\"on the lot north\""), [id(3)]);
    assert!(t.ids("\"the north lot side\"").is_empty());
    assert_eq!(t.ids("title:\"garden and water\""), [id(1)]);
    assert!(t.ids("body:\"garden and water\"").is_empty());
}

/// Phrases, searched through indexed pairs of adjacent words or through word positions: on a
/// corpus of few distinct words (many repeated pairs, words repeated within phrases), every
/// phrase of two and three words finds exactly the documents whose text holds it, by a plain
/// scan of the text.
#[test]
fn phrases_find_exactly_the_documents_holding_them() {
    for phrase_pairs in [true, false] {
        phrases_match_a_scan(IndexSettings {
            phrase_pairs,
            ..IndexSettings::default()
        });
    }
}

fn phrases_match_a_scan(settings: IndexSettings) {
    const WORDS: [&str; 6] = ["red", "blue", "green", "oak", "pine", "tall"];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let texts: Vec<(String, String)> = (0..400)
        .map(|_| {
            let mut words = |count: usize| {
                (0..count)
                    .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let title = words(3);
            let body = words(12);
            (title, body)
        })
        .collect();
    let mut t = TestIndex::with_settings(settings);
    t.add(
        texts
            .iter()
            .enumerate()
            .map(|(n, (title, body))| doc(n as u128 + 1, title, body))
            .collect(),
    );
    let holds = |text: &str, phrase: &[&str]| {
        let words: Vec<&str> = text.split(' ').collect();
        words.windows(phrase.len()).any(|window| window == phrase)
    };
    for _ in 0..60 {
        let length = rng.random_range(2..=3);
        let phrase: Vec<&str> = (0..length)
            .map(|_| WORDS[rng.random_range(0..WORDS.len())])
            .collect();
        let expected: Vec<Uuid> = texts
            .iter()
            .enumerate()
            .filter(|(_, (title, body))| holds(title, &phrase) || holds(body, &phrase))
            .map(|(n, _)| id(n as u128 + 1))
            .collect();
        let mut request = SearchRequest::new(format!("\"{}\"", phrase.join(" ")), Access::All);
        request.limit = 1_000;
        let results = t.search(&request);
        assert_eq!(sorted(ids(&results)), expected, "{phrase:?}");
        assert_eq!(results.estimated_total, expected.len() as u64);
    }
}

#[test]
fn exclusion_removes_matches() {
    let t = corpus();
    assert_eq!(t.ids("garden -fence"), [id(1)]);
    assert_eq!(t.ids("garden -\"north lot\""), [id(2)]);
    // Only exclusions: everything else.
    assert_eq!(sorted(t.ids("-garden")), [id(3), id(4)]);
}

#[test]
fn excluded_phrases_and_groups_work_in_any_segment_layout() {
    // One document per segment, so that the excluded parts start at every possible place.
    let mut t = TestIndex::new();
    let texts = [
        "north lot garden",
        "garden on the lot north",
        "garden",
        "north garden lot",
        "lot garden north lot",
        "garden north lot",
    ];
    for (n, text) in texts.iter().enumerate() {
        t.add(vec![doc(n as u128 + 1, "Notes", text)]);
    }
    assert_eq!(
        sorted(t.ids("garden -\"north lot\"")),
        [id(2), id(3), id(4)]
    );
    assert_eq!(sorted(t.ids("garden -(north AND lot)")), [id(3)]);
    assert_eq!(
        sorted(t.ids("-\"lot north\"")),
        [id(1), id(3), id(4), id(5), id(6)]
    );
    assert_eq!(
        sorted(t.ids("garden -\"lot gar\"*")),
        [id(2), id(3), id(4), id(6)]
    );
}

#[test]
fn exclusions_are_exact() {
    let mut t = TestIndex::new();
    t.add(vec![doc(1, "Garden fence", ""), doc(2, "Garden hence", "")]);
    // "fence" is rare enough for typo tolerance, which must not widen an exclusion to "hence".
    assert_eq!(t.ids("garden -fence"), [id(2)]);
}

#[test]
fn plus_marks_a_word_required_as_it_already_is() {
    let t = corpus();
    assert_eq!(t.ids("+garden water"), [id(1)]);
    assert_eq!(t.ids("+garden +water"), [id(1)]);
    assert_eq!(sorted(t.ids("+garden")), [id(1), id(2)]);
}

#[test]
fn fields_can_be_named_but_only_title_and_body() {
    let t = corpus();
    assert_eq!(sorted(t.ids("title:water")), [id(1), id(3)]);
    assert_eq!(t.ids("body:fence"), [id(2)]);
    assert!(t.ids("title:fence").is_empty());
    for query in ["kind:idea", "convergence:x", "id:1", "nonsense:word"] {
        let error = t.index.search(&SearchRequest::new(query, Access::All));
        assert!(
            matches!(error, Err(Error::InvalidQuery { .. })),
            "{query}: {error:?}"
        );
    }
}

#[test]
fn blank_and_star_match_everything() {
    let t = corpus();
    for query in ["", "   ", "*", "!!!"] {
        assert_eq!(
            sorted(t.ids(query)),
            [id(1), id(2), id(3), id(4)],
            "{query:?}"
        );
    }
}

#[test]
fn longer_words_tolerate_one_typo() {
    let t = corpus();
    assert_eq!(sorted(t.ids("gardn")), [id(1), id(2)]);
    assert_eq!(t.ids("orchrad"), [id(4)], "transposition");
    assert_eq!(t.ids("orcchard"), [id(4)], "insertion");
    // Two edits are too many.
    assert!(t.ids("orxhxrd").is_empty());
    // Short words must be exact: "lott" is four characters.
    assert!(t.ids("lott").is_empty());
    // Quoted words are exact.
    assert!(t.ids("\"gardn\"").is_empty());
}

#[test]
fn exact_matches_rank_above_typo_matches() {
    let mut t = TestIndex::new();
    t.add(vec![
        doc(1, "Harden the shed", ""),
        doc(2, "Garden shed", ""),
    ]);
    assert_eq!(t.ids("garden"), [id(2), id(1)]);
}

#[test]
fn words_common_in_the_index_are_taken_as_spelled() {
    let mut t = TestIndex::new();
    let mut docs: Vec<SearchDocument> = (1..=crate::FUZZY_MAX_DOCS as u128 + 1)
        .map(|n| doc(n, "Garden", ""))
        .collect();
    docs.push(doc(100, "Harden", ""));
    t.add(docs);
    // "garden" is common: no expansion to "harden".
    assert!(!t.ids("garden").contains(&id(100)));
    // "harden" is rare: it also finds the gardens, after itself.
    let found = t.ids("harden");
    assert_eq!(found.len() as u64, crate::FUZZY_MAX_DOCS + 2);
    assert_eq!(found[0], id(100));
}

#[test]
fn typo_tolerance_can_be_switched_off() {
    let mut t = TestIndex::with_settings(IndexSettings {
        typo_tolerance: false,
        ..IndexSettings::default()
    });
    t.add(vec![doc(1, "Garden", "")]);
    assert!(t.ids("gardn").is_empty());
    assert_eq!(t.ids("garden"), [id(1)]);
}

#[test]
fn prefix_phrases() {
    let t = corpus();
    assert_eq!(t.ids("\"raised be\"*"), [id(2)]);
    assert_eq!(t.ids("\"orch\"*"), [id(4)]);
    // Unquoted, as most users write it.
    assert_eq!(t.ids("orch*"), [id(4)]);
    assert_eq!(t.ids("title:orch*"), [id(4)]);
    assert_eq!(sorted(t.ids("wat*")), [id(1), id(3)]);
}

#[test]
fn malformed_queries_are_invalid_query_errors() {
    let t = corpus();
    let deep = format!("{}garden{}", "(".repeat(40), ")".repeat(40));
    let long = "garden ".repeat(MAX_QUERY_BYTES / 7 + 1);
    let many = (0..100)
        .map(|n| format!("w{n}"))
        .collect::<Vec<_>>()
        .join(" ");
    let nasty = [
        "title:",
        "\"unbalanced",
        "garden \"north",
        "(garden",
        "garden)",
        "AND",
        "garden AND",
        "OR OR",
        "[a TO b]",
        "title:[a TO z]",
        "title: IN [a b]",
        "title:*",
        "/gard.*/",
        "title:/gard.*/",
        "garden^",
        "\\",
        "title:\"",
        "-",
        "+",
        "^2",
        deep.as_str(),
        long.as_str(),
        many.as_str(),
    ];
    for query in nasty {
        match t.index.search(&SearchRequest::new(query, Access::All)) {
            Err(Error::InvalidQuery { message }) => assert!(!message.is_empty()),
            other => panic!("{query:?} gave {other:?}"),
        }
    }
}

#[test]
fn odd_but_valid_queries_do_not_fail() {
    let t = corpus();
    for query in [
        "garden~",
        "\"\"",
        "''",
        "garden^2 water",
        "NOT garden",
        "garden && water",
        "🌱 garden",
        "a:b:c",
        "garden:",
        "\u{0}",
        "'north lot'",
        "((garden))",
    ] {
        match t.index.search(&SearchRequest::new(query, Access::All)) {
            Ok(_) | Err(Error::InvalidQuery { .. }) => {}
            Err(other) => panic!("{query:?} gave {other:?}"),
        }
    }
    assert_eq!(t.ids("((garden))").len(), 2);
    assert_eq!(t.ids("'north lot'"), [id(1)]);
}

#[test]
fn random_junk_never_panics() {
    // Several segments, mixed kinds and visibility, so that filters and exclusions meet every
    // layout.
    let mut t = TestIndex::new();
    let texts = [
        "garden water",
        "water",
        "garden north lot",
        "é garden",
        "lot 2 water",
    ];
    for batch in 0..6u128 {
        let docs = (0..5u128)
            .map(|n| {
                let number = batch * 5 + n + 1;
                let mut document = doc(number, texts[n as usize], texts[(n as usize + 2) % 5]);
                if number % 3 == 0 {
                    document.visibility = Visibility::Private;
                    document.convergence = Uuid::from_u128(0xd1);
                }
                if number % 2 == 0 {
                    document.kind = "claim".to_owned();
                }
                document
            })
            .collect();
        t.add(docs);
    }
    let pieces = [
        "garden", "water", "AND", "OR", "NOT", "(", ")", "\"", "'", ":", "title:", "body:", "-",
        "+", "^", "~", "*", "[", "]", "{", "}", "TO", "IN", "\\", "/", " ", " ", "é", "2", "!",
        "&&", "||", "lot", "north",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..3_000 {
        let length = rng.random_range(1..12);
        let query: String = (0..length)
            .map(|_| pieces[rng.random_range(0..pieces.len())])
            .collect();
        let mut request = SearchRequest::new(query.clone(), Access::All);
        if rng.random_bool(0.5) {
            request.access = Access::PublicAnd(vec![]);
            request.kinds = vec!["idea".to_owned()];
        }
        match t.index.search(&request) {
            Ok(_) | Err(Error::InvalidQuery { .. }) => {}
            Err(other) => panic!("{query:?} gave {other:?}"),
        }
    }
}
