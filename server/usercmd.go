package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/wharf-gw/wharf/auth"
)

const userHelp = `Usage: wharf user SUBCOMMAND [--config FILE] ...

Manages the users who log in over FTP, FTPS and SFTP, in the store the
configuration names (store.driver, store.dsn).

Subcommands:
  add NAME [options]                     add a user (wharf user add -h)
  list [--prefix P] [--json]             list users
  show NAME [--json]                     show one user (never the password hash)
  set-password NAME (--password-stdin | --password-file F)
  add-key NAME --key-file F              add SSH public keys
  remove-key NAME FINGERPRINT            remove an SSH public key (SHA256:…)
  disable NAME                           refuse the user's logins
  enable NAME                            allow them again
  remove NAME                            delete the user (their files stay)

Every subcommand takes --config FILE, like wharf serve.
`

const userAddHelp = `Usage: wharf user add NAME [options]

Adds a user. Names are letters, digits and . _ @ -, starting with a letter
or digit, at most 64 characters.

Options:
  --config FILE            the YAML configuration file
  --password-stdin         read the password from stdin (one line)
  --password-file F        read the password from file F (one line)
  --key-file F             add the SSH public keys in F (authorized_keys
                           lines; blank lines and # comments skipped);
                           may be repeated
  --home BACKEND[:PREFIX]  where the user's "/" lives; default: the only
                           configured backend, prefix users/NAME/
  --mount /PATH=BACKEND[:PREFIX][,ro]
                           an extra folder inside the home, read-only with
                           ,ro; may be repeated
  --rule /PATTERN=PERMS    grant PERMS (list,read,write,overwrite,append,
                           delete,rename,mkdir,rmdir,setstat, * or none) at
                           the paths PATTERN matches; may be repeated.
                           Without any --rule the user gets /=* (everything
                           in their home and mounts; read-only mounts stay
                           read-only)
  --max-sessions N         at most N sessions at once (0: unlimited)
  --quota SIZE             quota on the home such as 10GiB (0: none)
  --disabled               add the user disabled

Example:
  printf '%s\n' "$PASSWORD" | wharf user add alice --password-stdin \
      --key-file alice.pub --mount /shared=local:shared/,ro
`

const userListHelp = `Usage: wharf user list [--config FILE] [--prefix P] [--json]

Lists users in name order: NAME, ENABLED, HOME, and how many keys, mounts
and rules each has. --prefix lists only names that start with P; --json
prints a JSON array of users as 'wharf user show --json' prints them.
`

const userShowHelp = `Usage: wharf user show NAME [--config FILE] [--json]

Shows a user: enabled, whether a password is set (never the hash), home,
mounts, rules, key fingerprints, limits and version. --json prints one
JSON object (fields name, enabled, password_set, keys, home, mounts, rules,
limits, version, created, updated).
`

const userSetPasswordHelp = `Usage: wharf user set-password NAME (--password-stdin | --password-file F) [--config FILE]

Replaces the user's password, hashed with the configured argon2id cost.
`

const userAddKeyHelp = `Usage: wharf user add-key NAME --key-file F [--key-file F ...] [--config FILE]

Adds the SSH public keys in each file (authorized_keys lines; blank lines
and # comments are skipped). Keys the user already has are left as they
are.
`

const userRemoveKeyHelp = `Usage: wharf user remove-key NAME FINGERPRINT [--config FILE]

Removes the key with FINGERPRINT (as 'wharf user show' prints it, with
or without the SHA256: prefix).
`

const userDisableHelp = `Usage: wharf user disable NAME [--config FILE]

Refuses the user's logins from now on. Sessions open now are not closed.
`

const userEnableHelp = `Usage: wharf user enable NAME [--config FILE]

Allows a disabled user's logins again.
`

const userRemoveHelp = `Usage: wharf user remove NAME [--config FILE]

Deletes the user. Their files stay in the backend.
`

// UserCommand runs 'wharf user SUBCOMMAND ...' with args after "user" and
// returns the exit status: 0 on success, 1 when the command failed, 2 for
// bad usage. Errors are one line each on stderr.
func UserCommand(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatch(ctx, "user", userHelp, map[string]subcommand{
		"add":          {userAdd, userAddHelp},
		"list":         {userList, userListHelp},
		"show":         {userShow, userShowHelp},
		"set-password": {userSetPassword, userSetPasswordHelp},
		"add-key":      {userAddKey, userAddKeyHelp},
		"remove-key":   {userRemoveKey, userRemoveKeyHelp},
		"disable":      {userEnable(false), userDisableHelp},
		"enable":       {userEnable(true), userEnableHelp},
		"remove":       {userRemove, userRemoveHelp},
	}, args, environ, stdin, stdout, stderr)
}

// mountFlag collects --mount /PATH=BACKEND[:PREFIX][,ro].
type mountFlag []auth.Mount

func (m *mountFlag) String() string { return "" }

func (m *mountFlag) Set(s string) error {
	p, target, ok := strings.Cut(s, "=")
	if !ok || target == "" {
		return errors.New("want /PATH=BACKEND[:PREFIX][,ro]")
	}
	if !strings.HasPrefix(p, "/") {
		return errors.New("the mount point must be an absolute path such as /shared")
	}
	mount := auth.Mount{Path: p}
	if t, ok := strings.CutSuffix(target, ",ro"); ok {
		target, mount.ReadOnly = t, true
	} else if t, ok := strings.CutSuffix(target, ",rw"); ok {
		target = t
	}
	mount.Backend, mount.Prefix, _ = strings.Cut(target, ":")
	if mount.Backend == "" {
		return errors.New("want /PATH=BACKEND[:PREFIX][,ro]: the backend is missing")
	}
	mount.Prefix = dirPrefix(mount.Prefix)
	*m = append(*m, mount)
	return nil
}

// ruleFlag collects --rule /PATTERN=PERMS.
type ruleFlag []auth.Rule

func (r *ruleFlag) String() string { return "" }

func (r *ruleFlag) Set(s string) error {
	i := strings.LastIndex(s, "=")
	if i <= 0 || i == len(s)-1 {
		return errors.New("want /PATTERN=PERMS such as /=list,read or /uploads=*")
	}
	*r = append(*r, auth.Rule{Pattern: s[:i], Perms: s[i+1:]})
	return nil
}

// dirPrefix makes a non-empty key prefix end in "/".
func dirPrefix(p string) string {
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

func userAdd(c *call, args []string) error {
	var (
		pw       passwordSource
		keyFiles multiFlag
		home     string
		mounts   mountFlag
		rules    ruleFlag
		maxSess  int
		quota    Size
		disabled bool
	)
	pos, err := c.parse(args, []string{"NAME"}, 1, func(fs *flag.FlagSet) {
		pw.define(fs)
		fs.Var(&keyFiles, "key-file", "SSH public keys (authorized_keys lines)")
		fs.StringVar(&home, "home", "", "BACKEND[:PREFIX] of the user's home")
		fs.Var(&mounts, "mount", "/PATH=BACKEND[:PREFIX][,ro]")
		fs.Var(&rules, "rule", "/PATTERN=PERMS")
		fs.IntVar(&maxSess, "max-sessions", 0, "at most this many sessions (0: unlimited)")
		fs.TextVar(&quota, "quota", Size(0), "quota (0: none)")
		fs.BoolVar(&disabled, "disabled", false, "add the user disabled")
	})
	if err != nil {
		return err
	}
	if err := pw.check(false); err != nil {
		return err
	}
	name := pos[0]
	if err := auth.ValidateName(name); err != nil {
		return err // before it makes a home prefix of a bad name
	}
	cfg, err := LoadConfig(c.configPath, c.environ)
	if err != nil {
		return err
	}
	c.cfg = cfg
	backends := cfg.backendNames()

	u := &auth.User{
		Name:    name,
		Enabled: !disabled,
		Mounts:  mounts,
		Rules:   rules,
		Limits:  auth.Limits{MaxSessions: maxSess, QuotaBytes: int64(quota)},
	}
	switch b, prefix, hasPrefix := strings.Cut(home, ":"); {
	case home == "" && len(backends) == 1:
		u.Home = auth.Home{Backend: backends[0], Prefix: "users/" + name + "/"}
	case home == "":
		return usagef("--home BACKEND[:PREFIX] is required when several backends are configured (%s)", strings.Join(backends, ", "))
	case !hasPrefix:
		u.Home = auth.Home{Backend: b, Prefix: "users/" + name + "/"}
	default:
		u.Home = auth.Home{Backend: b, Prefix: dirPrefix(prefix)}
	}
	defaultRule := len(u.Rules) == 0
	if defaultRule {
		u.Rules = []auth.Rule{{Pattern: "/", Perms: "*"}}
	}
	if u.Keys, err = readKeyFiles(keyFiles); err != nil {
		return err
	}
	if err := u.Validate(backends); err != nil {
		return err
	}
	if pw.given() {
		if u.PasswordHash, err = pw.hash(c); err != nil {
			return err
		}
	}
	if c.store, err = openStore(c.ctx, cfg); err != nil {
		return err
	}
	if err := c.store.CreateUser(c.ctx, u); err != nil {
		return c.storeError(err, "user", name)
	}

	var how []string
	if u.PasswordHash != "" {
		how = append(how, "a password")
	}
	if len(u.Keys) > 0 {
		how = append(how, plural(len(u.Keys), "key"))
	}
	state := ""
	if !u.Enabled {
		state = " (disabled)"
	}
	fmt.Fprintf(c.stdout, "added user %s%s: home %s, %s, %s\n", name, state, homeString(u.Home),
		plural(len(u.Mounts), "mount"), plural(len(u.Rules), "rule"))
	if defaultRule {
		fmt.Fprintf(c.stdout, "no --rule given: %s may do everything in their home (rule /=*)\n", name)
	}
	if len(how) == 0 {
		fmt.Fprintf(c.stdout, "note: %s has no password and no key and cannot log in until you give one (wharf user set-password, wharf user add-key)\n", name)
	} else {
		fmt.Fprintf(c.stdout, "%s logs in with %s\n", name, strings.Join(how, " or "))
	}
	return nil
}

func homeString(h auth.Home) string { return h.Backend + ":" + h.Prefix }

func userList(c *call, args []string) error {
	var (
		prefix string
		asJSON bool
	)
	if _, err := c.parse(args, nil, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&prefix, "prefix", "", "list only names starting with this")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}); err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	const page = 500
	var users []*auth.User
	for after := ""; ; {
		batch, err := c.store.ListUsers(c.ctx, prefix, after, page)
		if err != nil {
			return c.storeError(err, "user", "")
		}
		users = append(users, batch...)
		if len(batch) < page {
			break
		}
		after = batch[len(batch)-1].Name
	}
	if asJSON {
		out := make([]auth.UserView, 0, len(users))
		for _, u := range users {
			out = append(out, u.View())
		}
		return writeJSON(c.stdout, out)
	}
	if len(users) == 0 {
		if prefix != "" {
			fmt.Fprintf(c.stdout, "no users whose names start with %q\n", prefix)
		} else {
			fmt.Fprintln(c.stdout, "no users yet (add one with: wharf user add NAME --password-stdin)")
		}
		return nil
	}
	t := newTable(c.stdout, "NAME", "ENABLED", "HOME", "KEYS", "MOUNTS", "RULES")
	for _, u := range users {
		t.row(u.Name, yesNo(u.Enabled), homeString(u.Home),
			strconv.Itoa(len(u.Keys)), strconv.Itoa(len(u.Mounts)), strconv.Itoa(len(u.Rules)))
	}
	return t.flush()
}

func userShow(c *call, args []string) error {
	var asJSON bool
	pos, err := c.parse(args, []string{"NAME"}, 1, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	u, err := c.store.GetUser(c.ctx, pos[0])
	if err != nil {
		return c.storeError(err, "user", pos[0])
	}
	if asJSON {
		return writeJSON(c.stdout, u.View())
	}
	w := c.stdout
	field := func(label string, values ...string) {
		if len(values) == 0 {
			values = []string{"-"}
		}
		for i, v := range values {
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(w, "%-10s %s\n", label, v)
		}
	}
	field("name:", u.Name)
	field("enabled:", yesNo(u.Enabled))
	if u.PasswordHash != "" {
		field("password:", "set")
	} else {
		field("password:", "none")
	}
	field("home:", homeString(u.Home))
	var mounts, rules, keys []string
	for _, m := range u.Mounts {
		s := m.Path + " = " + m.Backend + ":" + m.Prefix
		if m.ReadOnly {
			s += " (read-only)"
		}
		mounts = append(mounts, s)
	}
	for _, r := range u.Rules {
		rules = append(rules, r.Pattern+" = "+r.Perms)
	}
	for _, k := range u.Keys {
		typ, _, _ := strings.Cut(k.AuthorizedKey, " ")
		s := k.Fingerprint + " " + typ
		if k.Comment != "" {
			s += " " + k.Comment
		}
		keys = append(keys, s)
	}
	field("mounts:", mounts...)
	field("rules:", rules...)
	field("keys:", keys...)
	sessions, quota := "unlimited", "none"
	if u.Limits.MaxSessions > 0 {
		sessions = strconv.Itoa(u.Limits.MaxSessions)
	}
	if u.Limits.QuotaBytes > 0 {
		quota = Size(u.Limits.QuotaBytes).String()
	}
	field("limits:", "sessions "+sessions+", quota "+quota)
	field("version:", strconv.FormatInt(u.Version, 10))
	field("created:", formatTime(u.Created))
	field("updated:", formatTime(u.Updated))
	return nil
}

// updateUser loads the user name, applies change, and stores the result
// if change reports a change. A concurrent update (ErrConflict) makes it
// start again, a few times.
func (c *call) updateUser(name string, change func(u *auth.User) (bool, error)) (*auth.User, bool, error) {
	for attempt := 0; ; attempt++ {
		u, err := c.store.GetUser(c.ctx, name)
		if err != nil {
			return nil, false, c.storeError(err, "user", name)
		}
		changed, err := change(u)
		if err != nil || !changed {
			return u, false, err
		}
		// Backends are not checked: a user whose backend has gone from
		// the configuration can still be disabled or get a new password.
		if err := u.Validate(nil); err != nil {
			return nil, false, err
		}
		err = c.store.UpdateUser(c.ctx, u)
		if errors.Is(err, auth.ErrConflict) && attempt < 4 {
			continue
		}
		if err != nil {
			return nil, false, c.storeError(err, "user", name)
		}
		return u, true, nil
	}
}

func userSetPassword(c *call, args []string) error {
	var pw passwordSource
	pos, err := c.parse(args, []string{"NAME"}, 1, pw.define)
	if err != nil {
		return err
	}
	if err := pw.check(true); err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	if _, err := c.store.GetUser(c.ctx, pos[0]); err != nil {
		return c.storeError(err, "user", pos[0]) // before reading a password for nobody
	}
	hash, err := pw.hash(c)
	if err != nil {
		return err
	}
	if _, _, err := c.updateUser(pos[0], func(u *auth.User) (bool, error) {
		u.PasswordHash = hash
		return true, nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "password of user %s changed\n", pos[0])
	return nil
}

func userAddKey(c *call, args []string) error {
	var keyFiles multiFlag
	pos, err := c.parse(args, []string{"NAME"}, 1, func(fs *flag.FlagSet) {
		fs.Var(&keyFiles, "key-file", "SSH public keys (authorized_keys lines)")
	})
	if err != nil {
		return err
	}
	if len(keyFiles) == 0 {
		return usagef("give the keys with --key-file F")
	}
	keys, err := readKeyFiles(keyFiles)
	if err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	var added, had []string
	if _, _, err := c.updateUser(pos[0], func(u *auth.User) (bool, error) {
		added, had = nil, nil
		for _, k := range keys {
			if hasKey(u.Keys, k.Fingerprint) {
				had = append(had, k.Fingerprint)
				continue
			}
			u.Keys = append(u.Keys, k)
			added = append(added, k.Fingerprint)
		}
		return len(added) > 0, nil
	}); err != nil {
		return err
	}
	for _, f := range added {
		fmt.Fprintf(c.stdout, "added key %s to user %s\n", f, pos[0])
	}
	for _, f := range had {
		fmt.Fprintf(c.stdout, "user %s already has key %s\n", pos[0], f)
	}
	return nil
}

func userRemoveKey(c *call, args []string) error {
	pos, err := c.parse(args, []string{"NAME", "FINGERPRINT"}, 2, nil)
	if err != nil {
		return err
	}
	fp := pos[1]
	if !strings.HasPrefix(fp, "SHA256:") {
		fp = "SHA256:" + fp
	}
	if err := c.open(); err != nil {
		return err
	}
	if _, _, err := c.updateUser(pos[0], func(u *auth.User) (bool, error) {
		for i, k := range u.Keys {
			if k.Fingerprint == fp {
				u.Keys = append(u.Keys[:i:i], u.Keys[i+1:]...)
				return true, nil
			}
		}
		return false, fmt.Errorf("user %s has no key %s (see wharf user show %s)", pos[0], fp, pos[0])
	}); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "removed key %s from user %s\n", fp, pos[0])
	return nil
}

// userEnable returns the subcommand that enables (or disables) a user.
func userEnable(enable bool) func(c *call, args []string) error {
	word := map[bool]string{true: "enabled", false: "disabled"}[enable]
	return func(c *call, args []string) error {
		pos, err := c.parse(args, []string{"NAME"}, 1, nil)
		if err != nil {
			return err
		}
		if err := c.open(); err != nil {
			return err
		}
		_, changed, err := c.updateUser(pos[0], func(u *auth.User) (bool, error) {
			if u.Enabled == enable {
				return false, nil
			}
			u.Enabled = enable
			return true, nil
		})
		if err != nil {
			return err
		}
		if !changed {
			fmt.Fprintf(c.stdout, "user %s is already %s\n", pos[0], word)
		} else {
			fmt.Fprintf(c.stdout, "user %s %s\n", pos[0], word)
		}
		return nil
	}
}

func userRemove(c *call, args []string) error {
	pos, err := c.parse(args, []string{"NAME"}, 1, nil)
	if err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	u, err := c.store.GetUser(c.ctx, pos[0])
	if err != nil {
		return c.storeError(err, "user", pos[0])
	}
	if err := c.store.DeleteUser(c.ctx, pos[0]); err != nil {
		return c.storeError(err, "user", pos[0])
	}
	fmt.Fprintf(c.stdout, "removed user %s (their files under %s are kept)\n", pos[0], homeString(u.Home))
	return nil
}

// storeError turns an error of the store about the kind ("user",
// "admin", "token") named name into a message for people.
func (c *call) storeError(err error, kind, name string) error {
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return fmt.Errorf("no %s %q", kind, name)
	case errors.Is(err, auth.ErrExists):
		return fmt.Errorf("%s %q already exists", kind, name)
	case errors.Is(err, auth.ErrConflict):
		return fmt.Errorf("%s %q was changed by someone else meanwhile; run the command again", kind, name)
	case errors.Is(err, auth.ErrInvalid):
		return err
	}
	dsn := ""
	if c.cfg != nil {
		dsn = c.cfg.Store.DSN
	}
	return fmt.Errorf("store: %s", redactSecrets(err.Error(), dsn))
}
