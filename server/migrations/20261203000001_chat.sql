-- Chat as a service (`/v1`). Portable SQL: the same file runs on SQLite and
-- PostgreSQL. Times are Unix milliseconds (BIGINT); ids are prefixed random
-- hex strings made by the server.

CREATE TABLE chat_orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    banner TEXT,
    created_at BIGINT NOT NULL
);

-- Secrets are stored only as SHA-256 hashes. A rotation bumps the
-- environment's generation, which every token records: older tokens stop
-- matching at once.
CREATE TABLE chat_apps (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES chat_orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    production_secret_hash TEXT NOT NULL,
    test_secret_hash TEXT NOT NULL,
    production_generation BIGINT NOT NULL,
    test_generation BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX chat_apps_by_org ON chat_apps (org_id, created_at, id);

CREATE TABLE chat_tokens (
    token_hash TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES chat_apps (id) ON DELETE CASCADE,
    environment TEXT NOT NULL,
    user_id TEXT,
    generation BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX chat_tokens_by_expiry ON chat_tokens (expires_at);

CREATE TABLE chat_users (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES chat_apps (id) ON DELETE CASCADE,
    environment TEXT NOT NULL,
    username TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    avatar TEXT,
    bio TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (app_id, environment, username)
);
CREATE INDEX chat_users_by_app ON chat_users (app_id, environment, created_at, id);

-- `last_seq` is the sequence number of the channel's newest message; a post
-- increments it in the same transaction that inserts the message.
CREATE TABLE chat_channels (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES chat_apps (id) ON DELETE CASCADE,
    environment TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    icon TEXT,
    banner TEXT,
    creator_id TEXT,
    last_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX chat_channels_by_app ON chat_channels (app_id, environment, created_at, id);

CREATE TABLE chat_participants (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL REFERENCES chat_channels (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES chat_users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    UNIQUE (channel_id, user_id)
);
CREATE INDEX chat_participants_by_user ON chat_participants (user_id);
CREATE INDEX chat_participants_by_channel ON chat_participants (channel_id, created_at, id);

-- Messages outlive their sender's participation, so `sender_id` and
-- `user_id` are plain columns, not foreign keys.
CREATE TABLE chat_messages (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL REFERENCES chat_channels (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    sender_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    text TEXT NOT NULL,
    reply_to TEXT,
    idempotency_key TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (channel_id, seq),
    UNIQUE (channel_id, idempotency_key)
);
