-- Convergences, artifacts, their dimension tags and the typed relationships between them.
-- Enumerations are text columns with CHECK constraints so that adding a kind is a one-line migration.

CREATE TABLE convergences (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE
                CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$'),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
    visibility  text NOT NULL CHECK (visibility IN ('public', 'private')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE artifacts (
    id             uuid PRIMARY KEY,
    convergence_id uuid NOT NULL REFERENCES convergences (id) ON DELETE RESTRICT,
    kind           text NOT NULL CHECK (kind IN (
                       'idea', 'question', 'proposal', 'resource', 'insight',
                       'decision', 'claim', 'evidence')),
    title          text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 500),
    body           text NOT NULL DEFAULT '' CHECK (char_length(body) <= 100000),
    author         text CHECK (char_length(author) <= 200),
    version        integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);

-- Keyset listing of live artifacts, optionally filtered by kind (ids are UUIDv7: time ordered).
CREATE INDEX artifacts_live_by_convergence ON artifacts (convergence_id, id) WHERE deleted_at IS NULL;
CREATE INDEX artifacts_live_by_convergence_kind ON artifacts (convergence_id, kind, id) WHERE deleted_at IS NULL;

CREATE TABLE artifact_dimensions (
    artifact_id uuid NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    dimension   text NOT NULL
                CHECK (char_length(dimension) BETWEEN 1 AND 100 AND dimension = lower(btrim(dimension))),
    weight      double precision NOT NULL CHECK (weight >= 0 AND weight <= 1),
    PRIMARY KEY (artifact_id, dimension)
);

-- Listing by dimension walks this index, then joins the artifact.
CREATE INDEX artifact_dimensions_by_dimension ON artifact_dimensions (dimension, artifact_id);

CREATE TABLE artifact_relationships (
    id         uuid PRIMARY KEY,
    source_id  uuid NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    target_id  uuid NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN (
                   'supports', 'contradicts', 'extends', 'depends_on', 'relates_to',
                   'part_of', 'derived_from', 'answers')),
    weight     double precision NOT NULL CHECK (weight > 0 AND weight <= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT artifact_relationships_no_self_loop CHECK (source_id <> target_id),
    CONSTRAINT artifact_relationships_unique_edge UNIQUE (source_id, target_id, kind)
);

-- Outgoing edges use the unique index (source_id, ...); incoming edges need their own.
CREATE INDEX artifact_relationships_by_target ON artifact_relationships (target_id);

-- Per-convergence dimension counters, maintained in the same transaction as every artifact write.
CREATE TABLE dimension_counters (
    convergence_id uuid NOT NULL REFERENCES convergences (id) ON DELETE CASCADE,
    dimension      text NOT NULL,
    artifact_count bigint NOT NULL,
    weight_sum     double precision NOT NULL,
    PRIMARY KEY (convergence_id, dimension)
);

-- The dimensions endpoint lists a convergence's counters most used first.
CREATE INDEX dimension_counters_by_use ON dimension_counters (convergence_id, artifact_count DESC, dimension);
