package auth

import (
	"context"
	"fmt"
	"time"
)

const nodeColumns = `id, version, address, ready, draining, sessions, started, heartbeat`

// PutNode: see Store.
func (s *sqlStore) PutNode(ctx context.Context, n *Node) error {
	if n.ID == "" || !validText(n.ID) {
		return fmt.Errorf("%w: node: id required (UTF-8 without NUL)", ErrInvalid)
	}
	n.Started, n.Heartbeat = utcMicros(n.Started), utcMicros(n.Heartbeat)
	_, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO nodes (`+nodeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, address = excluded.address, ready = excluded.ready,
		draining = excluded.draining, sessions = excluded.sessions, started = excluded.started, heartbeat = excluded.heartbeat`),
		n.ID, n.Version, n.Address, n.Ready, n.Draining, n.Sessions, s.d.time(n.Started), s.d.time(n.Heartbeat))
	if err != nil {
		return s.fail(err, "heartbeat of node %q", n.ID)
	}
	return nil
}

// ListNodes: see Store. By id.
func (s *sqlStore) ListNodes(ctx context.Context) ([]*Node, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+nodeColumns+` FROM nodes ORDER BY id`)
	if err != nil {
		return nil, s.fail(err, "list nodes")
	}
	defer rows.Close()
	var nodes []*Node
	for rows.Next() {
		var n Node
		if err := rows.Scan(&n.ID, &n.Version, &n.Address, &n.Ready, &n.Draining, &n.Sessions,
			timeColumn{&n.Started}, timeColumn{&n.Heartbeat}); err != nil {
			return nil, s.fail(err, "list nodes")
		}
		nodes = append(nodes, &n)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list nodes")
	}
	return nodes, nil
}

// DeleteNode: see Store.
func (s *sqlStore) DeleteNode(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM nodes WHERE id = ?`), id)
	n, err := s.rowsAffected(res, err, "delete node %q", id)
	if err == nil && n == 0 {
		err = fmt.Errorf("node %q: %w", id, ErrNotFound)
	}
	return err
}

// PruneNodes: see Store.
func (s *sqlStore) PruneNodes(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM nodes WHERE heartbeat < ?`), s.d.time(utcMicros(before)))
	n, err := s.rowsAffected(res, err, "prune nodes")
	return int(n), err
}
