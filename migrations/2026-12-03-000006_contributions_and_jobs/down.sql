DELETE FROM change_log WHERE entity = 'contribution';
ALTER TABLE change_log DROP CONSTRAINT change_log_entity_check;
ALTER TABLE change_log ADD CONSTRAINT change_log_entity_check
    CHECK (entity IN ('convergence', 'artifact', 'relationship'));
DROP INDEX relationships_by_contribution;
DROP INDEX artifacts_by_contribution;
ALTER TABLE artifact_relationships DROP COLUMN contribution_id;
ALTER TABLE artifacts DROP COLUMN contribution_id;
DROP TABLE contributions;
DROP TRIGGER jobs_notify ON jobs;
DROP FUNCTION jobs_notify();
DROP TABLE jobs;
