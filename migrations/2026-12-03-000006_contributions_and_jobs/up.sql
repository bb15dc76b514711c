-- A durable job queue. Workers claim a due job with FOR UPDATE SKIP LOCKED and hold a lease
-- they renew while running; a job whose lease expired (its worker died) is claimed again. A
-- job's effects commit in the transaction that marks it succeeded, checked against the lease,
-- so a job never takes effect twice.
CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL,
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer NOT NULL CHECK (max_attempts > 0),
    run_at           timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);

CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_by_state ON jobs (state, kind, id);

-- Wakes idle workers when a job becomes claimable.
CREATE FUNCTION jobs_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('jobs', NEW.kind);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF state, run_at ON jobs
    FOR EACH ROW WHEN (NEW.state = 'queued') EXECUTE FUNCTION jobs_notify();

-- Raw text people contribute into a convergence; an extraction job turns each into artifacts
-- and relationships, which name it as their provenance.
CREATE TABLE contributions (
    id             uuid PRIMARY KEY,
    convergence_id uuid NOT NULL REFERENCES convergences (id),
    author         text CHECK (char_length(author) BETWEEN 1 AND 200),
    text           text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 50000),
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'processing', 'complete', 'failed')),
    attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error          text,
    job_id         uuid REFERENCES jobs (id) ON DELETE SET NULL,
    -- Existing artifacts it was linked to instead of creating duplicates of them.
    reused         uuid[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz
);

CREATE INDEX contributions_by_convergence ON contributions (convergence_id, id);
CREATE INDEX contributions_by_status ON contributions (convergence_id, status, id);

ALTER TABLE artifacts ADD COLUMN contribution_id uuid REFERENCES contributions (id);
ALTER TABLE artifact_relationships ADD COLUMN contribution_id uuid REFERENCES contributions (id);
CREATE INDEX artifacts_by_contribution ON artifacts (contribution_id)
    WHERE contribution_id IS NOT NULL;
CREATE INDEX relationships_by_contribution ON artifact_relationships (contribution_id)
    WHERE contribution_id IS NOT NULL;

-- Contribution events join the change log.
ALTER TABLE change_log DROP CONSTRAINT change_log_entity_check;
ALTER TABLE change_log ADD CONSTRAINT change_log_entity_check
    CHECK (entity IN ('convergence', 'artifact', 'relationship', 'contribution'));
