// @generated automatically by Diesel CLI.

diesel::table! {
    api_tokens (id) {
        id -> Uuid,
        token_hash -> Bytea,
        convergence_id -> Nullable<Uuid>,
        label -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    artifact_dimensions (artifact_id, dimension) {
        artifact_id -> Uuid,
        dimension -> Text,
        weight -> Float8,
    }
}

diesel::table! {
    artifact_relationships (id) {
        id -> Uuid,
        source_id -> Uuid,
        target_id -> Uuid,
        kind -> Text,
        weight -> Float8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    artifacts (id) {
        id -> Uuid,
        convergence_id -> Uuid,
        kind -> Text,
        title -> Text,
        body -> Text,
        author -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    change_log (seq) {
        seq -> Int8,
        entity -> Text,
        operation -> Text,
        entity_id -> Uuid,
        convergence_id -> Uuid,
        payload -> Jsonb,
        recorded_at -> Timestamptz,
        transaction_id -> Int8,
    }
}

diesel::table! {
    convergences (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        description -> Text,
        visibility -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    dimension_counters (convergence_id, dimension) {
        convergence_id -> Uuid,
        dimension -> Text,
        artifact_count -> Int8,
        weight_sum -> Float8,
    }
}

diesel::joinable!(api_tokens -> convergences (convergence_id));
diesel::joinable!(artifact_dimensions -> artifacts (artifact_id));
diesel::joinable!(artifacts -> convergences (convergence_id));
diesel::joinable!(dimension_counters -> convergences (convergence_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_tokens,
    artifact_dimensions,
    artifact_relationships,
    artifacts,
    change_log,
    convergences,
    dimension_counters,
);
