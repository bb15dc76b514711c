-- Federation: remote copies of other nodes' convergences, artifacts and relationships (marked by
-- their origin URL), actor keys, follows in both directions, the persisted delivery queue and
-- what has been received.

-- A remote convergence is named `slug@host[:port]`, as Lemmy names remote communities.
ALTER TABLE convergences DROP CONSTRAINT convergences_slug_check;
ALTER TABLE convergences ADD COLUMN origin_url text UNIQUE;
ALTER TABLE convergences ADD CONSTRAINT convergences_slug_check CHECK (
    (origin_url IS NULL AND slug ~ '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$')
    OR (origin_url IS NOT NULL
        AND slug ~ '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?@[a-z0-9.-]{1,253}(?::[0-9]{1,5})?$'));

-- The origin's URL of a remote object; NULL for local ones. Remote objects are read-only locally.
ALTER TABLE artifacts ADD COLUMN origin_url text UNIQUE;
ALTER TABLE artifact_relationships ADD COLUMN origin_url text UNIQUE;

-- Key pairs of this node's actors (the node itself, its convergences, its authors), made on
-- first use. `actor_path` is the actor's path on this node, e.g. `/c/slug`.
CREATE TABLE actor_keys (
    actor_path      text PRIMARY KEY,
    public_key_pem  text NOT NULL,
    private_key_pem text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Remote actors seen (fetched or verified), with the key their signatures are checked against.
CREATE TABLE remote_actors (
    actor_url      text PRIMARY KEY,
    kind           text NOT NULL,
    name           text NOT NULL,
    inbox          text NOT NULL,
    shared_inbox   text,
    public_key_pem text NOT NULL,
    fetched_at     timestamptz NOT NULL DEFAULT now()
);

-- Remote actors (other nodes) following a local, public convergence. They receive activities
-- queued after `since_activity`.
CREATE TABLE federation_followers (
    convergence_id uuid NOT NULL REFERENCES convergences (id) ON DELETE CASCADE,
    actor_url      text NOT NULL REFERENCES remote_actors (actor_url) ON DELETE CASCADE,
    inbox          text NOT NULL,
    since_activity bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (convergence_id, actor_url)
);

-- New followers still to be sent what a convergence held when they followed: artifacts in id
-- order, then relationships, a chunk at a time, through the delivery queue.
CREATE TABLE federation_backfills (
    convergence_id     uuid NOT NULL REFERENCES convergences (id) ON DELETE CASCADE,
    inbox              text NOT NULL,
    after_artifact     uuid,
    after_relationship uuid,
    artifacts_done     boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (convergence_id, inbox)
);

-- This node following remote convergences (each mirrored by a local read-only convergence).
CREATE TABLE federation_follows (
    convergence_id     uuid PRIMARY KEY REFERENCES convergences (id) ON DELETE CASCADE,
    group_url          text NOT NULL UNIQUE,
    follow_activity    text NOT NULL,
    state              text NOT NULL CHECK (state IN ('pending', 'accepted')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    accepted_at        timestamptz
);

-- Outgoing activities, in order. `inbox` set: for that inbox only (Follow, Accept);
-- otherwise for every follower of `convergence_id` that followed before it was queued.
CREATE TABLE federation_activities (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    activity_url   text NOT NULL UNIQUE,
    actor_path     text NOT NULL,
    convergence_id uuid REFERENCES convergences (id) ON DELETE CASCADE,
    inbox          text,
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((convergence_id IS NULL) <> (inbox IS NULL))
);

CREATE INDEX federation_activities_by_inbox ON federation_activities (inbox, id) WHERE inbox IS NOT NULL;
CREATE INDEX federation_activities_by_convergence ON federation_activities (convergence_id, id)
    WHERE convergence_id IS NOT NULL;

-- Delivery state per receiving inbox: everything up to `delivered_through` has been delivered,
-- in order. Failures back off exponentially until `next_attempt_at`.
CREATE TABLE federation_deliveries (
    inbox             text PRIMARY KEY,
    delivered_through bigint NOT NULL DEFAULT 0,
    failures          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_error        text,
    last_success_at   timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Where the outgoing-activity follower is in the change log.
CREATE TABLE federation_cursor (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_seq      bigint NOT NULL
);

-- Ids of activities already applied: replays and duplicates are no-ops.
CREATE TABLE received_activities (
    activity_url text PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Remote objects known to be deleted, so that a late Create or Update never resurrects them.
CREATE TABLE remote_tombstones (
    object_url text PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT now()
);

-- Instances this node refuses to talk to (host, or host:port).
CREATE TABLE blocked_instances (
    host       text PRIMARY KEY CHECK (host = lower(host) AND char_length(host) BETWEEN 1 AND 260),
    reason     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
