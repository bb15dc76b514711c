-- The Follow a follower sent, so that an Undo naming it by id alone ends the right follow
-- (null for follows accepted before this column existed).
ALTER TABLE federation_followers ADD COLUMN follow_activity text;
CREATE INDEX federation_followers_by_follow ON federation_followers (follow_activity)
    WHERE follow_activity IS NOT NULL;

-- A remote convergence may refuse this node's follow.
ALTER TABLE federation_follows DROP CONSTRAINT federation_follows_state_check;
ALTER TABLE federation_follows ADD CONSTRAINT federation_follows_state_check
    CHECK (state IN ('pending', 'accepted', 'rejected'));
