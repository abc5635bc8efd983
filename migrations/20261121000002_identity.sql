-- People and their sessions. Emails are stored trimmed and lower-cased.
CREATE TABLE users (
    id                uuid PRIMARY KEY,
    email             text        NOT NULL UNIQUE,
    name              text        NOT NULL,
    password_hash     text        NOT NULL,
    role              text        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'organizer', 'admin')),
    email_verified_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Opaque refresh tokens, stored as SHA-256 hashes. Each sign-in starts a
-- family; every rotation adds a token to it. Reusing a spent token revokes
-- the whole family (someone else holds a copy).
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    family_id   uuid        NOT NULL,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea       NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
