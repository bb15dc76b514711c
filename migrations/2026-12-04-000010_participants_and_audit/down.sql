DROP TABLE audit_log;
ALTER TABLE contributions DROP COLUMN created_by;
ALTER TABLE artifact_relationships DROP COLUMN created_by;
ALTER TABLE artifacts DROP COLUMN created_by;
ALTER TABLE api_tokens DROP COLUMN expires_at, DROP COLUMN role;
DROP TABLE sessions;
DROP TABLE invites;
DROP TABLE memberships;
DROP TABLE participants;
