-- Accounts, sessions (refresh-token families), API keys and the audit log.
CREATE TABLE users (
    id              UUID PRIMARY KEY,                   -- UUIDv7; `owner` of what the user creates
    email           TEXT NOT NULL,                      -- stored trimmed and lower-cased
    password_hash   TEXT NOT NULL,                      -- argon2id PHC string
    role            TEXT NOT NULL CHECK (role IN ('user','moderator','operator','admin')),
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);

-- One row per refresh token ever issued. A login starts a family; every
-- refresh marks its token used and issues the next one in the same family.
CREATE TABLE refresh_tokens (
    id              UUID PRIMARY KEY,
    family_id       UUID NOT NULL,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL,                      -- SHA-256 hex of the opaque token
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,                        -- rotated: presenting it again is reuse
    revoked_at      TIMESTAMPTZ
);
CREATE UNIQUE INDEX refresh_tokens_hash ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE api_keys (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    prefix          TEXT NOT NULL,                      -- shown in lists: `kiln_` + 8 characters
    key_hash        TEXT NOT NULL,                      -- SHA-256 hex of the whole key
    scopes          TEXT NOT NULL,                      -- space-separated
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ,
    last_used_at    TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

CREATE TABLE audit_log (
    id              UUID PRIMARY KEY,                   -- UUIDv7: ordered by time
    at              TIMESTAMPTZ NOT NULL,
    action          TEXT NOT NULL,                      -- e.g. login_failed, role_changed
    actor           TEXT,                               -- user id of who did it, when known
    subject         TEXT,                               -- what it was done to (user, key, family)
    ip              TEXT,
    request_id      TEXT,
    details         JSONB
);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
