DELETE FROM federation_activities WHERE retry_of IS NOT NULL;
DROP INDEX federation_activities_activity_url_key;
ALTER TABLE federation_activities ADD CONSTRAINT federation_activities_activity_url_key
    UNIQUE (activity_url);
ALTER TABLE federation_activities DROP COLUMN retry_of;
ALTER TABLE federation_deliveries DROP COLUMN refusals;
DROP TABLE federation_parked;
