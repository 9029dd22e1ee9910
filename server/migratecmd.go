package server

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const migrateHelp = `Usage: wharf migrate [--config FILE] [--json]

Brings the store's schema up to date and prints which migrations were
applied. Running it again applies nothing. wharf serve and every user and
admin command migrate too; this command does only that, for deployments
that migrate before they start new nodes. A database whose schema is newer
than this wharf is refused.

Options:
  --config FILE   the YAML configuration file
  --json          print {"applied": [versions]}
`

// MigrateCommand runs 'wharf migrate' with args after "migrate" and returns
// the exit status: 0 on success, 1 when it failed, 2 for bad usage.
func MigrateCommand(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runOne(ctx, "migrate", subcommand{migrate, migrateHelp}, args, environ, stdin, stdout, stderr)
}

func migrate(c *call, args []string) error {
	var asJSON bool
	if _, err := c.parse(args, nil, 0, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}); err != nil {
		return err
	}
	cfg, err := LoadConfig(c.configPath, c.environ)
	if err != nil {
		return err
	}
	c.cfg = cfg
	applied, err := migrateStore(c.ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		if applied == nil {
			applied = []int{}
		}
		return writeJSON(c.stdout, struct {
			Applied []int `json:"applied"`
		}{applied})
	}
	if len(applied) == 0 {
		fmt.Fprintf(c.stdout, "store %s: schema up to date, nothing to apply\n", cfg.storeName())
		return nil
	}
	versions := make([]string, len(applied))
	for i, v := range applied {
		versions[i] = strconv.Itoa(v)
	}
	word := "migration"
	if len(applied) > 1 {
		word = "migrations"
	}
	fmt.Fprintf(c.stdout, "store %s: applied %s %s\n", cfg.storeName(), word, strings.Join(versions, ", "))
	return nil
}
