-- wharf schema version 2, SQLite: the nodes of a cluster and their
-- heartbeats.

CREATE TABLE nodes (
	id           TEXT    NOT NULL PRIMARY KEY,
	version      TEXT    NOT NULL DEFAULT '',
	address      TEXT    NOT NULL DEFAULT '',
	ready        INTEGER NOT NULL CHECK (ready IN (0, 1)),
	draining     INTEGER NOT NULL CHECK (draining IN (0, 1)),
	sessions     INTEGER NOT NULL DEFAULT 0,
	started      INTEGER NOT NULL,
	heartbeat    INTEGER NOT NULL
) STRICT;
