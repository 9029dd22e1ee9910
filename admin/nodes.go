package admin

import (
	"net/http"

	"github.com/wharf-gw/wharf/auth"
)

// nodeView is a node as the API shows it: its last heartbeat, and whether
// that is recent enough for the node to count as alive.
type nodeView struct {
	*auth.Node
	Alive bool `json:"alive"`
}

type nodeList struct {
	Nodes []nodeView `json:"nodes"`
}

// listNodes lists every node known to the shared store.
func (a *Admin) listNodes(w http.ResponseWriter, r *http.Request) error {
	nodes, err := a.store.ListNodes(r.Context())
	if err != nil {
		return err
	}
	out := nodeList{Nodes: make([]nodeView, 0, len(nodes))}
	now := a.now()
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, nodeView{Node: n, Alive: now.Sub(n.Heartbeat) <= a.cfg.NodeStale})
	}
	return writeJSON(w, http.StatusOK, out)
}
