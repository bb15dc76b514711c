// @generated automatically by Diesel CLI.

diesel::table! {
    actor_keys (actor_path) {
        actor_path -> Text,
        public_key_pem -> Text,
        private_key_pem -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Uuid,
        token_hash -> Bytea,
        convergence_id -> Nullable<Uuid>,
        label -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        role -> Text,
        expires_at -> Nullable<Timestamptz>,
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
        origin_url -> Nullable<Text>,
        contribution_id -> Nullable<Uuid>,
        created_by -> Nullable<Uuid>,
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
        origin_url -> Nullable<Text>,
        contribution_id -> Nullable<Uuid>,
        created_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor_kind -> Text,
        actor_id -> Nullable<Uuid>,
        actor_name -> Text,
        action -> Text,
        target -> Text,
        convergence_id -> Nullable<Uuid>,
        request_id -> Nullable<Text>,
        detail -> Jsonb,
    }
}

diesel::table! {
    blocked_instances (host) {
        host -> Text,
        reason -> Text,
        created_at -> Timestamptz,
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
    contributions (id) {
        id -> Uuid,
        convergence_id -> Uuid,
        author -> Nullable<Text>,
        text -> Text,
        status -> Text,
        attempts -> Int4,
        error -> Nullable<Text>,
        job_id -> Nullable<Uuid>,
        reused -> Array<Nullable<Uuid>>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
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
        origin_url -> Nullable<Text>,
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

diesel::table! {
    federation_activities (id) {
        id -> Int8,
        activity_url -> Text,
        actor_path -> Text,
        convergence_id -> Nullable<Uuid>,
        inbox -> Nullable<Text>,
        payload -> Jsonb,
        created_at -> Timestamptz,
        retry_of -> Nullable<Int8>,
    }
}

diesel::table! {
    federation_backfills (convergence_id, inbox) {
        convergence_id -> Uuid,
        inbox -> Text,
        after_artifact -> Nullable<Uuid>,
        after_relationship -> Nullable<Uuid>,
        artifacts_done -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    federation_cursor (singleton) {
        singleton -> Bool,
        last_seq -> Int8,
    }
}

diesel::table! {
    federation_deliveries (inbox) {
        inbox -> Text,
        delivered_through -> Int8,
        failures -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        last_success_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        refusals -> Int4,
    }
}

diesel::table! {
    federation_followers (convergence_id, actor_url) {
        convergence_id -> Uuid,
        actor_url -> Text,
        inbox -> Text,
        since_activity -> Int8,
        created_at -> Timestamptz,
        follow_activity -> Nullable<Text>,
    }
}

diesel::table! {
    federation_follows (convergence_id) {
        convergence_id -> Uuid,
        group_url -> Text,
        follow_activity -> Text,
        state -> Text,
        created_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    federation_parked (id) {
        id -> Int8,
        inbox -> Text,
        activity_id -> Int8,
        attempts -> Int4,
        last_error -> Text,
        parked_at -> Timestamptz,
        status -> Nullable<Int4>,
    }
}

diesel::table! {
    invites (id) {
        id -> Uuid,
        code_hash -> Bytea,
        convergence_id -> Uuid,
        role -> Text,
        max_uses -> Int4,
        uses -> Int4,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Uuid,
        kind -> Text,
        payload -> Jsonb,
        state -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    memberships (convergence_id, participant_id) {
        convergence_id -> Uuid,
        participant_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    participants (id) {
        id -> Uuid,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        node_admin -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    received_activities (activity_url) {
        activity_url -> Text,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    remote_actors (actor_url) {
        actor_url -> Text,
        kind -> Text,
        name -> Text,
        inbox -> Text,
        shared_inbox -> Nullable<Text>,
        public_key_pem -> Text,
        fetched_at -> Timestamptz,
    }
}

diesel::table! {
    remote_tombstones (object_url) {
        object_url -> Text,
        deleted_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        token_hash -> Bytea,
        participant_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(api_tokens -> convergences (convergence_id));
diesel::joinable!(artifact_dimensions -> artifacts (artifact_id));
diesel::joinable!(artifact_relationships -> contributions (contribution_id));
diesel::joinable!(artifact_relationships -> participants (created_by));
diesel::joinable!(artifacts -> contributions (contribution_id));
diesel::joinable!(artifacts -> convergences (convergence_id));
diesel::joinable!(artifacts -> participants (created_by));
diesel::joinable!(audit_log -> convergences (convergence_id));
diesel::joinable!(contributions -> convergences (convergence_id));
diesel::joinable!(contributions -> jobs (job_id));
diesel::joinable!(contributions -> participants (created_by));
diesel::joinable!(dimension_counters -> convergences (convergence_id));
diesel::joinable!(federation_activities -> convergences (convergence_id));
diesel::joinable!(federation_backfills -> convergences (convergence_id));
diesel::joinable!(federation_followers -> convergences (convergence_id));
diesel::joinable!(federation_followers -> remote_actors (actor_url));
diesel::joinable!(federation_follows -> convergences (convergence_id));
diesel::joinable!(federation_parked -> federation_activities (activity_id));
diesel::joinable!(federation_parked -> federation_deliveries (inbox));
diesel::joinable!(invites -> convergences (convergence_id));
diesel::joinable!(memberships -> convergences (convergence_id));
diesel::joinable!(memberships -> participants (participant_id));
diesel::joinable!(sessions -> participants (participant_id));

diesel::allow_tables_to_appear_in_same_query!(
    actor_keys,
    api_tokens,
    artifact_dimensions,
    artifact_relationships,
    artifacts,
    audit_log,
    blocked_instances,
    change_log,
    contributions,
    convergences,
    dimension_counters,
    federation_activities,
    federation_backfills,
    federation_cursor,
    federation_deliveries,
    federation_followers,
    federation_follows,
    federation_parked,
    invites,
    jobs,
    memberships,
    participants,
    received_activities,
    remote_actors,
    remote_tombstones,
    sessions,
);
