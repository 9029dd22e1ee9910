-- wharf schema version 2, PostgreSQL: the nodes of a cluster and their
-- heartbeats.

CREATE TABLE nodes (
	id        TEXT COLLATE "C" PRIMARY KEY,
	version   TEXT        NOT NULL DEFAULT '',
	address   TEXT        NOT NULL DEFAULT '',
	ready     BOOLEAN     NOT NULL,
	draining  BOOLEAN     NOT NULL,
	sessions  INTEGER     NOT NULL DEFAULT 0,
	started   TIMESTAMPTZ NOT NULL,
	heartbeat TIMESTAMPTZ NOT NULL
);
