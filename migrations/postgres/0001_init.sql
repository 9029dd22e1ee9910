-- wharf schema version 1, PostgreSQL.
--
-- Times are TIMESTAMPTZ (microseconds); NULL where a time is optional. A
-- user's keys, mounts and rules are JSONB arrays in the user's row, so
-- that loading a user is one query. Names are COLLATE "C": they compare
-- byte by byte, like SQLite, so listings page the same on both.

CREATE TABLE schema_migrations (
	version    INTEGER     PRIMARY KEY,
	applied_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
	name          TEXT COLLATE "C" PRIMARY KEY,
	password_hash TEXT        NOT NULL DEFAULT '',
	enabled       BOOLEAN     NOT NULL,
	home_backend  TEXT        NOT NULL,
	home_prefix   TEXT        NOT NULL DEFAULT '',
	keys          JSONB       NOT NULL DEFAULT '[]',
	mounts        JSONB       NOT NULL DEFAULT '[]',
	rules         JSONB       NOT NULL DEFAULT '[]',
	max_sessions  INTEGER     NOT NULL DEFAULT 0,
	quota_bytes   BIGINT      NOT NULL DEFAULT 0,
	version       BIGINT      NOT NULL,
	created       TIMESTAMPTZ NOT NULL,
	updated       TIMESTAMPTZ NOT NULL
);

CREATE TABLE admins (
	name          TEXT COLLATE "C" PRIMARY KEY,
	password_hash TEXT        NOT NULL DEFAULT '',
	created       TIMESTAMPTZ NOT NULL
);

CREATE TABLE tokens (
	id      TEXT COLLATE "C" PRIMARY KEY,
	admin   TEXT COLLATE "C" NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
	label   TEXT        NOT NULL DEFAULT '',
	hash    BYTEA       NOT NULL,
	created TIMESTAMPTZ NOT NULL,
	expires TIMESTAMPTZ
);
CREATE INDEX tokens_admin ON tokens (admin);

-- One row per failed login; counted within a window, pruned as they age.
CREATE TABLE login_failures (
	kind TEXT COLLATE "C" NOT NULL,
	key  TEXT COLLATE "C" NOT NULL,
	at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (kind, key, at);
CREATE INDEX login_failures_at ON login_failures (at);

CREATE TABLE bans (
	kind    TEXT COLLATE "C" NOT NULL,
	key     TEXT COLLATE "C" NOT NULL,
	until   TIMESTAMPTZ NOT NULL,
	reason  TEXT        NOT NULL DEFAULT '',
	created TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (kind, key)
);
CREATE INDEX bans_until ON bans (until);

-- Node-shared secrets (SSH host keys, certificates), created by one node.
CREATE TABLE secrets (
	name    TEXT COLLATE "C" PRIMARY KEY,
	value   BYTEA       NOT NULL,
	created TIMESTAMPTZ NOT NULL
);
