//! Indexing throughput and query latency of `kg-search` on a synthetic corpus.
//!
//! ```sh
//! cargo bench -p kg-search --bench search                              # 100,000 documents
//! KG_SEARCH_BENCH_DOCS=1000000 cargo bench -p kg-search --bench search  # 1M documents
//! ```
//!
//! Environment: `KG_SEARCH_BENCH_DOCS` (default 100,000), `KG_SEARCH_BENCH_QUERIES` per kind of
//! query (default 1,000), `KG_SEARCH_BENCH_BATCH` documents per commit (default 10,000),
//! `KG_SEARCH_BENCH_WRITER_MB` writer memory (default 50), `KG_SEARCH_BENCH_TYPOS=0` to switch
//! typo tolerance off, `KG_SEARCH_BENCH_THREADS` threads per search (default 1),
//! `KG_SEARCH_BENCH_ONLY` to run only the query sets whose name contains it,
//! `KG_SEARCH_BENCH_DIR` to build the
//! index in a given directory and keep it, instead of a temporary one (a kept index with the
//! same number of documents is reused, and only queries are timed).
//!
//! The corpus imitates the node's synthetic artifacts: Zipf-distributed pseudo-words (natural
//! language-like frequencies), titles of 4 to 10 words, bodies of 30 to 200 words, eight kinds,
//! one to five dimension tags out of 200 names (Zipf), 100 convergences of which 20 are private.
//! Every query computes facets over all matches and snippets for its page of 20 hits, as the
//! API will. Latencies are wall-clock, one query at a time; the last column is the share of that
//! wall time the thread spent on a CPU (below 100 % when other processes compete for the cores).

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kg_search::{
    Access, IndexOp, IndexSettings, Opened, SearchDocument, SearchIndex, SearchRequest, Visibility,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};
use uuid::Uuid;

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ren", "tas", "vo", "ul", "shi", "den", "par", "no", "ex", "qui", "bra",
    "sol", "tin", "ga", "mor", "eth", "pi", "zu", "lan", "cre", "dov",
];
const KINDS: &[(&str, u32)] = &[
    ("idea", 30),
    ("question", 15),
    ("proposal", 12),
    ("resource", 12),
    ("insight", 10),
    ("claim", 9),
    ("evidence", 8),
    ("decision", 4),
];
const VOCABULARY: usize = 30_000;
const DIMENSIONS: usize = 200;
const CONVERGENCES: u128 = 100;
const PRIVATE_CONVERGENCES: u128 = 20;

fn env_usize(name: &str, default: usize) -> Result<usize, Box<dyn Error>> {
    match std::env::var(name) {
        Ok(value) => Ok(value.replace('_', "").parse()?),
        Err(_) => Ok(default),
    }
}

/// Pseudo-words, shorter ones first: all two-syllable words, then three, then four.
fn vocabulary() -> Vec<String> {
    let mut words = Vec::with_capacity(VOCABULARY);
    let n = SYLLABLES.len();
    'outer: for length in 2..=4u32 {
        for mut index in 0..n.pow(length) {
            let mut word = String::new();
            for _ in 0..length {
                word.push_str(SYLLABLES[index % n]);
                index /= n;
            }
            words.push(word);
            if words.len() == VOCABULARY {
                break 'outer;
            }
        }
    }
    words
}

struct Corpus {
    words: Vec<String>,
    rank: HashMap<String, usize>,
    dimensions: Vec<String>,
    word_rank: Zipf<f64>,
    dimension_rank: Zipf<f64>,
    rng: ChaCha8Rng,
    kind_total: u32,
    start: DateTime<Utc>,
}

impl Corpus {
    fn new() -> Result<Self, Box<dyn Error>> {
        let words = vocabulary();
        let dimensions = (0..DIMENSIONS)
            .map(|i| format!("{}-{}", words[i * 7 % 500], words[(i * 13 + 3) % 500]))
            .collect();
        Ok(Self {
            rank: words
                .iter()
                .enumerate()
                .map(|(rank, word)| (word.clone(), rank))
                .collect(),
            word_rank: Zipf::new(words.len() as f64, 1.0)?,
            dimension_rank: Zipf::new(DIMENSIONS as f64, 1.0)?,
            words,
            dimensions,
            rng: ChaCha8Rng::seed_from_u64(42),
            kind_total: KINDS.iter().map(|(_, weight)| weight).sum(),
            start: DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
        })
    }

    fn word(&mut self) -> &str {
        let rank = self.word_rank.sample(&mut self.rng) as usize - 1;
        &self.words[rank.min(self.words.len() - 1)]
    }

    fn text(&mut self, words: usize) -> String {
        let mut text = String::with_capacity(words * 8);
        for i in 0..words {
            let word = self.word().to_owned();
            if i % 12 == 0 {
                if i > 0 {
                    text.push_str(". ");
                }
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    text.extend(first.to_uppercase());
                    text.push_str(chars.as_str());
                }
            } else {
                text.push(' ');
                text.push_str(&word);
            }
        }
        text.push('.');
        text
    }

    fn document(&mut self, n: u64) -> SearchDocument {
        let title_words = self.rng.random_range(4..=10);
        let body_words = self.rng.random_range(30..=200);
        let title = self.text(title_words);
        let body = self.text(body_words);
        let mut pick = self.rng.random_range(0..self.kind_total);
        let kind = KINDS
            .iter()
            .find(|(_, weight)| {
                if pick < *weight {
                    true
                } else {
                    pick -= weight;
                    false
                }
            })
            .map_or("idea", |(kind, _)| kind);
        let tags = self.rng.random_range(1..=5);
        let mut dimensions: Vec<(String, f64)> = Vec::with_capacity(tags);
        for _ in 0..tags {
            let rank = self.dimension_rank.sample(&mut self.rng) as usize - 1;
            let name = &self.dimensions[rank.min(DIMENSIONS - 1)];
            if dimensions.iter().all(|(known, _)| known != name) {
                let weight = f64::from(self.rng.random_range(0..=100u32)) / 100.0;
                dimensions.push((name.clone(), weight));
            }
        }
        let convergence = u128::from(n) % CONVERGENCES;
        let time = self.start + chrono::Duration::seconds(n as i64);
        SearchDocument {
            id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(n)),
            convergence: Uuid::from_u128(convergence + 1),
            convergence_slug: format!("convergence-{convergence}"),
            visibility: if convergence < PRIVATE_CONVERGENCES {
                Visibility::Private
            } else {
                Visibility::Public
            },
            kind: kind.to_owned(),
            title,
            body,
            dimensions,
            version: 1,
            created_at: time,
            updated_at: time,
        }
    }
}

fn directory_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .map(|metadata| metadata.len())
                .sum()
        })
        .unwrap_or(0)
}

/// CPU time of the calling thread so far (user + system), from `/proc/thread-self/stat`, in
/// clock ticks of 10 ms. Coarse, but summed over a whole query set it tells CPU from waiting.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

struct Stats {
    cpu_share: Option<f64>,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    mean: Duration,
    mean_total: f64,
}

fn run_queries(index: &SearchIndex, requests: &[SearchRequest]) -> Result<Stats, Box<dyn Error>> {
    // Warm up on the first tenth.
    for request in requests.iter().take(requests.len() / 10) {
        index.search(request)?;
    }
    let mut times = Vec::with_capacity(requests.len());
    let mut totals = 0u64;
    let cpu_before = thread_cpu();
    for request in requests {
        let started = Instant::now();
        let results = index.search(request)?;
        times.push(started.elapsed());
        totals += results.estimated_total;
    }
    let cpu = thread_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let wall: Duration = times.iter().sum();
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok(Stats {
        cpu_share: cpu.map(|cpu| cpu.as_secs_f64() / wall.as_secs_f64()),
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: times[times.len() - 1],
        mean: times.iter().sum::<Duration>() / times.len() as u32,
        mean_total: totals as f64 / requests.len() as f64,
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

fn main() -> Result<(), Box<dyn Error>> {
    let docs = env_usize("KG_SEARCH_BENCH_DOCS", 100_000)?;
    let queries = env_usize("KG_SEARCH_BENCH_QUERIES", 1_000)?.max(10);
    let batch = env_usize("KG_SEARCH_BENCH_BATCH", 10_000)?.max(1);
    let writer_mb = env_usize("KG_SEARCH_BENCH_WRITER_MB", 50)?;
    let temp;
    let dir: PathBuf = match std::env::var("KG_SEARCH_BENCH_DIR") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let settings = IndexSettings {
        writer_memory_bytes: writer_mb * 1024 * 1024,
        typo_tolerance: env_usize("KG_SEARCH_BENCH_TYPOS", 1)? != 0,
        search_threads: env_usize("KG_SEARCH_BENCH_THREADS", 1)?.max(1),
        ..IndexSettings::default()
    };
    println!(
        "kg-search benchmark: {docs} documents, batches of {batch}, writer {writer_mb} MiB, \
         typo tolerance {}, {} search thread(s)",
        if settings.typo_tolerance { "on" } else { "off" },
        settings.search_threads
    );

    let mut corpus = Corpus::new()?;
    let (index, opened) = SearchIndex::open_or_create(&dir, settings)?;
    // An index kept from an earlier run with the same size is reused: only queries are timed.
    let reuse = opened != Opened::Fresh && index.num_docs() == docs as u64;
    let mut writer = if reuse { None } else { Some(index.writer()?) };
    let mut phrases: Vec<String> = Vec::new();
    let mut indexing = Duration::ZERO;
    let mut generated = 0usize;
    let mut position = 0i64;
    while generated < docs {
        let size = batch.min(docs - generated);
        let mut ops = Vec::with_capacity(size);
        for n in generated..generated + size {
            let document = corpus.document(n as u64);
            if n % (docs / queries.min(docs)).max(1) == 0 {
                // Two adjacent title words, neither among the 50 most frequent (as a person
                // would quote a phrase, not "of the").
                let words: Vec<&str> = document.title.trim_end_matches('.').split(' ').collect();
                let phrase = words.windows(2).skip(1).find(|pair| {
                    pair.iter()
                        .all(|word| corpus.rank.get(*word).is_some_and(|rank| *rank >= 50))
                });
                if let Some(pair) = phrase {
                    phrases.push(format!("\"{} {}\"", pair[0], pair[1]));
                }
            }
            ops.push(IndexOp::Upsert(document));
        }
        generated += size;
        position += 1;
        if let Some(writer) = writer.as_mut() {
            let started = Instant::now();
            writer.apply(ops, position)?;
            indexing += started.elapsed();
        }
    }
    if let Some(writer) = writer {
        let merge_started = Instant::now();
        writer.close()?;
        let merging = merge_started.elapsed();
        index.reload()?;
        println!(
            "indexing: {:.0} docs/s ({:.1} s for {} docs, {} commits; then {:.1} s waiting for merges)",
            docs as f64 / indexing.as_secs_f64(),
            indexing.as_secs_f64(),
            docs,
            position,
            merging.as_secs_f64()
        );
    } else {
        println!("indexing: skipped, reusing the index in {}", dir.display());
    }
    println!(
        "index: {} live docs, {:.0} MiB on disk",
        index.num_docs(),
        directory_size(&dir) as f64 / (1024.0 * 1024.0)
    );

    // Query sets, all deterministic.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let words = &corpus.words;
    let pick = |rng: &mut ChaCha8Rng, ranks: std::ops::Range<usize>| {
        words[rng.random_range(ranks)].clone()
    };
    let public = || Access::PublicAnd(vec![]);
    let readable = Access::PublicAnd((1..=3).map(Uuid::from_u128).collect());
    let mut sets: Vec<(&str, Vec<SearchRequest>)> = Vec::new();
    sets.push((
        "single term (rank 100-5000)",
        (0..queries)
            .map(|_| SearchRequest::new(pick(&mut rng, 100..5_000), public()))
            .collect(),
    ));
    sets.push((
        "single very common term (rank 0-20, stopword-like)",
        (0..queries)
            .map(|_| SearchRequest::new(pick(&mut rng, 0..20), public()))
            .collect(),
    ));
    sets.push((
        "two terms, AND (rank 20-1000)",
        (0..queries)
            .map(|_| {
                let query = format!(
                    "{} {}",
                    pick(&mut rng, 20..1_000),
                    pick(&mut rng, 20..1_000)
                );
                SearchRequest::new(query, public())
            })
            .collect(),
    ));
    sets.push((
        "phrase (two adjacent title words, rank >= 50)",
        phrases
            .iter()
            .cycle()
            .take(queries)
            .map(|phrase| SearchRequest::new(phrase.clone(), public()))
            .collect(),
    ));
    sets.push((
        "typo (one substitution, rank 600-5000)",
        (0..queries)
            .map(|_| {
                let word = pick(&mut rng, 600..5_000);
                let mut chars: Vec<char> = word.chars().collect();
                let at = rng.random_range(1..chars.len());
                chars[at] = if chars[at] == 'x' { 'y' } else { 'x' };
                SearchRequest::new(chars.into_iter().collect::<String>(), public())
            })
            .collect(),
    ));
    sets.push((
        "filtered + faceted (private access, kind, dimension)",
        (0..queries)
            .map(|_| {
                let mut request = SearchRequest::new(pick(&mut rng, 20..2_000), readable.clone());
                request.kinds = vec!["idea".to_owned(), "proposal".to_owned()];
                request.dimensions = vec![corpus.dimensions[rng.random_range(0..10)].clone()];
                request
            })
            .collect(),
    ));
    sets.push((
        "browse: blank query, one dimension",
        (0..queries)
            .map(|_| {
                let mut request = SearchRequest::new("", readable.clone());
                request.dimensions = vec![corpus.dimensions[rng.random_range(0..50)].clone()];
                request
            })
            .collect(),
    ));

    println!(
        "\n{:<56} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>6}",
        "query (page of 20, facets, snippets)",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "mean ms",
        "avg total",
        "cpu %"
    );
    let only = std::env::var("KG_SEARCH_BENCH_ONLY").unwrap_or_default();
    for (name, requests) in sets.iter().filter(|(name, _)| name.contains(only.as_str())) {
        let stats = run_queries(&index, requests)?;
        println!(
            "{:<56} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>10.0} {:>6.0}",
            name,
            ms(stats.p50),
            ms(stats.p90),
            ms(stats.p99),
            ms(stats.max),
            ms(stats.mean),
            stats.mean_total,
            stats.cpu_share.map_or(f64::NAN, |share| share * 100.0)
        );
    }
    Ok(())
}
