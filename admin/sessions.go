package admin

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/wharf-gw/wharf/auth"
)

type sessionList struct {
	Sessions []auth.SessionInfo `json:"sessions"`
}

// listSessions lists this node's sessions, oldest first; ?user= keeps
// those of one user.
func (a *Admin) listSessions(w http.ResponseWriter, r *http.Request) error {
	user := r.URL.Query().Get("user")
	out := sessionList{Sessions: []auth.SessionInfo{}}
	for _, s := range a.sessions.List() {
		if user == "" || s.User == user {
			out.Sessions = append(out.Sessions, s)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *Admin) kickSession(w http.ResponseWriter, r *http.Request) error {
	param := chi.URLParam(r, "id")
	id, err := strconv.ParseUint(param, 10, 64)
	if err != nil {
		return invalid("id", "%q is not a session id", param)
	}
	if !a.sessions.Kick(id) {
		return problemf(kindNotFound, "no session %d on this node", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type kicked struct {
	Kicked int `json:"kicked"`
}

// kickUser closes every session of the user on this node.
func (a *Admin) kickUser(w http.ResponseWriter, r *http.Request) error {
	n := a.sessions.KickUser(chi.URLParam(r, "name"))
	return writeJSON(w, http.StatusOK, kicked{Kicked: n})
}
