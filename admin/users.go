package admin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/wharf-gw/wharf/auth"
)

// userPage is one page of GET /users. Next, when set, is the after= of
// the next page.
type userPage struct {
	Users []auth.UserView `json:"users"`
	Next  string          `json:"next,omitempty"`
}

func (a *Admin) listUsers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := a.cfg.PageLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > a.cfg.MaxPage {
			return invalid("limit", "must be a whole number from 1 to %d", a.cfg.MaxPage)
		}
		limit = n
	}
	users, err := a.store.ListUsers(r.Context(), q.Get("prefix"), q.Get("after"), limit+1)
	if err != nil {
		return err
	}
	page := userPage{Users: make([]auth.UserView, 0, min(limit, len(users)))}
	if len(users) > limit {
		users = users[:limit]
		page.Next = users[limit-1].Name
	}
	for _, u := range users {
		page.Users = append(page.Users, u.View())
	}
	if page.Next != "" {
		next := url.Values{"limit": {strconv.Itoa(limit)}, "after": {page.Next}}
		if p := q.Get("prefix"); p != "" {
			next.Set("prefix", p)
		}
		w.Header().Set("Link", `<`+r.URL.Path+"?"+next.Encode()+`>; rel="next"`)
	}
	return writeJSON(w, http.StatusOK, page)
}

// writeUser answers with the user and its version as the ETag.
func writeUser(w http.ResponseWriter, status int, u *auth.User) error {
	w.Header().Set("ETag", etag(u.Version))
	return writeJSON(w, status, u.View())
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

func (a *Admin) createUser(w http.ResponseWriter, r *http.Request) error {
	var in userInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Name == nil || *in.Name == "" {
		return invalid("name", "required")
	}
	if err := auth.ValidateName(*in.Name); err != nil {
		return err // before a home prefix is made of it
	}
	u := in.user(*in.Name, a.backends)
	if err := validate(u, a.backends); err != nil {
		return err
	}
	if in.Password != nil {
		hash, err := a.hash(r.Context(), *in.Password)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
	}
	if err := a.store.CreateUser(r.Context(), u); err != nil {
		return err
	}
	w.Header().Set("Location", r.URL.Path+"/"+url.PathEscape(u.Name))
	return writeUser(w, http.StatusCreated, u)
}

func (a *Admin) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.store.GetUser(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		return err
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, u.Version) {
		w.Header().Set("ETag", etag(u.Version))
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return writeUser(w, http.StatusOK, u)
}

// replaceUser replaces a user's settings with the body (PUT semantics:
// absent fields take their defaults). The password, the version and the
// creation time are kept.
func (a *Admin) replaceUser(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "name")
	var in userInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	u, err := a.update(r, name, func(old *auth.User) (*auth.User, error) {
		return a.replacement(old, &in)
	})
	if err != nil {
		return err
	}
	return writeUser(w, http.StatusOK, u)
}

func (a *Admin) replacement(old *auth.User, in *userInput) (*auth.User, error) {
	if in.Name != nil && *in.Name != old.Name {
		return nil, invalid("name", "%q differs from the user %q of the URL: users cannot be renamed", *in.Name, old.Name)
	}
	if in.Password != nil {
		return nil, invalid("password", "set it with PUT /api/v1/users/%s/password", old.Name)
	}
	u := in.user(old.Name, a.backends)
	u.PasswordHash, u.Version, u.Created = old.PasswordHash, old.Version, old.Created
	return u, nil
}

// patchUser applies a JSON merge patch (RFC 7396) to the user's settings.
func (a *Admin) patchUser(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "name")
	if err := checkMediaType(r, "application/merge-patch+json", "application/json"); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var patch map[string]any
	if err := unmarshalStrict(body, &patch); err != nil {
		return err
	}
	if patch == nil {
		return problemf(kindBadRequest, "a merge patch must be a JSON object")
	}
	u, err := a.update(r, name, func(old *auth.User) (*auth.User, error) {
		merged, err := json.Marshal(mergePatch(editable(old), patch))
		if err != nil {
			return nil, err
		}
		var in userInput
		if err := unmarshalStrict(merged, &in); err != nil {
			return nil, err
		}
		return a.replacement(old, &in)
	})
	if err != nil {
		return err
	}
	return writeUser(w, http.StatusOK, u)
}

func (a *Admin) deleteUser(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "name")
	if im := r.Header.Get("If-Match"); im != "" {
		u, err := a.store.GetUser(r.Context(), name)
		if err != nil {
			return err
		}
		if !etagMatches(im, u.Version) {
			return preconditionFailed(u.Version)
		}
	}
	if err := a.store.DeleteUser(r.Context(), name); err != nil {
		return err
	}
	a.endSessions(r, name, "user deleted")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endSessions closes this node's sessions of a user who may no longer log
// in. Sessions on other nodes go on until they end: nodes do not signal
// each other.
func (a *Admin) endSessions(r *http.Request, name, why string) {
	if n := a.sessions.KickUser(name); n > 0 {
		a.log.Info("sessions closed", "admin", callerOf(r.Context()).Admin, "user", name, "sessions", n, "reason", why)
	}
}

func (a *Admin) enableUser(enable bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		u, err := a.update(r, chi.URLParam(r, "name"), func(old *auth.User) (*auth.User, error) {
			if old.Enabled == enable {
				return nil, nil
			}
			old.Enabled = enable
			return old, nil
		})
		if err != nil {
			return err
		}
		if !enable {
			a.endSessions(r, u.Name, "user disabled")
		}
		return writeUser(w, http.StatusOK, u)
	}
}

type passwordRequest struct {
	Password string `json:"password"`
}

func (a *Admin) setPassword(w http.ResponseWriter, r *http.Request) error {
	var req passwordRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Password == "" {
		return invalid("password", "required")
	}
	name := chi.URLParam(r, "name")
	if _, err := a.store.GetUser(r.Context(), name); err != nil {
		return err // before hashing a password for nobody
	}
	hash, err := a.hash(r.Context(), req.Password)
	if err != nil {
		return err
	}
	u, err := a.update(r, name, func(old *auth.User) (*auth.User, error) {
		old.PasswordHash = hash
		return old, nil
	})
	if err != nil {
		return err
	}
	return writeUser(w, http.StatusOK, u)
}

// removePassword turns password logins of the user off.
func (a *Admin) removePassword(w http.ResponseWriter, r *http.Request) error {
	u, err := a.update(r, chi.URLParam(r, "name"), func(old *auth.User) (*auth.User, error) {
		if old.PasswordHash == "" {
			return nil, nil
		}
		old.PasswordHash = ""
		return old, nil
	})
	if err != nil {
		return err
	}
	return writeUser(w, http.StatusOK, u)
}

// addKey adds an SSH key: 201 if it is new, 200 if the user had it.
func (a *Admin) addKey(w http.ResponseWriter, r *http.Request) error {
	var in keyInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	key, err := auth.ParseKey(in.Key)
	if err != nil {
		return invalid("key", "%v", err)
	}
	if in.Comment != nil {
		key.Comment = *in.Comment
	}
	added := false
	u, err := a.update(r, chi.URLParam(r, "name"), func(old *auth.User) (*auth.User, error) {
		if slices.ContainsFunc(old.Keys, func(k auth.Key) bool { return k.Fingerprint == key.Fingerprint }) {
			added = false
			return nil, nil
		}
		added = true
		old.Keys = append(old.Keys, key)
		return old, nil
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	return writeUser(w, status, u)
}

func (a *Admin) removeKey(w http.ResponseWriter, r *http.Request) error {
	fp, err := fingerprintParam(r)
	if err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	u, err := a.update(r, name, func(old *auth.User) (*auth.User, error) {
		for i, k := range old.Keys {
			if k.Fingerprint == fp {
				old.Keys = slices.Delete(old.Keys, i, i+1)
				return old, nil
			}
		}
		return nil, problemf(kindNotFound, "user %q has no key %s", name, fp)
	})
	if err != nil {
		return err
	}
	return writeUser(w, http.StatusOK, u)
}

// fingerprintParam reads {fingerprint}: "SHA256:…" as 'wharf user show'
// prints it, with or without the "SHA256:" prefix, its "/" escaped as
// %2F or written in the URL-safe base64 alphabet.
func fingerprintParam(r *http.Request) (string, error) {
	raw, err := url.PathUnescape(chi.URLParam(r, "fingerprint"))
	if err != nil {
		return "", invalid("fingerprint", "malformed escape")
	}
	fp := strings.TrimPrefix(raw, "SHA256:")
	fp = strings.NewReplacer("-", "+", "_", "/").Replace(strings.TrimRight(fp, "="))
	if b, err := base64.RawStdEncoding.DecodeString(fp); err != nil || len(b) != 32 {
		return "", invalid("fingerprint", "%q is not a SHA256 key fingerprint", raw)
	}
	return "SHA256:" + fp, nil
}

// update loads the user name, lets change make the new version (nil: no
// change), validates it and stores it, honouring If-Match. Backends the
// user already used stay acceptable, so that a user whose backend has
// left the configuration can still be disabled or get a new password.
// Without If-Match, a concurrent update makes it start again, a few
// times; with it, the answer is 412.
func (a *Admin) update(r *http.Request, name string, change func(old *auth.User) (*auth.User, error)) (*auth.User, error) {
	ctx := r.Context()
	ifMatch := r.Header.Get("If-Match")
	for attempt := 0; ; attempt++ {
		old, err := a.store.GetUser(ctx, name)
		if err != nil {
			return nil, err
		}
		if ifMatch != "" && !etagMatches(ifMatch, old.Version) {
			return nil, preconditionFailed(old.Version)
		}
		backends := a.allowedBackends(old)
		u, err := change(old)
		if err != nil || u == nil {
			return old, err
		}
		if err := validate(u, backends); err != nil {
			return nil, err
		}
		err = a.store.UpdateUser(ctx, u)
		switch {
		case errors.Is(err, auth.ErrConflict) && ifMatch != "" && ifMatch != "*":
			return nil, problemf(kindPrecondition, "user %q was changed by someone else meanwhile; GET it again", name)
		case errors.Is(err, auth.ErrConflict) && attempt < 4:
			continue
		case err != nil:
			return nil, err
		}
		return u, nil
	}
}

// allowedBackends are the configured backends and those u names already.
func (a *Admin) allowedBackends(u *auth.User) []string {
	if a.backends == nil {
		return nil
	}
	out := slices.Clone(a.backends)
	out = append(out, u.Home.Backend)
	for _, m := range u.Mounts {
		out = append(out, m.Backend)
	}
	return out
}

func preconditionFailed(version int64) *apiError {
	return &apiError{kind: kindPrecondition, detail: "If-Match does not match the current version " + etag(version) + "; GET the user again",
		header: http.Header{"Etag": {etag(version)}}}
}

// etagMatches reports whether an If-Match (or If-None-Match) list holds
// the ETag of version, or is "*". Weak tags never match (strong
// comparison, RFC 9110 13.1.1).
func etagMatches(list string, version int64) bool {
	want := etag(version)
	for t := range strings.SplitSeq(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == want {
			return true
		}
	}
	return false
}
