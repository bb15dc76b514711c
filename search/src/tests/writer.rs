//! Upserts, deletes, commit positions, the single-writer lock.

use std::collections::HashMap;

use super::*;
use crate::{Error, MIN_WRITER_MEMORY_BYTES, Opened};

#[test]
fn upsert_replaces_and_never_duplicates() {
    let mut t = TestIndex::new();
    t.add(vec![doc(1, "Alpha", "first text")]);
    let mut second = doc(1, "Beta", "second text");
    second.version = 2;
    t.add(vec![second.clone()]);
    assert!(t.ids("alpha").is_empty());
    assert_eq!(t.ids("beta"), [id(1)]);
    assert_eq!(t.index.num_docs(), 1);
    // The same id several times in one batch: the last one wins.
    let mut third = doc(1, "Gamma", "");
    third.version = 3;
    t.add(vec![second, third.clone()]);
    assert_eq!(t.index.num_docs(), 1);
    assert_eq!(t.ids("gamma"), [id(1)]);
    assert_eq!(t.index.all_versions().unwrap(), HashMap::from([(id(1), 3)]));
    assert_eq!(t.index.document(id(1)).unwrap(), Some(third));
}

#[test]
fn deletes_are_reflected_at_once() {
    let mut t = TestIndex::new();
    t.add(vec![doc(1, "Garden", ""), doc(2, "Garden", "")]);
    t.apply(vec![IndexOp::Delete(id(1)), IndexOp::Delete(id(99))]);
    assert_eq!(t.ids("garden"), [id(2)]);
    assert_eq!(t.ids(""), [id(2)]);
    assert_eq!(t.index.num_docs(), 1);
    assert_eq!(t.index.document(id(1)).unwrap(), None);
    assert!(!t.index.all_versions().unwrap().contains_key(&id(1)));
}

#[test]
fn operations_in_a_batch_apply_in_order() {
    let mut t = TestIndex::new();
    t.apply(vec![
        IndexOp::Upsert(doc(1, "Garden", "")),
        IndexOp::Delete(id(1)),
        IndexOp::Delete(id(2)),
        IndexOp::Upsert(doc(2, "Garden", "")),
    ]);
    assert_eq!(t.ids("garden"), [id(2)]);
}

#[test]
fn reapplying_a_batch_changes_nothing() {
    let mut t = TestIndex::new();
    let batch = vec![
        IndexOp::Upsert(doc(1, "Garden", "")),
        IndexOp::Upsert(doc(2, "Orchard", "")),
        IndexOp::Delete(id(3)),
    ];
    t.writer.apply(batch.clone(), 5).unwrap();
    t.writer.apply(batch, 5).unwrap();
    assert_eq!(t.index.num_docs(), 2);
    assert_eq!(t.index.committed_position().unwrap(), Some(5));
}

#[test]
fn documents_round_trip_through_the_store() {
    let mut t = TestIndex::new();
    let mut full = doc(5, "Title", "Body");
    full.dimensions = vec![("food-security".to_owned(), 0.8), ("land".to_owned(), 0.0)];
    full.visibility = Visibility::Private;
    full.version = 12;
    t.add(vec![full.clone()]);
    assert_eq!(t.index.document(id(5)).unwrap(), Some(full));
}

#[test]
fn committed_position_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (index, opened) =
            SearchIndex::open_or_create(dir.path(), IndexSettings::default()).unwrap();
        assert_eq!(opened, Opened::Fresh);
        assert_eq!(index.committed_position().unwrap(), None);
        let mut writer = index.writer().unwrap();
        assert_eq!(writer.committed_position(), None);
        writer
            .apply(vec![IndexOp::Upsert(doc(1, "Garden", ""))], 41)
            .unwrap();
        writer
            .apply(vec![IndexOp::Upsert(doc(2, "Orchard", ""))], 42)
            .unwrap();
        assert_eq!(writer.committed_position(), Some(42));
        writer.close().unwrap();
    }
    let (index, opened) =
        SearchIndex::open_or_create(dir.path(), IndexSettings::default()).unwrap();
    assert_eq!(opened, Opened::Existing { position: Some(42) });
    assert_eq!(index.num_docs(), 2);
    let writer = index.writer().unwrap();
    assert_eq!(writer.committed_position(), Some(42));
}

#[test]
fn a_writer_dropped_without_closing_keeps_its_commits() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (index, _) = SearchIndex::open_or_create(dir.path(), IndexSettings::default()).unwrap();
        let mut writer = index.writer().unwrap();
        writer
            .apply(vec![IndexOp::Upsert(doc(1, "Garden", ""))], 3)
            .unwrap();
    }
    let (index, opened) =
        SearchIndex::open_or_create(dir.path(), IndexSettings::default()).unwrap();
    assert_eq!(opened, Opened::Existing { position: Some(3) });
    assert_eq!(index.all_versions().unwrap(), HashMap::from([(id(1), 1)]));
}

#[test]
fn an_empty_batch_moves_the_position() {
    let mut t = TestIndex::new();
    t.writer.apply(Vec::new(), 10).unwrap();
    assert_eq!(t.index.committed_position().unwrap(), Some(10));
}

#[test]
fn positions_never_go_back() {
    let mut t = TestIndex::new();
    t.writer.apply(Vec::new(), 10).unwrap();
    match t
        .writer
        .apply(vec![IndexOp::Upsert(doc(1, "Garden", ""))], 9)
    {
        Err(Error::PositionRegressed {
            committed,
            requested,
        }) => assert_eq!((committed, requested), (10, 9)),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.index.num_docs(), 0);
    assert_eq!(t.index.committed_position().unwrap(), Some(10));
}

#[test]
fn only_one_writer_at_a_time() {
    let t = TestIndex::new();
    match t.index.writer() {
        Err(Error::Locked { path }) => assert_eq!(path, t.dir.path()),
        other => panic!("{other:?}"),
    }
    // Another process's view of the same directory is refused too.
    let other = SearchIndex::open(t.dir.path(), IndexSettings::default()).unwrap();
    assert!(matches!(other.writer(), Err(Error::Locked { .. })));
    drop(t.writer);
    assert!(other.writer().is_ok());
}

#[test]
fn writer_memory_below_the_minimum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let settings = IndexSettings {
        writer_memory_bytes: 1_000_000,
        ..IndexSettings::default()
    };
    let (index, _) = SearchIndex::open_or_create(dir.path(), settings).unwrap();
    match index.writer() {
        Err(Error::WriterMemoryTooSmall { bytes, minimum }) => {
            assert_eq!((bytes, minimum), (1_000_000, MIN_WRITER_MEMORY_BYTES));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_second_reader_sees_commits_after_reload() {
    let mut t = TestIndex::new();
    let other = SearchIndex::open(t.dir.path(), IndexSettings::default()).unwrap();
    t.add(vec![doc(1, "Garden", "")]);
    assert_eq!(other.num_docs(), 0);
    other.reload().unwrap();
    assert_eq!(other.num_docs(), 1);
    // Clones share the reader: no reload needed.
    let clone = t.index.clone();
    t.add(vec![doc(2, "Garden", "")]);
    assert_eq!(clone.num_docs(), 2);
}

#[test]
fn merges_keep_the_position_and_every_document() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (index, _) = SearchIndex::open_or_create(dir.path(), IndexSettings::default()).unwrap();
        let mut writer = index.writer().unwrap();
        for n in 1..=30u128 {
            writer
                .apply(vec![IndexOp::Upsert(doc(n, "Garden", ""))], n as i64)
                .unwrap();
        }
        // Waits for the merges the thirty small segments set off.
        writer.close().unwrap();
    }
    let (index, opened) =
        SearchIndex::open_or_create(dir.path(), IndexSettings::default()).unwrap();
    assert_eq!(opened, Opened::Existing { position: Some(30) });
    assert_eq!(index.all_versions().unwrap().len(), 30);
    assert_eq!(index.num_docs(), 30);
}

#[test]
fn handles_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<SearchIndex>();
    send::<IndexWriterHandle>();
}

/// Environment variable that turns the test below into the writer it kills.
const CRASH_CHILD: &str = "KG_SEARCH_CRASH_CHILD_DIR";
const CRASH_BATCH: u128 = 200;

/// Batch `n` upserts documents `n * 1000 .. n * 1000 + 200` and document 0 at version `n`.
fn crash_batch(n: i64) -> Vec<IndexOp> {
    let mut ops: Vec<IndexOp> = (0..CRASH_BATCH)
        .map(|j| IndexOp::Upsert(doc(n as u128 * 1000 + j, "Garden", "bed rota water")))
        .collect();
    let mut zero = doc(0, "Counter", "");
    zero.version = n;
    ops.push(IndexOp::Upsert(zero));
    ops
}

#[test]
fn a_killed_writer_resumes_exactly_at_its_last_commit() {
    if let Ok(dir) = std::env::var(CRASH_CHILD) {
        // The child: write batches until killed.
        let (index, _) = SearchIndex::open_or_create(&dir, IndexSettings::default()).unwrap();
        let mut writer = index.writer().unwrap();
        for n in 1.. {
            writer.apply(crash_batch(n), n).unwrap();
            println!("committed {n}");
        }
        return;
    }
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "tests::writer::a_killed_writer_resumes_exactly_at_its_last_commit",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reported = 0;
    for line in BufReader::new(stdout).lines() {
        if let Some(n) = line.unwrap().strip_prefix("committed ") {
            reported = n.parse().unwrap();
            if reported >= 5 {
                break;
            }
        }
    }
    // SIGKILL while it is in the middle of its next batch.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(reported >= 5, "the child stopped early");

    let (index, opened) =
        SearchIndex::open_or_create(dir.path(), IndexSettings::default()).unwrap();
    let Opened::Existing {
        position: Some(position),
    } = opened
    else {
        panic!("{opened:?}");
    };
    assert!(position >= reported, "{position} < {reported}");
    // Exactly the committed batches: nothing lost, nothing half applied, no duplicates.
    let mut expected: HashMap<Uuid, i64> = (1..=position)
        .flat_map(|n| (0..CRASH_BATCH).map(move |j| (id(n as u128 * 1000 + j), 1)))
        .collect();
    expected.insert(id(0), position);
    assert_eq!(index.all_versions().unwrap(), expected);
    assert_eq!(index.num_docs(), expected.len() as u64);
    // The dead process's lock is gone, and the next batch follows on.
    let mut writer = index.writer().unwrap();
    writer
        .apply(crash_batch(position + 1), position + 1)
        .unwrap();
    assert_eq!(index.all_versions().unwrap()[&id(0)], position + 1);
}
