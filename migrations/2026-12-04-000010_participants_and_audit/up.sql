-- People with accounts on this node, their roles per convergence, invites, sessions, token
-- roles, and the audit trail of administrative actions.

CREATE TABLE participants (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_]{2,32}$'),
    display_name  text NOT NULL DEFAULT '',
    -- A PHC string (argon2id); never the password.
    password_hash text NOT NULL,
    node_admin    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One role per participant and convergence. Without a row a participant may read what
-- anonymous callers may read.
CREATE TABLE memberships (
    convergence_id uuid NOT NULL REFERENCES convergences (id) ON DELETE CASCADE,
    participant_id uuid NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    role           text NOT NULL CHECK (role IN ('viewer', 'contributor', 'moderator', 'admin')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (convergence_id, participant_id)
);
CREATE INDEX memberships_by_participant ON memberships (participant_id);

-- Invitation codes to a convergence; only the SHA-256 digest of a code is stored.
CREATE TABLE invites (
    id             uuid PRIMARY KEY,
    code_hash      bytea NOT NULL UNIQUE CHECK (octet_length(code_hash) = 32),
    convergence_id uuid NOT NULL REFERENCES convergences (id) ON DELETE CASCADE,
    role           text NOT NULL CHECK (role IN ('viewer', 'contributor', 'moderator', 'admin')),
    max_uses       integer NOT NULL CHECK (max_uses > 0),
    uses           integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);
CREATE INDEX invites_by_convergence ON invites (convergence_id, created_at);

-- Login sessions; only the SHA-256 digest of a session token is stored.
CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    token_hash     bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    participant_id uuid NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    ended_at       timestamptz
);
CREATE INDEX sessions_by_participant ON sessions (participant_id);

-- Service tokens gain a role and an optional expiry. Tokens made before keep what they could
-- do: everything in their scope (admin) — node-wide ones on the node, convergence ones in
-- their convergence (including changing its settings).
ALTER TABLE api_tokens
    ADD COLUMN role text NOT NULL DEFAULT 'admin' CHECK (role IN ('read', 'write', 'admin')),
    ADD COLUMN expires_at timestamptz;
ALTER TABLE api_tokens ALTER COLUMN role DROP DEFAULT;

-- Who made an artifact, relationship or contribution, when a participant did (`author` stays
-- the free-text or remote author).
ALTER TABLE artifacts ADD COLUMN created_by uuid REFERENCES participants (id) ON DELETE SET NULL;
ALTER TABLE artifact_relationships
    ADD COLUMN created_by uuid REFERENCES participants (id) ON DELETE SET NULL;
ALTER TABLE contributions
    ADD COLUMN created_by uuid REFERENCES participants (id) ON DELETE SET NULL;

-- Administrative and moderation actions, appended in the transaction of the action.
CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    -- 'participant', 'token' or 'cli'.
    actor_kind     text NOT NULL,
    actor_id       uuid,
    actor_name     text NOT NULL,
    action         text NOT NULL,
    target         text NOT NULL,
    convergence_id uuid REFERENCES convergences (id) ON DELETE SET NULL,
    request_id     text,
    detail         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_action ON audit_log (action, id);
CREATE INDEX audit_log_by_convergence ON audit_log (convergence_id, id);
