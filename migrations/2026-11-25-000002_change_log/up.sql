-- Transactional outbox: one row per change of a convergence, artifact (with its dimension set) or
-- relationship, written in the same transaction as the change.
--
-- Writers take the advisory lock `change_log_writer` (see node/src/db/change_log.rs) just before
-- they append, and hold it until commit. Sequence numbers are therefore handed out in commit order:
-- once a follower has seen `seq = n`, no row with a smaller `seq` can appear later. Gaps (from
-- rolled-back transactions) are possible; followers resume with `seq > last_applied`.
-- A transaction's rows are contiguous; `transaction_id` lets a follower read whole transactions,
-- so that what it shows never holds half of one.
CREATE TABLE change_log (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity         text NOT NULL CHECK (entity IN ('convergence', 'artifact', 'relationship')),
    operation      text NOT NULL CHECK (operation IN ('insert', 'update', 'delete')),
    entity_id      uuid NOT NULL,
    convergence_id uuid NOT NULL,
    payload        jsonb NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    transaction_id bigint NOT NULL DEFAULT txid_current()
);

CREATE INDEX change_log_by_entity ON change_log (entity_id, seq);
-- Completing the last transaction of a read (see read_changes).
CREATE INDEX change_log_by_transaction ON change_log (transaction_id, seq);

-- Wake followers once per writing statement; notifications are delivered at commit.
CREATE FUNCTION change_log_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('change_log', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER change_log_notify
    AFTER INSERT ON change_log
    FOR EACH STATEMENT EXECUTE FUNCTION change_log_notify();
