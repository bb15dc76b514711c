//! The keys that sharding by convergence would have to change: every primary key, unique
//! constraint, unique index and foreign key of the migrated schema that does not include
//! `convergence_id`, compared with the table in `docs/scaling.md`, so that the plan written
//! there cannot go stale. A migration that adds such a key fails this test until the document
//! says what becomes of it.

use std::collections::BTreeSet;

use diesel_async::RunQueryDsl;

use crate::harness::TestDatabase;

/// The document whose table is checked.
const SCALING_GUIDE: &str = include_str!("../docs/scaling.md");
const TABLE_START: &str = "<!-- keys-without-convergence-id -->";
const TABLE_END: &str = "<!-- /keys-without-convergence-id -->";

/// One key as `table | kind | columns`, the first three cells of a row of the document's table.
const KEYS: &str = "\
SELECT c.conrelid::regclass::text AS tbl, \
       CASE c.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique' \
            ELSE 'foreign key → ' || c.confrelid::regclass::text || ' (' || \
                 (SELECT string_agg(a.attname, ', ' ORDER BY k.ord) \
                    FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord) \
                    JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) || ')' \
       END AS kind, \
       (SELECT string_agg(a.attname, ', ' ORDER BY k.ord) \
          FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) \
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS cols \
  FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
 WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f') \
UNION ALL \
SELECT i.indrelid::regclass::text, 'unique index', \
       (SELECT string_agg(a.attname, ', ' ORDER BY k.ord) \
          FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord) \
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) \
  FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
  JOIN pg_namespace n ON n.oid = t.relnamespace \
 WHERE n.nspname = 'public' AND i.indisunique \
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)";

#[derive(diesel::QueryableByName)]
struct Key {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tbl: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    cols: String,
}

/// The keys the document lists: the first three cells of each row of its table.
fn documented() -> BTreeSet<String> {
    let start = SCALING_GUIDE
        .find(TABLE_START)
        .expect("the table's start marker");
    let end = SCALING_GUIDE
        .find(TABLE_END)
        .expect("the table's end marker");
    SCALING_GUIDE[start + TABLE_START.len()..end]
        .lines()
        .filter(|line| {
            line.starts_with('|') && !line.starts_with("|---") && !line.starts_with("| table")
        })
        .map(|line| {
            let cells: Vec<&str> = line
                .split('|')
                .map(|cell| cell.trim().trim_matches('`'))
                .collect();
            format!("{} | {} | {}", cells[1], cells[2], cells[3])
        })
        .collect()
}

#[tokio::test]
async fn the_scaling_guide_lists_every_key_without_the_convergence() {
    let database = TestDatabase::new();
    database.create().await;
    kgnode::db::run_pending(&database.url).await.unwrap();
    let mut conn = database.connect().await;
    let keys: Vec<Key> = diesel::sql_query(KEYS).load(&mut conn).await.unwrap();
    let in_schema: BTreeSet<String> = keys
        .into_iter()
        .filter(|key| key.tbl != "__diesel_schema_migrations")
        .filter(|key| {
            !key.cols
                .split(", ")
                .any(|column| column == "convergence_id")
        })
        .map(|key| format!("{} | {} | {}", key.tbl, key.kind, key.cols))
        .collect();
    assert!(
        in_schema.len() > 20,
        "the query found the keys: {in_schema:?}"
    );
    let documented = documented();
    let missing: Vec<_> = in_schema.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&in_schema).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/scaling.md is out of date.\nnot in its table: {missing:#?}\nno longer in the schema: {stale:#?}"
    );
}
