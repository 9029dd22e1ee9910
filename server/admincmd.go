package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/wharf-gw/wharf/auth"
)

const adminHelp = `Usage: wharf admin SUBCOMMAND [--config FILE] ...

Manages the accounts of the admin API and web UI, and their API tokens,
in the store the configuration names.

Subcommands:
  add NAME (--password-stdin | --password-file F)   add an admin
  list [--json]                                     list admins
  remove NAME                                       delete an admin and their tokens
  token create ADMIN [--label L] [--ttl 90d]        make an API token (shown once)
  token list ADMIN [--json]                         list an admin's tokens
  token revoke ID                                   delete a token

Every subcommand takes --config FILE, like wharf serve.
`

const adminAddHelp = `Usage: wharf admin add NAME (--password-stdin | --password-file F) [--config FILE]

Adds an admin. The password is read from stdin or from file F (one line)
and stored as an argon2id hash.
`

const adminListHelp = `Usage: wharf admin list [--config FILE] [--json]

Lists the admins and how many API tokens each has.
`

const adminRemoveHelp = `Usage: wharf admin remove NAME [--config FILE]

Deletes an admin and every API token of theirs.
`

const adminTokenHelp = `Usage: wharf admin token SUBCOMMAND [--config FILE] ...

Subcommands:
  create ADMIN [--label L] [--ttl 90d]   make an API token; the secret is shown once
  list ADMIN [--json]                    list the admin's tokens (never their secrets)
  revoke ID                              delete a token (ID, or the whole token)
`

const adminTokenCreateHelp = `Usage: wharf admin token create ADMIN [--label L] [--ttl DURATION] [--config FILE] [--json]

Makes an API token for ADMIN and prints it on stdout, once: wharf keeps
only a hash of it. The note about it goes to stderr, so
TOKEN=$(wharf admin token create root) captures the token alone.

Options:
  --label L        what the token is for
  --ttl DURATION   lifetime: days (90d) or Go syntax (2160h, 30m);
                   0 makes a token that never expires (default 90d)
  --json           print {"token": …, "id": …, "admin": …, "label": …,
                   "created": …, "expires": …} instead
`

const adminTokenListHelp = `Usage: wharf admin token list ADMIN [--config FILE] [--json]

Lists the admin's tokens: ID, LABEL, CREATED, EXPIRES. Secrets are never
shown; wharf does not keep them.
`

const adminTokenRevokeHelp = `Usage: wharf admin token revoke ID [--config FILE]

Deletes the token ID (as 'wharf admin token list' prints it). The whole
token (wharf_…) is accepted too.
`

// Limits of admin tokens.
const (
	defaultTokenTTL = 90 * 24 * time.Hour
	maxTokenTTL     = 10 * 365 * 24 * time.Hour
	maxLabelLen     = 200
)

// AdminCommand runs 'wharf admin SUBCOMMAND ...' with args after "admin"
// and returns the exit status: 0 on success, 1 when the command failed, 2
// for bad usage. Errors are one line each on stderr.
func AdminCommand(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatch(ctx, "admin", adminHelp, map[string]subcommand{
		"add":    {adminAdd, adminAddHelp},
		"list":   {adminList, adminListHelp},
		"remove": {adminRemove, adminRemoveHelp},
		"token":  {adminToken, adminTokenHelp},
	}, args, environ, stdin, stdout, stderr)
}

func adminToken(c *call, args []string) error {
	return c.dispatch(map[string]subcommand{
		"create": {tokenCreate, adminTokenCreateHelp},
		"list":   {tokenList, adminTokenListHelp},
		"revoke": {tokenRevoke, adminTokenRevokeHelp},
	}, args)
}

func adminAdd(c *call, args []string) error {
	var pw passwordSource
	pos, err := c.parse(args, []string{"NAME"}, 1, pw.define)
	if err != nil {
		return err
	}
	if err := pw.check(true); err != nil {
		return err
	}
	if err := auth.ValidateName(pos[0]); err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	hash, err := pw.hash(c)
	if err != nil {
		return err
	}
	a := &auth.Admin{Name: pos[0], PasswordHash: hash, Created: time.Now().UTC()}
	if err := c.store.CreateAdmin(c.ctx, a); err != nil {
		return c.storeError(err, "admin", pos[0])
	}
	fmt.Fprintf(c.stdout, "added admin %s (make an API token with: wharf admin token create %s)\n", pos[0], pos[0])
	return nil
}

func adminList(c *call, args []string) error {
	var asJSON bool
	if _, err := c.parse(args, nil, 0, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}); err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	admins, err := c.store.ListAdmins(c.ctx)
	if err != nil {
		return c.storeError(err, "admin", "")
	}
	if asJSON {
		if admins == nil {
			admins = []*auth.Admin{}
		}
		return writeJSON(c.stdout, admins)
	}
	if len(admins) == 0 {
		fmt.Fprintln(c.stdout, "no admins yet (add one with: wharf admin add NAME --password-stdin)")
		return nil
	}
	t := newTable(c.stdout, "NAME", "CREATED", "TOKENS")
	for _, a := range admins {
		tokens, err := c.store.ListTokens(c.ctx, a.Name)
		if err != nil {
			return c.storeError(err, "admin", a.Name)
		}
		t.row(a.Name, formatTime(a.Created), strconv.Itoa(len(tokens)))
	}
	return t.flush()
}

func adminRemove(c *call, args []string) error {
	pos, err := c.parse(args, []string{"NAME"}, 1, nil)
	if err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	if err := c.store.DeleteAdmin(c.ctx, pos[0]); err != nil {
		return c.storeError(err, "admin", pos[0])
	}
	fmt.Fprintf(c.stdout, "removed admin %s and their tokens\n", pos[0])
	return nil
}

// parseTTL parses a token lifetime: whole days ("90d") or Go syntax
// ("2160h"); "0" means no expiry.
func parseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	bad := fmt.Errorf("want days (90d) or a duration such as 2160h or 30m; 0 for no expiry")
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 {
			return 0, bad
		}
		if n > int(maxTokenTTL/(24*time.Hour)) {
			return 0, fmt.Errorf("at most %dd", maxTokenTTL/(24*time.Hour))
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			return 0, bad
		}
	}
	if d > maxTokenTTL {
		return 0, fmt.Errorf("at most %dd", maxTokenTTL/(24*time.Hour))
	}
	return d, nil
}

// tokenJSON is a new token as --json prints it: the secret and the
// stored token.
type tokenJSON struct {
	Secret string `json:"token"`
	*auth.Token
}

func tokenCreate(c *call, args []string) error {
	var (
		label  string
		ttl    = defaultTokenTTL
		asJSON bool
	)
	pos, err := c.parse(args, []string{"ADMIN"}, 1, func(fs *flag.FlagSet) {
		fs.StringVar(&label, "label", "", "what the token is for")
		fs.Func("ttl", "lifetime (90d, 2160h; 0: never expires)", func(s string) error {
			d, err := parseTTL(s)
			ttl = d
			return err
		})
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if len(label) > maxLabelLen {
		return usagef("--label: longer than %d bytes", maxLabelLen)
	}
	if strings.ContainsFunc(label, unicode.IsControl) {
		return usagef("--label: control characters are not allowed")
	}
	if err := c.open(); err != nil {
		return err
	}
	if _, err := c.store.GetAdmin(c.ctx, pos[0]); err != nil {
		return c.storeError(err, "admin", pos[0])
	}
	secret, tok, err := auth.NewToken(pos[0], label, time.Now(), ttl)
	if err != nil {
		return fmt.Errorf("making a token: %w", err)
	}
	if err := c.store.CreateToken(c.ctx, tok); err != nil {
		return c.storeError(err, "token", tok.ID)
	}
	expires := "never expires"
	if !tok.Expires.IsZero() {
		expires = "expires " + formatTime(tok.Expires)
	}
	fmt.Fprintf(c.stderr, "wharf: created token %s for admin %s (%s). It is shown only this once: keep it now; wharf stores only a hash of it.\n",
		tok.ID, pos[0], expires)
	if asJSON {
		return writeJSON(c.stdout, tokenJSON{Secret: secret, Token: tok})
	}
	fmt.Fprintln(c.stdout, secret)
	return nil
}

func tokenList(c *call, args []string) error {
	var asJSON bool
	pos, err := c.parse(args, []string{"ADMIN"}, 1, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	if _, err := c.store.GetAdmin(c.ctx, pos[0]); err != nil {
		return c.storeError(err, "admin", pos[0])
	}
	tokens, err := c.store.ListTokens(c.ctx, pos[0])
	if err != nil {
		return c.storeError(err, "admin", pos[0])
	}
	if asJSON {
		if tokens == nil {
			tokens = []*auth.Token{}
		}
		return writeJSON(c.stdout, tokens)
	}
	if len(tokens) == 0 {
		fmt.Fprintf(c.stdout, "admin %s has no tokens (make one with: wharf admin token create %s)\n", pos[0], pos[0])
		return nil
	}
	now := time.Now()
	t := newTable(c.stdout, "ID", "LABEL", "CREATED", "EXPIRES")
	for _, tok := range tokens {
		expires := "never"
		if !tok.Expires.IsZero() {
			expires = formatTime(tok.Expires)
			if !now.Before(tok.Expires) {
				expires += " (expired)"
			}
		}
		label := tok.Label
		if label == "" {
			label = "-"
		}
		t.row(tok.ID, label, formatTime(tok.Created), expires)
	}
	return t.flush()
}

func tokenRevoke(c *call, args []string) error {
	pos, err := c.parse(args, []string{"ID"}, 1, nil)
	if err != nil {
		return err
	}
	id := pos[0]
	if strings.HasPrefix(id, "wharf_") {
		tid, _, err := auth.ParseToken(id)
		if err != nil {
			return errors.New("malformed token (give the ID that 'wharf admin token list' prints, or the whole token)")
		}
		id = tid
	}
	if err := c.open(); err != nil {
		return err
	}
	if err := c.store.DeleteToken(c.ctx, id); err != nil {
		return c.storeError(err, "token", id)
	}
	fmt.Fprintf(c.stdout, "revoked token %s\n", id)
	return nil
}
