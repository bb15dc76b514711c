-- Bearer tokens. Only the SHA-256 digest of a token is stored; the token itself is shown once.
-- A token without a convergence is node-wide.
CREATE TABLE api_tokens (
    id             uuid PRIMARY KEY,
    token_hash     bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    convergence_id uuid REFERENCES convergences (id) ON DELETE CASCADE,
    label          text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);
