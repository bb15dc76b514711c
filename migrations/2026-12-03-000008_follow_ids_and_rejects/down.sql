DELETE FROM federation_follows WHERE state = 'rejected';
ALTER TABLE federation_follows DROP CONSTRAINT federation_follows_state_check;
ALTER TABLE federation_follows ADD CONSTRAINT federation_follows_state_check
    CHECK (state IN ('pending', 'accepted'));
DROP INDEX federation_followers_by_follow;
ALTER TABLE federation_followers DROP COLUMN follow_activity;
