-- The Create/Update/Delete inside a queued Announce has an id of its own, which must
-- dereference too (GET /activities/{id}): found through this index.
CREATE INDEX federation_activities_by_inner_id
    ON federation_activities ((payload -> 'object' ->> 'id'))
    WHERE retry_of IS NULL AND payload ->> 'type' = 'Announce';
