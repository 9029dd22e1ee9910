-- wharf schema version 1, SQLite.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL where a
-- time is optional. A user's keys, mounts and rules are JSON arrays in
-- the user's row, so that loading a user is one query. Names compare
-- byte by byte (BINARY), like COLLATE "C" on PostgreSQL.

CREATE TABLE schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
	name          TEXT    NOT NULL PRIMARY KEY,
	password_hash TEXT    NOT NULL DEFAULT '',
	enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	home_backend  TEXT    NOT NULL,
	home_prefix   TEXT    NOT NULL DEFAULT '',
	keys          TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(keys)),
	mounts        TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(mounts)),
	rules         TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(rules)),
	max_sessions  INTEGER NOT NULL DEFAULT 0,
	quota_bytes   INTEGER NOT NULL DEFAULT 0,
	version       INTEGER NOT NULL,
	created       INTEGER NOT NULL,
	updated       INTEGER NOT NULL
) STRICT;

CREATE TABLE admins (
	name          TEXT    NOT NULL PRIMARY KEY,
	password_hash TEXT    NOT NULL DEFAULT '',
	created       INTEGER NOT NULL
) STRICT;

CREATE TABLE tokens (
	id      TEXT    NOT NULL PRIMARY KEY,
	admin   TEXT    NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
	label   TEXT    NOT NULL DEFAULT '',
	hash    BLOB    NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER
) STRICT;
CREATE INDEX tokens_admin ON tokens (admin);

-- One row per failed login; counted within a window, pruned as they age.
CREATE TABLE login_failures (
	kind TEXT    NOT NULL,
	key  TEXT    NOT NULL,
	at   INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_key ON login_failures (kind, key, at);
CREATE INDEX login_failures_at ON login_failures (at);

CREATE TABLE bans (
	kind    TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	until   INTEGER NOT NULL,
	reason  TEXT    NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	PRIMARY KEY (kind, key)
) STRICT;
CREATE INDEX bans_until ON bans (until);

-- Node-shared secrets (SSH host keys, certificates), created by one node.
CREATE TABLE secrets (
	name    TEXT    NOT NULL PRIMARY KEY,
	value   BLOB    NOT NULL,
	created INTEGER NOT NULL
) STRICT;
