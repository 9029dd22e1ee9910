package server

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/wharf-gw/wharf/auth"
)

// openStore opens (and migrates) the configured identity store. Errors
// never hold the DSN unredacted.
func openStore(ctx context.Context, cfg *Config) (auth.Store, error) {
	s, err := auth.OpenStore(ctx, cfg.store())
	if err != nil {
		return nil, fmt.Errorf("store %s: %s", cfg.storeName(), redactSecrets(err.Error(), cfg.Store.DSN))
	}
	return s, nil
}

// migrateStore applies the pending migrations and returns their versions.
func migrateStore(ctx context.Context, cfg *Config) ([]int, error) {
	applied, err := auth.Migrate(ctx, cfg.store())
	if err != nil {
		return applied, fmt.Errorf("store %s: %s", cfg.storeName(), redactSecrets(err.Error(), cfg.Store.DSN))
	}
	return applied, nil
}

// storeName describes the store for logs and messages: the driver and
// the DSN with any password hidden.
func (c *Config) storeName() string {
	return c.Store.Driver + " " + redactDSN(c.Store.Driver, c.Store.DSN)
}

// redactDSN returns dsn fit for logs. A SQLite DSN is a file name; a
// PostgreSQL URL loses its password (in the user part or in options such
// as password= or sslpassword=).
func redactDSN(driver, dsn string) string {
	if driver == DriverSQLite {
		return dsn
	}
	if u, err := url.Parse(dsn); err != nil || u.Scheme == "" {
		return "(unparsable DSN)"
	}
	return redactURL(dsn)
}

// redactSecrets removes from msg (an error from a driver) the DSN and the
// password it holds, should the driver have quoted either.
func redactSecrets(msg, dsn string) string {
	if dsn == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, dsn, "(DSN)")
	u, err := url.Parse(dsn)
	if err != nil {
		return msg
	}
	var secrets []string
	if pw, ok := u.User.Password(); ok && pw != "" {
		secrets = append(secrets, pw)
	}
	for name, vs := range u.Query() {
		if strings.Contains(strings.ToLower(name), "password") {
			secrets = append(secrets, vs...)
		}
	}
	for _, s := range secrets {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "REDACTED")
		}
	}
	return msg
}

// errorLine returns err as one line without the kind prefix ("invalid: ")
// that auth's validation errors carry. The lines of a multi-line error
// (database drivers write them) are trimmed, de-duplicated and joined.
func errorLine(err error) string {
	s := strings.TrimPrefix(err.Error(), auth.ErrInvalid.Error()+": ")
	var out strings.Builder
	seen := map[string]bool{}
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" || seen[line] {
			continue
		}
		seen[line] = true
		if out.Len() > 0 {
			if strings.HasSuffix(out.String(), ":") {
				out.WriteString(" ")
			} else {
				out.WriteString("; ")
			}
		}
		out.WriteString(line)
	}
	return out.String()
}

// problems splits an error made with errors.Join into its parts.
func problems(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
