package admin

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/wharf-gw/wharf/auth"
)

type banList struct {
	Bans []*auth.Ban `json:"bans"`
}

// listBans lists the bans in force, on every node (they are shared).
func (a *Admin) listBans(w http.ResponseWriter, r *http.Request) error {
	bans, err := a.store.ListBans(r.Context(), a.now())
	if err != nil {
		return err
	}
	if bans == nil {
		bans = []*auth.Ban{}
	}
	return writeJSON(w, http.StatusOK, banList{Bans: bans})
}

// liftBan lifts a ban and forgets the failures that led to it, so that
// the next failed login does not ban again at once.
func (a *Admin) liftBan(w http.ResponseWriter, r *http.Request) error {
	kind, key := chi.URLParam(r, "kind"), chi.URLParam(r, "key")
	if kind != auth.KindAddr && kind != auth.KindUser {
		return invalid("kind", "%q: want %q or %q", kind, auth.KindAddr, auth.KindUser)
	}
	if err := a.store.DeleteBan(r.Context(), kind, key); err != nil {
		return err
	}
	if err := a.store.ClearFailures(r.Context(), kind, key); err != nil {
		return err
	}
	a.log.Info("ban lifted", "admin", callerOf(r.Context()).Admin, "kind", kind, "key", key)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
