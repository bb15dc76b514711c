-- Activities a receiving inbox kept refusing: it answered with an error status
-- `federation.park_after_refusals` times in a row. Each is set aside here, so that the inbox's
-- queue moves on, until an administrator retries or discards it. An unreachable peer (no
-- answer at all) parks nothing: its whole queue waits.
CREATE TABLE federation_parked (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inbox       text NOT NULL REFERENCES federation_deliveries (inbox) ON DELETE CASCADE,
    activity_id bigint NOT NULL REFERENCES federation_activities (id) ON DELETE CASCADE,
    attempts    integer NOT NULL CHECK (attempts > 0),
    last_error  text NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (inbox, activity_id)
);

CREATE INDEX federation_parked_by_inbox ON federation_parked (inbox, id);

-- Consecutive refusals of the activity at the head of an inbox's queue (failures also counts
-- attempts that got no answer).
ALTER TABLE federation_deliveries ADD COLUMN refusals integer NOT NULL DEFAULT 0;

-- A retried parked activity is queued again, for its inbox only, as a copy with the same
-- activity id (receivers recognise it); only the original row answers GETs of that id.
ALTER TABLE federation_activities ADD COLUMN retry_of bigint REFERENCES federation_activities (id)
    ON DELETE CASCADE;
ALTER TABLE federation_activities DROP CONSTRAINT federation_activities_activity_url_key;
CREATE UNIQUE INDEX federation_activities_activity_url_key ON federation_activities (activity_url)
    WHERE retry_of IS NULL;
