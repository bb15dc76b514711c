//! Fresh, existing and unreadable indexes; rebuild into staging and swap; recovery.

use std::fs;
use std::path::Path;

use tantivy::{Index, TantivyDocument};

use super::*;
use crate::{Error, IndexLayout, Opened, Recovery};

fn write_index(dir: &Path, docs: Vec<SearchDocument>, position: i64) {
    let (index, _) = SearchIndex::open_or_create(dir, IndexSettings::default()).unwrap();
    let mut writer = index.writer().unwrap();
    writer
        .apply(
            docs.into_iter().map(IndexOp::Upsert).collect::<Vec<_>>(),
            position,
        )
        .unwrap();
    writer.close().unwrap();
}

fn open(dir: &Path) -> crate::Result<(SearchIndex, Opened)> {
    SearchIndex::open_or_create(dir, IndexSettings::default())
}

#[test]
fn a_missing_directory_becomes_a_fresh_index() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data").join("search");
    let (index, opened) = open(&dir).unwrap();
    assert_eq!(opened, Opened::Fresh);
    assert_eq!(index.num_docs(), 0);
    assert!(dir.join("meta.json").exists());
    drop(index);
    // Created but never committed to: existing, without a position.
    let (_, opened) = open(&dir).unwrap();
    assert_eq!(opened, Opened::Existing { position: None });
}

#[test]
fn create_in_refuses_an_existing_index() {
    let dir = tempfile::tempdir().unwrap();
    write_index(dir.path(), vec![], 1);
    assert!(matches!(
        SearchIndex::create_in(dir.path(), IndexSettings::default()),
        Err(Error::AlreadyExists { .. })
    ));
}

#[test]
fn a_damaged_meta_file_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    write_index(dir.path(), vec![doc(1, "Garden", "")], 1);
    fs::write(dir.path().join("meta.json"), "{ not json").unwrap();
    let error = open(dir.path()).unwrap_err();
    assert!(matches!(error, Error::Unreadable { .. }), "{error:?}");
    assert!(error.needs_rebuild());
}

#[test]
fn a_missing_segment_file_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    write_index(dir.path(), vec![doc(1, "Garden", "")], 1);
    let segment_file = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "idx"))
        .unwrap();
    fs::remove_file(segment_file).unwrap();
    let error = open(dir.path()).unwrap_err();
    assert!(matches!(error, Error::Unreadable { .. }), "{error:?}");
    assert!(error.needs_rebuild());
}

#[test]
fn a_foreign_payload_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_index(dir.path(), vec![], 1);
    {
        let index = Index::open_in_dir(dir.path()).unwrap();
        let mut writer = index.writer::<TantivyDocument>(15_000_000).unwrap();
        let mut commit = writer.prepare_commit().unwrap();
        commit.set_payload("seq=12");
        commit.commit().unwrap();
    }
    match open(dir.path()) {
        Err(error @ Error::CorruptPayload { .. }) => {
            assert!(error.needs_rebuild());
            assert!(error.to_string().contains("seq=12"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_foreign_index_is_a_schema_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = tantivy::schema::Schema::builder();
    builder.add_text_field("title", tantivy::schema::TEXT);
    Index::create_in_dir(dir.path(), builder.build()).unwrap();
    match open(dir.path()) {
        Err(Error::SchemaMismatch { found, .. }) => assert_eq!(found, "default"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn switching_phrase_pairs_asks_for_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    drop(SearchIndex::create_in(dir.path(), IndexSettings::default()).unwrap());
    let without_pairs = IndexSettings {
        phrase_pairs: false,
        ..IndexSettings::default()
    };
    match SearchIndex::open(dir.path(), without_pairs) {
        Err(error @ Error::SchemaMismatch { .. }) => assert!(error.needs_rebuild()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rebuild_in_staging_and_swap_in() {
    let data = tempfile::tempdir().unwrap();
    let layout = IndexLayout::new(data.path());
    write_index(&layout.live(), vec![doc(1, "Old garden", "")], 5);

    // The live index serves while the rebuild runs beside it.
    let (live, _) = open(&layout.live()).unwrap();
    let staging = layout.prepare_staging().unwrap();
    assert_eq!(staging, data.path().join("search.new"));
    let rebuilt = SearchIndex::create_in(&staging, IndexSettings::default()).unwrap();
    let mut writer = rebuilt.writer().unwrap();
    writer
        .apply(
            vec![
                IndexOp::Upsert(doc(1, "New garden", "")),
                IndexOp::Upsert(doc(2, "Orchard", "")),
            ],
            9,
        )
        .unwrap();
    // Refused while the rebuild's writer is open.
    assert!(matches!(
        layout.swap_in_staging(),
        Err(Error::Locked { .. })
    ));
    writer.close().unwrap();
    // And while the live index has a writer.
    let live_writer = live.writer().unwrap();
    assert!(matches!(
        layout.swap_in_staging(),
        Err(Error::Locked { .. })
    ));
    drop(live_writer);

    layout.swap_in_staging().unwrap();
    assert!(!layout.staging().exists());
    assert!(!layout.retired().exists());
    // The old handle still reads the old files.
    assert_eq!(live.num_docs(), 1);
    let (swapped, opened) = open(&layout.live()).unwrap();
    assert_eq!(opened, Opened::Existing { position: Some(9) });
    assert_eq!(swapped.num_docs(), 2);
    assert!(!layout.live().join("kg-search.ready").exists());
    assert_eq!(layout.recover().unwrap(), Recovery::Nothing);
}

#[test]
fn swapping_without_a_staged_index_fails() {
    let data = tempfile::tempdir().unwrap();
    let layout = IndexLayout::new(data.path());
    assert!(matches!(
        layout.swap_in_staging(),
        Err(Error::StagingIncomplete { .. })
    ));
    layout.prepare_staging().unwrap();
    assert!(matches!(
        layout.swap_in_staging(),
        Err(Error::StagingIncomplete { .. })
    ));
}

#[test]
fn swapping_in_without_a_live_index() {
    let data = tempfile::tempdir().unwrap();
    let layout = IndexLayout::new(data.path());
    let staging = layout.prepare_staging().unwrap();
    write_index(&staging, vec![doc(1, "Garden", "")], 2);
    layout.swap_in_staging().unwrap();
    let (index, opened) = open(&layout.live()).unwrap();
    assert_eq!(opened, Opened::Existing { position: Some(2) });
    assert_eq!(index.num_docs(), 1);
}

#[test]
fn prepare_staging_clears_an_unfinished_rebuild() {
    let data = tempfile::tempdir().unwrap();
    let layout = IndexLayout::new(data.path());
    write_index(&layout.staging(), vec![doc(1, "Garden", "")], 2);
    // Without the ready mark, recovery leaves a rebuild alone...
    assert_eq!(layout.recover().unwrap(), Recovery::Nothing);
    assert!(layout.staging().join("meta.json").exists());
    assert!(!layout.live().exists());
    // ...and the next rebuild starts from an empty directory.
    let staging = layout.prepare_staging().unwrap();
    assert_eq!(fs::read_dir(staging).unwrap().count(), 0);
}

#[test]
fn recovery_finishes_an_interrupted_swap() {
    let data = tempfile::tempdir().unwrap();
    let layout = IndexLayout::new(data.path());
    write_index(&layout.live(), vec![doc(1, "Old", "")], 5);
    write_index(&layout.staging(), vec![doc(2, "New", "")], 9);
    // The swap marked staging complete, moved the live index away, and died.
    fs::write(layout.staging().join("kg-search.ready"), "").unwrap();
    fs::rename(layout.live(), layout.retired()).unwrap();

    assert_eq!(layout.recover().unwrap(), Recovery::SwapCompleted);
    assert!(!layout.retired().exists());
    assert!(!layout.staging().exists());
    let (index, opened) = open(&layout.live()).unwrap();
    assert_eq!(opened, Opened::Existing { position: Some(9) });
    assert_eq!(
        index
            .all_versions()
            .unwrap()
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [id(2)]
    );
}

#[test]
fn recovery_removes_a_leftover_retired_index() {
    let data = tempfile::tempdir().unwrap();
    let layout = IndexLayout::new(data.path());
    write_index(&layout.live(), vec![], 1);
    write_index(&layout.retired(), vec![], 1);
    assert_eq!(layout.recover().unwrap(), Recovery::Nothing);
    assert!(!layout.retired().exists());
    assert!(layout.live().exists());
}
