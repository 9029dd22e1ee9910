package server

import (
	"context"
	"flag"
	"io"

	"github.com/wharf-gw/wharf/protocols/sftp"
)

const hostkeysHelp = `Usage: wharf hostkeys [--config FILE] [--json]

Prints the SSH host keys the SFTP front end presents: their types, SHA-256
fingerprints (what clients show on first connection) and public keys in
known_hosts form. Keys come from sftp.host_key_files, or else from the
store, where the first node to start generated them; if there are none
yet, they are generated and stored now, exactly as wharf serve would.

Options:
  --config FILE   the YAML configuration file
  --json          print JSON
`

// HostKeysCommand runs 'wharf hostkeys' with args after "hostkeys" and
// returns the exit status: 0 on success, 1 when it failed, 2 for bad usage.
func HostKeysCommand(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runOne(ctx, "hostkeys", subcommand{hostkeys, hostkeysHelp}, args, environ, stdin, stdout, stderr)
}

func hostkeys(c *call, args []string) error {
	var asJSON bool
	if _, err := c.parse(args, nil, 0, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}); err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	keys, err := sftp.HostKeyFingerprints(c.ctx, c.cfg.SFTP.HostKeyFiles, c.store)
	if err != nil {
		return err
	}
	if asJSON {
		type keyJSON struct {
			Type          string `json:"type"`
			Fingerprint   string `json:"fingerprint"`
			AuthorizedKey string `json:"key"`
			Source        string `json:"source"`
		}
		out := make([]keyJSON, len(keys))
		for i, k := range keys {
			out[i] = keyJSON(k)
		}
		return writeJSON(c.stdout, out)
	}
	t := newTable(c.stdout, "TYPE", "FINGERPRINT", "SOURCE")
	for _, k := range keys {
		t.row(k.Type, k.Fingerprint, k.Source)
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := io.WriteString(c.stdout, "\n"+k.AuthorizedKey); err != nil {
			return err
		}
	}
	_, err = io.WriteString(c.stdout, "\n")
	return err
}
