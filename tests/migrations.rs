use diesel_async::RunQueryDsl;

use crate::harness::TestDatabase;

async fn tables(database: &TestDatabase) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        tablename: String,
    }
    let mut conn = database.connect().await;
    let rows: Vec<Table> = diesel::sql_query(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
         AND tablename <> '__diesel_schema_migrations' ORDER BY tablename",
    )
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|t| t.tablename).collect()
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let database = TestDatabase::new();
    database.create().await;
    let embedded = kgnode::db::embedded_versions();

    let applied = kgnode::db::run_pending(&database.url).await.unwrap();
    assert_eq!(applied, embedded);
    let schema = tables(&database).await;
    for table in [
        "artifacts",
        "artifact_dimensions",
        "artifact_relationships",
        "change_log",
        "convergences",
        "dimension_counters",
        "api_tokens",
    ] {
        assert!(
            schema.contains(&table.to_owned()),
            "{table} missing: {schema:?}"
        );
    }
    assert!(
        kgnode::db::run_pending(&database.url)
            .await
            .unwrap()
            .is_empty()
    );

    // Each migration reverts cleanly, one at a time.
    let reverted = kgnode::db::revert(&database.url, None).await.unwrap();
    assert_eq!(reverted.len(), embedded.len());
    assert_eq!(tables(&database).await, Vec::<String>::new());

    let again = kgnode::db::run_pending(&database.url).await.unwrap();
    assert_eq!(again, embedded);
    assert_eq!(tables(&database).await, schema);

    let mut conn = database.connect().await;
    let applied = kgnode::db::applied_versions(&mut conn).await.unwrap();
    assert_eq!(applied, embedded);
}
