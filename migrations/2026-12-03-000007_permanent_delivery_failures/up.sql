-- A parked activity records the status the peer answered: an answer that will not change
-- (400, 404, 410, 422, ...) parks an activity at once, a refusal that may (401, 5xx, ...) after
-- `federation.park_after_refusals` in a row. Null when it could not be sent at all.
ALTER TABLE federation_parked ADD COLUMN status integer CHECK (status BETWEEN 100 AND 599);
